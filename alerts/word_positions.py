"""Word positions in a field, for a query's `NEAR/n` (`alerts.query`): which word an occurrence
starts at and how many words it covers.

A word is a maximal run of word characters as `alerts.textnorm` counts them (letters, digits,
marks, `_`), with the invisible characters that folding drops inside a word (soft hyphen,
zero-width joiners) counted as part of it, so a field has the words its folded text has; in
scripts written without spaces (CJK, Thai, ...) every character is a word of its own. Positions
are taken over the original text, because every kind of occurrence the matcher finds (folded,
as written, stemmed) maps back to original offsets; they are counted once per field and only
for watchlists that use NEAR/n.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right

from alerts.textnorm import CONTINUOUS_CLASS

__all__ = ["WordPositions"]

_WORD = r"\w\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
_WORD += r"\u0900-\u0dff\u00ad\u200b-\u200d\u2060\ufeff"
_WORDS = re.compile(rf"[{CONTINUOUS_CLASS}]|(?:(?![{CONTINUOUS_CLASS}])[{_WORD}])+")


class WordPositions:
    """The words of one text, by their offsets."""

    def __init__(self, text: str):
        spans = [found.span() for found in _WORDS.finditer(text)]
        self._starts = [start for start, _ in spans]
        self._ends = [end for _, end in spans]

    def __len__(self) -> int:
        return len(self._starts)

    def locate(self, start: int, end: int) -> tuple[int, int]:
        """(position of the first word, number of words) of the text at [start, end): the words
        it touches; an occurrence between words counts as the next word, one word long."""
        first = bisect_right(self._ends, start)  # the first word ending after `start`
        last = bisect_left(self._starts, end) - 1  # the last word starting before `end`
        return first, max(1, last - first + 1)
