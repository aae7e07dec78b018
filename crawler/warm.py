"""A crawl process started before its crawl is due (``python -m crawler.warm``).

A re-crawl of an unchanged source does almost nothing (robots.txt and one 304), yet a fresh
``scrapy crawl dw`` process spends about a second of CPU importing Scrapy, Twisted, SQLAlchemy,
the spider, its middlewares and pipelines before its first request. The service
(``scheduler.crawl_spares``) therefore starts the next crawl's process as soon as the last one has
ended: it imports all of that here, says ``ready`` on its standard output, and waits on its
standard input for one line, the JSON list of the ``scrapy`` command line to run. It then runs
that command exactly as ``python -m scrapy`` would (``scrapy.cmdline.execute``), its output going
where its standard error goes, and exits with the crawl's status. An empty line or end of input:
no crawl, exit 0.

Nothing here depends on the crawl it will run: the source, the CrawlRun id and the settings come
with the command. The environment (``crawl_environment``: the database URL, no secret) is the
one the process was started with. No reactor is installed here: the crawl installs its own, as a
fresh process does.
"""

from __future__ import annotations

import json
import os
import sys
import time

# component settings whose classes a crawl loads (their _BASE dicts merged in)
COMPONENTS = ("DOWNLOADER_MIDDLEWARES", "SPIDER_MIDDLEWARES", "EXTENSIONS", "ITEM_PIPELINES")
# settings naming one class a crawl loads
CLASSES = (
    "DOWNLOADER",
    "SCHEDULER",
    "SCHEDULER_PRIORITY_QUEUE",
    "SCHEDULER_MEMORY_QUEUE",
    "SCHEDULER_START_MEMORY_QUEUE",
    "DUPEFILTER_CLASS",
    "STATS_CLASS",
    "LOG_FORMATTER",
    "REQUEST_FINGERPRINTER_CLASS",
    "SPIDER_LOADER_CLASS",
    "ITEM_PROCESSOR",
    "DNS_RESOLVER",
)
SPIDER = "dw"
READY = "ready"


def warm_up() -> None:
    """Import what any crawl of the project's spider imports before its first request."""
    # the command line, the crawl command and the crawler
    import scrapy.cmdline
    import scrapy.commands.crawl  # noqa: F401
    from scrapy.spiderloader import get_spider_loader
    from scrapy.utils.misc import load_object
    from scrapy.utils.project import get_project_settings

    settings = get_project_settings()
    paths = [
        path
        for name in COMPONENTS
        for path, order in settings.getwithbase(name).items()
        if order is not None
    ]
    # DOWNLOAD_HANDLERS maps a scheme to its handler's path
    paths += [path for path in settings.getwithbase("DOWNLOAD_HANDLERS").values() if path]
    paths += [settings[name] for name in CLASSES]
    for path in paths:
        if isinstance(path, str):
            try:
                load_object(path)
            except Exception as error:  # the crawl itself reports what it cannot load
                print(f"crawler.warm: not preloaded: {path}: {error}", file=sys.stderr)
    get_spider_loader(settings).load(SPIDER)
    # the page-parsing workers, forked now (one thread, no reactor) with the parser imported
    from crawler.parse_pool import SETTING, start_ahead, worker_count

    start_ahead(worker_count(settings.get(SETTING)))
    url = settings.get("NEWSWATCH_DATABASE_URL")
    if url:  # the database driver (SQLite's or psycopg)
        from sqlalchemy.engine import make_url

        make_url(url).get_dialect()


def main() -> int:
    started = time.perf_counter()
    warm_up()
    print(f"{READY} {time.perf_counter() - started:.3f}", flush=True)
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    argv = json.loads(line)
    if not (isinstance(argv, list) and argv[:1] == ["scrapy"]):
        print(f"crawler.warm: not a scrapy command line: {line[:200]!r}", file=sys.stderr)
        return 2
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # the crawl's output: its log
    from scrapy.cmdline import execute

    execute([str(part) for part in argv])  # exits with the crawl's status
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
