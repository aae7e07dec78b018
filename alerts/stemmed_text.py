"""A text as a stream of stems, for the matcher's inflection automata, with the way back.

A field of an article in an inflected language (`alerts.inflections`) is cut into words and the
gaps between them, once. Each word becomes its stem, folded as `alerts.textnorm` folds (so
accents and case go after the stemmer has seen them: Polish `Państwa` is stemmed as written);
each gap becomes one space when it is whitespace, else its punctuation between two spaces (`,`
-> ` , `), so a phrase's stems match only where its words stood with nothing but whitespace
between them, as the exact matcher's phrases do, and `Ar-Raqqa` stays apart from `Ar Raqqa`.
A term is turned into its stem key by the same cut (`stem_key`), so both sides meet in the same
stream and every occurrence a padded automaton reports is a run of whole words.

Turkish attaches case endings to names after an apostrophe (`Rakka'da`, `Musul'dan`,
`Devleti'nin`): in a Turkish text such an ending leaves the stream, so a phrase runs on across
it. Offsets of occurrences map back to the original text (`original_span`).
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from alerts.inflections import stemmer_for
from alerts.textnorm import GLUED_CREDIT, fold, fold_keeping_punctuation, glued_credit_at

__all__ = ["StemmedText", "stem_key", "stemmed"]

# Word characters as alerts.textnorm counts them, and the invisible ones it drops inside words.
_WORD_CLASS = (
    r"\w\u0300-\u036f\u0900-\u0dff\u064b-\u065f\u0670\u00ad\u200b\u200d-\u200f\u2060\ufeff"
)
_PARTS = re.compile(f"([^{_WORD_CLASS}]+)")
_APOSTROPHES = frozenset("'\u2019\u02bc\u2032")
_MAX_SUFFIX = 8  # letters of a Turkish ending after an apostrophe ("'ndakiler")


@dataclass
class StemmedText:
    """The stem stream of one text. `parts` alternate word, gap, word, ... of the original;
    `pieces` are what each part became in `text`."""

    text: str
    parts: list[str]
    pieces: list[str]
    _starts: tuple[list[int], list[int]] | None = field(default=None, repr=False)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Original offsets of the whole words an occurrence at [start, end) of `text` covers."""
        if self._starts is None:
            self._starts = (
                [0, *itertools.accumulate(map(len, self.pieces))],
                [0, *itertools.accumulate(map(len, self.parts))],
            )
        stream, original = self._starts
        first = bisect_right(stream, start) - 1
        last = bisect_right(stream, end - 1) - 1
        return original[first], original[last] + len(self.parts[last])


def stemmed(text: str, language: str) -> StemmedText | None:
    """The stem stream of `text` in `language`; None when the language has no stemmer."""
    word_key = _word_keys(language)
    if word_key is None:
        return None
    parts = _PARTS.split(text)
    if ":" in text and GLUED_CREDIT.search(text):
        parts = _unglued(parts)
    pieces = parts[:]
    pieces[::2] = map(word_key, parts[::2])
    pieces[1::2] = map(_gap_key, parts[1::2])
    if language.startswith("tr") and ("'" in text or "\u2019" in text):
        _drop_turkish_endings(parts, pieces)
    return StemmedText("".join(pieces), parts, pieces)


def stem_key(term: str, language: str) -> str | None:
    """The stem stream of a term (as written, without `*` or `=`) in `language`: what the
    inflection automaton of that language looks for; None without a stemmer."""
    word_key = _word_keys(language)
    if word_key is None:
        return None
    parts = _PARTS.split(term.strip())
    pieces = [
        word_key(part) if index % 2 == 0 else _gap_key(part) for index, part in enumerate(parts)
    ]
    return "".join(pieces).strip() or None


@lru_cache(maxsize=64)
def _word_keys(language: str) -> Callable[[str], str] | None:
    """word as written -> its folded stem in `language`, cached per word."""
    stem = stemmer_for(language)
    if stem is None:
        return None

    @lru_cache(maxsize=200_000)
    def word_key(word: str) -> str:
        if not word:
            return ""
        cleaned = unicodedata.normalize("NFKC", word).casefold()
        return fold(stem(cleaned)).replace(" ", "")

    return word_key


@lru_cache(maxsize=4096)
def _gap_key(gap: str) -> str:
    """A gap between words: " " for whitespace (and the empty gap `_unglued` makes), else its
    punctuation between spaces."""
    if not gap or gap.isspace():
        return " "
    marks = "".join(fold_keeping_punctuation(char) for char in gap).replace(" ", "")
    return f" {marks} " if marks else " "


def _unglued(parts: list[str]) -> list[str]:
    """Parts with a word glued to a picture credit ("MosulImage" before ":") cut in two by an
    empty gap (which `_gap_key` makes a space)."""
    result: list[str] = []
    for index, part in enumerate(parts):
        follows = parts[index + 1] if index + 1 < len(parts) else ""
        cut = glued_credit_at(part + ":") if follows.startswith(":") else None
        if index % 2 == 0 and cut:
            result.extend((part[:cut], "", part[cut:]))
        else:
            result.append(part)
    return result


def _drop_turkish_endings(parts: list[str], pieces: list[str]) -> None:
    """`Rakka'da` -> the stem of `Rakka` alone: the apostrophe and the ending leave the stream."""
    for gap in range(1, len(parts) - 1, 2):
        ending = parts[gap + 1]
        if (
            len(parts[gap]) == 1
            and parts[gap] in _APOSTROPHES
            and 0 < len(ending) <= _MAX_SUFFIX
            and ending[0].islower()
            and parts[gap - 1]
        ):
            pieces[gap] = pieces[gap + 1] = ""
