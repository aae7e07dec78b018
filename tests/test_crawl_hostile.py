"""Hostile inputs: each bad page is one counted error naming its URL, and the rest of the crawl
completes and is stored.

One crawl covers every case (a crawl is a subprocess and costs seconds). It reads three loopback
hosts of the demo site:

- host A: a hand-made feed whose items lead to bad pages (truncated, oversized, 404, 500, too slow,
  redirected to another host or to ``file:``), to a page in windows-1252, to one in KOI8-R named
  only by its HTTP header, to a good article, and
  one item without a link; feeds carrying an entity bomb and an external entity; a feed redirected
  to another host; and A's own German feed, all good;
- host B: its robots.txt disallows ``/en/``;
- host C: its robots.txt answers 500, which disallows the whole host.

"Another host" is ``localhost`` on the same port: the same loopback server, so its request log
shows whether a redirect was followed, and nothing ever leaves the machine.
"""

from __future__ import annotations

import re
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.config import CrawlConfig, SourceConfig
from demo import DemoArticle, DemoServer, Route, demo_articles, synthetic_articles
from store.db import Database
from store.dw_ids import short_id
from store.models import CrawlRun
from tests.crawling import (
    RSS,
    SEED_ID,
    SEED_SHORT_ID,
    FeedItem,
    StoredArticle,
    article_page,
    crawl,
    rss_feed,
    stored_articles,
    wait_for_request_threads,
)

HOSTILE_CONFIG = CrawlConfig(
    delay=0, autothrottle=False, concurrency=8, timeout="1s", max_page_size="200KB"
)
HOSTILE_CRAWL_SECONDS = 30  # the slow page costs two 1 s timeouts (one retry); the rest is fast
SLOW_DELAY = 2.0  # seconds the slow page takes: twice the timeout
PEAK_MEMORY = 1024**3  # bytes; an expanded billion laughs would take several GB

# content ids of the hand-made pages on host A
TRUNCATED, CP1252, OVERSIZED, MISSING, BROKEN = 9000001, 9000002, 9000003, 9000004, 9000005
SLOW, OFFSITE, FILE_URL, NO_LINK, BEHIND_MOVED_FEED = 9000006, 9000007, 9000008, 9000009, 9000010
KOI8 = 9000012  # in KOI8-R, which only its Content-Type header names
# demo articles that only the entity feeds list
IN_BOMB_FEED, IN_XXE_FEED = 69010103, 69010105
# a demo article reached through a redirect within the site
REDIRECTED = 69010107
# demo articles reached only through a <meta http-equiv="refresh"> page, in UTF-8 and in UTF-16
REFRESHED, REFRESHED_UTF16 = 69010108, 69010109
REFRESH, REFRESH_UTF16, REFRESH_AWAY = "/en/r/a-9000013", "/en/r16/a-9000014", "/en/ra/a-9000015"

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>&lol9;</title><description>&lol9;</description><link>LINK</link></item>
</channel></rss>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "ENTITY_FILE">]>
<rss version="2.0"><channel><title>&xxe;</title>
<item><title>&xxe;</title><link>LINK</link></item>
<item><title>leak</title><link>&xxe;</link></item>
</channel></rss>
"""
# what the external entity's file holds: were the file read, its second item would link there
LEAKED_PATH = "/en/leaked/a-9000011"


def xml_route(body: bytes) -> Route:
    return Route(body=body, headers={"Content-Type": RSS})


def hostile_article(content_id: int, slug: str, title: str, body: str) -> DemoArticle:
    """A classic-layout English article that the demo site does not list itself."""
    an_hour_ago = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return DemoArticle(
        content_id=content_id,
        short_id=short_id(content_id),
        language="en",
        layout="old",
        kind="article",
        slug=slug,
        title=title,
        teaser=f"{title}: the teaser.",
        paragraphs=(body, "A second paragraph of the article."),
        published_at=an_hour_ago,
        modified_at=an_hour_ago,
    )


def page_without_charset(article: DemoArticle, base_url: str, encoding: str) -> bytes:
    """The article's page in ``encoding``, its charset declared nowhere in the page."""
    html = article_page(article, base_url).decode()
    html = re.sub(r"<meta[^>]*charset[^>]*>", "", html, flags=re.IGNORECASE)
    assert "charset" not in html.lower()
    return html.encode(encoding, errors="xmlcharrefreplace")


