"""`newswatch explain`: whether each watchlist matches one page or text, and why; no database.

A watchlist author's preview: the same `alerts.matcher.Matcher` the match stage runs, on a DW
page (a file or URL, read as `newswatch parse` reads it) or on plain text, with each hit's form and
how it was found (exact, inflection, place alias) and the snippet a digest would show. For a
watchlist that does not match it says why not (no term found, the article's language, an exclude
term, a require term missing), by matching the parts of the watchlist on their own.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alerts.matcher import ArticleText, Matcher, WatchlistHit
from alerts.textnorm import fold
from alerts.watchlists import WatchlistConfig, language_code
from scheduler.config import config_path, load_config
from scheduler.exits import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandError

# a language tag as DW pages and the store have them: en, pt-br, sr-latn
_LANGUAGE_TAG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8}){0,2}")
_DESCRIPTION = (
    "Match one DW page (a saved file or a URL) or a plain-text file against the config's "
    "watchlists and print, for each, whether it matches and why: the terms and how often they "
    "hit, the form in the text that hit and how (exact; inflection: another form of the word in "
    "the article's language; place: another name of the place), the fields and the snippet with "
    "the hits in [brackets]. For a watchlist that does not match it says why not. Reads no "
    "database. Exit 0 when it could tell (matched or not), 1 when the page is not a DW content "
    "page or cannot be fetched, 2 for bad usage (missing file, unknown watchlist, bad language)."
)


def add_explain(commands: argparse._SubParsersAction) -> None:
    sub = commands.add_parser(
        "explain",
        help="why each watchlist matches (or not) one page or text; no database",
        description=_DESCRIPTION,
    )
    sub.add_argument("page", metavar="FILE_OR_URL", nargs="?", help="a DW page: file or URL")
    sub.add_argument("--url", help="the address a FILE was fetched from")
    sub.add_argument(
        "--text-file", metavar="FILE", help="plain UTF-8 text to match as an article body instead"
    )
    sub.add_argument(
        "--language",
        metavar="LANG",
        help="the text's language (en, de, ru, ar, pt-br, ...); needed with --text-file, "
        "overrides a page's own",
    )
    sub.add_argument("--watchlist", metavar="NAME", help="only this watchlist")
    sub.add_argument(
        "--json",
        action="store_true",
        help='print {"watchlists": [{"name", "matched", "terms", "fields", "snippet", "hits": '
        '[{"term", "form", "how", "field"}]}]}',
    )
    sub.set_defaults(run=cmd_explain)


@dataclass(frozen=True)
class HitView:
    """One distinct way a term hit: the form in the text, how it was found, the field."""

    term: str
    form: str
    how: str  # "exact" | "inflection" | "place"
    field: str

    def to_json(self) -> dict[str, str]:
        return {"term": self.term, "form": self.form, "how": self.how, "field": self.field}


@dataclass(frozen=True)
class Explanation:
    name: str
    matched: bool
    terms: dict[str, int] = field(default_factory=dict)
    fields: list[str] = field(default_factory=list)
    snippet: str | None = None
    hits: list[HitView] = field(default_factory=list)
    why_not: list[str] = field(default_factory=list)  # text output only

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "matched": self.matched,
            "terms": self.terms,
            "fields": self.fields,
            "snippet": self.snippet,
            "hits": [hit.to_json() for hit in self.hits],
        }


def cmd_explain(args: argparse.Namespace) -> int:
    config = load_config(config_path(args.config))
    watchlists = _selected(config.watchlists, args.watchlist)
    article, label = _article(args)
    explanations = explain(watchlists, article)
    if args.json:
        document = {"watchlists": [e.to_json() for e in explanations]}
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(label)
    if not explanations:
        print("no watchlists configured (`newswatch init` writes a starter config)")
    for explanation in explanations:
        print(render(explanation, article.language))
    return EXIT_OK


def explain(
    watchlists: list[WatchlistConfig], article: ArticleText, matcher: Matcher | None = None
) -> list[Explanation]:
    """One explanation per watchlist, in configuration order; `matcher` is the watchlists'
    (built here when not given: pass one to explain many articles)."""
    if matcher is None and watchlists:
        matcher = Matcher(watchlists)
    hits = {hit.watchlist: hit for hit in matcher.match(article)} if matcher else {}
    return [
        _matched(hits[w.name]) if w.name in hits else _not_matched(w, article) for w in watchlists
    ]


def render(explanation: Explanation, language: str | None) -> str:
    """The text form: a headline per watchlist, then its terms, hits, fields and snippet."""
    if not explanation.matched:
        return f"{explanation.name}: no match ({'; '.join(explanation.why_not)})"
    terms = ", ".join(f"{term} ×{count}" for term, count in explanation.terms.items())
    lines = [f"{explanation.name}: matches", f"  terms    {terms}"]
    for number, line in enumerate(hit_lines(explanation.hits, language)):
        lines.append(("  hits     " if number == 0 else "           ") + line)
    lines.append(f"  fields   {', '.join(explanation.fields)}")
    lines.append(f"  snippet  {explanation.snippet}")
    return "\n".join(lines)


def hit_lines(hits: list[HitView], language: str | None) -> list[str]:
    """One line per form of a term and how it hit, with the fields it hit in:
    `Libanon ← Lebanon (place: Lebanon) in title, teaser, body`."""
    fields: dict[tuple[str, str, str], list[str]] = {}
    first: dict[tuple[str, str, str], HitView] = {}
    for hit in hits:
        key = (hit.term, hit.form, hit.how)
        first.setdefault(key, hit)
        if hit.field not in fields.setdefault(key, []):
            fields[key].append(hit.field)
    return [
        f"{describe_hit(hit, language)} in {', '.join(fields[key])}" for key, hit in first.items()
    ]


def describe_hit(hit: HitView, language: str | None) -> str:
    """`Raqqa (exact)`, `Ракки ← Raqqa (inflection)`, `الرقة ← Raqqa (place: Ar Raqqah)`."""
    shown = hit.term if fold(hit.form) == fold(hit.term) else f"{hit.form} ← {hit.term}"
    if hit.how == "place":
        place = _place_of(hit, language)
        return f"{shown} (place: {place})" if place else f"{shown} (place)"
    return f"{shown} ({hit.how})"


def _place_of(hit: HitView, language: str | None) -> str | None:
    """The place whose alias hit: the only place the term names, else the one with an alias
    written as the hit's form, or as its stem in the article's language (`Ракки` for `Ракка`),
    or contained in it (an alias with a prefix clitic, as `والموصل` for `الموصل`)."""
    from alerts.places import place_aliases
    from alerts.stemmed_text import stem_key

    aliases = place_aliases(hit.term)
    if len({alias.place for alias in aliases}) == 1:
        return aliases[0].place
    form = fold(hit.form)
    stem = stem_key(hit.form, language) if language else None
    for alias in aliases:
        if fold(alias.form) == form:
            return alias.place
    for alias in aliases:
        if stem is not None and language and stem_key(alias.form, language) == stem:
            return alias.place
    inside = [alias for alias in aliases if fold(alias.form) in form]
    return max(inside, key=lambda alias: len(alias.form)).place if inside else None


def _matched(hit: WatchlistHit) -> Explanation:
    return Explanation(
        name=hit.watchlist,
        matched=True,
        terms=dict(hit.terms),
        fields=list(hit.fields),
        snippet=hit.snippet.highlighted("[", "]"),
        hits=_distinct_hits(hit),
    )


def _distinct_hits(hit: WatchlistHit) -> list[HitView]:
    """The matcher's hits (the first few of each term) without repeats, in its order."""
    seen: dict[HitView, None] = {}
    for term_hit in hit.hits:
        seen.setdefault(HitView(term_hit.term, term_hit.form, term_hit.how, term_hit.field))
    return list(seen)


