"""A watchlist as configured: its terms, the rules on them, and its fingerprint.

Term syntax: whole words, case- and accent-insensitive (`Raqqa` = `RAQQA`, `Fruhburgunder` =
`Frühburgunder`); a phrase matches across any whitespace and line breaks; a trailing `*` makes a
prefix term (`terror*` hits `Terrormiliz`); terms in scripts without spaces (Chinese, ...) match as
substrings. `match_case` terms are whole words in exactly the case written (`IS`, not `is`).
`require`, `exclude` and `fields` apply to the same fields as the terms. `alerts.matcher` finds
them in articles.

On top of that, by default, terms (not match_case ones, not prefix terms) also match their
inflected forms in the article's language (`inflections = true`, see `alerts.inflections`:
`Ракка` hits `Ракки`) and the other names of the place they name (`places = true`, see
`alerts.places`: `Raqqa` hits `الرقة`). A term written `=Word` matches only as written: exact
case and accents, no inflections, no place aliases (`=IS` is the match_case `IS`).

Instead of the lists a watchlist may give one `query` (`alerts.query`: `(Raqqa OR Rakka) AND
attack -football`, `"Islamic State" NEAR/5 Raqqa`, `title:Raqqa lang:de`); its words are terms
as above. The lists mean the query `list_form_query` makes of them, and `rules()` is that query
either way, so the matcher decides both forms alike.

A term is checked and parsed here (`parse_term`), a query read here (`parse_query`), so a config
that loads has only usable terms and queries; the fingerprint changes exactly when a watchlist
would match differently, which makes the match stage re-match the stored articles for it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from alerts.query import Field, Query, QuerySyntaxError, format_query, list_form_query, parse_query
from alerts.textnorm import fold, is_word_char, preserve_case

__all__ = [
    "FIELD_ORDER",
    "ROLES",
    "Field",
    "ParsedTerm",
    "WatchlistConfig",
    "language_code",
    "parse_term",
]

FIELD_ORDER: tuple[Field, ...] = ("title", "teaser", "body", "topics")
ROLES = ("terms", "match_case", "require", "exclude")
# Bump when alerts.matcher's semantics change, so stored matches are redone (part of the
# fingerprint).
# 2: inflections, place aliases, Arabic-script letters, `=Word`; 3: inflected hits keep the
# capitals of the term ("Male" no longer hits German "mal")
MATCHER_VERSION = 3


@dataclass(frozen=True)
class ParsedTerm:
    key: str  # the folded text searched for
    prefix: bool  # written with a trailing `*`
    exact_case: str | None  # match_case and `=` terms: what the original text must equal
    as_written: bool = False  # written `=Word`: no inflections, no place aliases

    @property
    def expands(self) -> bool:
        """Whether inflections and place aliases may apply (not to match_case, `=` or prefix
        terms: they say exactly what they want)."""
        return self.exact_case is None and not self.prefix


def parse_term(term: str, *, keep_case: bool = False) -> ParsedTerm:
    """Parse one configured term; ValueError says what is wrong with it."""
    text = term.strip()
    as_written = text.startswith("=")
    if as_written:
        text = text[1:].strip()
        keep_case = True
    if not text:
        raise ValueError("is empty")
    if "*" in text[:-1]:
        raise ValueError("has '*' before its end ('*' may only end a prefix term, as in 'terror*')")
    prefix = text.endswith("*")
    body = text.removesuffix("*").strip()
    key = fold(body).strip()
    if not any(is_word_char(char) for char in key):
        raise ValueError("has no letter or digit")
    return ParsedTerm(key, prefix, preserve_case(body).strip() if keep_case else None, as_written)


class WatchlistConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    terms: list[str] = []
    match_case: list[str] = []
    require: list[str] = []
    exclude: list[str] = []
    fields: list[Field] = ["title", "teaser", "body"]
    languages: list[str] = []
    inflections: bool = True  # terms also match their inflected forms (alerts.inflections)
    places: bool = True  # terms naming a place also match its other names (alerts.places)
    query: str = ""  # instead of the lists: `(Raqqa OR Rakka) -football` (alerts.query)

    @field_validator("name")
    @classmethod
    def _name_is_given(cls, name: str) -> str:
        if not name.strip():
            raise ValueError("watchlist name is empty")
        return name.strip()

    @field_validator("languages")
    @classmethod
    def _languages_are_codes(cls, languages: list[str]) -> list[str]:
        codes = [language_code(language) for language in languages]
        if "" in codes:
            raise ValueError("a language code is empty")
        return codes

    @model_validator(mode="after")
    def _terms_are_usable(self) -> WatchlistConfig:
        for role in ROLES:
            for term in getattr(self, role):
                try:
                    parse_term(term, keep_case=role == "match_case")
                except ValueError as error:
                    raise ValueError(
                        f"watchlist {self.name!r}: {role} term {term!r} {error}"
                    ) from None
        if self.query.strip():
            self._query_is_usable()
        elif not self.terms and not self.match_case:
            raise ValueError(
                f"watchlist {self.name!r}: needs a query or at least one of terms, match_case"
            )
        if not self.fields:
            raise ValueError(f"watchlist {self.name!r}: fields is empty, nothing could match")
        return self

    def _query_is_usable(self) -> None:
        if self.terms or self.match_case:
            raise ValueError(
                f"watchlist {self.name!r}: give either a query or terms/match_case, not both"
            )
        if self.require or self.exclude:
            raise ValueError(
                f"watchlist {self.name!r}: require and exclude go with terms; in a query write "
                "AND word, -word"
            )
        try:
            _query_of(self.query)
        except QuerySyntaxError as error:
            raise ValueError(f"watchlist {self.name!r}: query {error}") from None

    def rules(self) -> Query:
        """What the watchlist matches, as a query: its `query`, or the one its lists mean."""
        if self.query.strip():
            return _query_of(self.query)
        return _lists_query(
            tuple(self.terms), tuple(self.match_case), tuple(self.require), tuple(self.exclude)
        )

    def parsed(self, role: str) -> list[tuple[str, ParsedTerm]]:
        """(term as written, parsed) for one role, without repeats of an equivalent term."""
        seen: set[ParsedTerm] = set()
        unique: list[tuple[str, ParsedTerm]] = []
        for term in getattr(self, role):
            parsed = parse_term(term, keep_case=role == "match_case")
            if parsed not in seen:
                seen.add(parsed)
                unique.append((term, parsed))
        return unique

    def fingerprint(self) -> str:
        """sha256 hex of the normalised definition: equal for configs that match the same way."""

        def canonical(role: str) -> list[str]:
            forms = {
                ("=" if p.as_written else "")
                + (p.exact_case or p.key)
                + ("*" if p.prefix else "")
                + (_initials(written) if p.expands and self.inflections else "")
                for written, p in self.parsed(role)
            }
            return sorted(forms)

        definition = {
            "matcher": MATCHER_VERSION,
            "name": self.name,
            **{role: canonical(role) for role in ROLES},
            "fields": sorted(set(self.fields)),
            "languages": sorted(set(self.languages)),
            "inflections": self.inflections,
            "places": self.places,
        }
        if self.query.strip():  # written out anew: spacing and brackets that change nothing
            definition["query"] = format_query(_query_of(self.query))
        encoded = json.dumps(definition, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(encoded).hexdigest()


def _initials(written: str) -> str:
    """Which words of a term begin with a capital, as inflected hits must repeat them: "^Aa"
    for "Islamic state", "" when none does."""
    marks = "".join("A" if word[:1].isupper() else "a" for word in written.split())
    return "^" + marks if "A" in marks else ""


@lru_cache(maxsize=256)
def _query_of(text: str) -> Query:
    return parse_query(text)


@lru_cache(maxsize=256)
def _lists_query(
    terms: tuple[str, ...],
    match_case: tuple[str, ...],
    require: tuple[str, ...],
    exclude: tuple[str, ...],
) -> Query:
    return list_form_query(terms, match_case, require, exclude)


def language_code(language: str) -> str:
    return language.strip().lower().replace("_", "-")
