"""DW ids (store.dw_ids: short id <-> content id) and addresses (crawler.dw: URL → content, one
URL per page)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.dw import DwRef, normalize_url, ref_from_url
from store.dw_ids import ALPHABET, DwIdError, content_id, short_id, short_url

# every (short id, content id) pair named in the samples' SOURCES.md, checked by computation
ID_PAIRS = [
    ("1HDPC", 18879446),
    ("4boRv", 68117411),
    ("RPYx", 6533123),
    ("2uMfI", 42986168),
    ("3WRPd", 52060881),
    ("4OdJW", 64976342),
    ("4PBBF", 65106525),
    ("3qFH0", 56780778),
    ("2Xns8", 37609208),
    ("41wLY", 59567960),
    ("41wLa", 59567962),
    ("4JNwb", 63725621),
    ("3ewW1", 54087065),
]


@pytest.mark.parametrize(("short", "number"), ID_PAIRS)
def test_short_id_is_base62_of_the_content_id(short: str, number: int) -> None:
    assert short_id(number) == short
    assert content_id(short) == number


def test_short_ids_are_case_sensitive() -> None:
    assert content_id("41wLY") != content_id("41wLy")
    assert short_id(0) == "0" and content_id("0") == 0
    assert short_id(61) == "z" and short_id(62) == "10"


@given(st.integers(min_value=0, max_value=10**18))
def test_content_id_of_short_id_round_trips(number: int) -> None:
    assert content_id(short_id(number)) == number


@given(st.text(alphabet=ALPHABET, min_size=1, max_size=10).filter(lambda s: s[0] != "0"))
def test_short_id_of_content_id_round_trips(short: str) -> None:
    assert short_id(content_id(short)) == short


@pytest.mark.parametrize("bad", ["", "4bo-Rv", "4boRv ", "ä", None])
def test_content_id_refuses_what_is_no_short_id(bad: str | None) -> None:
    with pytest.raises(DwIdError):
        content_id(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, True, 1.5, "12"])
def test_short_id_refuses_what_is_no_content_id(bad: object) -> None:
    with pytest.raises(DwIdError):
        short_id(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.dw.com/en/berlin-confronts/a-52060881", DwRef(52060881, "article", "en")),
        ("https://www.dw.com/de/global-3000/av-42986168", DwRef(42986168, "video", "de")),
        ("https://www.dw.com/en/some-report/video-68117411", DwRef(68117411, "video", "en")),
        (
            "https://www.dw.com/en/racist-ruthless-cruel/g-36059930",
            DwRef(36059930, "gallery", "en"),
        ),
        ("https://www.dw.com/en/ukraine-updates/live-64976342", DwRef(64976342, "live", "en")),
        ("https://www.dw.com/fr/une-emission/audio-15100334", DwRef(15100334, "audio", "fr")),
        ("https://amp.dw.com/en/berlin-confronts/a-52060881", DwRef(52060881, "article", "en")),
        ("https://m.dw.com/en/berlin-confronts/a-52060881", DwRef(52060881, "article", "en")),
        ("http://dw.de/en/berlin-confronts/a-52060881", DwRef(52060881, "article", "en")),
        ("https://www.dw.de/en/berlin-confronts/a-52060881", DwRef(52060881, "article", "en")),
        ("https://www.dw.com/amp/en/berlin-confronts/a-52060881", DwRef(52060881, "article", "en")),
        (
            "https://www.dw.com/ru/novost/a-61509255?maca=rus-rss-ru-news-4383-xml-mrss",
            DwRef(61509255, "article", "ru"),
        ),
        ("https://www.dw.com/pt-br/noticia/a-18879446", DwRef(18879446, "article", "pt-br")),
        ("https://p.dw.com/p/3WRPd", DwRef(52060881, "unknown", None)),
        ("https://p.dw.com/p/2uMfI?maca=de-Facebook-sharing", DwRef(42986168, "unknown", None)),
        ("http://p.dw.com/p/RPYx/", DwRef(6533123, "unknown", None)),
    ],
)
def test_ref_from_url_reads_content_id_kind_and_language(url: str, expected: DwRef) -> None:
    assert ref_from_url(url) == expected


def test_ref_from_url_gives_the_short_id() -> None:
    ref = ref_from_url("https://www.dw.com/de/russland-wahl/a-68117411")
    assert ref is not None and ref.short_id == "4boRv"


@pytest.mark.parametrize(
    "url",
    [
        "https://www.dw.com/en/top-stories/s-9097",  # a section page
        "https://www.dw.com/de/brasilien/t-17518270",  # a topic page
        "https://www.dw.com/en/plan-a-5-things",  # "a-5" inside a slug is no id
        "https://p.dw.com/p/not-an-id",
        "http://[::1",  # malformed: names nothing, does not raise
        "",
    ],
)
def test_ref_from_url_is_none_where_the_url_names_no_content(url: str) -> None:
    assert ref_from_url(url) is None


VARIANTS_OF_ONE_PAGE = [
    "https://www.dw.com/en/berlin-confronts/a-52060881",
    "http://www.dw.com/en/berlin-confronts/a-52060881",
    "https://amp.dw.com/en/berlin-confronts/a-52060881",
    "https://m.dw.com/en/berlin-confronts/a-52060881",
    "https://dw.com/en/berlin-confronts/a-52060881",
    "https://www.dw.de/en/berlin-confronts/a-52060881",
    "http://dw.de/en/berlin-confronts/a-52060881",
    "https://www.dw.com/amp/en/berlin-confronts/a-52060881",
    "https://www.dw.com/en/berlin-confronts/a-52060881?maca=en-rss-en-all-1573-rdf",
    "https://WWW.DW.COM/en/berlin-confronts/a-52060881?maca=en-Facebook-sharing#comments",
    "https://www.dw.com/en/berlin-confronts/a-52060881?utm_source=x&utm_medium=y",
]


def test_normalize_url_makes_mirror_and_tracking_variants_equal() -> None:
    assert {normalize_url(u) for u in VARIANTS_OF_ONE_PAGE} == {
        "https://www.dw.com/en/berlin-confronts/a-52060881"
    }
    assert {ref_from_url(u) for u in VARIANTS_OF_ONE_PAGE} == {DwRef(52060881, "article", "en")}


def test_normalize_url_keeps_other_query_parameters_and_short_urls() -> None:
    assert normalize_url("https://www.dw.com/search/en?item=Berlin&maca=x") == (
        "https://www.dw.com/search/en?item=Berlin"
    )
    assert normalize_url("http://p.dw.com/p/3WRPd?maca=en-Twitter-sharing") == short_url("3WRPd")


def test_normalize_url_leaves_other_hosts_alone() -> None:
    assert normalize_url("http://example.com/en/x/a-1?maca=x") == "http://example.com/en/x/a-1"
