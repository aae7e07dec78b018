"""Deciding a watchlist query (`alerts.query_ast`) over where its words occurred in an article.

`leaves` are the words and phrases the matcher looks for, once each; the matcher hands over, per
leaf index, the `Occurrence`s it found (field, word position, words covered) and the decision is
made here without looking at the text again: AND/OR/NOT as written, a field written on a leaf
restricts it, a leaf without one counts in the watchlist's fields, `lang:` compares the
article's language.

`NEAR/n` is decided over spans, as Lucene's and Elasticsearch's unordered span queries are: every
part of a NEAR stands for the spans (a field, its first and last word, the words it found) where
it occurs in the article:

- a word or phrase: each of its occurrences;
- `(a OR b)`: a span of any of them;
- `(a AND b)`, `(a b)`: one occurrence of every member, all in one field, anywhere in it; the
  span runs from the first word of the earliest to the last word of the latest;
- `(a NEAR/3 b)` in parentheses: its parts found near each other (below); the span runs from
  the first of them to the last.

`x NEAR/n y` wants a span of each part in one field, found on different words, with at most n
words between them (0 when one lies within the other, as `Daesh` in "Raqqa Daesh attack" for
`(Raqqa AND attack) NEAR/5 Daesh`), in either order. A chain `a NEAR/5 b NEAR/3 c` wants each part
within its distance of the one written before it (a within 5 of b, b within 3 of c), every part
on different words of one field; a part in parentheses (`(a NEAR/5 b) NEAR/3 c`) is nested
instead: c within 3 of wherever the pair a..b stands.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from alerts.query_ast import And, Field, Leaf, Near, Not, Occurrence, Or, Phrase, Query, Term
from alerts.textnorm import fold, preserve_case, word_gaps

__all__ = [
    "CompiledQuery",
    "Occurrences",
    "compile_query",
    "evaluate",
    "leaf_key",
    "leaves",
    "positive_leaves",
]

Occurrences = Mapping[int, Sequence[Occurrence]]


@lru_cache(maxsize=65536)
def leaf_key(leaf: Leaf) -> tuple[object, ...]:
    """Leaves with equal keys are looked for alike (`Raqqa`, `raqqa`, `"Raqqa"`); separators are
    part of it, since `Ar-Raqqa` is not `"Ar Raqqa"`, and so is the case of exact ones. Cached:
    the matcher asks for every term's key several times when it compiles."""
    text = preserve_case(leaf.text).strip()
    return (
        fold(text).strip(),
        tuple(word_gaps(text)),
        leaf.prefix,
        leaf.exact,
        text if leaf.exact else None,
        leaf.field,
    )


def leaves(query: Query) -> list[Leaf]:
    """Every word and phrase to look for, once each (the first as written), in the order they
    are written: the matcher's term keys for this query."""
    seen: set[tuple[object, ...]] = set()
    found: list[Leaf] = []
    for leaf in _walk_leaves(query):
        key = leaf_key(leaf)
        if key not in seen:
            seen.add(key)
            found.append(leaf)
    return found


def positive_leaves(query: Query) -> frozenset[int]:
    """Indexes (into `leaves(query)`) of the leaves written at least once outside a NOT (or
    under two): the ones a match is explained by ("Raqqa" of `Raqqa -football`)."""
    index = {leaf_key(leaf): number for number, leaf in enumerate(leaves(query))}
    return frozenset(index[leaf_key(leaf)] for leaf in _walk_leaves(query, positive_only=True))


def _walk_leaves(query: Query, *, positive_only: bool = False, negated: bool = False) -> list[Leaf]:
    """Leaves in written order; with `positive_only`, those under an even number of NOTs."""
    if isinstance(query, Term | Phrase):
        return [] if positive_only and negated else [query]
    if isinstance(query, Not):
        return _walk_leaves(query.item, positive_only=positive_only, negated=not negated)
    if isinstance(query, And | Or):
        parts: tuple[Query, ...] = query.items
    elif isinstance(query, Near):
        parts = query.parts
    else:
        return []
    return [
        leaf
        for part in parts
        for leaf in _walk_leaves(part, positive_only=positive_only, negated=negated)
    ]


@dataclass(frozen=True)
class _Context:
    occurrences: Occurrences
    language: str | None
    fields: Collection[Field] | None


_Test = Callable[[_Context], bool]


@dataclass(frozen=True)
class CompiledQuery:
    """A query with its leaves numbered once, ready to decide article after article."""

    query: Query
    leaves: tuple[Leaf, ...]
    _test: _Test
    positive: frozenset[int]  # leaves that explain a match (`positive_leaves`)
    named_fields: frozenset[Field]  # fields written in the query (`title:`), searched as well
    needs_positions: bool  # has NEAR/n: occurrences need their word positions

    def matches(
        self,
        occurrences: Occurrences,
        language: str | None,
        fields: Collection[Field] | None = None,
    ) -> bool:
        """Whether an article matches. `occurrences[i]` lists where `leaves[i]` occurred (a
        missing index: nowhere). A leaf without a field counts in `fields` (the watchlist's;
        None: any field), one with a field only there. `language` is the article's code."""
        return self._test(_Context(occurrences, language, fields))


