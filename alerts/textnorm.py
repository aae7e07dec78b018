"""Normalise text once for matching, keeping a map from normalised offsets to original ones.

Folding, applied to each character: Unicode NFKC, case fold, accents and other non-spacing marks
removed (`Frühburgunder` -> `fruhburgunder`, `РАККА` -> `ракка`), invisible format characters
(soft hyphen, zero-width joiner, direction marks) removed, curly quotes and dashes made straight,
Arabic-script letters normalised as Lucene does (`alerts.arabic_script`: `الرقة` -> `الرقه`,
Persian ی/ک -> ي/ك, the tatweel dropped). The zero-width non-joiner is a word break, as Lucene's
Persian analyser reads it: Persian writes `دولت‌ها` (states) as `دولت` + ZWNJ + the plural ending.
Every run of whitespace, line breaks included, becomes one space, so phrases match across them.
Punctuation (quotes, hyphens, apostrophes, ...) becomes a space too, one for one, so it separates
words; a phrase still does not match across punctuation (`Islamic, State` has two spaces).

Word boundaries follow the same rules for every script: a letter, digit, mark or `_` is a word
character; anything else (space, punctuation, a hyphen) separates words. Scripts written without
spaces (Chinese, Japanese, Thai, ...) have no word boundaries to honour: each of their characters
counts as a word of its own, so terms in them match as substrings.

One join is undone: a picture credit glued to the word before it (`in MosulImage: Reuters`, where
a caption and its credit line lost the line break between them) gets a space before the credit
label (Image, Bild, Foto, Photo, Фото, ...), so `Mosul` is a word again.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache

from alerts.arabic_script import ARABIC_LETTERS

_STRAIGHTENED = str.maketrans(
    {
        "\u2018": "'",  # ‘
        "\u2019": "'",  # ’
        "\u201a": "'",  # ‚
        "\u201b": "'",  # ‛
        "\u2032": "'",  # ′
        "\u02bc": "'",  # ʼ
        "\u201c": '"',  # “
        "\u201d": '"',  # ”
        "\u201e": '"',  # „
        "\u201f": '"',  # ‟
        "\u2033": '"',  # ″
        "\u00ab": '"',  # «
        "\u00bb": '"',  # »
        "\u2010": "-",  # hyphen
        "\u2011": "-",  # non-breaking hyphen
        "\u2012": "-",  # figure dash
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2015": "-",  # horizontal bar
        "\u2212": "-",  # minus sign
    }
)
_DROPPED_CATEGORIES = frozenset({"Mn", "Me", "Cf"})
_ZWNJ = "\u200c"
# A picture credit's label ("Image: Reuters"); glued when a letter comes right before it.
GLUED_CREDIT = re.compile(r"(?:Image|Bild|Foto|Photo|Picture|Фото|Fotó|Imagem):")
_WHITESPACE_RUN = re.compile(r"\s+")
_GAP = re.compile(r"[^\w\u0300-\u036f\u0900-\u0dff]+")  # not letters, digits, marks
ASCII_WORD_CHARS = frozenset("0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

# Scripts written without spaces between words: (first, last) code points.
CONTINUOUS_SCRIPTS = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana extension
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


@lru_cache(maxsize=4096)
def fold_keeping_punctuation(char: str) -> str:
    """One character folded, punctuation kept (straightened); whitespace is one space."""
    if char.isspace() or char == _ZWNJ:
        return " "
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", char).casefold())
    kept = "".join(c for c in decomposed if unicodedata.category(c) not in _DROPPED_CATEGORIES)
    return unicodedata.normalize("NFKC", kept.translate(_STRAIGHTENED)).translate(ARABIC_LETTERS)


def fold_char(char: str) -> str:
    """One character as the matcher sees it: "" when it is dropped, else one or more characters,
    each a word character or a space (punctuation becomes a space)."""
    return "".join(c if is_word_char(c) else " " for c in fold_keeping_punctuation(char))


def word_gaps(text: str) -> list[str]:
    """What separates the words of `text`, folded, each whitespace run as one space: how a
    phrase or a term with punctuation is told apart from the same words otherwise joined
    (`Ar-Raqqa` from `Ar Raqqa`, `Islamic State` from `Islamic-State`)."""
    folded = "".join(fold_keeping_punctuation(char) for char in text).strip()
    return [_WHITESPACE_RUN.sub(" ", gap) for gap in _GAP.findall(folded)]


def preserve_case(text: str) -> str:
    """The form a match_case term must equal: NFKC, straight quotes, one space per whitespace run,
    invisible format characters removed, but case and accents as written."""
    composed = unicodedata.normalize("NFKC", text).translate(_STRAIGHTENED)
    visible = "".join(c for c in composed if unicodedata.category(c) != "Cf")
    return _WHITESPACE_RUN.sub(" ", visible)


CONTINUOUS_CLASS = "".join(f"{chr(first)}-{chr(last)}" for first, last in CONTINUOUS_SCRIPTS)
_CONTINUOUS_CHAR = re.compile(f"[{CONTINUOUS_CLASS}]")


def has_continuous_script(text: str) -> bool:
    """Whether `text` holds CJK, Thai, ...; O(1) for the many folded texts that are ASCII."""
    return not text.isascii() and _CONTINUOUS_CHAR.search(text) is not None


def is_word_char(char: str) -> bool:
    if char.isalnum():
        return True
    if char < "\x80":
        return char == "_"
    return unicodedata.category(char)[0] == "M"


def is_continuous_script(char: str) -> bool:
    """True for characters of scripts written without spaces (CJK, Thai, ...)."""
    if char < "\u0e00":
        return False
    code = ord(char)
    return any(first <= code <= last for first, last in CONTINUOUS_SCRIPTS)


def is_boundary(text: str, position: int) -> bool:
    """Whether a word may start or end at `position` of a normalised text."""
    if position <= 0 or position >= len(text):
        return True
    before, after = text[position - 1], text[position]
    if not (is_word_char(before) and is_word_char(after)):
        return True
    return is_continuous_script(before) or is_continuous_script(after)


def needs_boundary(char: str) -> bool:
    """Whether a term starting (or ending) with `char` must sit at a word boundary there."""
    return is_word_char(char) and not is_continuous_script(char)


class _FoldTable(dict[int, str]):
    """str.translate table filled on demand. Characters that do not fold to exactly one
    character ("irregular": ß -> ss, a combining accent -> "") are tracked, because they shift
    offsets; `irregular_pattern` finds them, and the whitespace runs (with any dropped characters
    inside them) that become one space."""

    def __init__(self) -> None:
        super().__init__()
        self.irregular: set[str] = set()
        self.version = 0
        self._pattern = re.compile(r"\s\s+")
        self._pattern_version = 0

    def __missing__(self, code: int) -> str:
        folded = fold_char(chr(code))
        self[code] = folded
        if len(folded) != 1:
            self.irregular.add(chr(code))
            self.version += 1
        return folded

    @property
    def irregular_pattern(self) -> re.Pattern[str]:
        if self._pattern_version != self.version:
            irregular = sorted(self.irregular)
            dropped = "".join(re.escape(char) for char in irregular if not self[ord(char)])
            others = "".join(re.escape(char) for char in irregular)
            spaces = rf"\s(?:[{dropped}]*\s)+" if dropped else r"\s\s+"
            self._pattern = re.compile(rf"{spaces}|[{others}]" if others else spaces)
            self._pattern_version = self.version
        return self._pattern

    def warm_up(self, first: int, last: int) -> None:
        for code in range(first, last + 1):
            self[code]  # fills the table through __missing__


_TABLE = _FoldTable()
for _first, _last in (
    (0x00, 0x24F),
    (0x300, 0x36F),
    (0x400, 0x4FF),
    (0x600, 0x6FF),
    (0x2000, 0x206F),
):
    _TABLE.warm_up(_first, _last)


@dataclass(frozen=True)
class NormalisedText:
    """A folded text and the way back to the original offsets.

    `_changes` lists, in order, each place where the lengths differ: (normalised start,
    normalised end, original start, original end); between them characters map one to one.
    """

    text: str
    original: str
    _change_starts: list[int]
    _changes: list[tuple[int, int, int, int]]
    shift_bound: int  # no normalised offset is further than this from its original offset

    def original_start(self, position: int) -> int:
        """Original offset of the character at normalised `position`."""
        index = bisect_right(self._change_starts, position) - 1
        if index < 0:
            return position
        _, norm_end, orig_start, orig_end = self._changes[index]
        if position < norm_end:
            return orig_start
        return orig_end + (position - norm_end)

    def original_end(self, position: int) -> int:
        """Original offset just after the character ending at normalised `position` (exclusive),
        including any dropped marks that follow it, so a span never splits a character."""
        index = bisect_right(self._change_starts, position) - 1
        if index < 0:
            return position
        norm_start, norm_end, orig_start, orig_end = self._changes[index]
        if norm_start == position and norm_end > norm_start:
            return orig_start
        if position <= norm_end:
            return orig_end
        return orig_end + (position - norm_end)

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        if not self._change_starts:  # the folded text has the original's offsets
            return start, end
        return self.original_start(start), self.original_end(end)


def normalise(text: str) -> NormalisedText:
    """Fold `text` for matching (see module doc); one pass of C-level work in the common case."""
    glued = [found.start() for found in GLUED_CREDIT.finditer(text)] if ":" in text else []
    glued = [start for start in glued if start and _is_letter(text[start - 1])]
    if not glued:
        return _normalise_whole(text)
    return _joined(text, [0, *glued, len(text)])


def _is_letter(char: str) -> bool:
    return char.isalpha()


def _joined(text: str, cuts: list[int]) -> NormalisedText:
    """`text` normalised piece by piece between `cuts`, one space inserted at each inner cut."""
    pieces: list[str] = []
    change_starts: list[int] = []
    changes: list[tuple[int, int, int, int]] = []
    length = 0
    for number, (first, last) in enumerate(itertools.pairwise(cuts)):
        if number:
            pieces.append(" ")
            change_starts.append(length)
            changes.append((length, length + 1, first, first))
            length += 1
        piece = _normalise_whole(text[first:last])
        for norm_start, norm_end, orig_start, orig_end in piece._changes:
            change_starts.append(length + norm_start)
            changes.append(
                (length + norm_start, length + norm_end, first + orig_start, first + orig_end)
            )
        pieces.append(piece.text)
        length += len(piece.text)
    shift_bound = sum(abs((ne - ns) - (oe - os)) for ns, ne, os, oe in changes) + 1
    return NormalisedText("".join(pieces), text, change_starts, changes, shift_bound)


def _normalise_whole(text: str) -> NormalisedText:
    while True:
        version = _TABLE.version
        result = _normalise_with(text, _TABLE.irregular_pattern)
        if _TABLE.version == version:  # no new irregular character surfaced mid-way
            return result


def _normalise_with(text: str, irregular: re.Pattern[str]) -> NormalisedText:
    pieces: list[str] = []
    change_starts: list[int] = []
    changes: list[tuple[int, int, int, int]] = []
    done = 0
    length = 0
    for found in irregular.finditer(text):
        start, end = found.span()
        regular = text[done:start].translate(_TABLE)
        pieces.append(regular)
        length += len(regular)
        replacement = " " if end - start > 1 else _TABLE[ord(text[start])]
        pieces.append(replacement)
        change_starts.append(length)
        changes.append((length, length + len(replacement), start, end))
        length += len(replacement)
        done = end
    if not changes:
        return NormalisedText(text.translate(_TABLE), text, [], [], 0)
    pieces.append(text[done:].translate(_TABLE))
    shift_bound = sum(abs((ne - ns) - (oe - os)) for ns, ne, os, oe in changes) + 1
    return NormalisedText("".join(pieces), text, change_starts, changes, shift_bound)


def fold(text: str) -> str:
    """The normalised form of `text` alone (terms, tests, comparisons)."""
    return normalise(text).text
