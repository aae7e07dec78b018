"""Alert channels beyond email: what a channel URL names, and what it must never show.

A channel is our own webhook (``webhook+https://host/path``; ``webhook+http://`` only to a
loopback host), which gets the digest as signed JSON, or any Apprise URL (``slack://``,
``tgram://``, ``ntfy://``, ``json://``, ...), which gets it as Markdown. `parse_channel`
checks a URL as configured and needs no environment; `expand` puts the values of its
``${NAME}`` placeholders in from the environment mapping it is given, verbatim (percent-encode
``@ / ? #`` in a value that goes into a URL's user, password or path).

Promises about secrets: the values of placeholders, and any literal token written in the URL
(a password, a token-like host, path segment, user or query value) never appear in a
`Channel.label`, in a message of `problems`, nor in a log record of the loggers that see
channel URLs (apprise, urllib3, requests) while a channel is in use (`Secrets.hidden`): there
each one is written as its ``${NAME}`` or as ``****``.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import quote, unquote, urlsplit

if TYPE_CHECKING:
    from apprise import AppriseAsset
    from apprise.plugins.base import NotifyBase

WEBHOOK_SECRET_ENV = "NEWSWATCH_WEBHOOK_SECRET"
WEBHOOK_SCHEMES = ("webhook+https", "webhook+http")

# message limits, counted as each service counts (Telegram and Discord in UTF-16 units, to be
# safe with emoji; ntfy in bytes); other Apprise services: their own declared body limit, at
# most DEFAULT_LIMIT characters
LIMITS: dict[str, tuple[int, Literal["chars", "utf-16", "bytes"]]] = {
    "tgram": (4096, "utf-16"),
    "discord": (2000, "utf-16"),
    "slack": (3000, "chars"),  # one section block
    "ntfy": (4096, "bytes"),
    "ntfys": (4096, "bytes"),
}
DEFAULT_LIMIT = 4000

_NAME = r"[A-Z_][A-Z0-9_]*"
_PLACEHOLDER = re.compile(r"\$\{(" + _NAME + r")\}")
_OPENING = re.compile(r"\$\{[^}]*\}?")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# literal URL parts shown as they are: words without digits (paths, channels, topics, users)
# and short numbers (chat and webhook ids); anything else may be a token
_PLAIN = re.compile(r"[A-Za-z#@._~-]{1,40}|[0-9]{1,15}")
_HOST = re.compile(r"(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?")
_MASK = "****"


class MissingSecret(ValueError):
    """A placeholder names an environment variable that is unset (or empty)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is unset")
        self.name = name


@dataclass(frozen=True)
class Channel:
    """One channel URL as configured (placeholders unexpanded), checked by `parse_channel`."""

    url: str
    kind: str  # "webhook", or the Apprise scheme: "slack", "tgram", "ntfy", "json", ...
    label: str  # safe to print: no secret, literal or from the environment
    format: Literal["markdown", "json"]  # json for the webhook, markdown otherwise

    def fits(self, text: str) -> bool:
        """Whether ``text`` is within this service's message limit (the renderer cuts whole
        entries until it is); a webhook takes any length."""
        if self.kind == "webhook":
            return True
        limit, unit = LIMITS.get(self.kind) or (_declared_limit(self.kind), "chars")
        if unit == "bytes":
            return len(text.encode("utf-8")) <= limit
        if unit == "utf-16":
            return len(text.encode("utf-16-le")) // 2 <= limit
        return len(text) <= limit

    def placeholders(self) -> list[str]:
        """The ``${NAME}``s the URL names, each once, in order."""
        return list(dict.fromkeys(_PLACEHOLDER.findall(self.url)))


def parse_channel(url: str) -> Channel:
    """The `Channel` of ``url``; ValueError with a one-line reason (never the URL itself, which
    may hold a secret) for anything that cannot be one."""
    if not url.strip():
        raise ValueError("the channel URL is empty")
    if any(character.isspace() for character in url):
        raise ValueError("a channel URL has no spaces (write them as %20)")
    for opening in _OPENING.finditer(url):
        if not _PLACEHOLDER.fullmatch(opening.group()):
            raise ValueError(
                f"malformed placeholder {opening.group()!r} in a channel URL: "
                "write ${NAME}, the name in capitals, digits and _"
            )
    found = _SCHEME.match(url)
    if found is None:
        raise ValueError("a channel URL starts with its scheme, e.g. slack:// or webhook+https://")
    scheme = found.group(1).lower()
    label = describe_url(url)
    if scheme.startswith("webhook+"):
        _check_webhook(scheme, url[found.end() :])
        return Channel(url, "webhook", label, "json")
    from apprise.plugins import N_MGR  # loads Apprise's plugins on first use

    if scheme not in N_MGR:
        raise ValueError(
            f"unknown channel scheme {scheme!r}: not webhook+https, webhook+http "
            "nor an Apprise service"
        )
    if not N_MGR[scheme].enabled:
        raise ValueError(f"the Apprise service {scheme}:// needs packages that are not installed")
    return Channel(url, scheme, label, "markdown")


