"""Signed links: a subscriber's own pages (unsubscribe, preferences) and a watchlist's feed.

A token carries the subscriber's opaque id (an HMAC of their address, so the URL shows no
address) signed with the instance's secret key (itsdangerous: HMAC over a salted key
derivation): the digest builder makes them, the web app reads them back and finds the configured
subscriber with that id; an altered or forged one is `InvalidLink`. The key comes from
``$NEWSWATCH_SECRET_KEY`` or, when that is unset, is generated once and kept in the database
(``app_secrets``), so every process of one instance signs alike and nothing secret is in a file
in git. Subscriber tokens do not expire: an unsubscribe link in a months-old digest must still
work (RFC 8058).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from urllib.parse import quote

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy.exc import IntegrityError

from store.db import Database
from store.models import AppSecret

ENV_SECRET_KEY = "NEWSWATCH_SECRET_KEY"
SECRET_KEY_NAME = "link_signing_key"
_SUBSCRIBER_SALT = "newswatch.subscriber"
_FEED_SALT = "newswatch.feed"


class InvalidLink(ValueError):
    """A token that this instance did not sign (altered, forged, or of another kind)."""


def secret_key(db: Database, from_environment: str | None, now: datetime) -> str:
    """The key that signs links: ``from_environment`` when set, else the one kept in the
    database, generated (and kept) the first time it is asked for."""
    if from_environment:
        return from_environment
    with db.session() as session:
        kept = session.get(AppSecret, SECRET_KEY_NAME)
        if kept is not None:
            return kept.value
    try:
        with db.session() as session, session.begin():
            session.add(
                AppSecret(name=SECRET_KEY_NAME, value=secrets.token_urlsafe(32), created_at=now)
            )
    except IntegrityError:  # another process generated it first: theirs holds
        pass
    with db.session() as session:
        kept = session.get(AppSecret, SECRET_KEY_NAME)
        assert kept is not None
        return kept.value


class Links:
    """The addresses of a subscriber's pages and a watchlist's feed under ``base_url`` (the web
    app's public address, no trailing slash), signed with ``key``."""

    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key.encode()
        self._subscribers = URLSafeSerializer(key, salt=_SUBSCRIBER_SALT)
        self._feeds = URLSafeSerializer(key, salt=_FEED_SALT)

    def derived_key(self, purpose: str) -> str:
        """A key of its own for ``purpose`` (the web's form tokens, its login cookie), derived
        from the instance's key by HMAC-SHA256: one secret to keep, none reused across uses."""
        return hmac.new(self._key, f"newswatch.{purpose}".encode(), hashlib.sha256).hexdigest()

    def subscriber_id(self, email: str) -> str:
        """The subscriber's opaque id in their links: an HMAC of the address (128 bits), so a
        link shows no address to whoever sees the URL (a proxy's log, a shoulder)."""
        digest = hmac.new(self._key, f"newswatch.subscriber:{email}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()[:16]).rstrip(b"=").decode()

    def subscriber_token(self, email: str) -> str:
        return self._subscribers.dumps(self.subscriber_id(email))

    def subscriber_id_of(self, token: str) -> str:
        """The subscriber id a token carries (match it with `subscriber_id`); `InvalidLink` if
        this instance did not sign it."""
        try:
            value = self._subscribers.loads(token)
        except BadData:
            raise InvalidLink(
                "this link is not valid (altered, or not from this newswatch)"
            ) from None
        if not isinstance(value, str):
            raise InvalidLink("this link is not valid")
        return value

    def unsubscribe_url(self, email: str) -> str:
        return f"{self.base_url}/unsubscribe/{self.subscriber_token(email)}"

    def preferences_url(self, email: str) -> str:
        return f"{self.base_url}/preferences/{self.subscriber_token(email)}"

    def feed_token(self, watchlist: str) -> str:
        return self._feeds.dumps(watchlist)

    def feed_token_valid(self, watchlist: str, token: str) -> bool:
        try:
            return bool(self._feeds.loads(token) == watchlist)
        except BadData:
            return False

    def watchlist_url(self, watchlist: str) -> str:
        """The watchlist's archive page (what a chat digest's "N more" links to)."""
        return f"{self.base_url}/watchlists/{quote(watchlist, safe='')}"

    def feed_url(self, watchlist: str, *, token: bool = False) -> str:
        url = f"{self.base_url}/watchlists/{quote(watchlist, safe='')}/feed.atom"
        return f"{url}?token={self.feed_token(watchlist)}" if token else url