def refresh_page(target: str) -> str:
    """A page whose only content is a meta refresh to ``target`` (its keyword in capitals, past
    a long head: where Scrapy looks, in the first 4,096 characters)."""
    padding = "<!-- " + "head " * 500 + "-->"
    return (
        f'<html><head>{padding}<meta http-equiv="REFRESH" content="0; url={target}">'
        "</head><body></body></html>"
    )


def install_host_a(a: DemoServer, entity_file: Path) -> None:
    """Host A's bad and good pages and feeds, as routes over the demo site; the external
    entity feed names ``entity_file``."""
    elsewhere = f"http://localhost:{a.port}"
    pages = {
        cid: hostile_article(cid, slug, title, body)
        for cid, slug, title, body in [
            (TRUNCATED, "truncated", "Truncated transfer", "Cut off halfway."),
            (CP1252, "gemuese", "Gemüse prices soar in Köln", "Gemüse costs more on the Straße."),
            (KOI8, "privet", "Привет из Москвы", "Текст статьи в KOI8-R."),
            (OVERSIZED, "oversized", "Oversized page", "Padded to a megabyte."),
            (SLOW, "slow", "Slow page", "Answers after two seconds."),
            (OFFSITE, "offsite-target", "Offsite target", "Served under another host name."),
            (BEHIND_MOVED_FEED, "behind-moved-feed", "Behind a moved feed", "Never asked for."),
        ]
    }
    path = {cid: article.canonical_path for cid, article in pages.items()}
    truncated = article_page(pages[TRUNCATED], a.base_url)
    huge = article_page(pages[OVERSIZED], a.base_url).replace(
        b"</body>", b"<!--" + b"x" * 1_000_000 + b"--></body>"
    )
    seed = a.site.article(SEED_ID)
    bomb_item = a.site.article(IN_BOMB_FEED).canonical_path  # relative links, resolved on A
    xxe_item = a.site.article(IN_XXE_FEED).canonical_path
    items = [
        FeedItem("truncated", a.url(path[TRUNCATED])),
        FeedItem("windows-1252", a.url(path[CP1252])),
        FeedItem("koi8-r", a.url(path[KOI8])),
        FeedItem("oversized", a.url(path[OVERSIZED])),
        FeedItem("404", a.url("/en/missing/a-9000004")),
        FeedItem("500", a.url("/en/broken/a-9000005")),
        FeedItem("slow", a.url(path[SLOW])),
        FeedItem("redirect to another host", a.url("/en/moved-away/a-9000007")),
        FeedItem("redirect to file:", a.url("/en/passwd/a-9000008")),
        FeedItem("redirect within the site", a.url(f"/en/renamed/a-{REDIRECTED}")),
        FeedItem("meta refresh", a.url(REFRESH)),
        FeedItem("meta refresh in UTF-16", a.url(REFRESH_UTF16)),
        FeedItem("meta refresh to another host", a.url(REFRESH_AWAY)),
        FeedItem("no link", None, guid=str(NO_LINK)),
        FeedItem(seed.title, a.url(seed.canonical_path), guid=str(SEED_ID)),
    ]
    a.routes |= {
        "/feeds/hostile.xml": xml_route(rss_feed(items)),
        path[TRUNCATED]: Route(body=truncated, drop_after=len(truncated) // 2),
        path[CP1252]: Route(  # no charset in the header either
            body=page_without_charset(pages[CP1252], a.base_url, "cp1252"),
            headers={"Content-Type": "text/html"},
        ),
        path[KOI8]: Route(
            body=page_without_charset(pages[KOI8], a.base_url, "koi8-r"),
            headers={"Content-Type": "text/html; charset=KOI8-R"},
        ),
        path[OVERSIZED]: Route(body=huge),
        "/en/missing/a-9000004": Route(status=404, body=b"<h1>Not Found</h1>"),
        "/en/broken/a-9000005": Route(status=500, body=b"<h1>Internal Server Error</h1>"),
        path[SLOW]: Route(body=article_page(pages[SLOW], a.base_url), delay=SLOW_DELAY),
        "/en/moved-away/a-9000007": Route(
            status=301, headers={"Location": elsewhere + path[OFFSITE]}
        ),
        path[OFFSITE]: Route(body=article_page(pages[OFFSITE], elsewhere)),
        "/en/passwd/a-9000008": Route(status=301, headers={"Location": "file:///etc/passwd"}),
        f"/en/renamed/a-{REDIRECTED}": Route(
            status=301, headers={"Location": a.url(a.site.article(REDIRECTED).canonical_path)}
        ),
        REFRESH: Route(
            body=refresh_page(a.url(a.site.article(REFRESHED).canonical_path)).encode(),
            headers={"Content-Type": "text/html; charset=utf-8"},
        ),
        REFRESH_UTF16: Route(  # the bytes do not spell "refresh": Scrapy's own reading decides
            body=refresh_page(a.url(a.site.article(REFRESHED_UTF16).canonical_path)).encode(
                "utf-16"
            ),
            headers={"Content-Type": "text/html; charset=utf-16"},
        ),
        REFRESH_AWAY: Route(
            body=refresh_page(elsewhere + path[OFFSITE]).encode(),
            headers={"Content-Type": "text/html; charset=utf-8"},
        ),
        "/feeds/bomb.xml": xml_route(BILLION_LAUGHS.replace("LINK", bomb_item).encode()),
        "/feeds/xxe.xml": xml_route(
            EXTERNAL_ENTITY.replace("LINK", xxe_item)
            .replace("ENTITY_FILE", entity_file.as_uri())
            .encode()
        ),
        "/feeds/moved.xml": Route(
            status=301, headers={"Location": elsewhere + "/feeds/elsewhere.xml"}
        ),
        "/feeds/elsewhere.xml": xml_route(
            rss_feed([FeedItem("moved", a.url(path[BEHIND_MOVED_FEED]))])
        ),
        path[BEHIND_MOVED_FEED]: Route(body=article_page(pages[BEHIND_MOVED_FEED], a.base_url)),
    }


@dataclass(frozen=True)
class HostileCrawl:
    run: CrawlRun
    seconds: float
    peak_memory: int  # bytes: the largest resident size of any crawl subprocess so far
    articles: dict[int, StoredArticle]  # by content id
    requests: dict[str, list[str]]  # host -> request targets it received, in order
    base_urls: dict[str, str]  # host -> base URL
    german: set[int]  # content ids in host A's German feed
    robots_en: set[int]  # host B's English articles (disallowed)
    robots_de: set[int]  # host B's German articles

    def errors_naming(self, fragment: str) -> list[str]:
        return [line for line in self.run.last_errors if fragment in line]

    def requested(self, host: str, fragment: str) -> list[str]:
        return [target for target in self.requests[host] if fragment in target]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileCrawl]:
    folder = tmp_path_factory.mktemp("hostile")
    robots_site = synthetic_articles(6)
    with (
        DemoServer(demo_articles()) as a,
        DemoServer(robots_site) as b,
        DemoServer(demo_articles()) as c,
    ):
        entity_file = folder / "entity.txt"
        entity_file.write_text(LEAKED_PATH)
        install_host_a(a, entity_file)
        b.routes["/robots.txt"] = Route(
            body=b"User-agent: *\nDisallow: /en/\n", headers={"Content-Type": "text/plain"}
        )
        c.routes["/robots.txt"] = Route(status=500, body=b"User-agent: *\nAllow: /\n")
        source = SourceConfig(
            name="hostile",
            feeds=[
                a.url("/feeds/hostile.xml"),
                a.url("/feeds/bomb.xml"),
                a.url("/feeds/xxe.xml"),
                a.url("/feeds/moved.xml"),
                a.url("/xml/rss-de-all"),
                b.url("/rdf/rss-en-all"),
                b.url("/rdf/rss-de-all"),
                c.url("/rdf/rss-en-all"),
            ],
            allowed_domains=["127.0.0.1"],
        )
        with Database(f"sqlite:///{folder / 'hostile.db'}") as database:
            started = time.monotonic()
            outcome = crawl(source, database, HOSTILE_CONFIG, log_file=folder / "crawl.log")
            ended = time.monotonic()
            articles = {article.content_id: article for article in stored_articles(database)}
        assert outcome.run is not None
        yield HostileCrawl(
            run=outcome.run,
            seconds=ended - started,
            peak_memory=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
            articles=articles,
            requests={"A": list(a.request_log), "B": list(b.request_log), "C": list(c.request_log)},
            base_urls={"A": a.base_url, "B": b.base_url, "C": c.base_url},
            german={x.content_id for x in a.site.articles if x.language == "de"},
            robots_en={x.content_id for x in robots_site if x.language == "en"},
            robots_de={x.content_id for x in robots_site if x.language == "de"},
        )
        wait_for_request_threads(SLOW_DELAY + 1)  # the slow page's, still asleep


