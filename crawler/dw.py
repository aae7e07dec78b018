"""What newswatch knows about DW addresses: which content a URL names, one URL per page.

No Scrapy import here: the CLI and the tests use it too. The page parser lives in
``crawler/dw_page.py``; DW's ids (content id, short id) and time zone in ``store/dw_ids.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from store import dw_ids

# URL path suffix -> kind of content
KINDS = {
    "a": "article",
    "av": "video",
    "video": "video",
    "g": "gallery",
    "live": "live",
    "audio": "audio",
}
_ID_IN_PATH = re.compile(r"/(a|av|video|g|live|audio)-(\d{1,12})(?:/|$|\.html?$)")
_SHORT_PATH = re.compile(r"^/p/([0-9A-Za-z]{1,12})/?$")
_DW_HOSTS = ("dw.com", "dw.de")
# hosts that show the same content as www.dw.com
_MIRROR_PREFIXES = ("amp.", "m.", "www.")
# tracking parameters DW adds to shared and syndicated links
_TRACKING_PARAMS = {"maca", "utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"}


@dataclass(frozen=True)
class DwRef:
    """What a URL says about the content it points at."""

    content_id: int
    kind: str  # article | video | gallery | live | audio | unknown (p.dw.com links)
    language: str | None

    @property
    def short_id(self) -> str:
        return dw_ids.short_id(self.content_id)


def is_dw_host(host: str) -> bool:
    host = host.lower().rstrip(".")
    return any(host == h or host.endswith("." + h) for h in _DW_HOSTS)


def normalize_url(url: str) -> str:
    """One form per page: https, ``www.dw.com`` for the amp./m./dw.de mirrors, no tracking
    parameters (``?maca=``), no fragment. Non-DW hosts keep their host and scheme."""
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    scheme = parts.scheme.lower() or "https"
    netloc = parts.netloc.lower()
    if is_dw_host(host) and not host.startswith("p.") and not host.startswith("api."):
        bare = host
        for prefix in _MIRROR_PREFIXES:
            if bare.startswith(prefix):
                bare = bare[len(prefix) :]
                break
        if bare in _DW_HOSTS:
            scheme, netloc = "https", "www.dw.com"
    elif is_dw_host(host):
        scheme, netloc = "https", host
    query = urlencode(
        [
            (k, v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
            if k.lower() not in _TRACKING_PARAMS
        ]
    )
    path = parts.path or "/"
    if path.startswith("/amp/"):  # amp-style path on the main host
        path = path[len("/amp") :]
    return urlunsplit((scheme, netloc, path, query, ""))


def ref_from_url(url: str) -> DwRef | None:
    """Content id, kind and language from any DW URL (``/a-``, ``/av-``, ``/video-``, ``/g-``,
    ``/live-``, ``p.dw.com/p/<short id>``); None where the URL names no content."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # malformed, e.g. an unclosed IPv6 host "http://[::1": names no content
        return None
    path = parts.path
    short = _SHORT_PATH.match(path)
    if short and (parts.hostname or "").lower().startswith("p."):
        try:
            return DwRef(dw_ids.content_id(short.group(1)), "unknown", None)
        except dw_ids.DwIdError:
            return None
    found = _ID_IN_PATH.search(path)
    if not found:
        return None
    segments = [s for s in path.split("/") if s]
    if segments and segments[0] == "amp":
        segments = segments[1:]
    language = segments[0].lower() if segments and _looks_like_language(segments[0]) else None
    return DwRef(int(found.group(2)), KINDS[found.group(1)], language)


def _looks_like_language(segment: str) -> bool:
    return bool(re.fullmatch(r"[a-z]{2,3}(?:-[a-z]{2,4})?", segment.lower()))
