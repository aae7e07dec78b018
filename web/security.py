"""What every response carries and what every form must prove.

* Security headers on every response (pages, feeds, the API, static files, errors): a CSP that
  allows only our own stylesheet and forms, no framing, no MIME sniffing, and no Referer, since
  subscriber pages have their signed token in the URL and must not leak it to a linked site.
* Form tokens against cross-site request forgery: a preferences form carries a field signed for
  that subscriber's link (itsdangerous, timed), and a POST with an ``Origin`` of another site is
  refused. ``Origin: null`` is let through: our own ``Referrer-Policy: no-referrer`` makes
  browsers send exactly that on a form POST, so the signed field is what protects.
* The keys for both (and the login cookie) are derived from the instance's link-signing key
  through :class:`store.links.Links`, so every process of an instance agrees without a second
  secret.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from store.clock import Clock
from store.links import Links

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
FORM_TOKEN_MAX_AGE = 24 * 3600  # a preferences page left open for a day must be reloaded


class SecurityHeaders:
    """ASGI middleware: :data:`SECURITY_HEADERS` on every HTTP response, whoever made it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:24]


class FormTokens:
    """The hidden ``csrf`` field of a subscriber's forms: bound to that subscriber's link,
    valid for :data:`FORM_TOKEN_MAX_AGE` seconds by the app's clock (not the wall clock)."""

    def __init__(self, links: Links, clock: Clock) -> None:
        class ClockSigner(TimestampSigner):
            def get_timestamp(self) -> int:
                return int(clock().timestamp())

        self._serializer = URLSafeTimedSerializer(
            links.derived_key("web.forms"), salt="newswatch.preferences-form", signer=ClockSigner
        )

    def make(self, link_token: str) -> str:
        return self._serializer.dumps(_fingerprint(link_token))

    def valid(self, link_token: str, field: str | None) -> bool:
        if not field:
            return False
        try:
            value = self._serializer.loads(field, max_age=FORM_TOKEN_MAX_AGE)
        except BadData:
            return False
        return bool(value == _fingerprint(link_token))


def same_origin(origin: str | None, *allowed: str) -> bool:
    """Whether a request's ``Origin`` header lets a form POST through: absent or ``null`` (see
    the module's note), or the scheme and host of one of ``allowed`` (our own addresses)."""
    if origin is None or origin == "null":
        return True
    wanted = {_origin_of(url) for url in allowed if url}
    return _origin_of(origin) in wanted


def _origin_of(url: str) -> str:
    parts = urlsplit(url.strip().lower())
    return f"{parts.scheme}://{parts.netloc}"
