"""The typed tree of a watchlist query (`alerts.query` parses, evaluates and prints it).

Frozen dataclasses, so a query is a value: equal queries compare equal, hash alike and can be
shared. `And` and `Or` are n-ary (the parser flattens `a AND b AND c` into one `And`), so the
tree an analyst reads and the tree the tests compare are the same shape.

A leaf (`Term`, `Phrase`) keeps its text as written (case and accents), without the `*` of a
prefix and the `=` of an exact term: how it is folded, inflected or aliased is the matcher's
business, and `=` tells it not to (exact case, no inflections, no place aliases).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple

__all__ = [
    "FIELDS",
    "And",
    "Field",
    "Lang",
    "Leaf",
    "Near",
    "Not",
    "Occurrence",
    "Or",
    "Phrase",
    "Query",
    "Term",
]

Field = Literal["title", "teaser", "body", "topics"]
FIELDS: tuple[Field, ...] = ("title", "teaser", "body", "topics")


@dataclass(frozen=True)
class Term:
    """One word as written (`Raqqa`, `Ar-Raqqa`, `terror` of `terror*`)."""

    text: str
    prefix: bool = False  # written with a trailing `*`: any word starting so
    exact: bool = False  # written with a leading `=`: exact case, no inflections or aliases
    field: Field | None = None  # None: any of the watchlist's fields


@dataclass(frozen=True)
class Phrase:
    """Words in a row, written in double quotes (`"Islamic State"`); a `*` before the closing
    quote makes its last word a prefix, as in the list form's `Islamic Sta*`."""

    text: str
    prefix: bool = False
    exact: bool = False
    field: Field | None = None


@dataclass(frozen=True)
class And:
    items: tuple[Query, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Query, ...]


@dataclass(frozen=True)
class Not:
    item: Query


@dataclass(frozen=True)
class Near:
    """Parts near each other in one field, in either order: `a NEAR/5 b` (at most 5 words
    between them), chained `a NEAR/5 b NEAR/3 c` (`chain` holds `(3, c)`: each part within its
    distance of the part written before it), a part may be a leaf, an `Or` or `And` of parts, or
    a `Near` of its own in parentheses (`(a NEAR/3 b) NEAR/10 c`). No part holds a `Not` or a
    `Lang`: those have no place in the text. What each part covers is `alerts.query_eval`'s
    business (its docstring says it: the span of a part)."""

    left: Query
    right: Query
    distance: int
    chain: tuple[tuple[int, Query], ...] = ()  # a chain's further parts: (distance, part)

    @property
    def parts(self) -> tuple[Query, ...]:
        """Every part in written order (two, or more for a chain)."""
        return (self.left, self.right, *(part for _, part in self.chain))

    @property
    def distances(self) -> tuple[int, ...]:
        """The distance between each part and the next: one fewer than `parts`."""
        return (self.distance, *(distance for distance, _ in self.chain))


@dataclass(frozen=True)
class Lang:
    """The article is in this language (`lang:de`; `de` also covers `de-at`)."""

    code: str


Leaf = Term | Phrase
Query = Term | Phrase | And | Or | Not | Near | Lang


class Occurrence(NamedTuple):
    """Where a leaf occurred in an article: its field and its word position there.

    Words are counted per field over the folded text (`alerts.word_positions`): a word is a
    maximal run of word characters, and in scripts written without spaces (CJK, Thai) every
    character is a word. `position` is the 0-based number of the occurrence's first word and
    `words` how many words it covers (a phrase or a multi-word alias covers several).
    """

    field: Field
    position: int
    words: int = 1