# ---------------------------------------------------------------------- the crawl as a whole


def test_hostile_crawl_finishes_and_stores_the_good_articles(hostile: HostileCrawl) -> None:
    assert hostile.run.status == "ok"
    assert hostile.seconds < HOSTILE_CRAWL_SECONDS
    assert hostile.articles[SEED_ID].short_id == SEED_SHORT_ID
    assert hostile.german <= set(hostile.articles)
    assert hostile.run.new == len(hostile.articles)


def test_each_bad_page_or_feed_is_one_counted_error_naming_its_url(hostile: HostileCrawl) -> None:
    bad = [
        "/en/truncated/a-9000001",
        "/en/oversized/a-9000003",
        "/en/missing/a-9000004",
        "/en/broken/a-9000005",
        "/en/slow/a-9000006",
        "/en/moved-away/a-9000007",
        "/en/passwd/a-9000008",
        REFRESH_AWAY,
        "/feeds/moved.xml",
    ]
    robots = [*(f"a-{cid}" for cid in hostile.robots_en), hostile.base_urls["C"]]
    for fragment in bad + robots:
        assert len(hostile.errors_naming(fragment)) == 1, (fragment, hostile.run.last_errors)
    assert hostile.run.errors == len(bad) + len(robots) == len(hostile.run.last_errors)


