"""The demo site's drift variant: DW redesigns its pages, and can change them back.

Switched at run time on the running server (or on a ``DemoSite``); every page served after the
call has the new markup, feeds and sitemaps stay the same::

    with DemoServer(demo_articles()) as server:
        server.set_drift(True)                 # CSS classes change: the body needs trafilatura
        server.set_drift(True, scripts=False)  # ... and the <script>s (JSON-LD, Apollo) go too
        server.set_drift(False)                # the layout comes back
        server.drifting                        # which it is now

Drift renames the CSS classes the parser's selectors use for the body and the teaser, but keeps
the page's layout markers (``#bodyContent``, ``article header h1``) and the meta tags: the parser
still finds the title, but the body comes from the generic extractor (``selector_fallback``,
fallback "body") and the teaser from the description meta tags (fallback "teaser"). Without its
scripts a new-layout page has no JSON-LD either: its authors and date are read off the page
(fallbacks "authors", "published_at": the author box, ``meta[name=date]``). Old-layout pages
carry no JSON-LD, so ``scripts=False`` changes nothing more for them.

Each switch re-dates every article (``modified_at`` moves forward, as in the feeds and
sitemaps), so the next crawl fetches every page again and its CrawlRun counts all of them;
``set_drift(..., redate=False)`` changes only the markup (then only articles a crawl has not
stored yet show it). ``python -m demo.server --drift`` starts the site drifted.
"""

from __future__ import annotations

import re

# the parser's class names (crawler.dw_layouts) -> the redesign's
RENAMED = {
    "rich-text": "article-copy",
    "longText": "article-copy",
    "teaser-text": "article-summary",
    "intro": "article-summary",
}
_CLASS = re.compile(rb'class="([^"]*)"')
_SCRIPT = re.compile(rb"<script\b[^>]*>.*?</script>", re.DOTALL | re.IGNORECASE)


def drifted(page: bytes, scripts: bool = True) -> bytes:
    """The page as the redesign serves it: classes renamed; without its scripts unless
    ``scripts``."""
    page = _CLASS.sub(_rename, page)
    return page if scripts else _SCRIPT.sub(b"", page)


def _rename(found: re.Match[bytes]) -> bytes:
    names = found.group(1).decode().split()
    return b'class="' + " ".join(RENAMED.get(name, name) for name in names).encode() + b'"'
