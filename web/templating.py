"""The one Jinja environment of the web app: HTML templates in ``web/templates``, every value
escaped (scraped titles and bodies are untrusted), an undefined name an error rather than an
empty string, and the few filters the pages share (times, DW links)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from store.dw_ids import short_url

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")


def when(moment: datetime | None, zone: str = "UTC") -> str:
    """A time as people read it, in ``zone``: ``2026-03-01 08:00 CET``; "–" for none."""
    if moment is None:
        return "–"
    local = moment.astimezone(ZoneInfo(zone) if zone != "UTC" else UTC)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or zone}"


def iso_when(moment: datetime | None) -> str:
    """The machine form for ``<time datetime=...>``."""
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def when_text(value: str | None) -> str:
    """An ISO time the status report gives as text (or a word such as "now"), as `when`."""
    if not value:
        return "none scheduled"
    try:
        return when(datetime.fromisoformat(value))
    except ValueError:
        return value


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template is HTML; nothing renders unescaped text
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = when
    environment.filters["iso"] = iso_when
    environment.filters["when_text"] = when_text
    # one path segment (a watchlist named "a/b" stays one), and one query value
    environment.filters["part"] = lambda value: quote(str(value), safe="")
    environment.filters["query"] = lambda value: quote_plus(str(value))
    environment.globals["dw_url"] = short_url
    return environment


ENVIRONMENT = _environment()


def render(
    request: Request,
    template: str,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **values: Any,
) -> HTMLResponse:
    """``template`` rendered with ``values`` (and the request, for its path) as a response."""
    html = ENVIRONMENT.get_template(template).render(request=request, **values)
    return HTMLResponse(html, status_code=status_code, headers=headers)
