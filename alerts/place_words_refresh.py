"""Regenerate alerts/place_words.py: place names that are also words of a DW language.

    .venv/bin/pip install simplemma    # not a dependency of newswatch: only this tool reads it
    .venv/bin/python -m alerts.place_words_refresh

simplemma ships a word-form -> lemma dictionary for 20 of DW's languages. Every dictionary form is
folded as the matcher folds text (alerts.textnorm.fold). A place name written in a cased script
(Latin, Cyrillic, Greek) whose fold equals a form is

* a word when the form is in lower case (Polish "raka", Russian "газа", the genitive of "газ";
  not in Turkish and Swahili, whose dictionaries write proper nouns in lower case too) or is a
  form of another word (its lemma folds otherwise and names no place);
* a name when the form has a capital and is its own lemma ("Berlin", "Mosel", but also German
  nouns, "Gerät", and first names, "Wladimir").

Written to alerts/place_words.py: COMMON_WORDS (words, never names: "Raka", "Рака"),
CAPITALISED_ONLY (both: "Газа", "Того", "Prag"), OTHER_NAMES (names only: "Kiew", "Gerät").
alerts.places drops the first always and keeps the others only for a large place, where the
dictionary's proper noun is most likely that place.

Arabic-script, Devanagari and the other caseless scripts are not checked: their dictionaries map
place names to unrelated lemmas (Arabic "تهران" -> "هر") too often to tell anything.

It takes a minute or two and a few GB (the dictionaries are loaded one at a time). The languages
without a dictionary there (Amharic, Bengali, Chinese, Hausa, Pashto, Urdu) are not checked.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from alerts import places
from alerts.textnorm import fold

LANGUAGES = [
    "bg",
    "de",
    "el",
    "en",
    "es",
    "fr",
    "hbs",
    "id",
    "mk",
    "pl",
    "pt",
    "ro",
    "ru",
    "sq",
    "sw",
    "tr",
    "uk",
]  # DW languages, cased scripts
# Dictionaries that write proper nouns in lower case too ("musul", "gazze" in Turkish): a lower
# case form is no evidence of a common word there, only a form of another word is ("gaza" ->
# "gaz", Turkish "to the gas").
LOWER_CASE_PROPER_NOUNS = frozenset({"sw", "tr"})
TARGET = Path(__file__).with_name("place_words.py")
HEADER = '''"""Place names that are also words or other names in a DW language (generated).

Made by `python -m alerts.place_words_refresh` from simplemma's dictionaries: see that module for
what each set holds. Languages: {languages}.
"""

'''


def place_names() -> set[str]:
    """Every folded name, main or other, that alerts.places may look up or give."""
    return set(places._index().by_name)


def small_place_names() -> set[str]:
    """The folded other names of places below alerts.places.FAMOUS_PLACE: the only ones for
    which being a name in a dictionary (OTHER_NAMES) changes anything."""
    index = places._index()
    return {
        fold(name)
        for place in index.places
        if not places.is_large(place, places.FAMOUS_PLACE)
        for name in place.names
    }


def collisions(
    names: set[str], languages: tuple[str, ...] | list[str]
) -> tuple[set[str], set[str]]:
    """(words, names) among the folded cased-script `names` (see the module doc)."""
    dictionaries: Any = importlib.import_module("simplemma.strategies.dictionaries")
    factory = dictionaries.DefaultDictionaryFactory(cache_max_size=1)
    words: set[str] = set()
    proper: set[str] = set()
    for language in languages:
        started = time.perf_counter()
        dictionary = factory.get_dictionary(language)
        for form, lemma in dictionary.items():
            if form.lower() == form.upper():
                continue  # caseless script
            folded = fold(form)
            if folded not in names:
                continue
            folded_lemma = fold(lemma)
            if form[0].isupper() and lemma == form:
                proper.add(folded)
            elif (folded_lemma != folded and folded_lemma not in names) or (
                form.lower() == form and language not in LOWER_CASE_PROPER_NOUNS
            ):
                words.add(folded)
        seconds = time.perf_counter() - started
        print(f"{language}: {len(dictionary)} forms, {seconds:.0f} s; so far {len(words)} words")
    return words, proper


def _frozenset(name: str, words: set[str]) -> str:
    lines = "".join(f"        {json.dumps(word, ensure_ascii=False)},\n" for word in sorted(words))
    return f"{name}: frozenset[str] = frozenset(\n    {{\n{lines}    }}\n)\n"


def write(words: set[str], proper: set[str]) -> None:
    """The module's text, as `ruff format` leaves it."""
    sets = {
        "COMMON_WORDS": words - proper,
        "CAPITALISED_ONLY": words & proper,
        "OTHER_NAMES": (proper - words) & small_place_names(),
    }
    text = HEADER.format(languages=", ".join(LANGUAGES))
    text += "\n".join(_frozenset(name, names) for name, names in sets.items())
    TARGET.write_text(text, encoding="utf-8")


def main() -> int:
    names = {name for name in place_names() if name.lower() != name.upper()}
    words, proper = collisions(names, LANGUAGES)
    write(words, proper)
    print(f"{len(words - proper)} words, {len(words & proper)} both, {len(proper - words)} names")
    return 0


if __name__ == "__main__":
    sys.exit(main())