def _not_matched(watchlist: WatchlistConfig, article: ArticleText) -> Explanation:
    return Explanation(name=watchlist.name, matched=False, why_not=_why_not(watchlist, article))


def _why_not(watchlist: WatchlistConfig, article: ArticleText) -> list[str]:
    """Why a watchlist did not match: each rule it has, checked on its own."""
    reasons = []
    if watchlist.languages and not _speaks(watchlist.languages, article.language):
        reasons.append(
            f"only for articles in {', '.join(watchlist.languages)}; this one is in "
            f"{article.language or 'no known language'}"
        )
    if getattr(watchlist, "query", None):
        return reasons or ["the query does not match"]
    found = _terms_found(watchlist, article, watchlist.terms, watchlist.match_case)
    if not found:
        return [*reasons, f"no term found in {', '.join(watchlist.fields)}"]
    excluded = _terms_found(watchlist, article, watchlist.exclude, [])
    if excluded:
        reasons.append(f"terms {', '.join(found)} found, but exclude {', '.join(excluded)} too")
    present = set(_terms_found(watchlist, article, watchlist.require, []))
    missing = [term for term in watchlist.require if term not in present]
    if missing:
        reasons.append(f"terms {', '.join(found)} found, but require {', '.join(missing)} not")
    return reasons or ["no match"]


