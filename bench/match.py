"""Watchlist matching speed: articles/s for 10, 1,000 and 10,000 terms, and one `re` alternation;
then the same with inflections and place names on.

    python bench/match.py [--articles N] [--repeat R]

Articles are generated (deterministic seed): a ~600-word body in paragraphs, a title, a teaser and
topics. Most are English, mixing common words, a large made-up vocabulary (Zipf-distributed),
names (some accented, some hyphenated), acronyms, curly quotes and dashes, as DW English text has;
a share are German, Russian and Arabic (`LANGUAGE_SHARES`), each with its own function words and a
made-up vocabulary in its script with that language's endings (and Arabic's attached prefixes),
so the stemmer of each language has real work. Every article also names real places from
`PLACES` in its language's forms (Rakka, Ракке, بالرقة, ...). Terms are drawn from the same names
and words, and include real place names (so place aliases expand). Each case is one watchlist
of 10, 1,000 or 10,000 terms; one more case spreads the 10,000 terms over 500 watchlists of 20,
where every watchlist hit costs its own explanation and snippet.

The cases without a suffix are the matcher as before issue 13 (inflections and places off): the
baseline. `-inflections`, `-places` and `-inflections-places` turn those on, on the same
articles and terms. The `re` baseline is one pattern `\\b(?:t1|t2|...)\\b` (IGNORECASE) per case
over the same fields; it is slow, so it runs on a subset of the articles (stated in the table).
Each matcher case runs R times (default 3), the runs going round all the cases, and its fastest
run counts: the figures are of the matcher, not of what else the machine was doing. The first
case with places on also pays for opening the place-name cache file, or building it where there
is none (its compile s; bench/places.py measures that alone). Prints a table, then one JSON
line per figure, then the ratios and targets.

Over 300 lines for one benchmark: the multilingual article generator, the cases and their table
live in one script that runs on its own.
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import json
import random
import re
import sys
import time
from collections import Counter
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
OTHER_NAMES = 5_000  # names per non-Latin script (Russian, Arabic)
TERM_COUNTS = (10, 1_000, 10_000)
RE_ARTICLES = {1_000: 200, 10_000: 100}  # articles the re baseline runs on, per term count
# (suffix, inflections, places): the baseline first, as the matcher was before issue 13
MODES = (("", False, False), ("-inflections", True, False), ("-places", False, True))
BOTH = ("-inflections-places", True, True)
SCRIPTS = ("de", "ru", "ar")  # languages with a made-up vocabulary of their own
MODE_TERM_COUNTS = (10, 10_000)  # term counts run in every mode
LANGUAGES, LANGUAGE_SHARES = ("en", "de", "ru", "ar"), (0.55, 0.15, 0.15, 0.15)
PLACE_CHANCE = 0.04  # per sentence: a real place in the article's language
FUNCTION_WORDS = {
    "en": _words_of(
        "the of and to in a is that for on it with as was at by be this from are have has not "
        "but or an they which were been their said also its after more than who will would about "
        "over into could other two some when there had new up out we all one first last year"
    ),
    "de": _words_of(
        "der die das und in den von zu mit sich des auf für ist im dem nicht ein eine als auch "
        "es an werden aus er hat dass sie nach wird bei einer um am sind noch wie einem über so "
        "zum war haben nur oder aber vor zur bis mehr durch man sein wurde sei"
    ),
    "ru": _words_of(
        "и в не на что с по как это из за от о к для но так же уже до у все его она они мы "
        "было был была были который которые при после также года более может если или"
    ),
    "ar": _words_of(
        "في من على أن إلى عن مع هذا هذه التي الذي كان قد لا ما بعد بين كما أو ذلك حيث كل عام "
        "وقال قال خلال ثم منذ لم لن عند غير"
    ),
}
SYLLABLES = {
    "en": _words_of(
        "ka ri to ma ne lo sa vi de bu ra mo ti ze pa lu ho ge fi ny al ber stan gar kov ich ova "
        "ski ton ham dor wel man ist ion ment ter ung lich keit ado ero ina eta"
    ),
    "ru": _words_of(
        "ка ри то ма не ло са ви де бу ра мо ти зе па лу го же фи ны ал бер стан гар ков ич "
        "ова ски тон хам дор вел ман ист пре при раз нов ход"
    ),
    "ar": _words_of(
        "كا ري تو ما ني لو سا في دي بو را مو تي زي با هو جي فا نا بر ستا غا كو مي سل عم حر"
    ),
}
SYLLABLES["de"] = SYLLABLES["en"]
# endings the stemmer of each language strips; Arabic also has prefixes (and, with, the, ...)
ENDINGS = {
    "en": ("", "", "s", "ing", "ed"),
    "de": ("", "", "en", "es", "er", "s", "ung", "ungen"),
    "ru": ("", "а", "ы", "ой", "ами", "ов", "е", "ую", "ого", "ому"),
    "ar": ("", "", "ة", "ات", "ون", "ين", "ها"),
}
ARABIC_PREFIXES = ("", "", "ال", "وال", "بال", "و", "ل", "لل")
ACCENTED = ("ü", "ö", "é", "á", "ç", "ñ", "ä", "ø")
# real places a term may name, with forms an article in each language writes
PLACES = {
    "Raqqa": {"en": "Raqqa", "de": "Rakka Rakkas", "ru": "Ракка Ракки Ракке", "ar": "الرقة بالرقة"},
    "Mosul": {"en": "Mosul", "de": "Mossul", "ru": "Мосул Мосула", "ar": "الموصل والموصل"},
    "Kyiv": {"en": "Kyiv", "de": "Kiew Kiews", "ru": "Киев Киеве Киева", "ar": "كييف"},
    "Kharkiv": {"en": "Kharkiv", "de": "Charkiw", "ru": "Харьков Харькове", "ar": "خاركيف"},
    "Aleppo": {"en": "Aleppo", "de": "Aleppo", "ru": "Алеппо", "ar": "حلب"},
    "Damascus": {"en": "Damascus", "de": "Damaskus", "ru": "Дамаск Дамаске", "ar": "دمشق"},
    "Baghdad": {"en": "Baghdad", "de": "Bagdad", "ru": "Багдад Багдаде", "ar": "بغداد"},
    "Moscow": {"en": "Moscow", "de": "Moskau", "ru": "Москва Москвы Москве", "ar": "موسكو"},
    "Cairo": {"en": "Cairo", "de": "Kairo", "ru": "Каир Каире", "ar": "القاهرة"},
    "Berlin": {"en": "Berlin", "de": "Berlin Berlins", "ru": "Берлин Берлине", "ar": "برلين"},
}
PLACE_TERMS = {10: 2, 1_000: 10, 10_000: 10}  # of the terms, how many are real places


@dataclass(frozen=True)
class Corpus:
    words: list[str]  # made-up English vocabulary, most frequent first
    names: list[str]  # people, places, organisations, most frequent first
    acronyms: list[str]
    stems: dict[str, list[str]]  # per other language: made-up word stems, most frequent first
    other_names: dict[str, list[str]]  # names in Cyrillic and Arabic script


def make_corpus(rng: random.Random) -> Corpus:
    words = _unique(lambda: _made_up(rng, "en"), 30_000)
    names = _unique(lambda: _make_name(rng), NAMES)
    acronyms = _unique(
        lambda: "".join(rng.choices("ABCDEFGHIKLMNOPRSTUW", k=rng.choice((2, 3, 4)))), 300
    )
    stems = {
        language: _unique(functools.partial(_made_up, rng, language), 20_000)
        for language in SCRIPTS
    }
    other_names = {
        language: _unique(functools.partial(_made_up, rng, language, name=True), OTHER_NAMES)
        for language in ("ru", "ar")
    }
    return Corpus(words, names, acronyms, stems, other_names)


def _made_up(rng: random.Random, language: str, *, name: bool = False) -> str:
    word = "".join(rng.choices(SYLLABLES[language], k=rng.choice((2, 2, 3, 3, 4))))
    return word.capitalize() if name else word


def _unique(make: Callable[[], str], count: int) -> list[str]:
    seen: dict[str, None] = {}
    while len(seen) < count:
        seen[make()] = None
    return list(seen)


def _make_name(rng: random.Random) -> str:
    def part() -> str:
        word = "".join(rng.choices(SYLLABLES["en"], k=rng.choice((2, 3))))
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
        self.stem_weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(20_000)))
        self.name_weights = list(itertools.accumulate(1 / (rank + 1) for rank in range(NAMES)))
        self.language = "en"

    def word(self) -> str:
        roll = self.rng.random()
        if roll < 0.45:
            return self.rng.choice(FUNCTION_WORDS[self.language])
        if roll < 0.9:
            return self._vocabulary_word()
        if roll < 0.98:
            return self._name()
        return self.rng.choice(self.corpus.acronyms)

    def _vocabulary_word(self) -> str:
        if self.language == "en":
            return self.rng.choices(self.corpus.words, cum_weights=self.word_weights)[0]
        stem = self.rng.choices(self.corpus.stems[self.language], cum_weights=self.stem_weights)[0]
        word = stem + self.rng.choice(ENDINGS[self.language])
        if self.language == "de" and self.rng.random() < 0.3:
            word = word.capitalize()  # a noun
        if self.language == "ar":
            word = self.rng.choice(ARABIC_PREFIXES) + word
        return word

    def _name(self) -> str:
        if self.language in self.corpus.other_names and self.rng.random() < 0.7:
            names = self.corpus.other_names[self.language]
            return self.rng.choices(names, cum_weights=self.name_weights[: len(names)])[0]
        name = self.rng.choices(self.corpus.names, cum_weights=self.name_weights)[0]
        return f"{name}’s" if self.language == "en" and self.rng.random() < 0.1 else name

    def sentence(self, words: int) -> str:
        chosen = [self.word() for _ in range(words)]
        if self.rng.random() < PLACE_CHANCE:
            forms = self.rng.choice(list(PLACES.values()))[self.language].split()
            chosen[self.rng.randrange(words)] = self.rng.choice(forms)
        text = " ".join(chosen)
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
        self.language = self.rng.choices(LANGUAGES, weights=LANGUAGE_SHARES)[0]
        body = "\n\n".join(self.paragraph(self.rng.randint(40, 80)) for _ in range(10))
        topics = self.rng.sample(self.corpus.names[:200], 3)
        return ArticleText(self.sentence(8), self.paragraph(25), body, topics, self.language)


def make_terms(corpus: Corpus, count: int, rng: random.Random) -> list[str]:
    """A term list as a newsroom would keep it: mostly names (a tenth in Cyrillic or Arabic
    script), some words, prefix terms and acronyms, each picked uniformly from what the articles
    draw on (so popular and rare names alike), and a few real places."""
    terms: dict[str, None] = dict.fromkeys(list(PLACES)[: PLACE_TERMS[count]])
    while len(terms) < count:
        roll = rng.random()
        if roll < 0.79:
            terms[rng.choice(corpus.names)] = None
        elif roll < 0.88:
            terms[rng.choice(corpus.other_names[rng.choice(("ru", "ar"))])] = None
        elif roll < 0.98:
            terms[rng.choice(corpus.words)] = None
        elif roll < 0.99:
            terms[rng.choice(corpus.words) + "*"] = None
        else:
            terms[rng.choice(corpus.acronyms)] = None
    return list(terms)


def make_watchlists(
    terms: list[str], acronyms: set[str], size: int, *, inflections: bool, places: bool
) -> list[WatchlistConfig]:
    """Watchlists of `size` terms each; acronyms go to match_case."""
    watchlists = []
    for number, first in enumerate(range(0, len(terms), size)):
        chunk = terms[first : first + size]
        watchlists.append(
            WatchlistConfig(
                name=f"watchlist-{number}",
                terms=[term for term in chunk if term not in acronyms],
                match_case=[term for term in chunk if term in acronyms],
                inflections=inflections,
                places=places,
            )
        )
    return [w for w in watchlists if w.terms or w.match_case]


@dataclass
class MatcherCase:
    """One matcher case: compiled once, then timed in rounds with the others."""

    name: str
    terms: int
    matcher: Matcher
    watchlists: int
    compile_s: float
    best_s: float = float("inf")
    hits: float = 0.0

    def row(self, articles: int) -> dict[str, object]:
        per_s = articles / self.best_s
        return _row(
            self.name, self.terms, self.watchlists, articles, per_s, self.hits, self.compile_s
        )


def compile_case(
    case: str,
    terms: list[str],
    list_size: int,
    corpus: Corpus,
    mode: tuple[str, bool, bool] = MODES[0],
) -> MatcherCase:
    suffix, inflections, places = mode
    watchlists = make_watchlists(
        terms, set(corpus.acronyms), list_size, inflections=inflections, places=places
    )
    started = time.perf_counter()
    matcher = Matcher(watchlists)
    compile_s = time.perf_counter() - started
    return MatcherCase(case + suffix, len(terms), matcher, len(watchlists), compile_s)


def time_cases(cases: list[MatcherCase], articles: Sequence[ArticleText], repeat: int) -> None:
    """Each case's best of `repeat` runs, as timeit advises (the slower runs measure what else
    the machine was doing); the runs go round the cases, so a burst of other work on the machine
    slows one run of several cases rather than every run of one."""
    for case in cases:
        for article in articles[:20]:  # warm up: the character fold table and stem caches
            case.matcher.match(article)
    for _ in range(repeat):
        for case in cases:
            with _timing() as elapsed:
                results = [case.matcher.match(article) for article in articles]
            case.best_s = min(case.best_s, elapsed())
            case.hits = sum(sum(hit.terms.values()) for hits in results for hit in hits) / len(
                articles
            )


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
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the best counts")
    options = parser.parse_args(argv)
    repeat = max(1, options.repeat)
    rng = random.Random(SEED)
    corpus = make_corpus(rng)
    writer = ArticleWriter(corpus, rng)
    articles = [writer.article() for _ in range(options.articles)]
    words = sum(len(a.body.split()) + len(a.title.split()) for a in articles) / len(articles)

    cases: list[MatcherCase] = []
    baselines: dict[int, dict[str, object]] = {}
    for count in TERM_COUNTS:
        terms = make_terms(corpus, count, random.Random(SEED + count))
        cases.append(compile_case(f"matcher-{count}-terms", terms, count, corpus))
        if count in RE_ARTICLES:
            subset = articles[: RE_ARTICLES[count]]
            per_s, found = time_regex(terms, subset)
            baselines[count] = _row(f"re-{count}-terms", count, 1, len(subset), per_s, found, None)
    spread = make_terms(corpus, SPREAD_TERMS, random.Random(SEED + SPREAD_TERMS))
    spread_case = f"matcher-{SPREAD_TERMS}-terms-in-lists-of-{SPREAD_LIST_SIZE}"
    cases.append(compile_case(spread_case, spread, SPREAD_LIST_SIZE, corpus))
    for mode in (*MODES[1:], BOTH):
        for count in MODE_TERM_COUNTS:
            terms = make_terms(corpus, count, random.Random(SEED + count))
            cases.append(compile_case(f"matcher-{count}-terms", terms, count, corpus, mode))
    cases.append(compile_case(spread_case, spread, SPREAD_LIST_SIZE, corpus, BOTH))
    time_cases(cases, articles, repeat)
    rows: list[dict[str, object]] = []
    for case in cases:
        rows.append(case.row(len(articles)))
        if case.terms in baselines and case.name == f"matcher-{case.terms}-terms":
            rows.append(baselines[case.terms])

    _print_table(rows, words, articles)
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


def _print_table(
    rows: list[dict[str, object]], words: float, articles: Sequence[ArticleText]
) -> None:
    languages = Counter(article.language for article in articles)
    mix = ", ".join(f"{language} {count}" for language, count in languages.most_common())
    print(f"match bench: {rows[0]['articles']} generated articles ({mix}), ~{words:.0f} words each")
    print(
        "hits/art: term occurrences per article "
        "(re: prefix terms as whole words, acronyms in any case)"
    )
    header = (
        f"{'case':<54}{'terms':>7}{'lists':>7}{'articles':>10}{'hits/art':>10}{'art/s':>10}"
        f"{'compile s':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        compile_s = "" if row["compile_s"] is None else row["compile_s"]
        print(
            f"{row['case']:<54}{row['terms']:>7}{row['watchlists']:>7}{row['articles']:>10}"
            f"{row['hits_per_article']:>10}{row['articles_per_s']:>10}{compile_s:>11}"
        )


def _print_ratios(rows: list[dict[str, object]]) -> None:
    speed = {row["case"]: float(row["articles_per_s"]) for row in rows}  # type: ignore[arg-type]
    both = BOTH[0]
    on_10, on_10000 = speed[f"matcher-10-terms{both}"], speed[f"matcher-10000-terms{both}"]
    ratios = [
        (
            "cost_10000_vs_10_terms",
            speed["matcher-10-terms"] / speed["matcher-10000-terms"],
            "<= 2",
        ),
        (
            "speedup_vs_re_at_10000_terms",
            speed["matcher-10000-terms"] / speed["re-10000-terms"],
            ">= 50",
        ),
        ("articles_per_s_10_terms_inflections_places", on_10, ">= 1000"),
        ("articles_per_s_10000_terms_inflections_places", on_10000, ">= 1000"),
        ("cost_10000_vs_10_terms_inflections_places", on_10 / on_10000, "<= 2"),
    ]
    for count in MODE_TERM_COUNTS:
        for suffix, _, _ in (*MODES[1:], BOTH):
            name = f"cost_of{suffix.replace('-', '_')}_at_{count}_terms_vs_baseline"
            ratio = speed[f"matcher-{count}-terms"] / speed[f"matcher-{count}-terms{suffix}"]
            ratios.append((name, ratio, ""))
    for name, value, target in ratios:
        verdict = (
            f" (target {target}: {'met' if _met(value, target) else 'NOT met'})" if target else ""
        )
        print(f"{name}: {value:.2f}{verdict}")
    for name, value, target in ratios:
        line: dict[str, object] = {"bench": "match", "case": name, "ratio": round(value, 2)}
        if target:
            line |= {"target": target, "met": _met(value, target)}
        print(json.dumps(line))


def _met(value: float, target: str) -> bool:
    sign, bound = target.split()
    return value <= float(bound) if sign == "<=" else value >= float(bound)


if __name__ == "__main__":
    raise SystemExit(main())
