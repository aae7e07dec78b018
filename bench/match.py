"""Watchlist matching speed: articles/s for 10, 1,000 and 10,000 terms, and one `re` alternation.

    python bench/match.py [--articles N]

Articles are generated (deterministic seed): a ~600-word body in paragraphs, a title, a teaser and
topics, mixing common English words, a large made-up vocabulary (Zipf-distributed), names (some
accented, some hyphenated), acronyms, curly quotes and dashes, as DW English text has. Terms are
drawn from the same names and words. Each case is one watchlist of 10, 1,000 or 10,000 terms; one
more case spreads the 10,000 terms over 500 watchlists of 20, where every watchlist hit costs its
own explanation and snippet. The baseline is one `re` pattern `\\b(?:t1|t2|...)\\b` (IGNORECASE) per
case over the same fields; it is slow, so it runs on a subset of the articles (stated in the
table). Prints a table, then one JSON line per figure.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import random
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from alerts.matcher import ArticleText, Matcher
from alerts.watchlists import WatchlistConfig


def _words_of(text: str) -> list[str]:
    return text.split()


SEED = 20151127
SPREAD_TERMS, SPREAD_LIST_SIZE = 10_000, 20  # the same terms spread over many small watchlists
NAMES = 100_000
TERM_COUNTS = (10, 1_000, 10_000)
RE_ARTICLES = {1_000: 200, 10_000: 100}  # articles the re baseline runs on, per term count
FUNCTION_WORDS = _words_of(
    "the of and to in a is that for on it with as was at by be this from are have has not but "
    "or an they which were been their said also its after more than who will would about over "
    "into could other two some when there had new up out we all one first last year years"
)
SYLLABLES = _words_of(
    "ka ri to ma ne lo sa vi de bu ra mo ti ze pa lu ho ge fi ny al ber stan gar kov ich ova "
    "ski ton ham dor wel man ist ion ment ter ung lich keit ado ero ina eta"
)
ACCENTED = ("ü", "ö", "é", "á", "ç", "ñ", "ä", "ø")


@dataclass(frozen=True)
class Corpus:
    words: list[str]  # made-up vocabulary, most frequent first
    names: list[str]  # people, places, organisations, most frequent first
    acronyms: list[str]


def make_corpus(rng: random.Random) -> Corpus:
    words = _unique(lambda: "".join(rng.choices(SYLLABLES, k=rng.choice((2, 2, 3, 3, 4)))), 30_000)
    names = _unique(lambda: _make_name(rng), NAMES)
    acronyms = _unique(
        lambda: "".join(rng.choices("ABCDEFGHIKLMNOPRSTUW", k=rng.choice((2, 3, 4)))), 300
    )
    return Corpus(words, names, acronyms)


def _unique(make: Callable[[], str], count: int) -> list[str]:
    seen: dict[str, None] = {}
    while len(seen) < count:
        seen[make()] = None
    return list(seen)


def _make_name(rng: random.Random) -> str:
    def part() -> str:
        word = "".join(rng.choices(SYLLABLES, k=rng.choice((2, 3))))
        if rng.random() < 0.1:
            word = word.replace(rng.choice("aeiou"), rng.choice(ACCENTED), 1)
        return word.capitalize()

    shape = rng.random()
    if shape < 0.55:
        return part()
    if shape < 0.9:
        return f"{part()} {part()}"
    return f"{rng.choice(('Al', 'Ar', 'El'))}-{part()}"


class ArticleWriter:
    def __init__(self, corpus: Corpus, rng: random.Random):
        self.corpus = corpus
        self.rng = rng
        self.word_weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(30_000)))
        self.name_weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(NAMES)))

    def word(self) -> str:
        roll = self.rng.random()
        if roll < 0.45:
            return self.rng.choice(FUNCTION_WORDS)
        if roll < 0.9:
            return self.rng.choices(self.corpus.words, cum_weights=self.word_weights)[0]
        if roll < 0.98:
            name = self.rng.choices(self.corpus.names, cum_weights=self.name_weights)[0]
            return f"{name}’s" if self.rng.random() < 0.1 else name
        return self.rng.choice(self.corpus.acronyms)

    def sentence(self, words: int) -> str:
        text = " ".join(self.word() for _ in range(words))
        if self.rng.random() < 0.2:
            text = f"“{text}”"
        elif self.rng.random() < 0.1:
            text = text.replace(" ", " – ", 1)
        return text[0].upper() + text[1:] + "."

    def paragraph(self, words: int) -> str:
        sentences = []
        while words > 0:
            length = min(words, self.rng.randint(8, 25))
            sentences.append(self.sentence(length))
            words -= length
        return " ".join(sentences)

    def article(self) -> ArticleText:
        body = "\n\n".join(self.paragraph(self.rng.randint(40, 80)) for _ in range(10))
        topics = self.rng.sample(self.corpus.names[:200], 3)
        return ArticleText(self.sentence(8), self.paragraph(25), body, topics, "en")


def make_terms(corpus: Corpus, count: int, rng: random.Random) -> list[str]:
    """A term list as a newsroom would keep it: mostly names, some words, prefix terms and
    acronyms, each picked uniformly from what the articles draw on (so popular and rare names
    alike)."""
    terms: dict[str, None] = {}
    while len(terms) < count:
        roll = rng.random()
        if roll < 0.88:
            terms[rng.choice(corpus.names)] = None
        elif roll < 0.98:
            terms[rng.choice(corpus.words)] = None
        elif roll < 0.99:
            terms[rng.choice(corpus.words) + "*"] = None
        else:
            terms[rng.choice(corpus.acronyms)] = None
    return list(terms)


def make_watchlists(terms: list[str], acronyms: set[str], size: int) -> list[WatchlistConfig]:
    """Watchlists of `size` terms each; acronyms go to match_case."""
    watchlists = []
    for number, first in enumerate(range(0, len(terms), size)):
        chunk = terms[first : first + size]
        watchlists.append(
            WatchlistConfig(
                name=f"watchlist-{number}",
                terms=[term for term in chunk if term not in acronyms],
                match_case=[term for term in chunk if term in acronyms],
            )
        )
    return [w for w in watchlists if w.terms or w.match_case]


def bench_matcher(
    case: str, terms: list[str], list_size: int, corpus: Corpus, articles: Sequence[ArticleText]
) -> dict[str, object]:
    watchlists = make_watchlists(terms, set(corpus.acronyms), list_size)
    started = time.perf_counter()
    matcher = Matcher(watchlists)
    compile_s = time.perf_counter() - started
    per_s, hits = time_matcher(matcher, articles)
    return _row(case, len(terms), len(watchlists), len(articles), per_s, hits, compile_s)


def time_matcher(matcher: Matcher, articles: Sequence[ArticleText]) -> tuple[float, float]:
    """(articles/s, term occurrences per article)."""
    for article in articles[:20]:  # warm up: fills the character fold table
        matcher.match(article)
    with _timing() as elapsed:
        results = [matcher.match(article) for article in articles]
    found = sum(sum(hit.terms.values()) for hits in results for hit in hits)
    return len(articles) / elapsed(), found / len(articles)


def time_regex(terms: list[str], articles: Sequence[ArticleText]) -> tuple[float, float]:
    """(articles/s, term occurrences per article) for one IGNORECASE alternation."""
    words = "|".join(re.escape(term.removesuffix("*")) for term in terms)
    pattern = re.compile(rf"\b(?:{words})\b", re.IGNORECASE)
    found = 0
    with _timing() as elapsed:
        for article in articles:
            for text in (article.title, article.teaser, article.body):
                found += len(pattern.findall(text))
    return len(articles) / elapsed(), found / len(articles)


@contextmanager
def _timing() -> Iterator[Callable[[], float]]:
    """Seconds spent in the block, with the garbage collector off as timeit does."""
    gc.collect()
    gc.disable()
    started = time.perf_counter()
    finished: list[float] = []
    try:
        yield lambda: finished[0] - started
    finally:
        finished.append(time.perf_counter())
        gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000, help="articles to generate")
    options = parser.parse_args(argv)
    rng = random.Random(SEED)
    corpus = make_corpus(rng)
    writer = ArticleWriter(corpus, rng)
    articles = [writer.article() for _ in range(options.articles)]
    words = sum(len(a.body.split()) + len(a.title.split()) for a in articles) / len(articles)

    rows: list[dict[str, object]] = []
    for count in TERM_COUNTS:
        terms = make_terms(corpus, count, random.Random(SEED + count))
        rows.append(bench_matcher(f"matcher-{count}-terms", terms, count, corpus, articles))
        if count in RE_ARTICLES:
            subset = articles[: RE_ARTICLES[count]]
            per_s, found = time_regex(terms, subset)
            rows.append(_row(f"re-{count}-terms", count, 1, len(subset), per_s, found, None))
    terms = make_terms(corpus, SPREAD_TERMS, random.Random(SEED + SPREAD_TERMS))
    case = f"matcher-{SPREAD_TERMS}-terms-in-lists-of-{SPREAD_LIST_SIZE}"
    rows.append(bench_matcher(case, terms, SPREAD_LIST_SIZE, corpus, articles))

    _print_table(rows, words)
    for row in rows:
        print(json.dumps({"bench": "match", **row}))
    _print_ratios(rows)
    return 0


def _row(
    case: str,
    terms: int,
    watchlists: int,
    articles: int,
    per_s: float,
    hits: float,
    compile_s: float | None,
) -> dict[str, object]:
    return {
        "case": case,
        "terms": terms,
        "watchlists": watchlists,
        "articles": articles,
        "articles_per_s": round(per_s, 1),
        "hits_per_article": round(hits, 2),
        "compile_s": None if compile_s is None else round(compile_s, 3),
    }


def _print_table(rows: list[dict[str, object]], words: float) -> None:
    print(f"match bench: {rows[0]['articles']} generated articles, ~{words:.0f} words each")
    print(
        "hits/art: term occurrences per article "
        "(re: prefix terms as whole words, acronyms in any case)"
    )
    header = f"{'case':<36}{'terms':>7}{'lists':>7}{'articles':>10}{'hits/art':>10}{'art/s':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['case']:<36}{row['terms']:>7}{row['watchlists']:>7}{row['articles']:>10}"
            f"{row['hits_per_article']:>10}{row['articles_per_s']:>10}"
        )


def _print_ratios(rows: list[dict[str, object]]) -> None:
    speed = {row["case"]: float(row["articles_per_s"]) for row in rows}  # type: ignore[arg-type]
    growth = speed["matcher-10-terms"] / speed["matcher-10000-terms"]
    speedup = speed["matcher-10000-terms"] / speed["re-10000-terms"]
    ratios = [
        ("cost_10000_vs_10_terms", growth, "<= 2", growth <= 2),
        ("speedup_vs_re_at_10000_terms", speedup, ">= 50", speedup >= 50),
    ]
    for name, value, target, met in ratios:
        print(f"{name}: {value:.2f} (target {target}: {'met' if met else 'NOT met'})")
    for name, value, target, met in ratios:
        line = {"bench": "match", "case": name, "ratio": round(value, 2), "target": target}
        print(json.dumps({**line, "met": met}))


if __name__ == "__main__":
    raise SystemExit(main())
