"""Channels beyond email against real receivers on loopback (tests/receivers.py): the signed
webhook, Apprise's json:// and ntfy://, what each failure says about the message, and secrets
that never reach a label, a reason or a log line."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from alerts.channel_send import ChannelFailure, send_channel
from alerts.channels import (
    WEBHOOK_SECRET_ENV,
    Channel,
    MissingSecret,
    expand,
    parse_channel,
    problems,
)
from alerts.outbox import Failure
from tests.receivers import Reply, receiver
from tests.test_mailer import free_port

WEBHOOK_SECRET = "whsec-test-0123456789"
ENV = {WEBHOOK_SECRET_ENV: WEBHOOK_SECRET}
DIGEST_ID = "d-2024-05-01-analyst-7f3a"
DOCUMENT = '{"id": "d-2024-05-01-analyst-7f3a", "subscriber": "analyst", "watchlists": []}'
TITLE = "newswatch: 2 new articles on Syria"
MARKDOWN = "**Syria** (2)\n\n- [Assad’s fall](https://p.dw.com/p/4mX1a) — *Damascus*"
# recognisable, so that a test can tell it never got out
SECRET = "sEcReT-v4lue-9f3b2c7d1e"


def send(
    url: str, *, environ: dict[str, str] | None = None, timeout: float = 5.0, body: str = ""
) -> None:
    channel = parse_channel(url)
    send_channel(
        channel,
        title=TITLE,
        body=body or (DOCUMENT if channel.kind == "webhook" else MARKDOWN),
        digest_id=DIGEST_ID,
        environ=ENV if environ is None else environ,
        timeout=timeout,
    )


def failure_of(
    url: str, *, environ: dict[str, str] | None = None, timeout: float = 5.0
) -> ChannelFailure:
    with pytest.raises(ChannelFailure) as caught:
        send(url, environ=environ, timeout=timeout)
    assert "\n" not in caught.value.reason
    return caught.value


# -- parsing


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://x", "unknown channel scheme 'ftp'"),
        ("webhook+http://example.org/hook", "only to a loopback host, not example.org"),
        ("webhook+http://${HOOK_HOST}/hook", "only to a loopback host, not a placeholder"),
        ("webhook+ftp://example.org/hook", "unknown webhook scheme 'webhook+ftp'"),
        ("webhook+https:///hook", "no host"),
        ("tgram://${lower}/12345", "malformed placeholder '${lower}'"),
        ("json://127.0.0.1/${UNCLOSED", "malformed placeholder '${UNCLOSED'"),
        ("slack://${}/x", "malformed placeholder '${}'"),
        ("example.org/hook", "starts with its scheme"),
        ("json://127.0.0.1/a b", "no spaces"),
    ],
)
def test_a_url_that_cannot_be_a_channel_is_refused_in_one_line(url: str, says: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_channel(url)
    assert says in str(caught.value)
    assert "\n" not in str(caught.value)


def test_webhooks_go_as_json_and_apprise_services_as_markdown() -> None:
    webhook = parse_channel("webhook+https://hooks.example.org/newswatch")
    loopback = parse_channel("webhook+http://127.0.0.1:8080/in")
    telegram = parse_channel("tgram://${TG_TOKEN}/12345")
    ntfy = parse_channel("ntfys://ntfy.sh/newswatch-alerts")
    assert (webhook.kind, webhook.format) == ("webhook", "json")
    assert (loopback.kind, loopback.format) == ("webhook", "json")
    assert (telegram.kind, telegram.format) == ("tgram", "markdown")
    assert (ntfy.kind, ntfy.format) == ("ntfys", "markdown")
    assert telegram.placeholders() == ["TG_TOKEN"]
    assert parse_channel("json://${U}:${P}@127.0.0.1/${P}").placeholders() == ["U", "P"]


def test_a_label_shows_placeholders_and_masks_the_tokens_written_in_the_url() -> None:
    literal = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    assert parse_channel(f"tgram://{literal}/12345").label == "tgram://1...w/12345"
    assert parse_channel("tgram://${TG_TOKEN}/12345").label == "tgram://${TG_TOKEN}/12345"
    assert (
        parse_channel("json://user:hunter2@127.0.0.1:8080/hook/${HOOK}").label
        == "json://user:****@127.0.0.1:8080/hook/${HOOK}"
    )
    slack = parse_channel("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general")
    assert slack.label == "slack://T...2/A...D/T...Q/#general"
    assert parse_channel("ntfy://ntfy.sh/alerts?token=tk_AgQdq7mVBoFD37zQ").label == (
        "ntfy://ntfy.sh/alerts?token=t...Q"
    )


def test_placeholders_expand_from_the_mapping_given_never_from_os_environ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TG_TOKEN", "from-os-environ")
    url = "tgram://${TG_TOKEN}/12345"
    assert expand(url, {"TG_TOKEN": "123:abc"}) == "tgram://123:abc/12345"
    with pytest.raises(MissingSecret) as caught:
        expand(url, {})
    assert caught.value.name == "TG_TOKEN"
    assert str(caught.value) == "TG_TOKEN is unset"
    with pytest.raises(MissingSecret):
        expand(url, {"TG_TOKEN": ""})


def test_each_service_is_held_to_its_message_limit() -> None:
    telegram, discord = parse_channel("tgram://${T}/1"), parse_channel("discord://1/${T}")
    ntfy, slack = parse_channel("ntfy://127.0.0.1/t"), parse_channel("slack://${T}/#c")
    assert telegram.fits("x" * 4096) and not telegram.fits("x" * 4097)
    assert not telegram.fits("😀" * 2049)  # Telegram counts UTF-16 units
    assert discord.fits("x" * 2000) and not discord.fits("x" * 2001)
    assert slack.fits("x" * 3000) and not slack.fits("x" * 3001)
    assert ntfy.fits("x" * 4096) and not ntfy.fits("я" * 2049)  # ntfy counts bytes
    assert parse_channel("json://127.0.0.1/x").fits("x" * 4000)
    assert not parse_channel("json://127.0.0.1/x").fits("x" * 4001)
    assert parse_channel("webhook+https://example.org/x").fits("x" * 1_000_000)


def test_check_names_what_is_missing_and_never_a_secret() -> None:
    telegram = parse_channel("tgram://${TG_TOKEN}/12345")
    assert problems(telegram, {}) == ["TG_TOKEN is unset"]
    assert problems(telegram, {"TG_TOKEN": "123456:AAHdqTcvCH1vGWJxfSeof"}) == []
    said = problems(telegram, {"TG_TOKEN": SECRET})  # not a bot token
    assert len(said) == 1 and said[0].startswith("Apprise cannot make a service of it")
    assert SECRET not in said[0]
    literal = parse_channel(f"tgram://{SECRET}/12345")
    assert all(SECRET not in line for line in problems(literal, {}))
    webhook = parse_channel("webhook+https://example.org/in/${HOOK}")
    assert problems(webhook, {}) == ["HOOK is unset", f"{WEBHOOK_SECRET_ENV} is unset"]
    assert problems(webhook, {"HOOK": "x", WEBHOOK_SECRET_ENV: "y"}) == []


# -- the webhook


def test_the_webhook_posts_the_body_signed_with_the_digest_id_as_idempotency_key() -> None:
    body = DOCUMENT.replace("[]", '[{"name": "Сирия — ‹Syria›"}]')  # bytes beyond ASCII
    with receiver() as hook:
        send(f"webhook+http://127.0.0.1:{hook.port}/in/newswatch", body=body)
        [request] = hook.wait_for(1)
    assert (request.method, request.path) == ("POST", "/in/newswatch")
    assert request.body == body.encode("utf-8")
    expected = hmac.new(WEBHOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.header("X-Newswatch-Signature") or "", f"sha256={expected}")
    assert request.header("Idempotency-Key") == DIGEST_ID
    assert request.header("Content-Type") == "application/json"
    assert request.header("User-Agent") == "newswatch"


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (503, Failure.TEMPORARY),
        (500, Failure.TEMPORARY),
        (502, Failure.TEMPORARY),
        (408, Failure.TEMPORARY),
        (429, Failure.TEMPORARY),
        (404, Failure.PERMANENT),
        (400, Failure.PERMANENT),
        (401, Failure.PERMANENT),
        (410, Failure.PERMANENT),
    ],
)
def test_what_a_webhook_answer_says_about_the_message(status: int, failure: Failure) -> None:
    with receiver(Reply(status, body=b"<p>no such hook</p>")) as hook:
        failed = failure_of(f"webhook+http://127.0.0.1:{hook.port}/in")
    assert failed.failure is failure
    assert failed.reason.startswith(f"HTTP {status} ")
    assert failed.reason.endswith(": <p>no such hook</p>")
    assert failed.retry_after is None


def test_a_503_then_a_200_delivers_once_on_the_second_try() -> None:
    with receiver(Reply(503)) as hook:
        url = f"webhook+http://127.0.0.1:{hook.port}/in"
        assert failure_of(url).failure is Failure.TEMPORARY
        send(url)
        first, second = hook.wait_for(2)
    assert first.body == second.body == DOCUMENT.encode()
    assert first.header("Idempotency-Key") == second.header("Idempotency-Key") == DIGEST_ID


def test_429_with_retry_after_in_seconds_is_temporary_for_that_long() -> None:
    with receiver(Reply(429, {"Retry-After": "120"})) as hook:
        failed = failure_of(f"webhook+http://127.0.0.1:{hook.port}/in")
    assert failed.failure is Failure.TEMPORARY
    assert failed.reason == "HTTP 429 Too Many Requests"
    assert failed.retry_after == timedelta(seconds=120)


def test_retry_after_as_an_http_date_counts_from_the_answers_own_date() -> None:
    date = datetime(2024, 5, 1, 7, 28, tzinfo=UTC)
    headers = {
        "Date": format_datetime(date, usegmt=True),
        "Retry-After": format_datetime(date + timedelta(seconds=90), usegmt=True),
    }
    with receiver(Reply(503, headers)) as hook:
        failed = failure_of(f"webhook+http://127.0.0.1:{hook.port}/in")
    assert failed.failure is Failure.TEMPORARY
    assert failed.retry_after == timedelta(seconds=90)


def test_a_redirect_is_permanent_and_not_followed() -> None:
    with receiver() as elsewhere, receiver(Reply(301, {"Location": elsewhere.url})) as hook:
        failed = failure_of(f"webhook+http://127.0.0.1:{hook.port}/in")
        assert len(hook.wait_for(1)) == 1
        assert elsewhere.received == []
    assert failed.failure is Failure.PERMANENT
    assert failed.reason.startswith("HTTP 301 Moved Permanently")


def test_nothing_listening_is_temporary() -> None:
    failed = failure_of(f"webhook+http://127.0.0.1:{free_port()}/in")
    assert failed.failure is Failure.TEMPORARY
    assert failed.reason == "could not connect: Connection refused"


def test_a_request_read_and_never_answered_within_the_timeout_is_lost() -> None:
    with receiver(Reply(hold=True)) as hook:
        failed = failure_of(f"webhook+http://127.0.0.1:{hook.port}/in", timeout=0.5)
        [request] = hook.wait_for(1)
        hook.release()
    assert request.body == DOCUMENT.encode()  # it went whole: the receiver may act on it
    assert failed.failure is Failure.LOST
    assert failed.reason == "no answer within 0.5 s after the request went: it may have arrived"


def test_a_connection_closed_after_the_request_without_an_answer_is_lost() -> None:
    with receiver(Reply(drop=True)) as hook:
        failed = failure_of(f"webhook+http://127.0.0.1:{hook.port}/in")
        assert len(hook.wait_for(1)) == 1
    assert failed.failure is Failure.LOST


def test_an_unset_webhook_secret_is_temporary_names_the_variable_and_sends_nothing() -> None:
    with receiver() as hook:
        failed = failure_of(f"webhook+http://127.0.0.1:{hook.port}/in", environ={})
        assert hook.received == []
    assert failed.failure is Failure.TEMPORARY
    assert failed.reason == f"{WEBHOOK_SECRET_ENV} is unset"


def test_an_unset_placeholder_is_temporary_and_names_the_variable() -> None:
    failed = failure_of("webhook+https://example.org/in/${HOOK_TOKEN}")
    assert (failed.failure, failed.reason) == (Failure.TEMPORARY, "HOOK_TOKEN is unset")
    failed = failure_of("tgram://${TG_TOKEN}/12345")
    assert (failed.failure, failed.reason) == (Failure.TEMPORARY, "TG_TOKEN is unset")


# -- Apprise


def test_apprise_json_delivers_the_title_and_the_markdown_body() -> None:
    environ = {"JSON_PASSWORD": SECRET}
    with receiver() as server:
        send(f"json://newswatch:${{JSON_PASSWORD}}@127.0.0.1:{server.port}/notify", environ=environ)
        [request] = server.wait_for(1)
    assert (request.method, request.path) == ("POST", "/notify")
    arrived = request.json()
    assert (arrived["title"], arrived["message"]) == (TITLE, MARKDOWN)
    credentials = base64.b64encode(f"newswatch:{SECRET}".encode()).decode()
    assert request.header("Authorization") == f"Basic {credentials}"


def test_apprise_ntfy_posts_to_a_loopback_server_over_http() -> None:
    """ntfy:// (not ntfys://) to a host with a topic is ntfy's private mode over plain HTTP."""
    with receiver() as server:
        send(f"ntfy://127.0.0.1:{server.port}/newswatch-alerts")
        [request] = server.wait_for(1)
    assert (request.method, request.path) == ("POST", "/")
    arrived = request.json()
    assert arrived["topic"] == "newswatch-alerts"
    assert (arrived["title"], arrived["message"]) == (TITLE, MARKDOWN)


