"""Deciding a watchlist query (`alerts.query_ast`) over where its words occurred in an article.

`leaves` are the words and phrases the matcher looks for, once each; the matcher hands over, per
leaf index, the `Occurrence`s it found (field, word position, words covered) and the decision is
made here without looking at the text again: AND/OR/NOT as written, a field written on a leaf
restricts it, a leaf without one counts in the watchlist's fields, `lang:` compares the
article's language, and `a NEAR/n b` wants an occurrence of each side in one field, not on the
same words, with at most n words between them, in either order.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

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
        parts = (query.left, query.right)
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
        found = _compile_side(query, index)
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
        left, right = _compile_side(query.left, index), _compile_side(query.right, index)
        distance = query.distance
        return lambda context: _near(left(context), right(context), distance)
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


def _compile_side(
    query: Query, index: dict[tuple[object, ...], int]
) -> Callable[[_Context], list[Occurrence]]:
    """The occurrences that count for a leaf, or for an Or of leaves (a side of NEAR/n)."""
    sides = query.items if isinstance(query, Or) else (query,)
    wanted: list[tuple[int, Field | None]] = []
    for side in sides:
        assert isinstance(side, Term | Phrase), "the parser lets only leaves stand here"
        wanted.append((index[leaf_key(side)], side.field))

    def occurrences(context: _Context) -> list[Occurrence]:
        counted: list[Occurrence] = []
        for number, field in wanted:
            for occurrence in context.occurrences.get(number, ()):
                if _counts(occurrence, field, context):
                    counted.append(occurrence)
        return counted

    return occurrences


def _near(left: list[Occurrence], right: list[Occurrence], distance: int) -> bool:
    """Some occurrence of each side in one field, not overlapping, with at most `distance`
    words between them."""
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


def _speaks(language: str | None, code: str) -> bool:
    if language is None:
        return False
    language = language.strip().lower().replace("_", "-")
    return language == code or language.startswith(code + "-")
