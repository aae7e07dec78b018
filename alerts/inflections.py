"""Inflected forms: one stem per word of an article's language, so `Ракки` and `Ракка` meet.

The stemmers are Snowball's (PyStemmer, a C library): they are rule-based, so they reduce the
names a watchlist is made of (`Ракки`, `Państwa`, `Devletinin`) and not only dictionary words, and
they stem a new word in 0.5-2 µs (in batches of a text's new words). simplemma, measured on the
same forms, left most names as they were (Ukrainian `Ракки`, Russian `Ракки`, German `Rakkas`,
Polish `Rakki`, Turkish `Musuldan`) and took 65-140 µs a word. Stems see folded words (no
accents, no case: `alerts.textnorm`), the terms' and the texts' alike.

Languages (the article's language, its primary subtag: `de-AT` is `de`):

* Snowball: de German, ru Russian, pl Polish, tr Turkish, fr French, es Spanish, pt Portuguese,
  ro Romanian, el Greek, id Indonesian, sr/bs/hr Serbian (Latin and Cyrillic), fa Persian.
* German also drops the genitive `s` Snowball leaves on names ending in a vowel (`Rakkas`).
* uk Ukrainian: Snowball has no Ukrainian; `_ukrainian` strips Ukrainian case endings
  (`Ісламської держави` -> `ісламськ держав`).
* ar Arabic: prefixes only (`alerts.arabic_script`: ال and the clitics و ب ل ف ك), not Snowball's
  Arabic stemmer, which makes "الدولة الإسلامية" (the Islamic State) equal "الدول الإسلامية" (the
  Islamic countries). fa Persian, ps Pashto, ur Urdu: the article ال (then Snowball for Persian).
* Every other language (English among them: its names do not inflect, a possessive is already a
  word of its own, and stemming makes "Islamic states" hit "Islamic State"; Bulgarian,
  Macedonian, Albanian, Hindi, Bengali, Hausa, Swahili, Amharic, Chinese, ...) and an article
  without a language: exact matching only.

Stems shorter than three letters are not used (the word stands as it is): Russian `игом`
(yoke) would otherwise stem to `иг` and hit the abbreviation `ИГ`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import Stemmer

from alerts.arabic_script import strip_arabic_article, strip_arabic_prefix
from alerts.textnorm import fold

__all__ = ["INFLECTED_LANGUAGES", "WordStemmer", "stemmer_for"]

_SNOWBALL = {
    "de": "german",
    "ru": "russian",
    "pl": "polish",
    "tr": "turkish",
    "fr": "french",
    "es": "spanish",
    "pt": "portuguese",
    "ro": "romanian",
    "el": "greek",
    "id": "indonesian",
    "sr": "serbian",
    "bs": "serbian",
    "hr": "serbian",
    "fa": "persian",
}
INFLECTED_LANGUAGES = frozenset({*_SNOWBALL, "uk", "ar", "ps", "ur"})
MIN_STEM = 3
_CACHE_SIZE = 200_000  # words per language; a day of DW in one language has far fewer

# Ukrainian noun and adjective endings, longest first, folded as the words they end are (the
# stemmers see folded words: ї -> і, й -> и).
_UKRAINIAN_ENDINGS = tuple(
    sorted(
        {
            fold(ending)
            for ending in [
                *("ого", "ому", "ими", "ій", "ий", "их", "им", "ої", "ою", "ею", "єю", "ую"),
                *("юю", "ая", "яя", "ів", "їв", "ам", "ям", "ами", "ями", "ах", "ях", "ові"),
                *("еві", "єві", "ом", "ем", "єм", "а", "я", "о", "е", "є", "и", "і", "ї", "у"),
                *("ю", "ь", "й"),
            ]
        },
        key=lambda ending: (-len(ending), ending),
    )
)
_GERMAN_S_KEPT_AFTER = frozenset("sxzß")


class WordStemmer:
    """One language's stemmer with a cache of word -> stem: a plain dict, read for a whole text
    in one `map` (a lookup per word costs less than any call), the words it lacks stemmed in
    one batch (Snowball's `stemWords`, in C); emptied when it holds _CACHE_SIZE words."""

    def __init__(self, stem_many: Callable[[list[str]], list[str]]):
        self._stem_many = stem_many
        self._cache: dict[str, str] = {"": ""}

    def __call__(self, word: str) -> str:
        return self.stems([word])[0]

    def stems(self, words: list[str]) -> list[str]:
        cache = self._cache
        try:
            return list(map(cache.__getitem__, words))
        except KeyError:
            pass
        found = list(map(cache.get, words))
        if len(cache) > _CACHE_SIZE:
            cache.clear()
            cache[""] = ""
        missing = list({word for word, stem in zip(words, found, strict=True) if stem is None})
        for word, stem in zip(missing, self._stem_many(missing), strict=True):
            cache[word] = stem if len(stem) >= MIN_STEM else word
        return [cache[word] for word in words]


def stemmer_for(language: str | None) -> WordStemmer | None:
    """The cached stemmer of `language` (folded words in, stems out); None where matching
    stays exact."""
    if not language:
        return None
    code = language.split("-", 1)[0]
    return _stemmer(code) if code in INFLECTED_LANGUAGES else None


@cache
def _stemmer(code: str) -> WordStemmer:
    return WordStemmer(_raw_stemmer(code))


def _one_by_one(stem: Callable[[str], str]) -> Callable[[list[str]], list[str]]:
    return lambda words: list(map(stem, words))


def _raw_stemmer(code: str) -> Callable[[list[str]], list[str]]:
    if code == "uk":
        return _one_by_one(_ukrainian)
    if code == "ar":
        return _one_by_one(strip_arabic_prefix)
    if code in ("ps", "ur"):
        return _one_by_one(strip_arabic_article)
    algorithm = Stemmer.Stemmer(_SNOWBALL[code])
    algorithm.maxCacheSize = 0  # WordStemmer keeps the cache, and a faster one
    snowball: Callable[[list[str]], list[str]] = algorithm.stemWords
    if code == "de":
        return lambda words: _german(snowball, words)
    if code == "fa":
        return lambda words: snowball(list(map(strip_arabic_article, words)))
    return snowball


def _german(snowball: Callable[[list[str]], list[str]], words: list[str]) -> list[str]:
    """Snowball's German, and the genitive `s` of names it keeps: `Rakkas` -> `rakka`."""
    stems = snowball(words)
    for index, (word, stem) in enumerate(zip(words, stems, strict=True)):
        if (
            stem == word
            and len(word) >= 5
            and word.endswith("s")
            and word[-2] not in _GERMAN_S_KEPT_AFTER
        ):
            stems[index] = snowball([word[:-1]])[0]
    return stems


def _ukrainian(word: str) -> str:
    """A light Ukrainian stemmer: the longest case ending goes when three letters stay
    (`Ракки`, `Ракку`, `Раккою` -> `ракк`; `Мосулі` -> `мосул`)."""
    for ending in _UKRAINIAN_ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= MIN_STEM:
            return word[: -len(ending)]
    return word