# ---------------------------------------------------------------------- pages


def test_truncated_transfer_is_an_error_and_stores_nothing(hostile: HostileCrawl) -> None:
    assert TRUNCATED not in hostile.articles
    assert hostile.errors_naming("/en/truncated/a-9000001")


def test_windows_1252_page_without_charset_is_stored_decoded(hostile: HostileCrawl) -> None:
    article = hostile.articles[CP1252]
    assert article.short_id == short_id(CP1252)
    assert article.title == "Gemüse prices soar in Köln"
    assert "Gemüse costs more on the Straße." in article.body
    assert "\ufffd" not in article.title + article.body
    assert not hostile.errors_naming("gemuese")


def test_page_over_max_page_size_is_an_error_and_stores_nothing(hostile: HostileCrawl) -> None:
    assert OVERSIZED not in hostile.articles
    assert "max size" in hostile.errors_naming("/en/oversized/a-9000003")[0]


def test_404_and_500_are_errors_with_their_status(hostile: HostileCrawl) -> None:
    assert MISSING not in hostile.articles and BROKEN not in hostile.articles
    assert "HTTP 404" in hostile.errors_naming("/en/missing/a-9000004")[0]
    assert "HTTP 500" in hostile.errors_naming("/en/broken/a-9000005")[0]
    # a 500 is retried once (RETRY_TIMES = 1), not hammered
    assert len(hostile.requested("A", "/en/broken/a-9000005")) == 2


def test_page_slower_than_the_timeout_is_an_error(hostile: HostileCrawl) -> None:
    assert SLOW not in hostile.articles
    assert "took longer than 1.0 seconds" in hostile.errors_naming("/en/slow/a-9000006")[0]


def test_redirect_to_another_host_is_not_followed(hostile: HostileCrawl) -> None:
    assert OFFSITE not in hostile.articles
    assert not hostile.requested("A", "/en/offsite-target/")
    assert "localhost" in hostile.errors_naming("/en/moved-away/a-9000007")[0]


def test_redirect_within_the_site_is_followed(hostile: HostileCrawl) -> None:
    assert REDIRECTED in hostile.articles
    assert not hostile.errors_naming(f"a-{REDIRECTED}")


def test_meta_refresh_within_the_site_is_followed_in_utf8_and_utf16(hostile: HostileCrawl) -> None:
    assert {REFRESHED, REFRESHED_UTF16} <= set(hostile.articles)
    assert not hostile.errors_naming(REFRESH + ":")
    assert not hostile.errors_naming(REFRESH_UTF16)


def test_meta_refresh_to_another_host_is_not_followed(hostile: HostileCrawl) -> None:
    assert "redirect to another host refused" in hostile.errors_naming(REFRESH_AWAY)[0]


def test_redirect_to_a_file_url_is_not_followed(hostile: HostileCrawl) -> None:
    assert FILE_URL not in hostile.articles
    # the crawl stopped at the redirect: a followed one would end in another error, or none
    moved = f"{hostile.base_urls['A']}/en/passwd/a-9000008: HTTP 301"
    assert hostile.errors_naming("/en/passwd/a-9000008") == [moved]
    assert not hostile.errors_naming("/etc/passwd")


# ---------------------------------------------------------------------- feeds


def test_feed_item_without_a_link_is_skipped_and_the_others_stored(hostile: HostileCrawl) -> None:
    assert NO_LINK not in hostile.articles
    assert not hostile.errors_naming(str(NO_LINK))
    assert {SEED_ID, CP1252} <= set(hostile.articles)