@pytest.mark.parametrize(
    ("reply", "failure"),
    [
        (Reply(404), Failure.PERMANENT),
        (Reply(400), Failure.PERMANENT),
        (Reply(301, {"Location": "http://127.0.0.1:9/"}), Failure.PERMANENT),
        (Reply(503), Failure.TEMPORARY),
        (Reply(429, {"Retry-After": "30"}), Failure.TEMPORARY),
        (Reply(408), Failure.TEMPORARY),
    ],
)
def test_what_an_answer_to_apprise_json_says_about_the_message(
    reply: Reply, failure: Failure
) -> None:
    with receiver(reply) as server:
        failed = failure_of(f"json://127.0.0.1:{server.port}/notify")
        assert len(server.wait_for(1)) == 1  # one request: no retry, no redirect followed
    assert failed.failure is failure
    assert f"error={reply.status}" in failed.reason


def test_ntfys_own_error_codes_are_read_as_their_http_status() -> None:
    refusal = json.dumps({"code": 40401, "http": 404, "error": "topic not found"}).encode()
    with receiver(Reply(404, {"Content-Type": "application/json"}, refusal)) as server:
        failed = failure_of(f"ntfy://127.0.0.1:{server.port}/gone")
    assert failed.failure is Failure.PERMANENT
    assert "topic not found" in failed.reason


