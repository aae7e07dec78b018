"""Deciding each watchlist from the occurrences the matcher found: one path for both forms.

Every watchlist's rules are a query (`WatchlistConfig.rules`: its `query`, or the one its lists
mean), compiled once (`alerts.query_eval`). Each term of the key table (`alerts.match_keys`)
stands for one leaf of its watchlist's query; an occurrence counts for that leaf when it is in
the leaf's field (one written in the query) or, for a leaf without one, in the watchlist's
`fields`. Word positions, for `NEAR/n`, are counted only for watchlists that use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from alerts.match_keys import Term
from alerts.query import Field, Occurrence, compile_query, leaf_key
from alerts.watchlists import FIELD_ORDER, WatchlistConfig
from alerts.word_positions import WordPositions

__all__ = ["FieldPositions", "MatchRules"]

FieldPositions = dict[Field, WordPositions]  # per article: filled as NEAR/n needs them
# Without NEAR/n an occurrence is only its field: one (immutable) Occurrence per field serves all.
_UNPLACED: dict[Field, Occurrence] = {field: Occurrence(field, 0) for field in FIELD_ORDER}


class _Text(Protocol):
    @property
    def original(self) -> str: ...


class _Found(Protocol):
    @property
    def field(self) -> Field: ...
    @property
    def term(self) -> int: ...
    @property
    def start(self) -> int: ...  # in the original text of the field
    @property
    def end(self) -> int: ...
    @property
    def text(self) -> _Text: ...


F = TypeVar("F", bound=_Found)


class MatchRules:
    """All watchlists' rules, and per term the leaf it stands for and where it counts."""

    def __init__(self, watchlists: Sequence[WatchlistConfig], terms: Sequence[Term]):
        self._queries = [compile_query(watchlist.rules()) for watchlist in watchlists]
        self._fields = [frozenset(watchlist.fields) for watchlist in watchlists]
        self.scanned: list[frozenset[Field]] = [
            fields | query.named_fields
            for fields, query in zip(self._fields, self._queries, strict=True)
        ]
        numbers = [{leaf_key(leaf): n for n, leaf in enumerate(q.leaves)} for q in self._queries]
        self._leaf = [numbers[term.watchlist][leaf_key(term.leaf)] for term in terms]
        self._counts_in = [
            frozenset((term.leaf.field,)) if term.leaf.field else self._fields[term.watchlist]
            for term in terms
        ]
        # Watchlists whose every term counts in every field scanned for them (no field written
        # in the query or on a term): each occurrence the matcher found for them counts.
        self._counted_anywhere = [not query.named_fields for query in self._queries]
        for term in terms:
            if term.leaf.field:
                self._counted_anywhere[term.watchlist] = False
        self._explains = [
            term.role in ("terms", "match_case")
            or (term.role == "query" and leaf in self._queries[term.watchlist].positive)
            for term, leaf in zip(terms, self._leaf, strict=True)
        ]

    def decide(
        self,
        watchlist: int,
        found: Sequence[F],
        language: str | None,
        positions: FieldPositions,
    ) -> list[F] | None:
        """The occurrences that explain a match of `watchlist` (its terms, or a query's words
        outside NOT), or None when its rules say no. `found`: occurrences of its terms in the
        fields `scanned` for it."""
        query = self._queries[watchlist]
        counts_in, leaf_of, explains = self._counts_in, self._leaf, self._explains
        if self._counted_anywhere[watchlist]:
            counted = list(found)
        else:
            counted = [o for o in found if o.field in counts_in[o.term]]
        by_leaf: dict[int, list[Occurrence]] = {}
        for o in counted:
            occurrence = _located(o, positions) if query.needs_positions else _UNPLACED[o.field]
            leaf = leaf_of[o.term]
            in_leaf = by_leaf.get(leaf)
            if in_leaf is None:
                by_leaf[leaf] = [occurrence]
            else:
                in_leaf.append(occurrence)
        if not query.matches(by_leaf, language, self._fields[watchlist]):
            return None
        explaining = [o for o in counted if explains[o.term]]
        # Not empty: a query that could match without its words is refused at config load, and
        # one that matches has one of its words outside NOT (it is monotone in those).
        return explaining or None


def _located(found: _Found, positions: FieldPositions) -> Occurrence:
    words = positions.get(found.field)
    if words is None:
        words = positions[found.field] = WordPositions(found.text.original)
    return Occurrence(found.field, *words.locate(found.start, found.end))
