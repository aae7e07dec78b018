# Scrapy settings for newswatch's DW crawler: polite defaults for dw.com, stated plainly.
# `newswatch crawl` passes the [crawl] section of newswatch.toml on top of these with -s;
# `scrapy crawl dw -a feeds=URL -s NEWSWATCH_DATABASE_URL=...` runs a crawl by hand.

import os

from scrapy.settings import default_settings

BOT_NAME = "newswatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# Say who we are; [crawl] user_agent should name a contact address.
USER_AGENT = "newswatch/0.1 (+https://github.com/newswatch/newswatch)"

# Obey robots.txt; one that answers 5xx disallows the whole host for this crawl (RFC 9309).
ROBOTSTXT_OBEY = True

# Gentle on one host: two requests at a time, a delay between them, AutoThrottle on top.
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 1.0

DOWNLOAD_TIMEOUT = 30
RETRY_TIMES = 1
# a request that fails its retry too is one counted error of the spider (its errback), kept in the
# CrawlRun; newswatch treats ERROR lines in a crawl's output as errors nobody counted
RETRY_GIVE_UP_LOG_LEVEL = "WARNING"
# Real DW pages weigh 40-330 KB; anything past a few MB is not an article.
DOWNLOAD_MAXSIZE = 5 * 1024 * 1024
DOWNLOAD_WARNSIZE = 2 * 1024 * 1024
# Only http(s): no file:, data:, ftp: or s3: URLs, whatever a page or redirect says.
DOWNLOAD_HANDLERS = {"file": None, "data": None, "ftp": None, "s3": None}
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
# No remote control endpoint: nothing but newswatch drives the crawl.
REMOTE_CONTROL_ENABLED = False

# Redirects stay within the source's allowed_domains; one leading elsewhere is a counted error.
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.robots.StrictRobotsTxtMiddleware": 100,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": None,
    "crawler.redirects.OnSiteMetaRefreshMiddleware": 580,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": None,
    "crawler.redirects.OnSiteRedirectMiddleware": 600,
}
# Components that are off anyway (COOKIES_ENABLED, TELNETCONSOLE_ENABLED, REMOTE_CONTROL_ENABLED
# are False) are left out of the base lists, not set to None: Scrapy imports every key named in
# DOWNLOADER_MIDDLEWARES / EXTENSIONS, and these would cost each crawl's start-up importing
# tldextract, aiohttp and twisted.conch (about 0.15 s of a ~1 s re-crawl).
_UNUSED = {
    "scrapy.downloadermiddlewares.cookies.CookiesMiddleware",
    "scrapy.extensions.telnet.TelnetConsole",
    "scrapy.extensions.remote_control.RemoteControl",
}
DOWNLOADER_MIDDLEWARES_BASE = {
    name: order for name, order in default_settings.DOWNLOADER_MIDDLEWARES_BASE.items()
    if name not in _UNUSED
}  # fmt: skip
EXTENSIONS_BASE = {
    name: order for name, order in default_settings.EXTENSIONS_BASE.items() if name not in _UNUSED
}
ITEM_PIPELINES = {
    "crawler.pipelines.ValidateArticlePipeline": 100,
    "crawler.pipelines.StoreArticlePipeline": 300,
}

# newswatch's own settings
# where articles go; `newswatch crawl` passes it in the environment (it may hold a password);
# empty: nothing is stored (and nothing counts as known)
NEWSWATCH_DATABASE_URL = os.environ.get("NEWSWATCH_DATABASE_URL", "")
NEWSWATCH_SOURCE = ""  # JSON of one [[sources]] entry; `newswatch crawl` sets it
NEWSWATCH_STORE_BATCH = 50  # articles written per transaction
NEWSWATCH_STORE_SECONDS = 5.0  # ... or what arrived in this long
# a feed, sitemap or listing page contributes at most this many items, the newest by its dates
NEWSWATCH_MAX_ITEMS_PER_FEED = 1000
# article pages parsed in this many worker processes (crawler.parse_pool); 0: in the callback;
# auto: one where this process may use two CPUs or more (affinity, cgroup quota), else 0
NEWSWATCH_PARSE_WORKERS = os.environ.get("NEWSWATCH_PARSE_WORKERS", "auto")
# batches of articles written by a process beside the crawl (crawler.store_writer); false: in
# this process; auto: where this process may use two CPUs or more, as for the parse workers
NEWSWATCH_STORE_WRITER = os.environ.get("NEWSWATCH_STORE_WRITER", "auto")
NEWSWATCH_RUN_ID = 0  # the CrawlRun row `newswatch crawl` made for this crawl; 0: make one

# Callbacks yield no item (articles come out of start()), only a sitemap index's few sitemap
# requests: a large CONCURRENT_ITEMS only creates idle tasks.
CONCURRENT_ITEMS = 8
# Our callbacks are generators that return discovery results to their callers on purpose.
WARN_ON_GENERATOR_RETURN_VALUE = False

LOG_LEVEL = "INFO"
FEED_EXPORT_ENCODING = "utf-8"
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
