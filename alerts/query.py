"""Watchlist queries: `query = '(Raqqa OR Rakka) AND attack -football'` instead of term lists.

The syntax (`alerts.query_parser`) is the one analysts bring from Google Alerts, Talkwalker or
Meltwater: AND, OR, NOT and a leading `-`, AND implied between adjacent parts, parentheses,
"phrases", `prefix*`, `a NEAR/n b` (at most n words between them, either order, same field;
chained `a NEAR/5 b NEAR/5 c`, nested `(a NEAR/3 b) NEAR/10 c`, over groups `(a AND b) NEAR/5 c`:
`alerts.query_eval` says what they match),
`title:`/`teaser:`/`body:`/`topics:` on a word, phrase or group, `lang:de`, and `=Word` (exact
case, no inflections or place aliases). The tree is `alerts.query_ast`.

The matcher looks for every `leaves(query)` at once on its one automaton and hands the
occurrences it found to `evaluate` (or a `CompiledQuery`); the list form (`terms`, `match_case`,
`require`, `exclude`) is turned into the query that means the same (`list_form_query`), so both
forms are decided by this one evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence

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
from alerts.query_eval import (
    CompiledQuery,
    Occurrences,
    compile_query,
    evaluate,
    leaf_key,
    leaves,
    positive_leaves,
)
from alerts.query_parser import QuerySyntaxError
from alerts.query_parser import parse_query as parse_query_syntax

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
    "Occurrences",
    "Or",
    "Phrase",
    "Query",
    "QuerySyntaxError",
    "Term",
    "compile_query",
    "evaluate",
    "format_query",
    "leaf_key",
    "leaves",
    "list_form_query",
    "list_leaf",
    "matches_without_hits",
    "parse_query",
    "positive_leaves",
    "term_spelling",
]


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
        ).within(text)
    return query


def matches_without_hits(query: Query) -> bool:
    """Whether some article with no occurrence of any leaf matches. Trying the query's own
    language codes and None is enough: any other language makes the same `lang:` parts true
    as the longest of those codes it falls under (or none)."""
    compiled = compile_query(query)
    languages: set[str | None] = {None, *_languages(query)}
    return any(compiled.matches({}, language) for language in languages)


def _languages(query: Query) -> list[str]:
    if isinstance(query, Lang):
        return [query.code]
    if isinstance(query, And | Or):
        return [code for item in query.items for code in _languages(item)]
    if isinstance(query, Not):
        return _languages(query.item)
    return []


def list_form_query(
    terms: Sequence[str],
    match_case: Sequence[str] = (),
    require: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Query:
    """The query a list-form watchlist means: any of `terms` (or of `match_case`, exact), and
    every `require`, and none of `exclude`. The watchlist's `fields` apply to all of them, as
    they do to a query's words written without a field."""
    positive = [list_leaf(term, exact=False) for term in terms]
    positive += [list_leaf(term, exact=True) for term in match_case]
    if not positive:
        raise ValueError("needs at least one of terms, match_case")
    anything: Query = positive[0] if len(positive) == 1 else Or(tuple(positive))
    parts = [anything, *(list_leaf(term, exact=False) for term in require)]
    parts += [Not(list_leaf(term, exact=False)) for term in exclude]
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def list_leaf(written: str, *, exact: bool) -> Leaf:
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


def term_spelling(leaf: Leaf) -> str:
    """A leaf written as a list-form term (`=IS`, `terror*`, `Islamic State`), for
    `alerts.watchlists.parse_term`: the matcher looks for it as it looks for a term."""
    return f"{'=' if leaf.exact else ''}{leaf.text}{'*' if leaf.prefix else ''}"


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
    parts = [_bracketed(part, (Or, And, Near)) for part in query.parts]
    written = parts[0]
    for distance, part in zip(query.distances, parts[1:], strict=True):
        written += f" NEAR/{distance} {part}"
    return written


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