def test_page_whose_charset_only_its_http_header_names_is_stored_decoded(
    hostile: HostileCrawl,
) -> None:
    article = hostile.articles[KOI8]
    assert (article.title, article.body.split("\n\n")[0]) == (
        "Привет из Москвы",
        "Текст статьи в KOI8-R.",
    )


def test_entity_bomb_feed_is_read_without_expanding_it(hostile: HostileCrawl) -> None:
    assert hostile.peak_memory < PEAK_MEMORY
    assert not hostile.errors_naming("/feeds/bomb.xml")
    assert IN_BOMB_FEED in hostile.articles  # its item still leads to the article


def test_external_entity_feed_reads_no_file(hostile: HostileCrawl) -> None:
    assert not hostile.errors_naming("/feeds/xxe.xml")
    assert IN_XXE_FEED in hostile.articles
    assert not hostile.requested("A", LEAKED_PATH)  # the entity's file was never read
    assert not hostile.errors_naming(LEAKED_PATH)


def test_feed_redirected_to_another_host_is_not_followed(hostile: HostileCrawl) -> None:
    assert not hostile.requested("A", "/feeds/elsewhere.xml")
    assert BEHIND_MOVED_FEED not in hostile.articles
    assert "localhost" in hostile.errors_naming("/feeds/moved.xml")[0]


# ---------------------------------------------------------------------- robots.txt


def test_robots_disallow_keeps_those_pages_unrequested(hostile: HostileCrawl) -> None:
    assert not [target for target in hostile.requests["B"] if target.startswith("/en/")]
    assert not hostile.robots_en & set(hostile.articles)
    assert hostile.robots_de <= set(hostile.articles)
    for cid in hostile.robots_en:
        assert "robots.txt" in hostile.errors_naming(f"a-{cid}")[0]


def test_robots_txt_answering_500_disallows_the_whole_host(hostile: HostileCrawl) -> None:
    assert set(hostile.requests["C"]) == {"/robots.txt"}
    assert "robots.txt" in hostile.errors_naming(hostile.base_urls["C"] + "/rdf/rss-en-all")[0]


def test_a_sitemap_index_naming_a_url_scrapy_cannot_request_reads_its_other_sitemaps(
    tmp_path: Path,
) -> None:
    """A sitemap loc with a port that is no number: one counted error naming it, and the crawl
    goes on to the index's next sitemap and ends (it once waited for the bad one until its
    timeout)."""
    with DemoServer(demo_articles()) as server:
        bad = f"http://127.0.0.1:{server.port}x/sitemaps/bad.xml"
        good = "/sitemaps/news-en-1.xml"
        server.routes["/sitemaps/index.xml"] = xml_route(
            f"""<?xml version="1.0"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>{bad}</loc></sitemap><sitemap><loc>{server.url(good)}</loc></sitemap>
</sitemapindex>""".encode()
        )
        english = {a.content_id for a in server.site.articles if a.language == "en"}
        source = SourceConfig(
            name="bad-sitemap-url",
            sitemaps=[server.url("/sitemaps/index.xml")],
            allowed_domains=["127.0.0.1"],
        )
        with Database(f"sqlite:///{tmp_path / 'news.db'}") as database:
            outcome = crawl(source, database)
            stored = {article.content_id for article in stored_articles(database)}
    assert outcome.run is not None
    assert [line for line in outcome.run.last_errors if bad in line] == [
        f"{bad}: not a URL the crawl can request (Port could not be cast to integer value as "
        f"{server.port}x)"
    ]
    assert outcome.run.errors == 1
    assert stored == english


def test_a_configured_url_scrapy_cannot_request_is_an_error_and_the_others_are_read(
    tmp_path: Path,
) -> None:
    """The same refusal for a URL of the source itself: its feeds, sitemaps and pages after it
    are still requested (the refusal once ended start(), with every article it was to yield)."""
    with DemoServer(demo_articles()) as server:
        bad = f"http://127.0.0.1:{server.port}x/sitemap.xml"
        source = SourceConfig(
            name="bad-configured-url",
            sitemaps=[bad, server.url("/sitemap.xml")],
            allowed_domains=["127.0.0.1"],
        )
        every = {a.content_id for a in server.site.articles}
        with Database(f"sqlite:///{tmp_path / 'news.db'}") as database:
            outcome = crawl(source, database)
            stored = {article.content_id for article in stored_articles(database)}
    assert outcome.run is not None
    assert outcome.run.last_errors == [
        f"{bad}: not a URL the crawl can request (Port could not be cast to integer value as "
        f"{server.port}x)"
    ]
    assert stored == every
