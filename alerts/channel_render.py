"""What a chat or webhook channel gets besides the email's rendering: scraped text made safe
for Markdown (`markdown_text`, `markdown_link_target`) and the webhook's JSON document
(`webhook_document`).

Promises:
- `markdown_text` turns any text into one line of Markdown that shows as the text: it cannot
  open a link, an image, emphasis, code, raw HTML or a new block, and it keeps a link it is
  put in whole (no ``]`` or ``)`` ends one early). Only what Markdown could read as markup is
  escaped, with escapes that CommonMark and Python-Markdown (Apprise's converter to HTML)
  both read back as the character; ``<`` becomes ``&lt;``, which both show as ``<``.
- `webhook_document` is compact JSON in the shape README gives, for one digest: the
  watchlists in the subscriber's order, each article under every watchlist that hit it,
  times in ISO 8601 UTC with their offset, a snippet as its plain text or null.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from alerts.digest_candidates import Candidate
from store.dw_ids import short_url

__all__ = ["markdown_link_target", "markdown_text", "webhook_document"]

_SPACE = re.compile(r"\s+")
# inline markup anywhere: backslash, code, emphasis, links and images, raw HTML and autolinks,
# entities; and the doubled marks of strikethrough and spoilers (chat services' extensions)
_INLINE = re.compile(r"[\\`*_\[\]<>]|&(?=#?\w+;)|~~|\|\|")
# what opens a block at the start of a line (a quote's > is an entity already): heading, list item
_LINE_START = re.compile(r"^(?:[#+\-]|\d+(?=[.)]))")
_ESCAPES = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "~~": "\\~\\~", "||": "\\|\\|"}
# kept as they are in a link's target; anything else is percent-encoded (a ( ) or space would
# end the link, a | breaks Slack's form of it)
_LINK_SAFE = ":/?#@!$&'*+,;=%"


def markdown_text(text: str) -> str:
    """``text`` as Markdown that shows it as it is, on one line (line breaks become spaces)."""
    line = _SPACE.sub(" ", text).strip()
    line = _INLINE.sub(lambda found: _ESCAPES.get(found[0], "\\" + found[0]), line)
    return _LINE_START.sub(_escape_line_start, line)


def _escape_line_start(found: re.Match[str]) -> str:
    mark = found[0]
    return mark + "\\" if mark.isdigit() else "\\" + mark  # 1\. not \1.


def markdown_link_target(url: str) -> str:
    """``url`` as the target of a Markdown link ``[text](target)``: whatever would end the
    link early or break it is percent-encoded."""
    return quote(url.strip(), safe=_LINK_SAFE)


def webhook_document(
    *,
    digest_id: str,
    subscriber: str,
    created_at: datetime,
    watchlists: Sequence[str],
    matches: Sequence[Candidate],
) -> str:
    """The JSON a webhook receives for one digest of ``matches``: each watchlist of the
    subscriber that has any, in ``watchlists`` order (a match of a watchlist not among them
    comes after, never dropped), with its articles in the order of ``matches``."""
    by_watchlist: dict[str, list[dict[str, Any]]] = {name: [] for name in watchlists}
    for match in matches:
        by_watchlist.setdefault(match.watchlist, []).append(_article(match))
    document = {
        "id": digest_id,
        "subscriber": subscriber,
        "created_at": _iso(created_at),
        "watchlists": [
            {"name": name, "articles": articles}
            for name, articles in by_watchlist.items()
            if articles
        ],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def _article(match: Candidate) -> dict[str, Any]:
    article = match.article
    return {
        "short_id": article.short_id,
        "url": short_url(article.short_id),
        "title": article.title,
        "teaser": article.teaser,
        "language": article.language,
        "published_at": _iso(article.published_at) if article.published_at else None,
        "terms": list(match.terms),
        "fields": list(match.fields),
        "snippet": match.snippet.text if match.snippet else None,
    }


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC with its offset: ``2026-11-25T09:00:00+00:00``."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: a webhook's times carry their offset")
    return moment.astimezone(UTC).isoformat()
