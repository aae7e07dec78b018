"""Watchlists compiled into one matcher: `Matcher(watchlists).match(article)` -> hits with snippets.

Every term of every watchlist goes into one Aho-Corasick automaton over the folded text (see
`alerts.textnorm`): each field is folded once and scanned once for all watchlists. Keys carry a
space on each side that must be a word boundary and the text is scanned as " " + text + " ",
so every occurrence the automaton reports is already a whole-word hit. Plain match_case words go
into a second automaton over the original text. Only the occurrences found are then sorted out
per watchlist: phrases' separators, exact case, `require`, `exclude`, `fields`, `languages`.
Text in a script without spaces (CJK) is scanned with unpadded keys and a boundary check.

Term syntax: whole words, case- and accent-insensitive (`Raqqa` = `RAQQA`, `Fruhburgunder` =
`Frühburgunder`); a phrase matches across any whitespace and line breaks; a trailing `*` makes a
prefix term (`terror*` hits `Terrormiliz`); terms in scripts without spaces (Chinese, ...) match as
substrings. `match_case` terms are whole words in exactly the case written (`IS`, not `is`).
`require`, `exclude` and `fields` apply to the same fields as the terms.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import ahocorasick
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from alerts.snippets import Snippet, render_snippet, snippet_window, strongest_hit
from alerts.textnorm import (
    ASCII_WORD_CHARS,
    NormalisedText,
    fold,
    has_continuous_script,
    is_boundary,
    is_word_char,
    needs_boundary,
    normalise,
    preserve_case,
    word_gaps,
)

__all__ = ["ArticleText", "Matcher", "Snippet", "WatchlistConfig", "WatchlistHit"]

Field = Literal["title", "teaser", "body", "topics"]
FIELD_ORDER: tuple[Field, ...] = ("title", "teaser", "body", "topics")
ROLES = ("terms", "match_case", "require", "exclude")
POSITIVE_ROLES = frozenset({"terms", "match_case"})
TOPIC_SEPARATOR = " · "  # not whitespace: a phrase never runs from one topic into the next
# Bump when matching semantics change, so stored matches are redone (part of the fingerprint).
MATCHER_VERSION = 1


@dataclass(frozen=True)
class ParsedTerm:
    key: str  # the folded text searched for
    prefix: bool  # written with a trailing `*`
    exact_case: str | None  # match_case terms: what the original text must equal


def parse_term(term: str, *, keep_case: bool = False) -> ParsedTerm:
    """Parse one configured term; ValueError says what is wrong with it."""
    text = term.strip()
    if not text:
        raise ValueError("is empty")
    if "*" in text[:-1]:
        raise ValueError("has '*' before its end ('*' may only end a prefix term, as in 'terror*')")
    prefix = text.endswith("*")
    body = text.removesuffix("*").strip()
    key = fold(body).strip()
    if not any(is_word_char(char) for char in key):
        raise ValueError("has no letter or digit")
    return ParsedTerm(key, prefix, preserve_case(body).strip() if keep_case else None)


class WatchlistConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    terms: list[str] = []
    match_case: list[str] = []
    require: list[str] = []
    exclude: list[str] = []
    fields: list[Field] = ["title", "teaser", "body"]
    languages: list[str] = []

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
        if not self.terms and not self.match_case:
            raise ValueError(f"watchlist {self.name!r}: needs at least one of terms, match_case")
        if not self.fields:
            raise ValueError(f"watchlist {self.name!r}: fields is empty, nothing could match")
        return self

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
                (p.exact_case or p.key) + ("*" if p.prefix else "") for _, p in self.parsed(role)
            }
            return sorted(forms)

        definition = {
            "matcher": MATCHER_VERSION,
            "name": self.name,
            **{role: canonical(role) for role in ROLES},
            "fields": sorted(set(self.fields)),
            "languages": sorted(set(self.languages)),
        }
        encoded = json.dumps(definition, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(encoded).hexdigest()


def language_code(language: str) -> str:
    return language.strip().lower().replace("_", "-")


@dataclass(frozen=True)
class ArticleText:
    title: str
    teaser: str
    body: str
    topics: list[str]
    language: str | None

    def field_text(self, field: Field) -> str:
        if field == "topics":
            return TOPIC_SEPARATOR.join(topic.strip() for topic in self.topics if topic.strip())
        return getattr(self, field) or ""


@dataclass(frozen=True)
class WatchlistHit:
    watchlist: str
    terms: dict[str, int]  # configured term (as written in config) -> count
    fields: list[str]  # in order title, teaser, body, topics
    snippet: Snippet


@dataclass(frozen=True)
class _Term:
    watchlist: int
    role: str
    written: str
    verify_case: str | None  # match_case phrases found folded: the case the text must have
    verify_gaps: list[str] | None  # phrases, terms with punctuation: what separates their words


class _Found(NamedTuple):
    field: Field
    text: NormalisedText
    term: int
    start: int
    end: int
    in_original: bool  # offsets into text.original, else into text.text (the folded text)


# Automaton value per key: (key length, check boundary before, check boundary after,
# ids of whole-word terms, ids of prefix terms).
_KeyEntry = tuple[int, bool, bool, tuple[int, ...], tuple[int, ...]]
_TermIds = dict[str, tuple[list[int], list[int]]]  # key -> (whole-word term ids, prefix term ids)


class Matcher:
    """All watchlists compiled once: one automaton over the folded text for every term, and one
    over the original text for match_case words (phrases of match_case go with the folded ones
    and are checked for case)."""

    def __init__(self, watchlists: Sequence[WatchlistConfig]):
        self._watchlists = list(watchlists)
        _reject_repeated_names(self._watchlists)
        self._terms: list[_Term] = []
        self._folded_keys: list[tuple[str, bool, int]] = []  # (key, prefix, term id)
        exact = self._index_terms()
        self._folded = _build_padded_automaton(self._folded_keys)
        self._folded_plain: ahocorasick.Automaton | None = None  # built for the first CJK text
        self._exact = _build_automaton(exact)
        self._required = [{written for written, _ in w.parsed("require")} for w in self._watchlists]
        self._listening_by_language: dict[str | None, dict[Field, frozenset[int]]] = {}

    def _index_terms(self) -> _TermIds:
        """Number the terms; folded ones go to self._folded_keys, exact ones are returned."""
        exact: _TermIds = {}
        for index, watchlist in enumerate(self._watchlists):
            for role, written, parsed in _terms_of(watchlist):
                term_id = len(self._terms)
                if parsed.exact_case is not None and _is_plain_word(written, parsed.exact_case):
                    self._terms.append(_Term(index, role, written, None, None))
                    exact.setdefault(parsed.exact_case, ([], []))[parsed.prefix].append(term_id)
                else:
                    gaps = (
                        word_gaps(written.strip().removesuffix("*")) if " " in parsed.key else None
                    )
                    self._terms.append(_Term(index, role, written, parsed.exact_case, gaps))
                    self._folded_keys.append((parsed.key, parsed.prefix, term_id))
        return exact

    def match(self, article: ArticleText) -> list[WatchlistHit]:
        """The watchlists `article` matches, in configuration order, each explained."""
        found: dict[int, list[_Found]] = {}
        for field, listening in self._listening(article.language).items():
            text = article.field_text(field)
            if text:
                self._collect(field, normalise(text), listening, found)
        hits = (self._explain(index, found[index]) for index in sorted(found))
        return [hit for hit in hits if hit is not None]

    def _listening(self, language: str | None) -> dict[Field, frozenset[int]]:
        """For each field to scan: the watchlists that look at it in this language."""
        if language not in self._listening_by_language:
            code = language_code(language) if language else None
            active = {i for i, watchlist in enumerate(self._watchlists) if _speaks(watchlist, code)}
            by_field = {
                field: frozenset(i for i in active if field in self._watchlists[i].fields)
                for field in FIELD_ORDER
            }
            self._listening_by_language[language] = {
                field: listening for field, listening in by_field.items() if listening
            }
        return self._listening_by_language[language]

    def _collect(
        self,
        field: Field,
        text: NormalisedText,
        listening: frozenset[int],
        found: dict[int, list[_Found]],
    ) -> None:
        scans = [(self._scan_folded(text.text), False)]
        if self._exact is not None:
            scans.append((_scan(self._exact, text.original), True))
        terms = self._terms
        for hits, in_original in scans:
            for term_id, start, end in hits:
                term = terms[term_id]
                if term.watchlist not in listening:
                    continue
                if (term.verify_case or term.verify_gaps) and not _written_as(
                    text, start, end, term
                ):
                    continue
                occurrence = _Found(field, text, term_id, start, end, in_original)
                found.setdefault(term.watchlist, []).append(occurrence)

    def _scan_folded(self, text: str) -> list[tuple[int, int, int]]:
        """Occurrences in the folded text. Text in a script without spaces (CJK) has words that
        touch without a space between them: there the keys without spaces and a boundary check
        per candidate do the work."""
        if not self._folded_keys:
            return []
        if not has_continuous_script(text):
            return _scan_padded(self._folded, text)
        if self._folded_plain is None:
            term_ids: _TermIds = {}
            for key, prefix, term_id in self._folded_keys:
                term_ids.setdefault(key, ([], []))[prefix].append(term_id)
            self._folded_plain = _build_automaton(term_ids)
        return _scan(self._folded_plain, text)

    def _explain(self, index: int, found: list[_Found]) -> WatchlistHit | None:
        watchlist = self._watchlists[index]
        by_role: dict[str, list[_Found]] = {role: [] for role in ROLES}
        for occurrence in found:
            by_role[self._terms[occurrence.term].role].append(occurrence)
        positive = by_role["terms"] + by_role["match_case"]
        if not positive or by_role["exclude"]:
            return None
        if self._required[index] - {self._terms[f.term].written for f in by_role["require"]}:
            return None
        fields_hit = {occurrence.field for occurrence in positive}
        fields = [field for field in FIELD_ORDER if field in fields_hit]
        return WatchlistHit(
            watchlist=watchlist.name,
            terms=self._term_counts(positive),
            fields=fields,
            snippet=self._snippet([o for o in positive if o.field == fields[0]]),
        )

    def _term_counts(self, positive: list[_Found]) -> dict[str, int]:
        """Term as written -> occurrences, in configuration order (the order of term ids)."""
        counts: dict[int, int] = {}
        for occurrence in positive:
            counts[occurrence.term] = counts.get(occurrence.term, 0) + 1
        return {self._terms[term_id].written: counts[term_id] for term_id in sorted(counts)}

    def _snippet(self, in_field: list[_Found]) -> Snippet:
        """Around the strongest hit of one field. Only the anchor and the hits that may fall in
        the window are mapped back to original offsets."""
        text = in_field[0].text
        ordered = sorted(in_field, key=lambda o: o.start)
        anchor = ordered[strongest_hit([o.start for o in ordered], [o.term for o in ordered])]
        first, last = snippet_window(text.original, *_original_span(anchor))
        reach = text.shift_bound  # normalised and original offsets differ by at most this
        candidates = (o for o in ordered if first - reach <= o.start and o.end <= last + reach)
        spans = [
            span for span in map(_original_span, candidates) if first <= span[0] <= span[1] <= last
        ]
        return render_snippet(text.original, first, last, spans)


def _build_automaton(term_ids: _TermIds) -> ahocorasick.Automaton | None:
    if not term_ids:
        return None
    automaton = ahocorasick.Automaton()
    for key, (whole_words, prefixes) in term_ids.items():
        entry: _KeyEntry = (
            len(key),
            needs_boundary(key[0]),
            needs_boundary(key[-1]),
            tuple(whole_words),
            tuple(prefixes),
        )
        automaton.add_word(key, entry)
    automaton.make_automaton()
    return automaton


def _build_padded_automaton(keys: list[tuple[str, bool, int]]) -> ahocorasick.Automaton:
    """Keys with a space on each side that must be a word boundary (text is scanned with a space
    added at both ends), so that every occurrence found is a hit: no boundary checks, and no
    candidates inside words to sift."""
    padded: dict[str, list[int]] = {}
    for key, prefix, term_id in keys:
        before = " " if needs_boundary(key[0]) else ""
        after = " " if needs_boundary(key[-1]) and not prefix else ""
        padded.setdefault(before + key + after, []).append(term_id)
    automaton = ahocorasick.Automaton()
    for key, term_ids in padded.items():
        spaces_before = 1 if key.startswith(" ") else 0
        spaces_after = 1 if key.endswith(" ") else 0
        automaton.add_word(key, (len(key), spaces_before, spaces_after, tuple(term_ids)))
    if padded:
        automaton.make_automaton()
    return automaton


def _scan_padded(automaton: ahocorasick.Automaton, text: str) -> list[tuple[int, int, int]]:
    """(term id, start, end) of every occurrence, in offsets of `text`."""
    hits: list[tuple[int, int, int]] = []
    add = hits.append
    # In " " + text + " ", an occurrence ends at `last` (inclusive); text offsets are one less.
    for last, (size, spaces_before, spaces_after, term_ids) in automaton.iter(f" {text} "):
        start, end = last - size + spaces_before, last - spaces_after
        for term_id in term_ids:
            add((term_id, start, end))
    return hits


def _scan(automaton: ahocorasick.Automaton, text: str) -> list[tuple[int, int, int]]:
    """(term id, start, end) of every occurrence at word boundaries."""
    hits: list[tuple[int, int, int]] = []
    add = hits.append
    length = len(text)
    for last, (size, check_before, check_after, whole_words, prefixes) in automaton.iter(text):
        start, end = last + 1 - size, last + 1
        # Most candidates that fail sit inside a word: an ASCII neighbour settles it at once.
        if check_before and start:
            before = text[start - 1]
            if before in ASCII_WORD_CHARS or (before > "\x7f" and not is_boundary(text, start)):
                continue
        if whole_words:
            after = text[end] if check_after and end < length else " "
            if after not in ASCII_WORD_CHARS and (after < "\x80" or is_boundary(text, end)):
                for term_id in whole_words:
                    add((term_id, start, end))
        for term_id in prefixes:
            add((term_id, start, end))
    return hits


def _is_plain_word(written: str, exact_case: str) -> bool:
    """Whether a match_case term can be looked for in the original text as written: one word
    that NFKC and quote straightening leave alone."""
    return " " not in exact_case and exact_case == written.strip().removesuffix("*").strip()


def _terms_of(watchlist: WatchlistConfig) -> Iterable[tuple[str, str, ParsedTerm]]:
    """(role, as written, parsed) of every term; a match_case term also in terms is left out,
    since terms already finds it in every case."""
    plain = {term.strip() for term in watchlist.terms}
    for role in ROLES:
        for written, parsed in watchlist.parsed(role):
            if role != "match_case" or written.strip() not in plain:
                yield role, written, parsed


def _original_span(occurrence: _Found) -> tuple[int, int]:
    if occurrence.in_original:
        return occurrence.start, occurrence.end
    return occurrence.text.original_span(occurrence.start, occurrence.end)


def _speaks(watchlist: WatchlistConfig, language: str | None) -> bool:
    if not watchlist.languages:
        return True
    if language is None:
        return False
    return any(language == code or language.startswith(code + "-") for code in watchlist.languages)


def _written_as(text: NormalisedText, start: int, end: int, term: _Term) -> bool:
    """Whether a folded occurrence has the case (match_case phrases) and the separators between
    words (phrases, terms with punctuation) that the term has."""
    written = text.original[text.original_start(start) : text.original_end(end)]
    if term.verify_gaps is not None and word_gaps(written) != term.verify_gaps:
        return False
    return term.verify_case is None or preserve_case(written) == term.verify_case


def _reject_repeated_names(watchlists: Sequence[WatchlistConfig]) -> None:
    counts = Counter(watchlist.name for watchlist in watchlists)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise ValueError(f"watchlist names must be unique: {', '.join(repeated)} repeated")
