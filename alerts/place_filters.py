"""Which other names of a place are safe to match in DW's texts: the filters of alerts.places.

GeoNames lists every name a place ever had in any language, with no language tag: for Mosul,
"Mossul" and "Мосул" but also "Mosel" (a German river), "Musil" (a writer), "OSM" (a code),
"almwsl" (a romanisation) and "Mausilium" (Latin). Matched as they are, such names would flood a
watchlist with false alarms, so a name becomes an alias only when it passes every test here:

1. it is written in one script DW publishes in (Latin, Cyrillic, Greek, Arabic, Devanagari,
   Bengali, Ethiopic, Han): Hebrew, Armenian, Georgian, Thai, Kana, Hangul, ... are dropped, and
   so is a name that mixes scripts (a Kurdish "ڕەqqە");
2. it is long enough for its script (`MIN_LETTERS`: Latin, Cyrillic, Greek 4 letters; Arabic,
   Devanagari, Bengali 3; Ethiopic and Han 2): "Raka", "Рака", "Şam" are too short or too close
   to other words;
3. it looks like a name written in text (`acceptable_shape`): in a cased script every word
   starts with a capital and none is all capitals ("OSM"); no digits, brackets or modifier
   letters ("ʿeri raqahi", "Rakˌkˌa"): romanisations in lower case ("almwsl", "mo su er") and
   names with a word of another language ("Gaza by", "Kiev osh") fail here;
4. in a cased script, it is no old form (`looks_modern`: no Latin ending the modern name lacks,
   no old Cyrillic spelling) and it sounds like the place's own name (`sounds_alike`): both are
   reduced to a consonant skeleton (Cyrillic and Greek transliterated, Arabic article and vowels
   dropped, similar sounds merged) and must be close. This keeps "Mossul", "Musul", "Kiew",
   "Харків", "Beyrouth" and drops historical and foreign names: "Callinicum", "Nicephorium",
   "Καλλίνικος", "Lutetia", but also "Lemberg" for Lviv (a recall loss, said in the README);
5. it is not a word or name of something else in a DW language: `NOT_PLACES` below (judged by
   hand: rivers, people, words) and alerts.place_words.COMMON_WORDS (generated from simplemma's
   dictionaries: a name whose lower-case form is a dictionary word, such as Polish "raka", or
   that is an inflected form of another word, such as Russian "рака" from "рак").

alerts.places adds the last test, which needs all places at once: a name that also names a
different place at least a third as large is ambiguous and dropped.
"""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from functools import lru_cache

# Scripts DW publishes in, by the first word of their characters' Unicode names.
SCRIPTS = {
    "LATIN": "Latin",
    "CYRILLIC": "Cyrillic",
    "GREEK": "Greek",
    "ARABIC": "Arabic",
    "DEVANAGARI": "Devanagari",
    "BENGALI": "Bengali",
    "ETHIOPIC": "Ethiopic",
    "CJK": "Han",
}
MIN_LETTERS = {
    "Latin": 4,
    "Cyrillic": 4,
    "Greek": 4,
    "Arabic": 3,
    "Devanagari": 3,
    "Bengali": 3,
    "Ethiopic": 2,
    "Han": 2,
}
CASED_SCRIPTS = frozenset({"Latin", "Cyrillic", "Greek"})
SIMILARITY = 0.7  # skeletons closer than this are the same name said otherwise