def _terms_found(
    watchlist: WatchlistConfig, article: ArticleText, terms: list[str], match_case: list[str]
) -> list[str]:
    """Which of `terms` (any case) and `match_case` the article has, in the watchlist's fields,
    with its inflection and place settings, whatever its other rules."""
    if not terms and not match_case:
        return []
    alone = {"terms": terms, "match_case": match_case, "require": [], "exclude": []}
    probe = WatchlistConfig.model_validate(
        {**watchlist.model_dump(), **alone, "languages": [], "name": watchlist.name}
    )
    hits = Matcher([probe]).match(article)
    return list(hits[0].terms) if hits else []


def _speaks(languages: list[str], language: str | None) -> bool:
    if language is None:
        return False
    code = language_code(language)
    return any(code == wanted or code.startswith(wanted + "-") for wanted in languages)


def _selected(watchlists: list[WatchlistConfig], name: str | None) -> list[WatchlistConfig]:
    if name is None:
        return list(watchlists)
    chosen = [watchlist for watchlist in watchlists if watchlist.name == name.strip()]
    if not chosen:
        known = ", ".join(w.name for w in watchlists) or "none"
        raise CommandError(f"no watchlist named {name!r} (the config has: {known})", EXIT_USAGE)
    return chosen


def _article(args: argparse.Namespace) -> tuple[ArticleText, str]:
    """The article to explain and a line that says what it is."""
    language = _language(args.language) if args.language is not None else None
    if args.text_file is not None:
        if args.page is not None or args.url is not None:
            raise CommandError(
                "explain takes a FILE_OR_URL or --text-file, not both (--url goes with a page)",
                EXIT_USAGE,
            )
        if language is None:
            raise CommandError("--text-file needs --language (en, de, ru, ar, ...)", EXIT_USAGE)
        body = _read_text(args.text_file)
        words = len(body.split())
        return ArticleText(
            "", "", body, [], language
        ), f"{args.text_file} ({language}, {words} words)"
    if args.page is None:
        raise CommandError("explain needs a FILE_OR_URL or --text-file FILE", EXIT_USAGE)
    return _page_article(args.page, args.url, language)


def _page_article(page: str, url: str | None, language: str | None) -> tuple[ArticleText, str]:
    from crawler.dw_page import PageError, parse_page
    from scheduler.cli import _read_page

    data, page_url, content_type = _read_page(page, url)
    try:
        parsed = parse_page(data, page_url, content_type)
    except PageError as error:
        raise CommandError(f"{page}: not a DW content page: {error}", EXIT_FAILURE) from None
    language = language or parsed.language
    article = ArticleText(parsed.title, parsed.teaser, parsed.body, list(parsed.topics), language)
    label = f"{parsed.short_id} ({language or 'no language'}, {parsed.kind}): {parsed.title}"
    return article, label


def _read_text(path: str) -> str:
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise CommandError(f"{path}: {error.strerror}", EXIT_USAGE) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CommandError(f"{path}: not UTF-8 text (byte {error.start})", EXIT_USAGE) from None


def _language(value: str) -> str:
    code = language_code(value)
    if not _LANGUAGE_TAG.fullmatch(code):
        raise CommandError(
            f"--language {value!r} is not a language code (en, de, ru, ar, pt-br, ...)",
            EXIT_USAGE,
        )
    return code
