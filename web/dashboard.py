"""The operator's pages: ``/status`` (what `newswatch status --json` knows, with the
subscribers' own choices and every feed's token URL), and ``/login`` / ``/logout`` for the
operator's token. ``/status`` needs the token whenever the app listens beyond loopback,
``[web] public`` or not (`web.access`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from store.subscriber_choices import Choices, choices_of
from web.access import LOGIN_COOKIE, LOGIN_MAX_AGE, Access
from web.context import WebContext
from web.errors import PageError
from web.security import same_origin
from web.status_models import StatusOut
from web.templating import render

log = logging.getLogger(__name__)
NO_STORE = {"Cache-Control": "no-store"}


@dataclass(frozen=True)
class SubscriberRow:
    email: str
    watchlists: tuple[str, ...]
    schedule: str
    timezone: str
    choices: Choices


def read_status(context: WebContext) -> StatusOut:
    """The status report as of now; PageError 503 when it cannot be read (the database)."""
    try:
        return StatusOut.model_validate(context.status())
    except ValidationError:
        log.exception("the status report does not have the shape web.status_models expects")
        raise PageError(503, "Status unavailable", "The status report could not be read.") from None
    except Exception as error:  # the database is away: say so, do not fail with a 500
        log.warning("status unavailable: %s", error)
        raise PageError(
            503, "Status unavailable", f"The status cannot be read now: {error}"
        ) from error


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only (no //evil.example)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/status"
    return target


def routes(context: WebContext, access: Access) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/status", dependencies=[Depends(access.operator("page"))])
    def status(request: Request) -> Response:
        report = read_status(context)
        with context.db.session() as session:
            chosen = choices_of(session)
        subscribers = [
            SubscriberRow(
                email=s.key,
                watchlists=tuple(s.watchlists),
                schedule=s.schedule.text,
                timezone=s.timezone,
                choices=chosen.get(s.key, Choices(s.key)),
            )
            for s in context.subscribers
        ]
        feeds = [(w.name, context.links.feed_url(w.name, token=True)) for w in context.watchlists]
        return render(
            request,
            "status.html",
            headers=NO_STORE,
            report=report,
            subscribers=subscribers,
            digests={s.email: s for s in report.subscribers},
            feeds=feeds,
            now=context.clock(),
            signed_in=access.is_operator(request),
        )

    @router.get("/login")
    def login_page(
        request: Request, next: Annotated[str | None, Query(max_length=2000)] = None
    ) -> Response:
        return render(
            request,
            "login.html",
            headers=NO_STORE,
            next=safe_next(next),
            error=None,
            token_set=bool(context.token),
        )

    @router.post("/login")
    def login(
        request: Request,
        token: Annotated[str, Form(max_length=1000)] = "",
        next: Annotated[str | None, Form(max_length=2000)] = None,
    ) -> Response:
        if not same_origin(request.headers.get("origin"), str(request.base_url)):
            raise PageError(400, "Not signed in", "The form came from another site.")
        if not access.token_matches(token):
            return render(
                request,
                "login.html",
                status_code=401,
                headers=NO_STORE,
                next=safe_next(next),
                error="That is not the operator's token.",
                token_set=bool(context.token),
            )
        response = RedirectResponse(safe_next(next), status_code=303)
        response.set_cookie(
            LOGIN_COOKIE,
            access.login_cookie(),
            max_age=LOGIN_MAX_AGE,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https" or context.links.base_url.startswith("https:"),
            path="/",
        )
        return response

    @router.post("/logout")
    def logout(request: Request) -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(LOGIN_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    return router
