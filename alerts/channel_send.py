"""Sending one message through one channel (`alerts.channels`), and what a failed send says
about it: the `alerts.outbox.Failure` the outbox records, in one line without a secret.

The webhook POSTs the body as it is given (UTF-8), signed ``X-Newswatch-Signature: sha256=<hex
HMAC-SHA256 of the body bytes under NEWSWATCH_WEBHOOK_SECRET>`` (GitHub's shape), with
``Idempotency-Key: <digest id>`` so that a receiver can drop the rare second copy. A 2xx
answer is sent; 408, 429 and 5xx are temporary (``Retry-After``, seconds or an HTTP date, is
passed on); any other answer, a redirect included, is permanent. No connection is temporary; a
request that went with no answer after it (a read timeout, the connection closed or reset) is
a lost outcome: it may have arrived.

An Apprise channel is sent through Apprise with Markdown as the body format; its failures are
sorted by the HTTP status Apprise logs (``error=NNN``): 3xx and 4xx other than 408 and 429 are
permanent, anything else (other statuses, no connection, no answer) temporary.

Both wait at most ``timeout`` to connect and ``timeout`` for each read, follow no redirect and
do not retry (the outbox does). The environment comes as a mapping, never from os.environ.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import logging
import re
import traceback
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from alerts.channels import (
    WEBHOOK_SECRET_ENV,
    Channel,
    MissingSecret,
    apprise_asset,
    apprise_service,
    expand,
    is_loopback,
    secrets_of,
)
from alerts.outbox import Failure

log = logging.getLogger(__name__)

USER_AGENT = "newswatch"
MAX_RETRY_AFTER = timedelta(days=7)  # a longer Retry-After is taken as this
_STATUS = re.compile(r"\berror=(\d{3})")  # ntfy's 5-digit codes start with the HTTP status
_SNIPPET = 160  # characters of a refusal's body put in the reason
# the connection ended once the request had gone, before the answer (a reset may also come
# while it goes: taken as lost, the side that never sends twice)
_AFTER_SENDING = (http.client.RemoteDisconnected, ConnectionResetError)


class ChannelFailure(Exception):
    """A send that did not go (or may not have): what it says about the message."""

    def __init__(self, failure: Failure, reason: str, retry_after: timedelta | None = None) -> None:
        super().__init__(reason)
        self.failure = failure
        self.reason = reason  # one line, no secret
        self.retry_after = retry_after  # the receiver asked to wait this long


def send_channel(
    channel: Channel,
    *,
    title: str,
    body: str,
    digest_id: str,
    environ: Mapping[str, str],
    timeout: float,
) -> None:
    """Send ``title`` and ``body`` (the webhook sends ``body`` alone: the JSON document)
    through ``channel``; `ChannelFailure` when it did not go."""
    secrets = secrets_of(channel, environ)
    try:
        url = expand(channel.url, environ)
    except MissingSecret as error:
        raise ChannelFailure(Failure.TEMPORARY, str(error)) from None
    with secrets.hidden():
        try:
            if channel.kind == "webhook":
                _post_webhook(url[len("webhook+") :], body, digest_id, environ, timeout)
            else:
                _notify_apprise(url, title, body, timeout)
        except ChannelFailure as failed:
            reason = secrets.redact(failed.reason)
            log.debug("%s: %s (%s)", channel.label, reason, failed.failure)
            raise ChannelFailure(failed.failure, reason, failed.retry_after) from None
        except Exception as error:  # a fault of ours or of a library: this message cannot go
            trace = secrets.redact("".join(traceback.format_exception(error)))
            log.debug("%s: %s", channel.label, trace)
            reason = secrets.redact(" ".join(f"{type(error).__name__}: {error}".split()))
            raise ChannelFailure(Failure.PERMANENT, reason) from None
    log.debug("%s: sent", channel.label)


# -- the webhook


def signature(secret: str, body: bytes) -> str:
    """The ``X-Newswatch-Signature`` value of ``body``: ``sha256=<hex>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _post_webhook(
    url: str, body: str, digest_id: str, environ: Mapping[str, str], timeout: float
) -> None:
    secret = environ.get(WEBHOOK_SECRET_ENV)
    if not secret:
        raise ChannelFailure(Failure.TEMPORARY, f"{WEBHOOK_SECRET_ENV} is unset")
    parts = urlsplit(url)
    if parts.scheme.lower() == "http" and not is_loopback(parts.hostname or ""):
        # a value put in the user or path moved the host (parse_channel saw a loopback one)
        raise ChannelFailure(Failure.PERMANENT, "webhook+http:// goes only to a loopback host")
    payload = body.encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Newswatch-Signature": signature(secret, payload),
        "Idempotency-Key": digest_id,
    }
    with requests.Session() as session:
        session.trust_env = False  # no proxy, .netrc or CA bundle from the process environment
        try:
            response = session.post(
                url,
                data=payload,
                headers=headers,
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.RequestException as error:
            raise _transport_failure(error, timeout) from None
        with response:
            if 200 <= response.status_code < 300:
                return
            raise _refusal(response)


def _refusal(response: requests.Response) -> ChannelFailure:
    status = response.status_code
    reason = f"HTTP {status} {response.reason or http.client.responses.get(status, '')}".strip()
    snippet = _snippet(response)
    if snippet:
        reason += f": {snippet}"
    if not is_permanent_status(status):
        wait = retry_after(response.headers.get("Retry-After"), response.headers.get("Date"))
        return ChannelFailure(Failure.TEMPORARY, reason, wait)
    if 300 <= status < 400:
        reason += " (redirects are not followed: configure the final URL)"
    return ChannelFailure(Failure.PERMANENT, reason)


def _snippet(response: requests.Response) -> str:
    """The start of the answer's body on one line, when it is text; nothing when it cannot be
    read in time (the status already says what happened)."""
    try:
        start = next(response.iter_content(_SNIPPET * 4), b"")
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
        return ""
    if not isinstance(start, bytes):
        return ""
    text = start.decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return text[:_SNIPPET] + ("..." if len(text) > _SNIPPET else "")


def is_permanent_status(status: int) -> bool:
    """Whether an HTTP answer refuses the message for good: 3xx (no redirect is followed) and
    4xx other than 408 and 429. Others (5xx, 408, 429) are worth another try."""
    return 300 <= status < 500 and status not in (408, 429)


def retry_after(value: str | None, date: str | None = None) -> timedelta | None:
    """The wait a ``Retry-After`` header asks for: seconds, or an HTTP date (taken against
    the answer's ``Date`` header, the clock that wrote it, or now when there is none); None
    when there is none or it cannot be read. At most `MAX_RETRY_AFTER`."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return min(timedelta(seconds=min(int(value), 10**8)), MAX_RETRY_AFTER)
    when = _http_date(value)
    if when is None:
        return None
    now = _http_date(date) if date else None
    wait = when - (now or datetime.now(UTC))
    return min(max(wait, timedelta(0)), MAX_RETRY_AFTER)


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _transport_failure(error: requests.RequestException, timeout: float) -> ChannelFailure:
    """What an exception of requests says: no connection (temporary) or the request went with
    no answer (lost)."""
    causes = list(_causes(error))
    if isinstance(error, requests.ConnectTimeout):
        return ChannelFailure(Failure.TEMPORARY, f"could not connect within {timeout:g} s")
    if isinstance(error, requests.ReadTimeout):
        return ChannelFailure(
            Failure.LOST,
            f"no answer within {timeout:g} s after the request went: it may have arrived",
        )
    if isinstance(error, requests.exceptions.SSLError):
        return ChannelFailure(Failure.TEMPORARY, f"TLS failed: {_leaf(causes)}")
    if any(isinstance(cause, urllib3.exceptions.NewConnectionError) for cause in causes):
        return ChannelFailure(Failure.TEMPORARY, f"could not connect: {_leaf(causes)}")
    if any(isinstance(cause, _AFTER_SENDING) for cause in causes):
        return ChannelFailure(
            Failure.LOST,
            f"the connection closed before an answer came ({_leaf(causes)}): it may have arrived",
        )
    if isinstance(error, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return ChannelFailure(Failure.PERMANENT, f"the URL cannot be used: {_leaf(causes)}")
    return ChannelFailure(Failure.TEMPORARY, _leaf(causes))


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what it wraps (causes, urllib3's reasons, exceptions among the args)."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        inner += list(current.args)
        pending += [item for item in inner if isinstance(item, BaseException)]


def _leaf(causes: list[BaseException]) -> str:
    """The innermost error that says something, in one line (an OSError's strerror, say)."""
    for cause in reversed(causes):
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        if isinstance(cause, http.client.HTTPException | urllib3.exceptions.HTTPError) and str(
            cause
        ):
            return _text(cause)
    return _text(causes[-1]) if causes else "the request failed"


def _text(error: BaseException) -> str:
    text = " ".join(str(error).split())
    # urllib3 puts the pool and the path in front ("HTTPConnectionPool(host=...): ..."); the
    # label says which channel it is
    text = re.sub(r"^\S*ConnectionPool\(host=[^)]*\): ", "", text)
    text = re.sub(r"<urllib3\.\S+ object at 0x[0-9a-f]+>: ", "", text)
    return text or type(error).__name__


# -- Apprise


def _notify_apprise(url: str, title: str, body: str, timeout: float) -> None:
    from apprise import Apprise, NotifyFormat

    try:
        service = apprise_service(url, timeout)
    except ValueError as error:
        raise ChannelFailure(
            Failure.PERMANENT, f"Apprise cannot make a service of it: {error}"
        ) from None
    apprise = Apprise(asset=apprise_asset())
    apprise.add(service)
    result = apprise.notify(body=body, title=title, body_format=NotifyFormat.MARKDOWN)
    with result:
        if result:
            return
        lines = [
            " ".join(entry.message.split())
            for entry in result.logs()
            if entry.level in ("WARNING", "ERROR", "CRITICAL", "DEPRECATION WARNING")
        ]
    raise apprise_failure(lines)


def apprise_failure(lines: list[str]) -> ChannelFailure:
    """What Apprise's warnings and errors of a failed send say: PERMANENT when every HTTP
    status among them refuses for good (`is_permanent_status`), TEMPORARY otherwise (another
    status, or none: no connection, no answer)."""
    statuses = [int(status) for line in lines for status in _STATUS.findall(line)]
    reason = next((line for line in reversed(lines) if _STATUS.search(line)), None)
    reason = reason or (lines[-1] if lines else "Apprise reports a failure and says no more")
    if statuses and all(is_permanent_status(status) for status in statuses):
        return ChannelFailure(Failure.PERMANENT, reason)
    return ChannelFailure(Failure.TEMPORARY, reason)
