"""What subscribers chose on the web, and what the operator undid: one ``subscriber_choices``
row per subscriber who chose anything, overriding the config file.

The web app writes them (its only writes), ``newswatch subscriber resume`` clears the ones that
stop mail, and the digest builder reads them (`alerts.subscribers` applies them to the
configured subscribers). Every change is one short transaction; two changes at once for one
subscriber both land (the row is created once, then updated).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from store.db import Database
from store.models import SubscriberChoice

__all__ = [
    "Choices",
    "choices_of",
    "leave_watchlist",
    "pause",
    "rejoin_watchlist",
    "resubscribe",
    "resume",
    "set_schedule",
    "unsubscribe",
]


@dataclass(frozen=True, slots=True)
class Choices:
    """A subscriber's choices as read (no row: all None / empty)."""

    email: str
    unsubscribed_at: datetime | None = None
    paused_until: datetime | None = None
    schedule: str | None = None
    timezone: str | None = None
    left_watchlists: tuple[str, ...] = ()
    updated_at: datetime | None = None

    def paused(self, now: datetime) -> bool:
        return self.paused_until is not None and self.paused_until > now

    @property
    def any(self) -> bool:
        return bool(
            self.unsubscribed_at
            or self.paused_until
            or self.schedule
            or self.timezone
            or self.left_watchlists
        )


def _as_choices(row: SubscriberChoice) -> Choices:
    return Choices(
        email=row.email,
        unsubscribed_at=row.unsubscribed_at,
        paused_until=row.paused_until,
        schedule=row.schedule,
        timezone=row.timezone,
        left_watchlists=tuple(row.left_watchlists or ()),
        updated_at=row.updated_at,
    )


def choices_of(session: Session, emails: Iterable[str] | None = None) -> dict[str, Choices]:
    """The choices of these subscribers (of all who chose anything, without ``emails``)."""
    query = select(SubscriberChoice)
    if emails is not None:
        wanted = list(emails)
        if not wanted:
            return {}
        query = query.where(SubscriberChoice.email.in_(wanted))
    return {row.email: _as_choices(row) for row in session.scalars(query)}


def _change(
    db: Database, email: str, now: datetime, edit: Callable[[SubscriberChoice], None]
) -> Choices:
    """Apply ``edit`` to the subscriber's row (made when missing) in one transaction."""
    for attempt in range(2):
        try:
            with db.session() as session, session.begin():
                row = session.get(SubscriberChoice, email, with_for_update=True)
                if row is None:
                    row = SubscriberChoice(email=email, left_watchlists=[], updated_at=now)
                    session.add(row)
                edit(row)
                row.updated_at = now
                session.flush()
                return _as_choices(row)
        except IntegrityError:  # another change made the row first: update theirs
            if attempt:
                raise
    raise AssertionError("unreachable")


def unsubscribe(db: Database, email: str, now: datetime) -> Choices:
    def edit(row: SubscriberChoice) -> None:
        row.unsubscribed_at = row.unsubscribed_at or now

    return _change(db, email, now, edit)


def resubscribe(db: Database, email: str, now: datetime) -> Choices:
    def edit(row: SubscriberChoice) -> None:
        row.unsubscribed_at = None

    return _change(db, email, now, edit)


def pause(db: Database, email: str, until: datetime, now: datetime) -> Choices:
    def edit(row: SubscriberChoice) -> None:
        row.paused_until = until

    return _change(db, email, now, edit)


def set_schedule(
    db: Database, email: str, schedule: str | None, timezone: str | None, now: datetime
) -> Choices:
    """The subscriber's own schedule text and time zone (None: the config's). The caller has
    checked them (`alerts.schedules.parse_schedule`, a known IANA zone)."""

    def edit(row: SubscriberChoice) -> None:
        row.schedule = schedule
        row.timezone = timezone

    return _change(db, email, now, edit)


def leave_watchlist(db: Database, email: str, watchlist: str, now: datetime) -> Choices:
    def edit(row: SubscriberChoice) -> None:
        if watchlist not in row.left_watchlists:
            row.left_watchlists = [*row.left_watchlists, watchlist]

    return _change(db, email, now, edit)


def rejoin_watchlist(db: Database, email: str, watchlist: str, now: datetime) -> Choices:
    def edit(row: SubscriberChoice) -> None:
        row.left_watchlists = [name for name in row.left_watchlists if name != watchlist]

    return _change(db, email, now, edit)


def resume(db: Database, email: str, now: datetime) -> Choices | None:
    """The operator's undo (`newswatch subscriber resume`): the subscriber is mailed again as
    the config says, their schedule choice kept; unsubscribe, pause and left watchlists are
    cleared. None when they had chosen nothing."""
    with db.session() as session:
        if session.get(SubscriberChoice, email) is None:
            return None

    def edit(row: SubscriberChoice) -> None:
        row.unsubscribed_at = None
        row.paused_until = None
        row.left_watchlists = []

    return _change(db, email, now, edit)
