"""Who may read what.

* On loopback (``[web] listen`` on 127.0.0.1, ::1 or localhost) only this machine reaches the
  app: everything is open.
* Beyond loopback the operator's dashboard (``/status``, ``/api/status``) needs the operator's
  token (``$NEWSWATCH_WEB_TOKEN``), and so do the archive, search, feeds and the rest of the API
  unless ``[web] public = true``. A feed also opens to its own feed token (``?token=``), which
  the dashboard shows, so a feed reader needs no operator token.
* The token comes as ``Authorization: Bearer <token>``, or once through the ``/login`` form,
  which sets a cookie holding a signed marker of the token (not the token: a stolen cookie
  stops working when the token changes), HttpOnly and SameSite=Strict. Every comparison is in
  constant time.
* Subscriber pages are not here: their signed link is the authority.

A refusal is :class:`Unauthorised`; the app's handler turns it into a redirect to ``/login``
for a page and a 401 with a JSON body for the API.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Literal

from fastapi import Request
from itsdangerous import BadData, URLSafeTimedSerializer

from web.context import WebContext

LOGIN_COOKIE = "newswatch_operator"
LOGIN_MAX_AGE = 30 * 24 * 3600


Answer = Literal["page", "json", "feed"]


class Unauthorised(Exception):
    """The request lacks the operator's token; ``answer`` says what the refusal looks like
    (a page redirects to /login, JSON and feeds get a 401)."""

    def __init__(self, answer: Answer, reason: str) -> None:
        super().__init__(reason)
        self.answer = answer
        self.reason = reason


class Access:
    def __init__(self, context: WebContext) -> None:
        self.context = context
        self._cookies = URLSafeTimedSerializer(
            context.links.derived_key("web.login"), salt="newswatch.login"
        )

    @property
    def open_to_all(self) -> bool:
        return self.context.web.loopback

    def token_matches(self, given: str | None) -> bool:
        """Whether ``given`` is the operator's token (never true when none is set)."""
        wanted = self.context.token
        if not wanted or not given:
            return False
        return hmac.compare_digest(given.encode(), wanted.encode())

    def _marker(self) -> str:
        return hashlib.sha256(f"newswatch-login:{self.context.token}".encode()).hexdigest()

    def login_cookie(self) -> str:
        """The cookie value the login form sets."""
        return self._cookies.dumps(self._marker())

    def _cookie_valid(self, value: str | None) -> bool:
        if not value or not self.context.token:
            return False
        try:
            marker = self._cookies.loads(value, max_age=LOGIN_MAX_AGE)
        except BadData:
            return False
        return isinstance(marker, str) and hmac.compare_digest(marker, self._marker())

    def is_operator(self, request: Request) -> bool:
        """Whether the request comes with the operator's token (bearer or login cookie)."""
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and self.token_matches(credentials.strip()):
            return True
        return self._cookie_valid(request.cookies.get(LOGIN_COOKIE))

    def may_operate(self, request: Request) -> bool:
        return self.open_to_all or self.is_operator(request)

    def may_read(self, request: Request) -> bool:
        return self.open_to_all or self.context.web.public or self.is_operator(request)

    def may_read_feed(self, request: Request, watchlist: str, feed_token: str | None) -> bool:
        if self.may_read(request):
            return True
        return bool(feed_token) and self.context.links.feed_token_valid(watchlist, feed_token or "")

    # FastAPI dependencies: a route lists one of these to be refused without the right to it

    def reader(self, answer: Answer) -> Callable[[Request], None]:
        def require_reader(request: Request) -> None:
            if not self.may_read(request):
                raise Unauthorised(answer, "the archive needs the operator's token")

        return require_reader

    def operator(self, answer: Answer) -> Callable[[Request], None]:
        def require_operator(request: Request) -> None:
            if not self.may_operate(request):
                raise Unauthorised(answer, "the dashboard needs the operator's token")

        return require_operator