@lru_cache(maxsize=1024)
def compile_query(query: Query) -> CompiledQuery:
    found = leaves(query)
    index = {leaf_key(leaf): number for number, leaf in enumerate(found)}
    return CompiledQuery(
        query,
        tuple(found),
        _compile(query, index),
        positive_leaves(query),
        frozenset(leaf.field for leaf in found if leaf.field is not None),
        _has_near(query),
    )


def _has_near(query: Query) -> bool:
    if isinstance(query, Near):
        return True
    if isinstance(query, And | Or):
        return any(_has_near(item) for item in query.items)
    return isinstance(query, Not) and _has_near(query.item)


def evaluate(
    query: Query,
    occurrences: Occurrences,
    language: str | None,
    fields: Collection[Field] | None = None,
) -> bool:
    """Whether an article with these occurrences of `leaves(query)` (by index) and this language
    matches; see `CompiledQuery.matches`."""
    return compile_query(query).matches(occurrences, language, fields)


def _compile(query: Query, index: dict[tuple[object, ...], int]) -> _Test:
    if isinstance(query, Term | Phrase):
        found = _compile_leaves(query, index)
        return lambda context: bool(found(context))
    if isinstance(query, And):
        tests = [_compile(item, index) for item in query.items]
        return lambda context: all(test(context) for test in tests)
    if isinstance(query, Or):
        return _compile_or(query, index)
    if isinstance(query, Not):
        test = _compile(query.item, index)
        return lambda context: not test(context)
    if isinstance(query, Near):
        if not query.chain and all(_of_leaves(part) for part in query.parts):
            left, right = _compile_leaves(query.left, index), _compile_leaves(query.right, index)
            distance = query.distance
            return lambda context: _near(left(context), right(context), distance)
        parts = [_compile_spans(part, index) for part in query.parts]
        distances = query.distances
        appearances = [_compile_leaves(leaf, index) for leaf in _walk_leaves(query)]

        def test(context: _Context) -> bool:
            contested = _contested([found(context) for found in appearances])
            spans = [part(context, contested) for part in parts]
            return any(True for _ in _chains(spans, distances))

        return test
    code = query.code
    return lambda context: _speaks(context.language, code)


def _compile_or(query: Or, index: dict[tuple[object, ...], int]) -> _Test:
    """Any of the items. Its leaves are looked up from the side of the occurrences, which are
    few, so a list form's Or of 10,000 terms costs what its hits cost, not 10,000 tests."""
    leaf_fields: dict[int, list[Field | None]] = {}
    others: list[_Test] = []
    for item in query.items:
        if isinstance(item, Term | Phrase):
            leaf_fields.setdefault(index[leaf_key(item)], []).append(item.field)
        else:
            others.append(_compile(item, index))

    def test(context: _Context) -> bool:
        occurrences = context.occurrences
        for number in occurrences if len(occurrences) < len(leaf_fields) else leaf_fields:
            fields = leaf_fields.get(number)
            if fields and any(
                _counts(occurrence, field, context)
                for occurrence in occurrences.get(number, ())
                for field in fields
            ):
                return True
        return any(other(context) for other in others)

    return test


def _counts(occurrence: Occurrence, field: Field | None, context: _Context) -> bool:
    """Whether an occurrence counts for a leaf written with `field` (None: the watchlist's)."""
    if field is None:
        return context.fields is None or occurrence.field in context.fields
    return occurrence.field == field


def _of_leaves(query: Query) -> bool:
    return isinstance(query, Term | Phrase) or (
        isinstance(query, Or) and all(isinstance(item, Term | Phrase) for item in query.items)
    )


def _compile_leaves(
    query: Query, index: dict[tuple[object, ...], int]
) -> Callable[[_Context], list[Occurrence]]:
    """The occurrences that count for a leaf, or for an Or of leaves."""
    wanted: list[tuple[int, Field | None]] = []
    for leaf in query.items if isinstance(query, Or) else (query,):
        assert isinstance(leaf, Term | Phrase)
        wanted.append((index[leaf_key(leaf)], leaf.field))

    def occurrences(context: _Context) -> list[Occurrence]:
        return [
            occurrence
            for number, field in wanted
            for occurrence in context.occurrences.get(number, ())
            if _counts(occurrence, field, context)
        ]

    return occurrences


def _near(left: list[Occurrence], right: list[Occurrence], distance: int) -> bool:
    """`a NEAR/n b` of leaves, the common case, without spans: an occurrence of each side in
    one field, not on the same words, with at most `distance` words between them."""
    for a in left:
        for b in right:
            if a.field != b.field:
                continue
            if a.position + a.words <= b.position:
                between = b.position - a.position - a.words
            elif b.position + b.words <= a.position:
                between = a.position - b.position - b.words
            else:
                continue  # the same words: NEAR is about two places in the text
            if between <= distance:
                return True
    return False


