"""Snippets: a few dozen words of the original text around the hits, with the hits as offsets.

A snippet is cut at word boundaries (never inside a word or a character), its whitespace runs
become single spaces, and its `spans` point at the hit words in the snippet text as written in the
article, so a template can wrap them in `<mark>` or brackets without matching again.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from alerts.textnorm import CONTINUOUS_CLASS

MAX_WORDS = 40
WORDS_BEFORE_HIT = 12
ELLIPSIS = "…"
_CHARS_PER_WORD = 8  # a first guess of how much text holds a number of words
_CHARS_BEFORE = 80  # how far around a hit other hits count towards its strength
_CHARS_AFTER = 200
_SPACE = re.compile(r"\s+")
_LOOSE_SPACE = re.compile(r"\s\s+|[^\S ]")  # whitespace that is not already one plain space

# A word: one character of a script written without spaces, or a run of anything else but spaces.
_WORD = re.compile(f"[{CONTINUOUS_CLASS}]|[^\\s{CONTINUOUS_CLASS}]+")


@dataclass(frozen=True)
class Snippet:
    text: str
    spans: list[tuple[int, int]]  # offsets into text of hit terms, sorted, not overlapping

    def highlighted(self, open: str, close: str) -> str:
        """The text with each hit wrapped, e.g. ("[", "]") -> "... in [Raqqa], ..."."""
        return "".join(
            f"{open}{piece}{close}" if is_hit else piece for piece, is_hit in self.segments()
        )

    def segments(self) -> list[tuple[str, bool]]:
        """The text cut into (piece, is_hit) pairs, for templates that escape each piece."""
        pieces: list[tuple[str, bool]] = []
        done = 0
        for start, end in self.spans:
            if start > done:
                pieces.append((self.text[done:start], False))
            pieces.append((self.text[start:end], True))
            done = end
        if done < len(self.text):
            pieces.append((self.text[done:], False))
        return pieces

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "spans": [[start, end] for start, end in self.spans]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snippet:
        return cls(data["text"], [(int(start), int(end)) for start, end in data["spans"]])


def strongest_hit(
    starts: Sequence[int], terms: Sequence[Hashable], preferred: Sequence[bool] | None = None
) -> int:
    """Index of the hit with the most distinct terms (then the most hits) starting near it, the
    earliest of equals; among the `preferred` hits (the exact ones) when there are any. `starts`
    ascend; one pass, two pointers."""
    eligible = preferred if preferred is not None and any(preferred) else None
    near: dict[Hashable, int] = {}
    low = high = 0
    best, best_score = 0, (-1, -1)
    for index, start in enumerate(starts):
        while high < len(starts) and starts[high] <= start + _CHARS_AFTER:
            near[terms[high]] = near.get(terms[high], 0) + 1
            high += 1
        while starts[low] < start - _CHARS_BEFORE:
            near[terms[low]] -= 1
            if not near[terms[low]]:
                del near[terms[low]]
            low += 1
        score = (len(near), high - low)
        if score > best_score and (eligible is None or eligible[index]):
            best, best_score = index, score
    return best


def snippet_window(text: str, start: int, end: int, max_words: int = MAX_WORDS) -> tuple[int, int]:
    """[first, last) of the whole words to show around the hit at [start, end)."""
    words = _words_around(text, start, end, max_words)
    return (words[0][0], words[-1][1]) if words else (start, end)


def render_snippet(text: str, first: int, last: int, spans: list[tuple[int, int]]) -> Snippet:
    """text[first:last] with each whitespace run as one space, "…" where text was cut off, and
    `spans` (offsets into `text`) moved into the snippet."""
    prefix = ELLIPSIS + " " if text[:first].strip() else ""
    suffix = " " + ELLIPSIS if text[last:].strip() else ""
    segment = text[first:last]
    run_ends: list[int] = []
    removed: list[int] = [0]
    for run in _LOOSE_SPACE.finditer(segment):
        run_ends.append(run.end())
        removed.append(removed[-1] + run.end() - run.start() - 1)
    if run_ends:
        segment = _LOOSE_SPACE.sub(" ", segment)

    def moved(offset: int) -> int:
        relative = offset - first
        return len(prefix) + relative - removed[bisect_right(run_ends, relative)]

    moved_spans = [(moved(start), moved(end)) for start, end in spans]
    return Snippet(prefix + segment + suffix, _merge(moved_spans))


def _words_around(text: str, start: int, end: int, max_words: int) -> list[tuple[int, int]]:
    """Up to `max_words` whole words: about WORDS_BEFORE_HIT before `start`, the rest after, and
    always every word of [start, end). Looks at only a stretch of the text around the hit."""
    reach = 1
    while True:
        low = _stretch_start(text, start, reach * _CHARS_PER_WORD * WORDS_BEFORE_HIT)
        high = _stretch_end(text, end, reach * _CHARS_PER_WORD * max_words)
        words = [found.span() for found in _WORD.finditer(text, low, high)]
        starts = [word_start for word_start, _ in words]
        first, last = _word_index(starts, start), _word_index(starts, end - 1)
        wanted_before = WORDS_BEFORE_HIT
        if high == len(text):  # near the end: show more of what comes before
            wanted_before = max(wanted_before, max_words - (len(words) - first))
        take_from = max(0, first - wanted_before)
        take_to = max(take_from + max_words, last + 1)
        enough_before = first >= wanted_before or low == 0
        enough_after = take_to <= len(words) or high == len(text)
        if enough_before and enough_after:
            return words[take_from:take_to]
        reach *= 4


def _stretch_start(text: str, start: int, reach: int) -> int:
    """A word start about `reach` characters before `start` (0 if none)."""
    guess = start - reach
    if guess <= 0:
        return 0
    space = _SPACE.search(text, guess, start)
    return space.end() if space else _stretch_start(text, start, reach * 4)


def _stretch_end(text: str, end: int, reach: int) -> int:
    """A word end about `reach` characters after `end` (len(text) if none)."""
    guess = end + reach
    if guess >= len(text):
        return len(text)
    space = _SPACE.search(text, guess)
    return space.start() if space else len(text)


def _word_index(word_starts: list[int], offset: int) -> int:
    return max(bisect_right(word_starts, offset) - 1, 0)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
