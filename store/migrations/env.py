"""Alembic environment: runs on the connection newswatch hands over (see store.db.upgrade)."""

from alembic import context

from store.models import Base
from store.search import in_the_models

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # `alembic` run by hand: NEWSWATCH_DATABASE_URL names the database
    import os

    from store.db import make_engine

    connection = make_engine(os.environ["NEWSWATCH_DATABASE_URL"]).connect()

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    include_name=in_the_models,  # autogenerate would drop the search index, made in SQL
)
with context.begin_transaction():
    context.run_migrations()