def test_apprise_with_nothing_listening_is_temporary() -> None:
    failed = failure_of(f"json://127.0.0.1:{free_port()}/notify")
    assert failed.failure is Failure.TEMPORARY
    assert "Connection error" in failed.reason


def test_apprise_waits_no_longer_than_the_timeout() -> None:
    with receiver(Reply(hold=True)) as server:
        failed = failure_of(f"json://127.0.0.1:{server.port}/notify", timeout=0.5)
        assert len(server.wait_for(1)) == 1
        server.release()
    assert failed.failure is Failure.TEMPORARY


def test_a_url_apprise_cannot_make_a_service_of_is_permanent() -> None:
    failed = failure_of("tgram://not-a-bot-token/12345")
    assert failed.failure is Failure.PERMANENT
    assert failed.reason.startswith("Apprise cannot make a service of it")


# -- secrets


def test_secrets_never_reach_a_label_a_reason_or_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Values from the environment and tokens written in the URL, even when a receiver echoes
    them back, with every logger at its most verbose (Apprise's TRACE included)."""
    caplog.set_level(1)
    password, token = "L1teralPassw0rd", "T0kenInTheP4th2024"
    environ = {**ENV, "HOOK_TOKEN": SECRET, "JSON_PASSWORD": SECRET}
    channels = [  # each receiver answers 404, echoing the channel's secrets
        ("webhook+http://127.0.0.1:{port}/in/${{HOOK_TOKEN}}", SECRET),
        ("json://newswatch:${{JSON_PASSWORD}}@127.0.0.1:{port}/x/${{HOOK_TOKEN}}", SECRET),
        (f"json://newswatch:{password}@127.0.0.1:{{port}}/x/{token}", f"{password} {token}"),
        ("ntfy://newswatch:${{JSON_PASSWORD}}@127.0.0.1:{port}/alerts", SECRET),
    ]
    said: list[str] = []
    arrived = []
    for template, echoed in channels:
        with receiver(Reply(404, body=f"unknown hook: {echoed}".encode())) as server:
            url = template.format(port=server.port)
            channel = parse_channel(url)
            said += [channel.label, failure_of(url, environ=environ).reason]
            said += problems(channel, environ)
            arrived += server.wait_for(1)
    assert SECRET in arrived[0].path and token in arrived[2].path  # they were used
    said += [record.getMessage() for record in caplog.records]
    said.append(caplog.text)
    assert any("urllib3" in record.name for record in caplog.records)
    assert any(record.name == "apprise" for record in caplog.records)
    for secret in (SECRET, password, token):
        assert [line for line in said if secret in line] == []
    assert any("${HOOK_TOKEN}" in line for line in said)  # shown by name


def test_a_channel_is_a_plain_value() -> None:
    channel = parse_channel("tgram://${TG_TOKEN}/12345")
    assert channel == Channel("tgram://${TG_TOKEN}/12345", "tgram", channel.label, "markdown")
    assert logging.getLogger("apprise").filters  # the redaction is in place before any send


def test_a_value_that_moves_a_loopback_webhook_elsewhere_is_not_sent() -> None:
    with receiver() as hook:
        url = f"webhook+http://${{HOOK_USER}}@127.0.0.1:{hook.port}/in"
        environ = {**ENV, "HOOK_USER": "x@example.org/"}
        assert failure_of(url, environ=environ).failure is Failure.PERMANENT
        assert hook.received == []
        environ = {**ENV, "HOOK_USER": "x@localhost:1/"}  # still loopback: it is tried
        assert failure_of(url, environ=environ).failure is Failure.TEMPORARY
