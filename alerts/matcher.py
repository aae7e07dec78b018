"""Watchlists compiled into one matcher: `Matcher(watchlists).match(article)` -> hits with snippets.

Every key of every term (`alerts.match_keys`: the term as written, the other names of the place
it names) goes into one Aho-Corasick automaton over the folded text (see `alerts.textnorm`):
each field is folded once and scanned once for all watchlists. Keys carry a space on each side
that must be a word boundary and the text is scanned as " " + text + " ", so every occurrence the
automaton reports is already a whole-word hit (`alerts.word_automaton`). Plain match_case words go
into a second automaton over the original text. In a language with a stemmer
(`alerts.inflections`), each field is also turned once into its stem stream
(`alerts.stemmed_text`) and scanned by that language's automaton of stemmed keys: inflected forms
hit on top of the exact ones. Only the occurrences found are then sorted out per watchlist:
repeats of one place in the text by several keys of a term (the exact one wins), phrases'
separators, exact case, `fields`, `languages`, and then each watchlist's rules: its query, or
the query its lists (`terms`, `match_case`, `require`, `exclude`) mean (`alerts.match_rules`).
Text in a script without spaces (CJK) is scanned with unpadded keys and a boundary check. The
term syntax is `alerts.watchlists'`, the query syntax `alerts.query`'s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from alerts.match_keys import HOW_RANK, How, Key, KeyTable, LanguageKeys, capitals_of
from alerts.match_rules import FieldPositions, MatchRules
from alerts.snippets import Snippet, render_snippet, snippet_window, strongest_hit
from alerts.stemmed_text import stemmed
from alerts.textnorm import (
    NormalisedText,
    has_continuous_script,
    normalise,
    preserve_case,
    word_gaps,
)
from alerts.watchlists import FIELD_ORDER, Field, WatchlistConfig, language_code
from alerts.word_automaton import Occurrence, scan, scan_padded

__all__ = ["ArticleText", "How", "Matcher", "TermHit", "WatchlistHit"]

TOPIC_SEPARATOR = " · "  # not whitespace: a phrase never runs from one topic into the next
HITS_PER_TERM = 3  # TermHits kept per term: its first occurrences
_FIELD_RANK: dict[str, int] = {field: rank for rank, field in enumerate(FIELD_ORDER)}


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
class TermHit:
    """One occurrence of a term, as `newswatch explain` tells it: "Ракки ← Raqqa (place)"."""

    term: str  # as configured
    form: str  # the text as it stands in the article
    how: How  # "exact", "inflection" (a stem of the term), "place" (another name of the place)
    field: str


@dataclass(frozen=True)
class WatchlistHit:
    watchlist: str
    terms: dict[str, int]  # configured term (as written in config) -> count
    fields: list[str]  # in order title, teaser, body, topics
    snippet: Snippet
    hits: list[TermHit] = field(default_factory=list)  # the first few occurrences of each term


class _Found(NamedTuple):
    field: Field
    text: NormalisedText
    term: int
    how: How
    start: int  # in the original text
    end: int


class Matcher:
    """All watchlists compiled once: one automaton over the folded text for every key, one over
    the original text for match_case words (phrases of match_case go with the folded ones and
    are checked for case), and per article language one over the stem stream."""

    def __init__(self, watchlists: Sequence[WatchlistConfig]):
        self._watchlists = list(watchlists)
        _reject_repeated_names(self._watchlists)
        self._table = KeyTable(self._watchlists)
        self._terms = self._table.terms
        self._keys = self._table.keys
        self._rules = MatchRules(self._watchlists, self._terms)
        # Per key, what each occurrence needs, read by index (no attribute look-ups per hit):
        # its watchlist, and whether its case or separators need a look at the original.
        self._key_watchlist = [self._terms[key.term].watchlist for key in self._keys]
        self._key_verified = [bool(key.verify_case or key.verify_gaps) for key in self._keys]
        self._written = [term.written for term in self._terms]
        self._listening_by_language: dict[str | None, dict[Field, frozenset[int]]] = {}

    def match(self, article: ArticleText) -> list[WatchlistHit]:
        """The watchlists `article` matches, in configuration order, each explained."""
        found: dict[int, list[_Found]] = {}
        language = language_code(article.language).split("-", 1)[0] if article.language else ""
        inflected = self._table.language(language) if language else None
        for field_name, listening in self._listening(article.language).items():
            text = article.field_text(field_name)
            if text:
                normalised = normalise(text)
                continuous = has_continuous_script(normalised.text)
                rest = inflected if inflected is not None and not continuous else None
                self._collect(field_name, normalised, listening, found, rest)
                if inflected is not None:
                    self._collect_stems(
                        field_name, normalised, language, inflected, continuous, listening, found
                    )
        positions: FieldPositions = {}
        hits = (
            self._explain(index, found[index], article.language, positions)
            for index in sorted(found)
        )
        return [hit for hit in hits if hit is not None]

    def _listening(self, language: str | None) -> dict[Field, frozenset[int]]:
        """For each field to scan: the watchlists that look at it in this language."""
        if language not in self._listening_by_language:
            code = language_code(language) if language else None
            active = {i for i, watchlist in enumerate(self._watchlists) if _speaks(watchlist, code)}
            by_field = {
                field: frozenset(i for i in active if field in self._rules.scanned[i])
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
        inflected: LanguageKeys | None,
    ) -> None:
        """Occurrences of the keys as written; with `inflected`, only of the keys its stem
        automaton does not hold (`_collect_stems` finds the others as written too)."""
        keys, key_watchlist, verified = self._keys, self._key_watchlist, self._key_verified
        original_span = text.original_span
        for key_id, start, end in self._scan_folded(text.text, inflected):
            watchlist = key_watchlist[key_id]
            if watchlist not in listening:
                continue
            key = keys[key_id]
            if verified[key_id] and not _written_as(text, start, end, key):
                continue
            first, last = original_span(start, end)
            occurrence = _Found(field, text, key.term, key.how, first, last)
            in_watchlist = found.get(watchlist)
            if in_watchlist is None:
                found[watchlist] = [occurrence]
            else:
                in_watchlist.append(occurrence)
        if self._table.exact is not None:
            for key_id, start, end in scan(self._table.exact, text.original):
                watchlist = key_watchlist[key_id]
                if watchlist in listening:
                    occurrence = _Found(field, text, keys[key_id].term, "exact", start, end)
                    found.setdefault(watchlist, []).append(occurrence)

    def _collect_stems(
        self,
        field: Field,
        text: NormalisedText,
        language: str,
        inflected: LanguageKeys,
        continuous: bool,
        listening: frozenset[int],
        found: dict[int, list[_Found]],
    ) -> None:
        """Occurrences of stemmed keys in the stem stream of the field: as written where the
        words are the key's own, else inflected. In text with CJK, `_collect` has scanned every
        key as written, so only the inflected occurrences count here."""
        stream = stemmed(text, language)
        if stream is None:
            return
        keys, key_watchlist = self._keys, self._key_watchlist
        word_range, spells, original_span = stream.word_range, stream.spells, stream.original_span
        original = text.original
        for key_id, start, end in scan_padded(inflected.stems, stream.text):
            watchlist = key_watchlist[key_id]
            if watchlist not in listening:
                continue
            key = keys[key_id]
            words = word_range(start, end)
            as_written = spells(key.folded, *words)
            if as_written and continuous:
                continue
            first, last = original_span(*words)
            written = original[first:last]
            if key.verify_gaps and word_gaps(written) != key.verify_gaps:
                continue
            if key.verify_case is not None and not _has_capitals(written, key):
                continue
            if not as_written and not _keeps_initials(written, key):
                continue
            how: How = key.how if as_written else "inflection" if key.how == "exact" else "place"
            found.setdefault(watchlist, []).append(_Found(field, text, key.term, how, first, last))

    def _scan_folded(self, text: str, inflected: LanguageKeys | None) -> list[Occurrence]:
        """Occurrences in the folded text (of the keys `inflected` leaves, if given). Text in a
        script without spaces (CJK) has words that touch without a space between them: there
        the keys without spaces and a boundary check per candidate do the work."""
        if not self._table.folded_keys:
            return []
        if inflected is not None:
            rest = inflected.folded_rest
            return scan_padded(rest, text) if rest is not None else []
        if not has_continuous_script(text):
            return scan_padded(self._table.folded, text)
        plain = self._table.folded_plain()
        return scan(plain, text) if plain is not None else []

    def _explain(
        self, index: int, found: list[_Found], language: str | None, positions: FieldPositions
    ) -> WatchlistHit | None:
        """The hit of watchlist `index`, or None when its rules say no (`MatchRules.decide`);
        the rest explains the occurrences of its terms (not those of require, exclude or
        a query's words under NOT)."""
        positive = self._rules.decide(index, _without_repeats(found), language, positions)
        if positive is None:
            return None
        fields_hit = {occurrence.field for occurrence in positive}
        fields: list[str] = [field for field in FIELD_ORDER if field in fields_hit]
        return WatchlistHit(
            watchlist=self._watchlists[index].name,
            terms=self._term_counts(positive),
            fields=fields,
            snippet=self._snippet([o for o in positive if o.field == fields[0]]),
            hits=self._term_hits(positive),
        )

    def _term_counts(self, positive: list[_Found]) -> dict[str, int]:
        """Term as written -> occurrences, in configuration order (the order of term ids)."""
        counts = Counter(occurrence.term for occurrence in positive)
        written = self._written
        return {written[term_id]: counts[term_id] for term_id in sorted(counts)}

    def _term_hits(self, positive: list[_Found]) -> list[TermHit]:
        """The first HITS_PER_TERM occurrences of each term (by field, then position), terms in
        configuration order."""
        field_rank = _FIELD_RANK
        ordered = sorted(positive, key=lambda o: (o.term, field_rank[o.field], o.start))
        hits: list[TermHit] = []
        written = self._written
        term, taken = -1, 0
        for occurrence in ordered:
            if occurrence.term != term:
                term, taken = occurrence.term, 0
            if taken < HITS_PER_TERM:
                taken += 1
                form = occurrence.text.original[occurrence.start : occurrence.end]
                hits.append(TermHit(written[term], form, occurrence.how, occurrence.field))
        return hits

    def _snippet(self, in_field: list[_Found]) -> Snippet:
        """Around the strongest hit of one field, an exact one when there is one."""
        text = in_field[0].text
        ordered = sorted(in_field, key=lambda o: (o.start, o.end))
        exact = [o.how == "exact" for o in ordered]
        anchor = ordered[
            strongest_hit([o.start for o in ordered], [o.term for o in ordered], exact)
        ]
        first, last = snippet_window(text.original, anchor.start, anchor.end)
        spans = [(o.start, o.end) for o in ordered if first <= o.start <= o.end <= last]
        return render_snippet(text.original, first, last, spans)


def _without_repeats(found: list[_Found]) -> list[_Found]:
    """One occurrence per place in the text and term: when several keys of a term hit the same
    or overlapping words (the term exactly and by its stems, two aliases), the exact one stays,
    else the longest. Exact occurrences all stay (a term's own overlapping occurrences count, as
    they always did)."""
    if all(o.how == "exact" for o in found):
        return found
    kept = [o for o in found if o.how == "exact"]
    others = sorted(
        (o for o in found if o.how != "exact"),
        key=lambda o: (HOW_RANK[o.how], o.start - o.end, o.start),
    )
    # Only the terms and fields of the other occurrences need the exact ones' spans.
    spans: dict[tuple[int, Field], list[tuple[int, int]]] = {(o.term, o.field): [] for o in others}
    for o in kept:
        taken = spans.get((o.term, o.field))
        if taken is not None:
            taken.append((o.start, o.end))
    for o in others:
        taken = spans[o.term, o.field]
        if all(o.end <= start or end <= o.start for start, end in taken):
            taken.append((o.start, o.end))
            kept.append(o)
    return kept


def _speaks(watchlist: WatchlistConfig, language: str | None) -> bool:
    if not watchlist.languages:
        return True
    if language is None:
        return False
    return any(language == code or language.startswith(code + "-") for code in watchlist.languages)


def _written_as(text: NormalisedText, start: int, end: int, key: Key) -> bool:
    """Whether a folded occurrence has the case (match_case phrases) and the separators between
    words (phrases, terms with punctuation) that the key has."""
    written = text.original[text.original_start(start) : text.original_end(end)]
    if key.verify_gaps is not None and word_gaps(written) != key.verify_gaps:
        return False
    return key.verify_case is None or preserve_case(written) == key.verify_case


def _has_capitals(written: str, key: Key) -> bool:
    """Whether a stem occurrence of a case-checked alias keeps its capitals: as written, its
    words begin in the case the alias's do (the rest of each word is inflected)."""
    capitals = key.capitals
    if capitals is None:
        return preserve_case(written) == key.verify_case
    return capitals_of(written) == capitals


def _keeps_initials(written: str, key: Key) -> bool:
    """Whether an inflected occurrence begins each word with a capital where the term does
    (the capital of "Male" stays on "Males", and "mal" is another word)."""
    initials = key.initials
    if initials is None:
        return True
    found = capitals_of(written)
    return len(found) == len(initials) and all(
        f or not i for f, i in zip(found, initials, strict=True)
    )


def _reject_repeated_names(watchlists: Sequence[WatchlistConfig]) -> None:
    counts = Counter(watchlist.name for watchlist in watchlists)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        raise ValueError(f"watchlist names must be unique: {', '.join(repeated)} repeated")
