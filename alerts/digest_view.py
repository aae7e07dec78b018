"""A subscriber's candidates -> the view model the templates get (`alerts.render`'s Digest).

Matches are grouped by watchlist in the subscriber's order; an article that several watchlists
hit appears once, under the first, tagged with all. Times are shown in the subscriber's zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time
from zoneinfo import ZoneInfo

from alerts.config import SubscriberConfig
from alerts.digest_candidates import Candidate
from alerts.render import Digest, Entry, Group
from store.dw_ids import DW_TIMEZONE, short_url

__all__ = ["EntryCache", "digest_view", "local_time"]

# entries made, by time zone and the ids of the matches they show: a build's digests share them
EntryCache = dict[tuple[str, tuple[int, ...]], Entry]


def digest_view(
    subscriber: SubscriberConfig,
    matches: Sequence[Candidate],
    sender: str,
    entries: EntryCache | None = None,
    *,
    manage_url: str | None = None,
    unsubscribe_url: str | None = None,
) -> Digest:
    """The digest of `matches` for `subscriber`, with the addresses of their preferences and
    unsubscribe pages when a web app serves them. ``entries`` keeps the entries made, for the
    next digests of a build to reuse."""
    zone = ZoneInfo(subscriber.timezone)
    entries = {} if entries is None else entries
    by_article: dict[int, list[Candidate]] = {}
    for match in matches:
        by_article.setdefault(match.article_id, []).append(match)
    order = {name: index for index, name in enumerate(subscriber.watchlists)}
    groups: dict[str, list[Entry]] = {name: [] for name in subscriber.watchlists}
    for hits in by_article.values():
        hits.sort(key=lambda m: order[m.watchlist])
        key = (subscriber.timezone, tuple(m.id for m in hits))
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = _entry(hits, zone)
        groups[hits[0].watchlist].append(entry)
    return Digest(
        recipient=subscriber.key,
        timezone=subscriber.timezone,
        groups=[Group(name, entries) for name, entries in groups.items() if entries],
        unsubscribe_address=sender,
        late=sum(any(match.late for match in hits) for hits in by_article.values()),
        manage_url=manage_url,
        unsubscribe_url=unsubscribe_url,
    )


def _entry(hits: list[Candidate], zone: ZoneInfo) -> Entry:
    article = hits[0].article
    snippet = hits[0].snippet
    # a snippet that is the title is shown as the title, highlighted, not repeated below it
    in_title = snippet is not None and snippet.text == article.title
    title_marked = snippet.segments() if snippet and in_title else [(article.title, False)]
    if in_title:
        snippet = None
    moment = article.published_at or article.first_seen_at
    terms: list[str] = []
    for match in hits:
        terms += [term for term in match.terms if term not in terms]
    return Entry(
        title=article.title,
        title_marked=title_marked,
        url=short_url(article.short_id),
        language=article.language or "?",
        published=local_time(moment, zone),
        teaser=article.teaser,
        snippet=snippet.segments() if snippet else [],
        snippet_text=snippet.highlighted("[", "]") if snippet else "",
        watchlists=[match.watchlist for match in hits],
        terms=terms,
    )


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    """The time in the subscriber's zone; a date alone where DW gave only the day (old-layout
    pages are dated at midnight in Berlin)."""
    if moment.astimezone(DW_TIMEZONE).time() == time(0, 0):
        return moment.astimezone(DW_TIMEZONE).strftime("%d %b %Y")
    return moment.astimezone(zone).strftime("%d %b %Y %H:%M %Z")
