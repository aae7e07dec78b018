"""A subscriber's own pages, reached through the signed link in every digest: the token is the
authority (no login), so they are open whatever ``[web]`` says about the archive.

* ``GET /unsubscribe/{token}``: one button, and no change (mail scanners prefetch links).
* ``POST /unsubscribe/{token}`` with ``List-Unsubscribe=One-Click`` (RFC 8058): unsubscribed at
  once, 200 and a short page. Mail providers post it without cookies or form tokens, so none
  are asked for; the signed link is what proves it.
* ``GET /preferences/{token}``: the effective settings and one form per change;
  ``POST /preferences/{token}/{action}`` makes it (form token and Origin checked) and redirects
  back (303) with a one-line confirmation.

A link this instance did not sign is 400, one for an address the config does not list 404;
neither changes anything.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from alerts.config import SubscriberConfig
from store import subscriber_choices as choices
from store.links import InvalidLink
from web.context import WebContext
from web.errors import PageError
from web.preferences import (
    PAUSE_DAYS,
    SCHEDULE_CHOICES,
    Settings,
    checked_schedule,
    checked_timezone,
    settings_of,
    time_zones,
)
from web.security import FormTokens, same_origin
from web.templating import render, when

NO_STORE = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
FormText = Annotated[str | None, Form(max_length=300)]
CONFIRMATIONS = {
    "unsubscribed": "You are unsubscribed: no more digests will be sent to you.",
    "resubscribed": "You are subscribed again: digests will come as scheduled.",
    "paused": "Alerts paused until {paused_until}.",
    "unpaused": "The pause is over: your next digest comes as scheduled.",
    "schedule": "Saved: digests {schedule}, in {timezone}.",
    "left": "Saved: you left a watchlist.",
    "rejoined": "Saved: you are back on a watchlist.",
}


def routes(context: WebContext, forms: FormTokens) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    # by the opaque id their links carry
    configured = {
        context.links.subscriber_id(subscriber.key): subscriber
        for subscriber in context.subscribers
    }

    def subscriber_of(token: str) -> SubscriberConfig:
        try:
            subscriber_id = context.links.subscriber_id_of(token)
        except InvalidLink:
            raise PageError(
                400,
                "This link is not valid",
                "This link was altered or does not come from this newswatch: nothing was "
                "changed. Use the link in your latest digest.",
            ) from None
        subscriber = configured.get(subscriber_id)
        if subscriber is None:
            raise PageError(
                404,
                "Not a subscriber",
                "This address is no longer on the list of subscribers: nothing to change.",
            )
        return subscriber

    def settings(subscriber: SubscriberConfig) -> Settings:
        with context.db.session() as session:
            chosen = choices.choices_of(session, [subscriber.key]).get(subscriber.key)
        return settings_of(subscriber, chosen or choices.Choices(subscriber.key), context.clock())

    @router.get("/unsubscribe/{token}")
    def unsubscribe_page(request: Request, token: str) -> Response:
        subscriber = subscriber_of(token)
        return render(
            request,
            "unsubscribe.html",
            headers=NO_STORE,
            token=token,
            settings=settings(subscriber),
            done=False,
        )

    @router.post("/unsubscribe/{token}")
    def one_click_unsubscribe(
        request: Request,
        token: str,
        list_unsubscribe: Annotated[str | None, Form(alias="List-Unsubscribe")] = None,
    ) -> Response:
        subscriber = subscriber_of(token)
        if list_unsubscribe != "One-Click":
            raise PageError(
                400,
                "Not unsubscribed",
                "An unsubscribe request posts List-Unsubscribe=One-Click: nothing was changed.",
            )
        choices.unsubscribe(context.db, subscriber.key, context.clock())
        return render(
            request,
            "unsubscribe.html",
            headers=NO_STORE,
            token=token,
            settings=settings(subscriber),
            done=True,
        )

    def preferences(
        request: Request,
        token: str,
        subscriber: SubscriberConfig,
        *,
        status: int = 200,
        done: str | None = None,
        error: str | None = None,
    ) -> Response:
        current = settings(subscriber)
        message = None
        if done in CONFIRMATIONS:
            message = CONFIRMATIONS[done].format(
                paused_until=when(current.paused_until, current.timezone),
                schedule=current.schedule,
                timezone=current.timezone,
            )
        return render(
            request,
            "preferences.html",
            status_code=status,
            headers=NO_STORE,
            token=token,
            settings=current,
            csrf=forms.make(token),
            confirmation=message,
            error=error,
            pause_days=PAUSE_DAYS,
            schedule_choices=SCHEDULE_CHOICES,
            time_zones=time_zones(),
        )

    @router.get("/preferences/{token}")
    def preferences_page(request: Request, token: str, done: str | None = None) -> Response:
        return preferences(request, token, subscriber_of(token), done=done)

    @router.post("/preferences/{token}/{action}")
    def change_preferences(
        request: Request,
        token: str,
        action: str,
        csrf: FormText = None,
        days: FormText = None,
        schedule: FormText = None,
        schedule_text: FormText = None,
        timezone: FormText = None,
        watchlist: FormText = None,
    ) -> Response:
        subscriber = subscriber_of(token)
        origin_ok = same_origin(
            request.headers.get("origin"), str(request.base_url), context.links.base_url
        )
        if not origin_ok or not forms.valid(token, csrf):
            raise PageError(
                400,
                "Form expired",
                "This form was not sent from your preferences page, or the page is more than "
                "a day old: nothing was changed. Reload the page and try again.",
            )
        email, now = subscriber.key, context.clock()
        try:
            if action == "unsubscribe":
                choices.unsubscribe(context.db, email, now)
                done = "unsubscribed"
            elif action == "resubscribe":
                choices.resubscribe(context.db, email, now)
                done = "resubscribed"
            elif action == "pause":
                if days == "end":
                    choices.pause(context.db, email, now, now)
                    done = "unpaused"
                elif days in {str(n) for n in PAUSE_DAYS}:
                    choices.pause(context.db, email, now + timedelta(days=int(days or 0)), now)
                    done = "paused"
                else:
                    raise ValueError(f"pause for {', '.join(map(str, PAUSE_DAYS))} days")
            elif action == "schedule":
                done = _set_schedule(context, subscriber, schedule, schedule_text, timezone)
            elif action in ("leave", "rejoin"):
                if watchlist not in subscriber.watchlists:
                    raise ValueError("that is not one of your watchlists")
                change = choices.leave_watchlist if action == "leave" else choices.rejoin_watchlist
                change(context.db, email, watchlist, now)
                done = "left" if action == "leave" else "rejoined"
            else:
                raise PageError(404, "Not found", "There is no such change to make.")
        except ValueError as error:
            return preferences(request, token, subscriber, status=400, error=str(error))
        return RedirectResponse(f"/preferences/{token}?done={done}", status_code=303)

    return router


def _set_schedule(
    context: WebContext,
    subscriber: SubscriberConfig,
    picked: str | None,
    typed: str | None,
    timezone: str | None,
) -> str:
    """The schedule form: a picked schedule, or typed text, or "config" (back to the config
    file's schedule and zone); an empty time zone keeps the config's."""
    now = context.clock()
    if picked == "config":
        choices.set_schedule(context.db, subscriber.key, None, None, now)
        return "schedule"
    zone = checked_timezone(timezone) if timezone and timezone.strip() else None
    text = (typed or "").strip() or (picked or "").strip()
    if text == "custom" or not text:
        raise ValueError("choose a schedule, or type one")
    schedule = checked_schedule(text, zone or subscriber.timezone)
    choices.set_schedule(context.db, subscriber.key, schedule, zone, now)
    return "schedule"