# Folded names that are something else in a DW language, judged by hand from the scans of
# tests/test_places.py (the demo site, the real DW samples) and from the aliases of the places
# DW covers most. Each says what it is.
NOT_PLACES = frozenset(
    {
        "mosel",  # German river (GeoNames: Mosul)
        "musil",  # Robert Musil, Austrian writer (Mosul)
        "reqa",  # Kurdish short form; "Reqa" is a given name (Raqqa)
        "sham",  # English word; Hausa/Arabic for Syria or Damascus
        "شام",  # Persian/Urdu "evening"; also al-Sham, Greater Syria (Syria, Damascus)
        "موصول",  # Arabic "connected", the relative pronoun (Mosul)
        "siri",  # Apple's assistant; Albanian for Syria
        "того",  # Russian "of that", one of the commonest words (Togo)
        "swiss",  # an adjective, not the country (Switzerland)
        "kongo",  # either Congo; DW's "DR Kongo" is the other one (Republic of the Congo)
        "congo",  # the same in French, Spanish, ... (Republic of the Congo)
        "busum",  # Büsum, a German town too small for the data (Bussum, Netherlands)
    }
)

_ARTICLE = re.compile(r"^(?:a[lrsdntz]|ash|e[lrsdntz]|el)[\s\-'’]+(?=\w)")
_DIGRAPHS = (
    ("sch", "s"),
    ("tsch", "c"),
    ("kh", "k"),
    ("gh", "g"),
    ("ch", "k"),
    ("sh", "s"),
    ("sz", "s"),
    ("zh", "s"),
    ("th", "t"),
    ("ph", "f"),
    ("ck", "k"),
    ("dj", "j"),
)
_SOUND_CLASSES = str.maketrans(
    {
        "q": "k",
        "c": "k",
        "g": "k",
        "x": "k",
        "b": "p",
        "d": "t",
        "v": "f",
        "w": "f",
        "z": "s",
    }
)
_SILENT = re.compile(r"[aeiouyjh\W_]+")
_REPEATS = re.compile(r"(.)\1+")
_LATIN_EXTRA = str.maketrans(
    {"ł": "l", "ß": "ss", "ı": "i", "ø": "o", "đ": "d", "ə": "e", "æ": "ae"}
)
_CYRILLIC = dict(
    zip(
        "абвгґдеєёжзиіїйклмнопрстуфхцчшщъыьэюяђјљњћџѓќѕ",
        [
            "a",
            "b",
            "v",
            "g",
            "g",
            "d",
            "e",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "i",
            "i",
            "j",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "c",
            "ch",
            "sh",
            "shch",
            "_",
            "y",
            "_",
            "e",
            "ju",
            "ja",
            "dj",
            "j",
            "lj",
            "nj",
            "c",
            "dz",
            "g",
            "k",
            "dz",
        ],
        strict=True,
    )
)
_GREEK = dict(
    zip(
        "αβγδεζηθικλμνξοπρσςτυφχψω",
        [
            "a",
            "v",
            "g",
            "d",
            "e",
            "z",
            "i",
            "th",
            "i",
            "k",
            "l",
            "m",
            "n",
            "ks",
            "o",
            "p",
            "r",
            "s",
            "s",
            "t",
            "i",
            "f",
            "kh",
            "ps",
            "o",
        ],
        strict=True,
    )
)


# Each character's class, one character per class, so that a name's shape is read off
# `name.translate(_CLASSES)` with string operations: a letter of a DW script (upper case as
# capital), "x" a letter of another script, "m" a mark, " " what separates words, "!" anything
# that a name in running text does not hold (digits, symbols, brackets, modifier letters).
_SCRIPT_CODES = {
    "Latin": "l",
    "Cyrillic": "c",
    "Greek": "g",
    "Arabic": "a",
    "Devanagari": "d",
    "Bengali": "b",
    "Ethiopic": "e",
    "Han": "h",
}
_CODE_SCRIPTS = {code: script for script, code in _SCRIPT_CODES.items()}
_SEPARATORS = frozenset(" -'’.\u2010\u2011")
_ARTICLES = frozenset({"al", "ar", "as", "ash", "ad", "an", "at", "az", "el", "er", "es", "esh"})


