"""Recall and precision per language: which articles inflections and place names gain or lose.

    NEWSWATCH_DW_SAMPLES=/work/shared/dw-samples python bench/recall.py [--json-only]

Articles: the demo site's (`demo.articles.demo_articles`: en, de, ru; the seed article among
them) and the real DW samples in $NEWSWATCH_DW_SAMPLES: every HTML page parsed as the crawler
parses it (`crawler.dw_page.parse_page`) and every item of the RSS/RDF feeds there (title and
description as title and teaser), which brings in more languages (ru, bs). Without the variable
only the demo articles are used, and the report says so.

Watchlist sets: `demo` (the demo's own syria watchlist) and `multilingual` (`MULTILINGUAL`, what
a DW monitoring desk would keep, each term written once, in English). Each set runs twice on the
same articles: inflections and places off (`inflections = false, places = false`: the matcher
as it was before issue 13) and on (the defaults). Per language: articles, matches (article x
watchlist) off and on, gained, lost, and kept matches that found more hits. Then every gained
and lost match with why: the forms that hit and how (`newswatch explain`'s words, e.g.
`Ракки ← Raqqa (place: Ar Raqqah)`), or why the watchlist no longer matches. Then one JSON line
per language and set, and one per changed match.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lxml import etree

from alerts.matcher import ArticleText, Matcher
from alerts.watchlists import WatchlistConfig
from crawler.dw_page import PageError, parse_page
from demo.articles import demo_articles
from scheduler.demo_flow import STARTER_WATCHLIST
from scheduler.explain_command import Explanation, explain, hit_lines

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)  # the demo's articles are dated just before
MULTILINGUAL = [
    WatchlistConfig(name="syria", terms=["Raqqa", "Daesh", "Islamic State"], match_case=["IS"]),
    WatchlistConfig(name="iraq", terms=["Mosul"]),
    WatchlistConfig(name="ukraine", terms=["Kyiv", "Kharkiv"]),
    WatchlistConfig(name="afghanistan", terms=["Kabul", "Taliban"]),
    WatchlistConfig(name="lebanon", terms=["Lebanon", "Beirut"]),
    WatchlistConfig(name="brazil", terms=["Brazil", "Amazon rainforest"]),
    WatchlistConfig(name="russia", terms=["Moscow", "Kremlin", "Navalny"]),
    WatchlistConfig(name="germany-colonial", terms=["Namibia", "Herero", "Cameroon"]),
    WatchlistConfig(name="balkans", terms=["Serbia", "Bosnia", "Sarajevo"]),
    WatchlistConfig(name="guinea", terms=["Guinea", "Conakry"]),
]
# Places whose names are also words in DW's languages, one watchlist each: no article here is
# about them, so every match is a false alarm; the point is whether aliases add more.
NAMESAKES = [
    WatchlistConfig(name=f"namesake-{term.lower()}", terms=[term])
    for term in (
        "Nice",
        "Split",
        "Bar",
        "Most",
        "Essen",
        "Halle",
        "Van",
        "Male",
        "Mobile",
        "Reading",
    )
]
SETS = {"demo": [STARTER_WATCHLIST], "multilingual": MULTILINGUAL, "namesakes": NAMESAKES}


@dataclass(frozen=True)
class Article:
    id: str  # "demo 1HDPC", "page 4OdJW", "feed 61509255"
    text: ArticleText

    @property
    def language(self) -> str:
        return self.text.language or "?"


@dataclass(frozen=True)
class Change:
    kind: str  # one of CHANGE_KINDS
    article: Article
    watchlist: str
    why: list[str]

    def to_json(self, set_name: str) -> dict[str, object]:
        return {
            "bench": "recall",
            "set": set_name,
            "change": self.kind,
            "article": self.article.id,
            "language": self.article.language,
            "title": self.article.text.title,
            "watchlist": self.watchlist,
            "why": self.why,
        }


def demo_corpus() -> list[Article]:
    return [
        Article(
            f"demo {a.short_id}",
            ArticleText(a.title, a.teaser, a.body, list(a.topics), a.language),
        )
        for a in demo_articles(NOW)
    ]


def sample_corpus(folder: Path) -> list[Article]:
    """Every DW page in `folder` as the crawler parses it, and every feed item."""
    articles: list[Article] = []
    for path in sorted(folder.glob("*.html")):
        try:
            page = parse_page(path.read_bytes())
        except PageError as error:
            print(f"skipped {path.name}: {error}", file=sys.stderr)
            continue
        text = ArticleText(page.title, page.teaser, page.body, list(page.topics), page.language)
        articles.append(Article(f"page {page.short_id}", text))
    for path in sorted(folder.glob("*.xml")):
        articles.extend(_feed_items(path))
    return articles


def _feed_items(path: Path) -> Iterator[Article]:
    """Title and description of each item; lenient, since DW's feeds are not always
    well-formed XML (an undeclared atom: prefix)."""
    root = etree.fromstring(
        path.read_bytes(), etree.XMLParser(recover=True, resolve_entities=False)
    )
    if root is None:
        return
    channel_language = _first(root, "language")
    for item in root.iter("{*}item", "item"):
        language = _first(item, "language") or channel_language
        item_id = _first(item, "guid") or _first(item, "contentID") or item.get("about", "")
        text = ArticleText(
            _first(item, "title"), _first(item, "description"), "", [], language or None
        )
        yield Article(f"feed {item_id.strip()[:12]}", text)


def _first(element: etree._Element, name: str) -> str:
    for child in element.iter(f"{{*}}{name}", name):
        return " ".join((child.text or "").split())
    return ""


def without_expansions(watchlists: Sequence[WatchlistConfig]) -> list[WatchlistConfig]:
    return [w.model_copy(update={"inflections": False, "places": False}) for w in watchlists]


# Hand-judged: the (article, watchlist) pairs where the article names what one of the
# watchlist's terms names, in any language or form (read off the texts: every match of either
# run, and a search of all the texts for each term's names in en, de, ru, ar, fr, bs). A match
# not listed is a false alarm; a listed pair not matched is a miss. A match of an article or
# watchlist added later shows up as a false alarm until it is judged here.
_SYRIA = ("4fbHR", "4fYg9", "4fYgO", "4fYgA", "4fdsk", "4fbHc", "4fbHe", "4fbHV", "4fYgH", "1HDPC")
RELEVANT = {
    "demo": {(f"demo {short}", "syria") for short in _SYRIA},
    "multilingual": {(f"demo {short}", "syria") for short in _SYRIA}
    | {
        ("demo 1HDPC", "russia"),  # "Moscow and Berlin pledged to work with France"
        ("page 4OdJW", "brazil"),  # Brasilien, Brasiliens
        ("page 4PBBF", "lebanon"),  # Libanon, Beirut
        ("page 4boRv", "russia"),  # Moskau, Kreml, Nawalny
        ("page 3WRPd", "germany-colonial"),  # Namibia, Cameroonian
        ("page RPYx", "guinea"),  # Guinée-Conakry
        ("page 2uMfI", "iraq"),  # "Die Waisenkinder von Mossul"
        ("feed 54087065", "balkans"),  # Srbije, Srbiji, Bosne
        ("feed 61509255", "afghanistan"),  # Кабуле, Кабула
    },
    "namesakes": set(),
}
COUNTS = (
    *("articles", "relevant", "matched_off", "matched_on", "right_off", "right_on"),
    *("gained", "lost", "more_hits"),
)


@dataclass
class LanguageRow:
    language: str
    articles: int = 0
    relevant: int = 0  # judged pairs
    matched_off: int = 0
    matched_on: int = 0
    right_off: int = 0  # matches that are judged relevant
    right_on: int = 0
    gained: int = 0
    lost: int = 0
    more_hits: int = 0  # matched both ways, more term hits on

    def add(self, other: LanguageRow) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def ratios(self) -> dict[str, float | None]:
        def share(part: int, whole: int) -> float | None:
            return round(part / whole, 3) if whole else None

        return {
            "recall_off": share(self.right_off, self.relevant),
            "recall_on": share(self.right_on, self.relevant),
            "precision_off": share(self.right_off, self.matched_off),
            "precision_on": share(self.right_on, self.matched_on),
        }

    def to_json(self, set_name: str) -> dict[str, object]:
        return {"bench": "recall", "set": set_name, **self.__dict__, **self.ratios()}


def compare(
    watchlists: Sequence[WatchlistConfig],
    articles: Sequence[Article],
    relevant: set[tuple[str, str]],
) -> tuple[dict[str, LanguageRow], list[Change]]:
    """Each article matched with the watchlists off and on: the rows and the changes."""
    rows: dict[str, LanguageRow] = {}
    changes: list[Change] = []
    off_lists, on_lists = without_expansions(watchlists), list(watchlists)
    off_matcher, on_matcher = Matcher(off_lists), Matcher(on_lists)
    for article in articles:
        row = rows.setdefault(article.language, LanguageRow(article.language))
        row.articles += 1
        off = explain(off_lists, article.text, off_matcher)
        on = explain(on_lists, article.text, on_matcher)
        language = article.text.language
        for before, after in zip(off, on, strict=True):
            right = (article.id, after.name) in relevant
            row.relevant += right
            row.matched_off += before.matched
            row.matched_on += after.matched
            row.right_off += before.matched and right
            row.right_on += after.matched and right
            if after.matched and not before.matched:
                row.gained += 1
                kind = "gained" if right else "gained-false-alarm"
                changes.append(Change(kind, article, after.name, _hits(after, language)))
            elif before.matched and not after.matched:
                row.lost += 1
                why = [*after.why_not, "matched before by " + "; ".join(_hits(before, language))]
                changes.append(Change("lost", article, after.name, why))
            elif after.matched and not right:
                changes.append(Change("false-alarm", article, after.name, _hits(after, language)))
            elif right and not after.matched:
                changes.append(Change("missed", article, after.name, after.why_not))
            elif after.matched and sum(after.terms.values()) > sum(before.terms.values()):
                row.more_hits += 1
                counts = [
                    f"{term} {before.terms.get(term, 0)} -> {count}"
                    for term, count in after.terms.items()
                    if count != before.terms.get(term, 0)
                ]
                new = [hit for hit in after.hits if hit.how != "exact"]
                why = [", ".join(counts), *_hits(Explanation(after.name, True, hits=new), language)]
                changes.append(Change("more-hits", article, after.name, why))
    return rows, changes


def _hits(explanation: Explanation, language: str | None) -> list[str]:
    """The distinct hits, those not found as written first, each with the fields it is in:
    `Ракки ← Raqqa (place: Ar Raqqah) in title, body`."""
    return hit_lines(sorted(explanation.hits, key=lambda hit: hit.how == "exact"), language)


CHANGE_KINDS = (
    ("gained", "gained (right)"),
    ("gained-false-alarm", "gained (false alarm)"),
    ("lost", "lost"),
    ("false-alarm", "false alarms kept"),
    ("missed", "missed with both off and on"),
    ("more-hits", "kept, more hits"),
)


def print_report(
    set_name: str,
    watchlists: Sequence[WatchlistConfig],
    rows: dict[str, LanguageRow],
    changes: list[Change],
) -> None:
    described = "; ".join(f"{w.name}: {', '.join([*w.terms, *w.match_case])}" for w in watchlists)
    print(f"\n== set {set_name} ({described})")
    header = (
        f"{'language':<9}{'articles':>9}{'relevant':>9}{'matched':>12}{'gained':>7}{'lost':>5}"
        f"{'more hits':>10}{'recall':>14}{'precision':>14}"
    )
    print(header)
    arrows = f"{'off -> on':>14}"
    print(f"{'':<27}{'off -> on':>12}{'':>22}{arrows}{arrows}")
    print("-" * len(header))
    total = LanguageRow("all")
    for row in sorted(rows.values(), key=lambda r: (-r.articles, r.language)):
        _print_row(row)
        total.add(row)
    print("-" * len(header))
    _print_row(total)
    for kind, title in CHANGE_KINDS:
        listed = [change for change in changes if change.kind == kind]
        if not listed and kind not in ("gained", "lost", "gained-false-alarm"):
            continue
        print(f"{title}: {len(listed) or 'none'}")
        for change in listed:
            article = change.article
            print(f"  {article.id} ({article.language}) {change.watchlist}: {article.text.title}")
            for line in change.why:
                print(f"      {line}")


def _print_row(row: LanguageRow) -> None:
    ratios = row.ratios()

    def pair(off: float | None, on: float | None) -> str:
        def shown(value: float | None) -> str:
            return "-" if value is None else f"{value:.0%}"

        return f"{shown(off)} -> {shown(on)}"

    print(
        f"{row.language:<9}{row.articles:>9}{row.relevant:>9}"
        f"{f'{row.matched_off} -> {row.matched_on}':>12}{row.gained:>7}{row.lost:>5}"
        f"{row.more_hits:>10}{pair(ratios['recall_off'], ratios['recall_on']):>14}"
        f"{pair(ratios['precision_off'], ratios['precision_on']):>14}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json-only", action="store_true", help="print only the JSON lines")
    options = parser.parse_args(argv)
    articles = demo_corpus()
    folder = os.environ.get("NEWSWATCH_DW_SAMPLES")
    samples = sample_corpus(Path(folder)) if folder and Path(folder).is_dir() else []
    lines: list[dict[str, object]] = []
    if not options.json_only:
        pages = sum(article.id.startswith("page ") for article in samples)
        where = (
            f"{len(samples)} real DW texts from {folder} ({pages} pages, "
            f"{len(samples) - pages} feed items)"
            if samples
            else "no real samples (set NEWSWATCH_DW_SAMPLES)"
        )
        print(
            f"recall bench: {len(articles)} demo articles and {where}; each watchlist set with "
            "inflections and places off (the matcher before issue 13) and on. Matches are "
            "article x watchlist pairs; 'more hits': matched both ways, more term hits on."
        )
    for set_name, watchlists in SETS.items():
        rows, changes = compare(watchlists, articles + samples, RELEVANT[set_name])
        if not options.json_only:
            print_report(set_name, watchlists, rows, changes)
        lines += [row.to_json(set_name) for row in rows.values()]
        lines += [change.to_json(set_name) for change in changes]
    if not options.json_only:
        print()
    for line in lines:
        print(json.dumps(line, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
