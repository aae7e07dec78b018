"""The JSON API fuzzed against its own OpenAPI schema (schemathesis): the app is served by
uvicorn on a loopback port over a SQLite file with articles and matches in it, and every
operation under /api/ gets generated requests, valid and invalid (schemathesis' Hypothesis
strategies). No answer may be a 5xx, and
every answer must be one the schema declares (status, content type, body)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from alerts.match_stage import match_articles
from alerts.watchlists import WatchlistConfig
from scheduler.config import AppConfig
from scheduler.web_command import web_app
from store.articles import upsert_article
from store.clock import fixed_clock
from store.config import StorageConfig
from store.db import Database
from tests.articles import article_fields
from tests.service_helpers import free_port
from web.config import WebConfig
from web.server import WebServer

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SYRIA = WatchlistConfig(name="syria", terms=["Raqqa", "Daesh"], match_case=["IS"])
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 30  # per operation: the whole module stays well under a minute on two cores


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    config = AppConfig(
        storage=StorageConfig(url=f"sqlite:///{folder / 'newswatch.db'}"),
        sources=[],
        watchlists=[SYRIA],
        web=WebConfig(listen=f"127.0.0.1:{free_port()}"),
    )
    with Database(config.storage.url) as db:
        with db.session() as session:
            for n in range(12):
                fields = article_fields(
                    72_000_000 + n,
                    title=f"Raqqa report {n}" if n % 2 else f"Weather in Bonn {n}",
                    teaser="A teaser.",
                    body="Daesh left Raqqa. " * (n + 1),
                    published_at=NOW - timedelta(hours=n),
                    authors=["Desk"],
                    topics=["Syria"],
                )
                upsert_article(session, fields, NOW - timedelta(hours=n))
            session.commit()
        match_articles(db, config.watchlists, now=NOW)
        with WebServer(web_app(config, db, fixed_clock(NOW)), config.web) as server:
            yield schemathesis.openapi.from_url(f"{server.url}/api/openapi.json")


def api_operations(schema: Any) -> list[Any]:
    found = [each.ok() for each in schema.get_all_operations()]
    return [operation for operation in found if operation.path.startswith("/api/")]


def fuzz(operation: Any, mode: GenerationMode) -> None:
    """Generated requests of one kind for one operation, each answer checked."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def each(case: Any) -> None:
        case.call_and_validate(checks=CHECKS)

    each()


def test_the_api_answers_every_request_as_its_schema_says_and_never_with_a_5xx(
    api_schema: Any,
) -> None:
    # schemathesis' own pytest integration (`from_fixture`) needs a pytest attribute that
    # pytest 9.2 removed (Function._nodeid); its strategies are the documented other way
    operations = api_operations(api_schema)
    assert len(operations) >= 3, [o.label for o in operations]
    print("fuzzed:", ", ".join(o.label for o in operations))
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode)
            except Unsatisfiable:
                # nothing to make invalid (e.g. only a free-text path segment): every request
                # it could send is a valid one, which the positive run sent
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as error:  # every operation is tried; all failures reported
                failures.append(f"{operation.label} ({mode.value}): {error}")
    assert not failures, "\n\n".join(failures)