def _check_webhook(scheme: str, rest: str) -> None:
    if scheme not in WEBHOOK_SCHEMES:
        raise ValueError(
            f"unknown webhook scheme {scheme!r}: use webhook+https:// "
            "(or webhook+http:// to a loopback host)"
        )
    try:
        parts = urlsplit("http://" + rest)
        parts.port  # noqa: B018 (raises ValueError for a port that is not one)
    except ValueError:  # its message would quote the URL
        raise ValueError("the webhook URL cannot be read (its host or port)") from None
    host = parts.hostname or ""
    if not host:
        raise ValueError("the webhook URL has no host")
    if scheme == "webhook+http" and not is_loopback(host):
        shown = "a placeholder" if "${" in host else host
        raise ValueError(
            f"webhook+http:// goes only to a loopback host, not {shown}: use webhook+https://"
        )


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _declared_limit(scheme: str) -> int:
    from apprise.plugins import N_MGR

    declared = getattr(N_MGR[scheme], "body_maxlen", None) if scheme in N_MGR else None
    if isinstance(declared, int) and declared > 0:
        return min(declared, DEFAULT_LIMIT)
    return DEFAULT_LIMIT


def expand(url: str, environ: Mapping[str, str]) -> str:
    """``url`` with each ``${NAME}`` replaced by ``environ[NAME]``; `MissingSecret` for the
    first one unset or empty."""

    def value(found: re.Match[str]) -> str:
        name = found.group(1)
        if not environ.get(name):
            raise MissingSecret(name)
        return environ[name]

    return _PLACEHOLDER.sub(value, url)


# -- what a URL shows, and what it hides


def describe_url(url: str) -> str:
    """The URL as it may be printed: placeholders as written, literal tokens masked, a
    password always ``****``."""
    return _split_secrets(url)[0]


def _split_secrets(url: str) -> tuple[str, list[str]]:
    """(the printable URL, the literal tokens it masks)."""
    hidden: list[str] = []
    scheme, separator, rest = url.partition("://")
    if not separator:
        return _shown(url, hidden), hidden
    rest, question, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    shown = [scheme, "://"]
    if at:
        user, colon, password = userinfo.partition(":")
        shown.append(_shown(user, hidden))
        if colon:
            shown.append(":")
            literals = [run for run in _PLACEHOLDER.split(password)[::2] if run]
            hidden.extend(literals)
            shown.append(_MASK if literals else password)
        shown.append("@")
    if _HOST.fullmatch(hostport):
        shown.append(hostport)
    else:
        shown.append(_shown(hostport, hidden))
    if slash:
        shown += ["/", "/".join(_shown(segment, hidden) for segment in path.split("/"))]
    if question:
        pairs = []
        for pair in query.split("&"):
            key, equals, value = pair.partition("=")
            pairs.append(_shown(key, hidden) + equals + _shown(value, hidden))
        shown += ["?", "&".join(pairs)]
    return "".join(shown), hidden


def _shown(text: str, hidden: list[str]) -> str:
    """``text`` with its placeholders as written and each literal run between them shown when
    it is plain (`_PLAIN`), masked (and added to ``hidden``) otherwise."""
    pieces = _PLACEHOLDER.split(text)  # literal, name, literal, name, ..., literal
    shown = []
    for index, piece in enumerate(pieces):
        if index % 2:
            shown.append("${" + piece + "}")
        elif not piece or _PLAIN.fullmatch(piece):
            shown.append(piece)
        else:
            hidden.append(piece)
            shown.append(f"{piece[0]}...{piece[-1]}" if len(piece) >= 8 else _MASK)
    return "".join(shown)


