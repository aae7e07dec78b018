"""Watchlists compiled into one matcher: `Matcher(watchlists).match(article)` -> hits with snippets.

Every term of every watchlist goes into one Aho-Corasick automaton over the folded text (see
`alerts.textnorm`): each field is folded once and scanned once for all watchlists. Keys carry a
space on each side that must be a word boundary and the text is scanned as " " + text + " ",
so every occurrence the automaton reports is already a whole-word hit (`alerts.word_automaton`).
Plain match_case words go into a second automaton over the original text. Only the occurrences
found are then sorted out per watchlist: phrases' separators, exact case, `require`, `exclude`,
`fields`, `languages`. Text in a script without spaces (CJK) is scanned with unpadded keys and a
boundary check. The term syntax is `alerts.watchlists`'.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import ahocorasick

from alerts.snippets import Snippet, render_snippet, snippet_window, strongest_hit
from alerts.textnorm import (
    NormalisedText,
    has_continuous_script,
    normalise,
    preserve_case,
    word_gaps,
)
from alerts.watchlists import (
    FIELD_ORDER,
    ROLES,
    Field,
    ParsedTerm,
    WatchlistConfig,
    language_code,
)
from alerts.word_automaton import (
    Occurrence,
    TermIds,
    build_automaton,
    build_padded_automaton,
    scan,
    scan_padded,
)

__all__ = ["ArticleText", "Matcher", "WatchlistHit"]

TOPIC_SEPARATOR = " · "  # not whitespace: a phrase never runs from one topic into the next


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
        self._folded = build_padded_automaton(self._folded_keys)
        self._folded_plain: ahocorasick.Automaton | None = None  # built for the first CJK text
        self._exact = build_automaton(exact)
        self._required = [{written for written, _ in w.parsed("require")} for w in self._watchlists]
        self._listening_by_language: dict[str | None, dict[Field, frozenset[int]]] = {}

    def _index_terms(self) -> TermIds:
        """Number the terms; folded ones go to self._folded_keys, exact ones are returned."""
        exact: TermIds = {}
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
            scans.append((scan(self._exact, text.original), True))
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

    def _scan_folded(self, text: str) -> list[Occurrence]:
        """Occurrences in the folded text. Text in a script without spaces (CJK) has words that
        touch without a space between them: there the keys without spaces and a boundary check
        per candidate do the work."""
        if not self._folded_keys:
            return []
        if not has_continuous_script(text):
            return scan_padded(self._folded, text)
        if self._folded_plain is None:
            term_ids: TermIds = {}
            for key, prefix, term_id in self._folded_keys:
                term_ids.setdefault(key, ([], []))[prefix].append(term_id)
            self._folded_plain = build_automaton(term_ids)
        return scan(self._folded_plain, text)

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
        fields: list[str] = [field for field in FIELD_ORDER if field in fields_hit]
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
