"""What the matcher looks for: every term of every watchlist as keys, and the automata of them.

A term has one key as written (folded, `alerts.textnorm`), one more per other name of the place
it names (`alerts.places`, when its watchlist has `places = true`), and, per article language
with a stemmer, the stem stream of each of those (`alerts.stemmed_text`, when the watchlist has
`inflections = true`). Every key knows its term and how an occurrence of it is explained:
"exact" (the term as written), "inflection" (the term's stems), "place" (an alias, as written or
stemmed). Keys are numbered; the automata's values are key numbers, so one pass over a text
finds every key of every term at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal

import ahocorasick

from alerts.places import place_aliases
from alerts.query import Leaf, format_query, leaves, list_leaf, term_spelling
from alerts.stemmed_text import stem_key
from alerts.textnorm import fold, has_continuous_script, preserve_case, word_gaps
from alerts.watchlists import ROLES, ParsedTerm, WatchlistConfig, parse_term
from alerts.word_automaton import TermIds, build_automaton, build_padded_automaton

__all__ = ["How", "Key", "KeyTable", "LanguageKeys", "Term", "capitals_of"]

How = Literal["exact", "inflection", "place"]
HOW_RANK: dict[How, int] = {"exact": 0, "inflection": 1, "place": 2}
MIN_ALIAS_STEM = 4
_WORDS = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class Term:
    watchlist: int
    role: str  # a list's name, or "query" for a word of a watchlist's query
    written: str  # as configured (a query's word as the query writes it: `title:"Islamic State"`)
    leaf: Leaf  # what it is in the watchlist's rules (`WatchlistConfig.rules`)


@dataclass(frozen=True)
class Key:
    term: int
    how: How
    source: str  # the text this key was made from: the term's words, or an alias
    folded: str  # what the folded text must hold (the exact automaton's key)
    verify_case: str | None  # match_case phrases found folded: the case the text must have
    verify_gaps: list[str] | None  # phrases, terms with punctuation: what separates their words
    stems: bool  # whether its stems go into the inflection automata

    @cached_property
    def capitals(self) -> tuple[bool, ...] | None:
        """For an alias that is a place only with its capital ("Газа", not "газа"): which of
        its words begin with one, which an inflected occurrence must repeat ("Газы")."""
        if self.how != "place" or self.verify_case is None:
            return None
        return capitals_of(self.verify_case)

    @cached_property
    def initials(self) -> tuple[bool, ...] | None:
        """For a term written with a capital ("Male", the capital of the Maldives): which of its
        words begin with one. An inflected occurrence must keep them, so "Male" does not hit
        German "mal" (once) by its stem; None when no word of it begins with a capital."""
        initials = capitals_of(self.source)
        return initials if any(initials) else None


@lru_cache(maxsize=65536)
def capitals_of(text: str) -> tuple[bool, ...]:
    """Whether each word of `text` begins with a capital letter. Cached: the matcher asks for
    the capitals of every inflected occurrence of a capitalised term, and the same forms recur."""
    return tuple(word[0].isupper() for word in _WORDS.findall(preserve_case(text)))


@dataclass(frozen=True)
class LanguageKeys:
    """One inflected language's automata. `stems` holds the stem key of every key that may be
    inflected: in the stem stream of a text it finds those keys both as written (the words are
    the key's own) and inflected, so `folded_rest`, over the folded text, needs only the other
    keys. `unchanged`: the keys that are their own stem key."""

    stems: ahocorasick.Automaton
    folded_rest: ahocorasick.Automaton | None
    unchanged: frozenset[int]


class KeyTable:
    """Terms and keys of all watchlists, and the automata over them (inflection automata are
    built per language on first use)."""

    def __init__(self, watchlists: Sequence[WatchlistConfig]):
        self.terms: list[Term] = []
        self.keys: list[Key] = []
        self.folded_keys: list[tuple[str, bool, int]] = []  # (key, prefix, key id)
        exact: TermIds = {}
        for index, watchlist in enumerate(watchlists):
            for role, written, spelled, parsed, leaf in _terms_of(watchlist):
                term_id = len(self.terms)
                self.terms.append(Term(index, role, written, leaf))
                self._add_term(term_id, spelled, parsed, watchlist, exact)
        self.folded = build_padded_automaton(self.folded_keys)
        self.exact = build_automaton(exact)
        self._folded_plain: ahocorasick.Automaton | None = None
        self._languages: dict[str, LanguageKeys | None] = {}

    def _add_term(
        self,
        term_id: int,
        written: str,
        parsed: ParsedTerm,
        watchlist: WatchlistConfig,
        exact: TermIds,
    ) -> None:
        body = _body(written)
        if parsed.exact_case is not None and _is_plain_word(body, parsed.exact_case):
            self.keys.append(Key(term_id, "exact", body, parsed.key, None, None, False))
            exact.setdefault(parsed.exact_case, ([], []))[parsed.prefix].append(len(self.keys) - 1)
            return
        stems = watchlist.inflections and parsed.expands
        self._add_folded(
            term_id, "exact", body, parsed.key, parsed.prefix, parsed.exact_case, stems
        )
        if not (watchlist.places and parsed.expands):
            return
        seen = {parsed.key}
        for alias in place_aliases(body):
            key = fold(alias.form).strip()
            if key and key not in seen:
                seen.add(key)
                case = preserve_case(alias.form).strip() if alias.match_case else None
                self._add_folded(term_id, "place", alias.form, key, False, case, stems)

    def _add_folded(
        self,
        term_id: int,
        how: How,
        source: str,
        key: str,
        prefix: bool,
        verify_case: str | None,
        stems: bool,
    ) -> None:
        gaps = word_gaps(source) if " " in key else None
        self.keys.append(Key(term_id, how, source, key, verify_case, gaps, stems))
        self.folded_keys.append((key, prefix, len(self.keys) - 1))

    def folded_plain(self) -> ahocorasick.Automaton | None:
        """The folded keys without padding, for text in a script without spaces (CJK)."""
        if self._folded_plain is None:
            term_ids: TermIds = {}
            for key, prefix, key_id in self.folded_keys:
                term_ids.setdefault(key, ([], []))[prefix].append(key_id)
            self._folded_plain = build_automaton(term_ids)
        return self._folded_plain

    def language(self, language: str) -> LanguageKeys | None:
        """The automata of `language` (its primary subtag) when it has a stemmer and some key
        may be inflected, built on first use."""
        if language not in self._languages:
            keys = list(self._stem_keys(language))
            self._languages[language] = None
            if keys:
                covered = frozenset(key_id for _, _, key_id in keys)
                rest = [key for key in self.folded_keys if key[2] not in covered]
                self._languages[language] = LanguageKeys(
                    build_padded_automaton(keys),
                    build_padded_automaton(rest) if rest else None,
                    frozenset(
                        key_id for stem, _, key_id in keys if stem == self.keys[key_id].folded
                    ),
                )
        return self._languages[language]

    def _stem_keys(self, language: str) -> Iterator[tuple[str, bool, int]]:
        """Stem keys of `language`. An alias's stem must keep MIN_ALIAS_STEM letters: Russian
        "Рака" (a name of Raqqa) stems to "рак", which is cancer."""
        for key_id, key in enumerate(self.keys):
            if key.stems and not has_continuous_script(key.source):
                stemmed = stem_key(key.folded, language)
                if stemmed is None:
                    return
                if key.how == "exact" or len(stemmed) >= MIN_ALIAS_STEM:
                    yield stemmed, False, key_id


def _body(written: str) -> str:
    """A term as written without its `=` and `*`."""
    return written.strip().removeprefix("=").strip().removesuffix("*").strip()


def _is_plain_word(body: str, exact_case: str) -> bool:
    """Whether a match_case (or `=`) term can be looked for in the original text as written:
    one word that NFKC and quote straightening leave alone."""
    return " " not in exact_case and exact_case == body


def _terms_of(watchlist: WatchlistConfig) -> Iterable[tuple[str, str, str, ParsedTerm, Leaf]]:
    """(role, as written, spelled as a list term, parsed, its leaf) of every term; a match_case term
    also in terms is left out, since terms already finds it in every case. A query's words are
    terms of the role "query"."""
    if watchlist.query.strip():
        for leaf in leaves(watchlist.rules()):
            spelled = term_spelling(leaf)
            yield "query", format_query(leaf), spelled, parse_term(spelled), leaf
        return
    plain = {term.strip() for term in watchlist.terms}
    for role in ROLES:
        for written, parsed in watchlist.parsed(role):
            if role != "match_case" or written.strip() not in plain:
                leaf = list_leaf(written, exact=role == "match_case")
                yield role, written, written, parsed, leaf
