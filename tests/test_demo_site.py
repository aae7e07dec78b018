"""The offline DW-shaped demo site: real HTTP on loopback, pages the DW parser reads like dw.com."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from zoneinfo import ZoneInfo

import pytest

from crawler.dw import ref_from_url
from crawler.dw_page import parse_page
from demo import DemoArticle, DemoServer, DemoSite, Route, demo_articles, synthetic_articles
from store.dw_ids import short_id

SEED_ID = 18879446
NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "rss": "http://purl.org/rss/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dwsyn": "http://rss.dw.com/syndication/dwsyn/",
    "sm": "http://www.sitemaps.org/schemas/sitemap/0.9",
    "news": "http://www.google.com/schemas/sitemap-news/0.9",
}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch(url: str, follow: bool = True) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def server() -> Iterator[DemoServer]:
    with DemoServer(demo_articles()) as running:
        yield running


@pytest.fixture()
def fresh_server() -> Iterator[DemoServer]:
    with DemoServer(demo_articles()) as running:
        yield running


def seed(site: DemoSite) -> DemoArticle:
    return site.article(SEED_ID)


def test_server_listens_on_a_free_loopback_port(server: DemoServer) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.base_url)
    assert server.port > 0
    status, _, body = fetch(server.url("/robots.txt"))
    assert status == 200
    assert "Allow: /" in body.decode()
    assert f"Sitemap: {server.base_url}/sitemap.xml" in body.decode()


def test_seed_page_has_permalink_1hdpc_and_old_layout(server: DemoServer) -> None:
    article = seed(server.site)
    status, headers, body = fetch(server.url(article.canonical_path))
    html = body.decode()
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert int(headers["Content-Length"]) == len(body)
    assert parsedate_to_datetime(headers["Last-Modified"]) == article.modified_at
    assert article.short_id == "1HDPC" == short_id(SEED_ID)
    assert "<strong>Permalink</strong>\nhttps://p.dw.com/p/1HDPC" in html
    assert "https%3A%2F%2Fp.dw.com%2Fp%2F1HDPC%3Fmaca%3Den-" in html
    assert "<h1>France wants to hit &#39;nerve center&#39; of &#39;IS&#39;</h1>" in html
    assert '<div id="bodyContent">' in html and '<p class="intro">' in html
    assert "dj/kms (AP, AFP, Reuters, dpa)" in html
    assert "27.11.2015" in html
    assert 40_000 < len(body) < 130_000


def test_pages_weigh_like_real_dw_pages(server: DemoServer) -> None:
    sizes = Counter()
    for article in server.site.articles:
        size = len(server.site.page(article))
        assert 40_000 < size < 130_000, (article.content_id, size)
        sizes[article.layout] = max(sizes[article.layout], size)
    assert sizes["new"] > sizes["old"]


def test_content_spans_languages_layouts_and_syria_topics() -> None:
    articles = demo_articles()
    assert len(articles) >= 31
    combos = Counter((a.language, a.layout) for a in articles)
    assert combos[("en", "old")] and combos[("en", "new")]
    assert combos[("de", "old")] and combos[("de", "new")]
    assert combos[("ru", "new")]
    assert any(a.kind == "video" for a in articles)
    text = [f"{a.title} {a.teaser} {a.body}" for a in articles]
    assert sum("Raqqa" in t or "Daesh" in t or "Islamic State" in t for t in text) >= 4
    assert any("Terrormiliz" in t and "Ar-Raqqa" in t for t in text)
    assert any("it is raining" in t.lower() for t in text)
    assert (
        sum("Raqqa" not in t and "Rakka" not in t and " IS " not in t for t in text) > len(text) / 2
    )


def test_each_written_short_id_is_its_content_id_in_base_62() -> None:
    """The demo's short ids are literals in demo/content/, checked here against store.dw_ids, so
    the parser tests below compare the parser with ids it did not compute."""
    articles = demo_articles()
    assert next(a.short_id for a in articles if a.content_id == SEED_ID) == "1HDPC"
    wrong = [(a.content_id, a.short_id) for a in articles if a.short_id != short_id(a.content_id)]
    assert wrong == []
    assert len({a.short_id for a in articles}) == len(articles)


def test_recent_articles_are_dated_shortly_before_now_and_the_seed_keeps_2015() -> None:
    now = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    articles = {a.content_id: a for a in demo_articles(now)}
    assert articles[SEED_ID].published_at.date().isoformat() == "2015-11-27"
    recent = [a for cid, a in articles.items() if cid != SEED_ID]
    assert all(now - timedelta(days=3) <= a.published_at <= now for a in recent)
    assert sum(a.published_at >= now - timedelta(hours=24) for a in recent) >= 15
    assert all(a.modified_at >= a.published_at for a in articles.values())


def test_variants_of_an_article_url_serve_the_same_page(server: DemoServer) -> None:
    article = seed(server.site)
    variants = [
        article.canonical_path,
        article.canonical_path + "?maca=en-rss-en-all-1573-rdf",
        article.amp_path,
        article.old_path,
    ]
    assert article.old_path != article.canonical_path
    bodies = {fetch(server.url(path))[2] for path in variants}
    assert len(bodies) == 1


def test_short_link_redirects_to_the_canonical_url(server: DemoServer) -> None:
    status, headers, _ = fetch(server.url("/p/1HDPC"), follow=False)
    assert status == 301
    assert headers["Location"] == server.url(seed(server.site).canonical_path)
    video = next(a for a in server.site.articles if a.kind == "video")
    status, headers, _ = fetch(server.url(f"/p/{video.short_id}"), follow=False)
    assert (status, headers["Location"]) == (301, server.url(video.canonical_path))
    assert fetch(server.url("/p/1HDPD"), follow=False)[0] == 404  # no article has that id


def test_unknown_paths_and_wrong_kinds_are_404(server: DemoServer) -> None:
    assert fetch(server.url("/en/nothing-here/a-1"))[0] == 404
    assert fetch(server.url(f"/en/x/av-{SEED_ID}"))[0] == 404
    assert fetch(server.url(f"/de/x/a-{SEED_ID}"))[0] == 404
    assert fetch(server.url("/no/such/page"))[0] == 404


def test_rdf_feed_is_dw_shaped_rss_1(server: DemoServer) -> None:
    status, _, body = fetch(server.url("/rdf/rss-en-all"))
    root = ET.fromstring(body)
    items = root.findall("rss:item", NS)
    english = [a for a in server.site.articles if a.language == "en"]
    assert status == 200 and root.tag == f"{{{NS['rdf']}}}RDF"
    assert len(items) == len(english)
    ids = [int(item.findtext("dwsyn:contentID", namespaces=NS) or 0) for item in items]
    assert sorted(ids) == sorted(a.content_id for a in english)
    for item in items:
        link = item.findtext("rss:link", namespaces=NS) or ""
        assert link.startswith(server.base_url)
        assert link.endswith("?maca=en-rss-en-all-1573-rdf")
        assert item.get(f"{{{NS['rdf']}}}about") == link
        assert re.fullmatch(
            r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", item.findtext("dc:date", namespaces=NS) or ""
        )
        assert item.findtext("dc:language", namespaces=NS) == "en"


def test_rss_feed_has_dw_quirks_and_parses_leniently(server: DemoServer) -> None:
    status, _, body = fetch(server.url("/xml/rss-de-all"))
    assert status == 200
    assert b"\r\n" in body and b"<atom:link" in body and b"xmlns:atom" not in body
    with pytest.raises(ET.ParseError):  # DW's undeclared atom: prefix
        ET.fromstring(body)
    root = ET.fromstring(body.replace(b"<atom:link", b"<link"))
    items = root.findall("channel/item")
    german = {a.content_id: a for a in server.site.articles if a.language == "de"}
    assert {int(i.findtext("guid") or 0) for i in items} == set(german)
    for item in items:
        assert item.find("guid").get("isPermaLink") == "false"  # type: ignore[union-attr]
        assert (item.findtext("link") or "").strip().endswith("?maca=de-rss-de-all-1119-xml-mrss")
        parsedate_to_datetime(item.findtext("pubDate") or "")


def test_sitemaps_list_every_article(server: DemoServer) -> None:
    index = ET.fromstring(fetch(server.url("/sitemap.xml"))[2])
    locations = [loc.text or "" for loc in index.findall("sm:sitemap/sm:loc", NS)]
    assert locations and all(loc.startswith(server.base_url) for loc in locations)
    listed: set[int] = set()
    for location in locations:
        urlset = ET.fromstring(fetch(location)[2])
        for url in urlset.findall("sm:url", NS):
            ref = ref_from_url(url.findtext("sm:loc", namespaces=NS) or "")
            assert ref is not None
            listed.add(ref.content_id)
            assert url.findtext("sm:lastmod", namespaces=NS)
            assert url.findtext("news:news/news:publication_date", namespaces=NS)
    assert listed == {a.content_id for a in server.site.articles}


def test_listing_page_links_article_url_variants(server: DemoServer) -> None:
    status, _, body = fetch(server.url("/en/top-stories/s-9097"))
    links = re.findall(r'<a href="(/[^"]*/a-\d+[^"]*)"', body.decode())
    assert status == 200 and '<div id="bodyContent">' in body.decode()
    assert any("?maca=" in link for link in links)
    assert any(link.startswith("/amp/") for link in links)
    ids = {ref.content_id for link in links if (ref := ref_from_url(link))}
    assert SEED_ID in ids


def test_request_log_records_paths_and_article_requests(fresh_server: DemoServer) -> None:
    fetch(fresh_server.url("/robots.txt"))
    fetch(fresh_server.url(seed(fresh_server.site).amp_path + "?maca=x"))
    assert fresh_server.request_log[0] == "/robots.txt"
    assert fresh_server.request_log.article_requests() == [
        seed(fresh_server.site).amp_path + "?maca=x"
    ]
    fresh_server.request_log.clear()
    assert list(fresh_server.request_log) == []


def test_routes_override_the_site_with_hostile_responses(fresh_server: DemoServer) -> None:
    legacy = "<html><head><title>Caf\xe9</title></head><body>Gr\xfc\xdfe</body></html>"
    fresh_server.routes["/old-page"] = Route(
        body=legacy.encode("cp1252"), headers={"Content-Type": "text/html"}
    )
    fresh_server.routes["/robots.txt"] = Route(status=500, body=b"oops")
    fresh_server.routes["/elsewhere"] = Route(
        status=302, headers={"Location": "http://example.org/"}
    )
    status, headers, body = fetch(fresh_server.url("/old-page"))
    assert (status, headers["Content-Type"], body.decode("cp1252")) == (200, "text/html", legacy)
    assert fetch(fresh_server.url("/robots.txt"))[0] == 500
    assert fetch(fresh_server.url("/elsewhere"), follow=False)[0] == 302


def test_truncated_transfer_closes_the_connection_early(fresh_server: DemoServer) -> None:
    fresh_server.routes["/cut"] = Route(body=b"x" * 5000, drop_after=100)
    with pytest.raises(Exception, match=r"(?i)incomplete|IncompleteRead"):
        fetch(fresh_server.url("/cut"))


def test_updated_article_shows_a_newer_date_in_feeds_and_sitemaps(fresh_server: DemoServer) -> None:
    article = seed(fresh_server.site)
    before = fetch(fresh_server.url("/rdf/rss-en-all"))[2]
    changed = fresh_server.site.update_article(SEED_ID, title="France wants to hit 'IS' in Raqqa")
    assert changed.modified_at > article.modified_at
    feed = ET.fromstring(fetch(fresh_server.url("/rdf/rss-en-all"))[2])
    item = next(
        i
        for i in feed.findall("rss:item", NS)
        if i.findtext("dwsyn:contentID", namespaces=NS) == str(SEED_ID)
    )
    assert item.findtext("dc:date", namespaces=NS) == changed.modified_at.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert fetch(fresh_server.url("/rdf/rss-en-all"))[2] != before
    assert (
        "France wants to hit &#39;IS&#39; in Raqqa"
        in fetch(fresh_server.url(article.canonical_path))[2].decode()
    )
    sitemap = fetch(fresh_server.url("/sitemaps/news-en-1.xml"))[2].decode()
    assert changed.modified_at.strftime("%Y-%m-%dT%H:%M:%SZ") in sitemap


def test_synthetic_articles_are_deterministic_and_realistic() -> None:
    now = datetime(2030, 5, 1, tzinfo=UTC)
    first, again = synthetic_articles(50, seed=3, now=now), synthetic_articles(50, seed=3, now=now)
    assert first == again
    assert len({a.content_id for a in first}) == 50
    assert {a.layout for a in first} == {"old", "new"} and {a.language for a in first} == {
        "en",
        "de",
    }
    assert all(300 <= len(a.body.split()) <= 900 for a in first)
    assert any("Raqqa" in a.body for a in first)
    site = DemoSite(first, "http://127.0.0.1:1")
    assert all(40_000 < len(site.page(a)) < 130_000 for a in first[:6])


def _expected_topics(article: DemoArticle) -> list[str]:
    names = [*article.topics, *(article.keywords if article.layout == "old" else ())]
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.casefold(), name)
    return list(seen.values())


def test_dw_parser_reads_every_demo_page_like_dw(server: DemoServer) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    for article in server.site.articles:
        url = server.url(article.canonical_path + "?maca=en-rss-en-all-1573-rdf")
        parsed = parse_page(fetch(url)[2], url)
        what = article.content_id
        assert (parsed.content_id, parsed.short_id) == (article.content_id, article.short_id), what
        assert parsed.url == server.url(article.canonical_path), what
        assert (parsed.language, parsed.kind) == (article.language, article.kind), what
        assert (parsed.title, parsed.teaser) == (article.title, article.teaser), what
        assert parsed.selector_fallback is False and parsed.warnings == [], what
        assert parsed.captions == article.caption_texts, what
        assert parsed.authors == list(article.authors), what
        assert parsed.topics == _expected_topics(article), what
        if article.kind == "article":
            assert parsed.body == article.body, what
        published = article.published_at.astimezone(berlin).date()
        assert parsed.published_at is not None, what
        assert parsed.published_at.astimezone(berlin).date() == published, what
        if article.layout == "new":
            assert parsed.published_at == article.published_at, what
            assert parsed.modified_at == article.modified_at, what


def test_dw_parser_keeps_the_embedded_video_teaser_out_of_the_body(server: DemoServer) -> None:
    article = next(a for a in server.site.articles if a.video_teaser_id and a.layout == "old")
    video = server.site.article(article.video_teaser_id or 0)
    html = server.site.page(article).decode()
    assert f"https%3A%2F%2Fp.dw.com%2Fp%2F{video.short_id}%3Fmaca%3D" in html
    assert f"<strong>Permalink</strong> https://p.dw.com/p/{video.short_id}" in html
    parsed = parse_page(html, server.url(article.canonical_path))
    assert parsed.short_id == article.short_id != video.short_id
    assert video.title not in parsed.body