class _Span(NamedTuple):
    """Where a part of a NEAR stands: its field, first word, one past its last word, and the
    contested words its leaves found there (below). A group's span has words between its
    members that it did not find; another part may stand on those."""

    field: Field
    start: int
    end: int
    words: frozenset[int]


# (field, word) found by more than one leaf written in a NEAR, or by one leaf written twice:
# the only words two parts could both stand on. Spans keep only those of their words, so that
# spans reaching as far and holding the same contested words are alike (`_widest`).
_Contested = frozenset[tuple[Field, int]]
_Spans = Callable[[_Context, _Contested], list[_Span]]
_NO_WORDS: frozenset[int] = frozenset()


def _contested(appearances: list[list[Occurrence]]) -> _Contested:
    seen: set[tuple[Field, int]] = set()
    twice: set[tuple[Field, int]] = set()
    for found in appearances:
        for o in found:
            for word in range(o.position, o.position + o.words):
                (twice if (o.field, word) in seen else seen).add((o.field, word))
    return frozenset(twice)


def _compile_spans(query: Query, index: dict[tuple[object, ...], int]) -> _Spans:
    """The spans of a part of a NEAR (the module docstring says what they are), without those
    another span of the part makes needless (`_widest`)."""
    if isinstance(query, Term | Phrase):
        found = _compile_leaves(query, index)
        return lambda context, contested: _widest(
            _Span(o.field, o.position, o.position + o.words, _words(o, contested))
            for o in found(context)
        )
    if isinstance(query, Or):
        items = [_compile_spans(item, index) for item in query.items]
        return lambda context, contested: _widest(
            span for item in items for span in item(context, contested)
        )
    if isinstance(query, And):
        members = [_compile_spans(item, index) for item in query.items]
        return lambda context, contested: _groups(
            [member(context, contested) for member in members]
        )
    assert isinstance(query, Near), "the parser lets only leaves, AND, OR and NEAR stand here"
    parts = [_compile_spans(part, index) for part in query.parts]
    distances = query.distances
    return lambda context, contested: _widest(
        _chains([part(context, contested) for part in parts], distances)
    )


def _words(occurrence: Occurrence, contested: _Contested) -> frozenset[int]:
    if not contested:
        return _NO_WORDS
    field, start = occurrence.field, occurrence.position
    return frozenset(
        word for word in range(start, start + occurrence.words) if (field, word) in contested
    )


def _widest(spans: Iterable[_Span]) -> list[_Span]:
    """The spans no other one makes needless: one that reaches at least as far both ways in
    the same field with the same contested words is near whatever this one is near, and
    covers at least as much of any part it is joined with. Exact, and what keeps an AND group
    of members found 30 times each from growing to 30 x 30 spans."""
    alike: dict[tuple[Field, frozenset[int]], list[_Span]] = {}
    for span in spans:
        alike.setdefault((span.field, span.words), []).append(span)
    kept: list[_Span] = []
    for group in alike.values():
        group.sort(key=lambda span: (span.start, -span.end))
        reach = -1
        for span in group:  # starting no earlier than those before: kept if it reaches further
            if span.end > reach:
                kept.append(span)
                reach = span.end
    return kept


def _groups(members: list[list[_Span]]) -> list[_Span]:
    """An AND group's spans: one span of every member, all in one field; member by member,
    keeping only the widest at each step."""
    found = members[0] if members else []
    for spans in members[1:]:
        found = _widest(
            _Span(a.field, min(a.start, b.start), max(a.end, b.end), a.words | b.words)
            for a in found
            for b in spans
            if a.field == b.field
        )
    return found


def _chains(parts: list[list[_Span]], distances: Sequence[int]) -> Iterator[_Span]:
    """The spans of a NEAR chain: a span of every part, each within its distance of the one
    before, all in one field and on different words; lazily, so a bare NEAR stops at the
    first."""
    if not all(parts):
        return

    def extend(
        at: int, last: _Span, start: int, end: int, words: frozenset[int]
    ) -> Iterator[_Span]:
        if at == len(parts):
            yield _Span(last.field, start, end, words)
            return
        for span in parts[at]:
            if (
                span.field == last.field
                and _between(last, span) <= distances[at - 1]
                and words.isdisjoint(span.words)
            ):
                yield from extend(
                    at + 1, span, min(start, span.start), max(end, span.end), words | span.words
                )

    for first in parts[0]:
        yield from extend(1, first, first.start, first.end, first.words)


def _between(a: _Span, b: _Span) -> int:
    """Words between two spans of one field: 0 when one reaches into the other."""
    return max(0, max(a.start, b.start) - min(a.end, b.end))


def _speaks(language: str | None, code: str) -> bool:
    if language is None:
        return False
    language = language.strip().lower().replace("_", "-")
    return language == code or language.startswith(code + "-")
