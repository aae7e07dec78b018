"""Watchlist queries: `query = '(Raqqa OR Rakka) AND attack -football'` instead of term lists.

The syntax (`alerts.query_parser`) is the one analysts bring from Google Alerts, Talkwalker or
Meltwater: AND, OR, NOT and a leading `-`, AND implied between adjacent parts, parentheses,
"phrases", `prefix*`, `a NEAR/n b` (at most n words between them, either order, same field),
`title:`/`teaser:`/`body:`/`topics:` on a word, phrase or group, `lang:de`, and `=Word` (exact
case, no inflections or place aliases). The tree is `alerts.query_ast`.

The matcher looks for every `leaves(query)` at once on its one automaton and hands the
occurrences it found to `evaluate` (or a `CompiledQuery`); the list form (`terms`, `match_case`,
`require`, `exclude`) is turned into the query that means the same (`list_form_query`), so both
forms are decided by this one evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from alerts.query_ast import (
    FIELDS,
    And,
    Field,
    Lang,
    Leaf,
    Near,
    Not,
    Occurrence,
    Or,
    Phrase,
    Query,
    Term,
)
from alerts.query_parser import QuerySyntaxError
from alerts.query_parser import parse_query as parse_query_syntax
from alerts.textnorm import fold, preserve_case, word_gaps

__all__ = [
    "FIELDS",
    "And",
    "CompiledQuery",
    "Field",
    "Lang",
    "Leaf",
    "Near",
    "Not",
    "Occurrence",
    "Or",
    "Phrase",
    "Query",
    "QuerySyntaxError",
    "Term",
    "compile_query",
    "evaluate",
    "format_query",
    "leaves",
    "list_form_query",
    "parse_query",
]

Occurrences = Mapping[int, Sequence[Occurrence]]


def parse_query(text: str) -> Query:
    """The tree of `text`; QuerySyntaxError (a ValueError) names the column and what was
    expected. A query that would match articles containing none of its words (`-football`,
    `lang:de` alone, `Raqqa OR -football`) is refused too: it would flood the digest."""
    query = parse_query_syntax(text)
    if matches_without_hits(query):
        raise QuerySyntaxError(
            1,
            "the query matches articles that contain none of its words (as '-football' or "
            "'lang:de' alone would); give it something to look for",
        )
    return query


def matches_without_hits(query: Query) -> bool:
    """Whether some article with no occurrence of any leaf matches. Trying the query's own
    language codes and None is enough: any other language makes the same `lang:` parts true
    as the longest of those codes it falls under (or none)."""
    compiled = compile_query(query)
    languages: set[str | None] = {None, *_languages(query)}
    return any(compiled.matches({}, language) for language in languages)


def leaf_key(leaf: Leaf) -> tuple[object, ...]:
    """Leaves with equal keys are looked for alike (`Raqqa`, `raqqa`, `"Raqqa"`); separators are
    part of it, since `Ar-Raqqa` is not `"Ar Raqqa"`, and so is the case of exact ones."""
    text = preserve_case(leaf.text).strip()
    return (
        fold(text).strip(),
        tuple(word_gaps(text)),
        leaf.prefix,
        leaf.exact,
        text if leaf.exact else None,
        leaf.field,
    )


def leaves(query: Query) -> list[Leaf]:
    """Every word and phrase to look for, once each (the first as written), in the order they
    are written: the matcher's term keys for this query."""
    seen: set[tuple[object, ...]] = set()
    found: list[Leaf] = []
    for leaf in _walk_leaves(query):
        key = leaf_key(leaf)
        if key not in seen:
            seen.add(key)
            found.append(leaf)
    return found


def _walk_leaves(query: Query) -> list[Leaf]:
    if isinstance(query, Term | Phrase):
        return [query]
    if isinstance(query, And | Or):
        return [leaf for item in query.items for leaf in _walk_leaves(item)]
    if isinstance(query, Not):
        return _walk_leaves(query.item)
    if isinstance(query, Near):
        return _walk_leaves(query.left) + _walk_leaves(query.right)
    return []


def _languages(query: Query) -> list[str]:
    if isinstance(query, Lang):
        return [query.code]
    if isinstance(query, And | Or):
        return [code for item in query.items for code in _languages(item)]
    if isinstance(query, Not):
        return _languages(query.item)
    return []


@dataclass(frozen=True)
class _Context:
    occurrences: Occurrences
    language: str | None
    fields: Collection[Field] | None


_Test = Callable[[_Context], bool]


@dataclass(frozen=True)
class CompiledQuery:
    """A query with its leaves numbered once, ready to decide article after article."""

    query: Query
    leaves: tuple[Leaf, ...]
    _test: _Test

    def matches(
        self,
        occurrences: Occurrences,
        language: str | None,
        fields: Collection[Field] | None = None,
    ) -> bool:
        """Whether an article matches. `occurrences[i]` lists where `leaves[i]` occurred (a
        missing index: nowhere). A leaf without a field counts in `fields` (the watchlist's;
        None: any field), one with a field only there. `language` is the article's code."""
        return self._test(_Context(occurrences, language, fields))


@lru_cache(maxsize=1024)
def compile_query(query: Query) -> CompiledQuery:
    found = leaves(query)
    index = {leaf_key(leaf): number for number, leaf in enumerate(found)}
    return CompiledQuery(query, tuple(found), _compile(query, index))


def evaluate(
    query: Query,
    occurrences: Occurrences,
    language: str | None,
    fields: Collection[Field] | None = None,
) -> bool:
    """Whether an article with these occurrences of `leaves(query)` (by index) and this language
    matches; see `CompiledQuery.matches`."""
    return compile_query(query).matches(occurrences, language, fields)


