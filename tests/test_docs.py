"""The README documents what a user can set: every key of the config models has a row in its
configuration table (as datasette checks its settings are documented), and no row names a key
that does not exist."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from scheduler.config import AppConfig

README = Path(__file__).resolve().parents[1] / "README.md"
# keys the file may not hold: secrets come from the environment only
ENVIRONMENT_ONLY = {"mail.password", "web.token", "web.secret_key"}


def config_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """``crawl.every``, ``sources[].name``, ...: every key a newswatch.toml can set."""
    keys = set()
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        annotation = field.annotation
        inner = typing.get_args(annotation)[0] if typing.get_origin(annotation) is list else None
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys |= config_keys(annotation, f"{prefix}{name}.")
        elif isinstance(inner, type) and issubclass(inner, BaseModel):
            keys |= config_keys(inner, f"{prefix}{name}[].")
        else:
            keys.add(f"{prefix}{name}")
    return keys


def documented_keys() -> set[str]:
    text = README.read_text(encoding="utf-8")
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+(?:\[\])?\.[a-z_]+)` \|", table, flags=re.MULTILINE))


def test_every_config_key_has_a_row_in_the_readme_table() -> None:
    missing = config_keys(AppConfig) - ENVIRONMENT_ONLY - documented_keys()
    assert not missing, f"README.md's configuration table lacks {sorted(missing)}"


def test_every_row_of_the_readme_table_is_a_config_key() -> None:
    unknown = documented_keys() - config_keys(AppConfig)
    assert not unknown, f"README.md documents keys newswatch does not read: {sorted(unknown)}"


def test_the_table_is_read_as_a_user_reads_it() -> None:
    """The check above must see the table: a few keys every user meets."""
    assert {"storage.url", "crawl.every", "subscribers[].schedule", "mail.sender"} <= (
        documented_keys()
    )


ARCHITECTURE = README.parent / "docs" / "ARCHITECTURE.md"


def test_the_architecture_module_map_names_every_module() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    root = README.parent
    modules = {
        str(path.relative_to(root))
        for stage in ("store", "crawler", "alerts", "scheduler", "demo", "web")
        for path in (root / stage).rglob("*.py")
        if path.name != "__init__.py" and "migrations" not in path.parts
    }
    missing = sorted(module for module in modules if f"`{module}`" not in text)
    assert not missing, f"docs/ARCHITECTURE.md's module map lacks {missing}"


def test_the_architecture_names_no_module_that_is_gone() -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:store|crawler|alerts|scheduler|demo|web)/[\w/]+\.py)`", text))
    gone = sorted(name for name in named if not (README.parent / name).exists())
    assert not gone, f"docs/ARCHITECTURE.md names modules that do not exist: {gone}"
