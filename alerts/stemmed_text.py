"""A folded text as a stream of stems, for the matcher's inflection automata, with the way back.

The folded text of a field (`alerts.textnorm`: words separated by spaces, punctuation already a
space of its own) is cut at its spaces once and each word replaced by its stem in the article's
language (`alerts.inflections`, cached per word); the spaces stay as they were, so a phrase's
stems meet only where its words did (`Islamic, State` keeps two spaces), and every occurrence a
padded automaton reports in the stream is a run of whole words. What separates the words of a
phrase (`Ar-Raqqa` against `Ar Raqqa`) the matcher checks on the original text, as it does for
exact hits. A term becomes its stem key by the same cut (`stem_key`).

Stems see folded words: accents and case are gone before the stemmer runs (Polish `Państwa` is
stemmed as `panstwa`, German `Kämpfer` as `kampfer`). Both sides are stemmed alike, so they meet;
it costs nothing per article beyond one split, one cached stem per word and one join.

Turkish endings after an apostrophe (`Rakka'da`, `Musul'dan`) need nothing here: the apostrophe
is a word break, so `Rakka` is a word of its own and hits exactly.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from alerts.inflections import stemmer_for
from alerts.textnorm import NormalisedText

__all__ = ["StemmedText", "stem_key", "stemmed"]


@dataclass
class StemmedText:
    """The stem stream of one folded text: `text` is `keys` joined by single spaces, `keys[i]`
    the stem of `words[i]` (the folded text split at each space; "" between two spaces)."""

    text: str
    words: list[str]
    keys: list[str]
    folded: NormalisedText
    _word_ends: list[int] | None = field(default=None, repr=False)
    _spaces_before: tuple[int, int] = field(default=(0, 0), repr=False)  # (offset, spaces)

    def word_range(self, start: int, end: int) -> tuple[int, int]:
        """Indices of the first and last word an occurrence at [start, end) of `text` covers:
        word i starts after i spaces. The spaces before `end` are counted on from those before
        the previous occurrence's end (the automaton reports occurrences in order of their
        ends), so a text's occurrences cost one count over it, not one each."""
        text = self.text
        counted_to, spaces = self._spaces_before
        if end >= counted_to:
            spaces += text.count(" ", counted_to, end)
        else:
            spaces -= text.count(" ", end, counted_to)
        self._spaces_before = (end, spaces)
        return spaces - text.count(" ", start, end), spaces

    def spells(self, folded_key: str, first: int, last: int) -> bool:
        """Whether words first..last are `folded_key` itself (found as written, not inflected)."""
        return " ".join(self.words[first : last + 1]) == folded_key

    def original_span(self, first: int, last: int) -> tuple[int, int]:
        """Original offsets of words first..last; the folded offsets come from the words'
        lengths (summed once per text, in C)."""
        if self._word_ends is None:
            self._word_ends = list(itertools.accumulate(map(len, self.words)))
        ends = self._word_ends
        folded_start = ends[first] - len(self.words[first]) + first
        return self.folded.original_span(folded_start, ends[last] + last)


def stemmed(text: NormalisedText, language: str) -> StemmedText | None:
    """The stem stream of a folded text in `language`; None when the language has no stemmer."""
    stem = stemmer_for(language)
    if stem is None:
        return None
    words = text.text.split(" ")
    keys = stem.stems(words)
    return StemmedText(" ".join(keys), words, keys, text)


def stem_key(folded_key: str, language: str) -> str | None:
    """The stem stream of a term's folded key in `language`: what the inflection automaton of
    that language looks for; None without a stemmer."""
    stem = stemmer_for(language)
    if stem is None:
        return None
    return " ".join(stem.stems(folded_key.split(" "))).strip() or None