@dataclass(frozen=True)
class Secrets:
    """The strings of one channel that must never be shown, each with what stands for it."""

    stand_ins: tuple[tuple[str, str], ...]  # (secret, shown instead), longest first

    def redact(self, text: str) -> str:
        for secret, stand_in in self.stand_ins:
            text = text.replace(secret, stand_in)
        return text

    @contextmanager
    def hidden(self) -> Iterator[None]:
        """While this runs, every record of the loggers that see channel URLs has these
        secrets replaced (whichever thread logs it)."""
        _REDACTION.add(self)
        try:
            yield
        finally:
            _REDACTION.remove(self)


def secrets_of(channel: Channel, environ: Mapping[str, str]) -> Secrets:
    """The values of the channel's placeholders that are set, and the literal tokens in its URL
    (as written, percent-encoded and decoded)."""
    pairs: dict[str, str] = {}
    for literal in _split_secrets(channel.url)[1]:
        pairs.update(dict.fromkeys(_spellings(literal), _MASK))
    for name in channel.placeholders():
        if environ.get(name):
            pairs.update(dict.fromkeys(_spellings(environ[name]), "${" + name + "}"))
    ordered = sorted(pairs.items(), key=lambda pair: -len(pair[0]))
    return Secrets(tuple((secret, shown) for secret, shown in ordered if secret))


def _spellings(value: str) -> set[str]:
    plain = unquote(value)
    return {value, plain, quote(plain, safe=""), quote(plain, safe="/:")}


class _Redaction(logging.Filter):
    """Rewrites the records of the loggers that see channel URLs while secrets are in use."""

    LOGGERS = (
        "apprise",
        "urllib3",
        "urllib3.connectionpool",
        "urllib3.connection",
        "urllib3.poolmanager",
        "urllib3.response",
        "urllib3.util.retry",
        "requests",
    )

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._active: Counter[Secrets] = Counter()
        for name in self.LOGGERS:
            logging.getLogger(name).addFilter(self)

    def add(self, secrets: Secrets) -> None:
        with self._lock:
            self._active[secrets] += 1

    def remove(self, secrets: Secrets) -> None:
        with self._lock:
            self._active[secrets] -= 1
            if self._active[secrets] <= 0:
                del self._active[secrets]

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            active = list(self._active)
        if not active:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its message
            message = str(record.msg)
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, None
        for secrets in active:
            message = secrets.redact(message)
        record.msg, record.args = message, ()
        return True


_REDACTION = _Redaction()


# -- Apprise services


def apprise_service(url: str, timeout: float) -> NotifyBase:
    """The Apprise service of the expanded ``url``: secure logging, no redirects followed,
    connect and read each bounded by ``timeout``, no retries of its own (the outbox retries),
    nothing stored on disk. ValueError with Apprise's reason when it cannot make one; call it
    under `Secrets.hidden` (Apprise logs what it parses)."""
    from apprise import Apprise

    try:
        service = Apprise.instantiate(url, asset=apprise_asset(), suppress_exceptions=False)
    except Exception as error:
        raise ValueError(_one_line(str(error)) or type(error).__name__) from None
    if service is None:
        raise ValueError("Apprise cannot read this URL")
    service.socket_connect_timeout = timeout
    service.socket_read_timeout = timeout
    service.redirects = False
    return service


def apprise_asset() -> AppriseAsset:
    from apprise import AppriseAsset

    return AppriseAsset(
        app_id="newswatch",
        app_desc="newswatch digests",
        secure_logging=True,
        http_redirects=False,
        service_timeout=0,  # the call runs in the caller's thread; the transport timeouts bound it
        storage_mode="memory",
        default_service_retry=0,
    )


def _one_line(text: str) -> str:
    return " ".join(text.split())


def problems(channel: Channel, environ: Mapping[str, str]) -> list[str]:
    """What keeps the channel from working, for `newswatch check`: unset variables, the webhook
    secret unset, an expanded URL Apprise cannot make a service of. Never a secret."""
    found = [f"{name} is unset" for name in channel.placeholders() if not environ.get(name)]
    if channel.kind == "webhook":
        if not environ.get(WEBHOOK_SECRET_ENV):
            found.append(f"{WEBHOOK_SECRET_ENV} is unset")
        return found
    if found:
        return found
    secrets = secrets_of(channel, environ)
    with secrets.hidden():
        try:
            apprise_service(expand(channel.url, environ), timeout=10.0)
        except ValueError as error:
            found.append(f"Apprise cannot make a service of it: {secrets.redact(str(error))}")
    return found