def _compile(query: Query, index: dict[tuple[object, ...], int]) -> _Test:
    if isinstance(query, Term | Phrase):
        found = _compile_side(query, index)
        return lambda context: bool(found(context))
    if isinstance(query, And):
        tests = [_compile(item, index) for item in query.items]
        return lambda context: all(test(context) for test in tests)
    if isinstance(query, Or):
        tests = [_compile(item, index) for item in query.items]
        return lambda context: any(test(context) for test in tests)
    if isinstance(query, Not):
        test = _compile(query.item, index)
        return lambda context: not test(context)
    if isinstance(query, Near):
        left, right = _compile_side(query.left, index), _compile_side(query.right, index)
        distance = query.distance
        return lambda context: _near(left(context), right(context), distance)
    code = query.code
    return lambda context: _speaks(context.language, code)


def _compile_side(
    query: Query, index: dict[tuple[object, ...], int]
) -> Callable[[_Context], list[Occurrence]]:
    """The occurrences that count for a leaf, or for an Or of leaves (a side of NEAR/n)."""
    sides = query.items if isinstance(query, Or) else (query,)
    wanted: list[tuple[int, Field | None]] = []
    for side in sides:
        assert isinstance(side, Term | Phrase), "the parser lets only leaves stand here"
        wanted.append((index[leaf_key(side)], side.field))

    def occurrences(context: _Context) -> list[Occurrence]:
        counted: list[Occurrence] = []
        for number, field in wanted:
            for occurrence in context.occurrences.get(number, ()):
                if field is None:
                    if context.fields is None or occurrence.field in context.fields:
                        counted.append(occurrence)
                elif occurrence.field == field:
                    counted.append(occurrence)
        return counted

    return occurrences


def _near(left: list[Occurrence], right: list[Occurrence], distance: int) -> bool:
    """Some occurrence of each side in one field, not overlapping, with at most `distance`
    words between them."""
    for a in left:
        for b in right:
            if a.field != b.field:
                continue
            if a.position + a.words <= b.position:
                between = b.position - a.position - a.words
            elif b.position + b.words <= a.position:
                between = a.position - b.position - b.words
            else:
                continue  # the same words: NEAR is about two places in the text
            if between <= distance:
                return True
    return False


def _speaks(language: str | None, code: str) -> bool:
    if language is None:
        return False
    language = language.strip().lower().replace("_", "-")
    return language == code or language.startswith(code + "-")


def list_form_query(
    terms: Sequence[str],
    match_case: Sequence[str] = (),
    require: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Query:
    """The query a list-form watchlist means: any of `terms` (or of `match_case`, exact), and
    every `require`, and none of `exclude`. The watchlist's `fields` apply to all of them, as
    they do to a query's words written without a field."""
    positive = [_list_leaf(term, exact=False) for term in terms]
    positive += [_list_leaf(term, exact=True) for term in match_case]
    if not positive:
        raise ValueError("needs at least one of terms, match_case")
    anything: Query = positive[0] if len(positive) == 1 else Or(tuple(positive))
    parts = [anything, *(_list_leaf(term, exact=False) for term in require)]
    parts += [Not(_list_leaf(term, exact=False)) for term in exclude]
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def _list_leaf(written: str, *, exact: bool) -> Leaf:
    """A configured term as a leaf: `terror*` a prefix, `=Raqqa` exact, words with a space
    between them a phrase."""
    text = written.strip()
    if text.startswith("="):
        exact, text = True, text[1:].strip()
    prefix = text.endswith("*")
    text = text.removesuffix("*").strip()
    if any(char.isspace() for char in text):
        return Phrase(text, prefix, exact)
    return Term(text, prefix, exact)


def format_query(query: Query) -> str:
    """The query written out so that `parse_query` reads back the same tree: for `newswatch
    check` and messages. (A list-form term with a quote or ':' in it has no exact spelling.)"""
    if isinstance(query, Term | Phrase):
        return _format_leaf(query)
    if isinstance(query, Lang):
        return f"lang:{query.code}"
    if isinstance(query, Or):
        return " OR ".join(format_query(item) for item in query.items)
    if isinstance(query, And):
        return " AND ".join(_bracketed(item, (Or,)) for item in query.items)
    if isinstance(query, Not):
        if isinstance(query.item, Term | Phrase | Lang):
            return "-" + format_query(query.item)
        return "NOT " + _bracketed(query.item, (And, Or))
    sides = (_bracketed(side, (Or,)) for side in (query.left, query.right))
    return f" NEAR/{query.distance} ".join(sides)


def _bracketed(query: Query, kinds: tuple[type, ...]) -> str:
    written = format_query(query)
    return f"({written})" if isinstance(query, kinds) else written


_BARE_BREAKERS = frozenset(' ()"*:')


def _reads_back_bare(text: str) -> bool:
    """Whether a word needs no quotes: no keyword (`AND`), no field, nothing that splits it."""
    if any(char in _BARE_BREAKERS or char.isspace() for char in text) or text[:1] in "-=":
        return False
    try:
        return parse_query_syntax(text) == Term(text)
    except QuerySyntaxError:
        return False


def _format_leaf(leaf: Leaf) -> str:
    text = leaf.text
    bare = isinstance(leaf, Term) and _reads_back_bare(text)
    star = "*" if leaf.prefix else ""
    written = f"{text}{star}" if bare else f'"{text}{star}"'
    return f"{leaf.field + ':' if leaf.field else ''}{'=' if leaf.exact else ''}{written}"