class _ClassTable(dict[int, str]):
    def __missing__(self, code: int) -> str:
        char = chr(code)
        category = unicodedata.category(char)
        if char in _SEPARATORS or char.isspace():
            kind = " "
        elif category[0] == "M":
            kind = "m"
        elif category in ("Lu", "Ll", "Lt", "Lo"):
            script = SCRIPTS.get(unicodedata.name(char, "").split(" ")[0])
            kind = _SCRIPT_CODES[script] if script else "x"
            if category in ("Lu", "Lt"):
                kind = kind.upper()
        else:
            kind = "!"
        self[code] = kind
        return kind


_CLASSES = _ClassTable()
_WORD = re.compile(r"[^ ]+")


def acceptable_shape(name: str, curated: bool = False) -> str | None:
    """The script of `name` when it passes rules 1-3 (script, length, shape), else None.
    A `curated` name (CLDR's country names) is not held to the capitals of rule 3, which
    "Bosnia and Herzegovina" or "Côte d’Ivoire" do not follow."""
    shape = name.translate(_CLASSES)
    codes = set(shape.lower()) - {" ", "m"}
    if "!" in codes or "x" in codes:
        return None
    if len(codes) != 1:
        return None
    script = _CODE_SCRIPTS[codes.pop()]
    letters = len(shape) - shape.count(" ") - shape.count("m")
    if letters < MIN_LETTERS[script]:
        return None
    if script in CASED_SCRIPTS and not curated and not _written_as_name(name, shape):
        return None
    return script


def _written_as_name(name: str, shape: str) -> bool:
    """Rule 3 for a cased script: every word starts with a capital (an Arabic article may
    not: "al-Rakka") and none is all capitals ("OSM"); so "Gaza by", "Kiev osh", "mo su er",
    "Estat de Berlin" are not names as DW writes them."""
    for word in _WORD.finditer(shape):
        kinds = word.group()
        if kinds[0].islower() and name[word.start() : word.end()].casefold() not in _ARTICLES:
            return False
        if len(kinds) > 1 and kinds.isupper():
            return False
    return True


@lru_cache(maxsize=65536)
def skeleton(name: str) -> str:
    """`name` reduced to its consonants in rough sound classes, for `sounds_alike`."""
    lowered = unicodedata.normalize("NFC", name.casefold())
    latin = "".join(_CYRILLIC.get(char, _GREEK.get(char, char)) for char in lowered)
    decomposed = unicodedata.normalize("NFKD", latin.translate(_LATIN_EXTRA))
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = _ARTICLE.sub("", plain)
    for digraph, sound in _DIGRAPHS:
        plain = plain.replace(digraph, sound)
    plain = _SILENT.sub("", plain.translate(_SOUND_CLASSES))
    return _REPEATS.sub(r"\1", plain)


# Endings of Latin (and Latinised Greek) names, and letters of old Cyrillic spelling: names
# of history books ("Mausilium", "Berytus", "Odessos", "Gazae", "Дамаскъ"), not of news.
_OLD_LATIN_ENDINGS = ("um", "us", "os", "on", "ae")
_OLD_CYRILLIC = frozenset("ѣѫѧꙑѥѳѵꙗѯѱѡ")


def looks_modern(name: str, script: str | None, reference: str) -> bool:
    """Whether `name` is not an old form of `reference`: no Latin ending that the modern name
    lacks ("Mausilium" for Mosul, but "Khartum" for Khartoum), no old Cyrillic spelling."""
    lowered = name.casefold()
    if script == "Latin":
        ending = lowered[-2:]
        return ending not in _OLD_LATIN_ENDINGS or reference.casefold().endswith(ending)
    if script == "Cyrillic":
        return lowered[-1:] != "ъ" and not _OLD_CYRILLIC.intersection(lowered)
    if script == "Greek":
        return not lowered.endswith("ον")
    return True


def sounds_alike(name: str, reference: str) -> bool:
    """Whether `name` is `reference` written in another Latin, Cyrillic or Greek way (rule 4)."""
    ours, theirs = skeleton(name), skeleton(reference)
    if not ours or not theirs:
        return ours == theirs
    return SequenceMatcher(None, ours, theirs).ratio() >= SIMILARITY
