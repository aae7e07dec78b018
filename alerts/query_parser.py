"""Reading a watchlist query: the grammar (lark, LALR) and the conversion into `alerts.query_ast`.

Lark rather than luqum or boolean.py: luqum parses Lucene, which has neither `NEAR/n` nor a
`lang:` filter (it would read `lang:de` as a field search and `NEAR/5` as a word), and boolean.py
knows only AND/OR/NOT over symbols, no phrases, fields or prefixes. A small LALR grammar of our
own says exactly what analysts write and gives the column of the first thing that does not fit.

Precedence, tightest first: `NEAR/n`, then `NOT`/`-`, then AND (also implied between adjacent
parts), then OR. Keywords are upper case (`and`, `or`, `near` are words to look for).

`NEAR/n` chains (`a NEAR/5 b NEAR/3 c` is one `Near` of three parts, each within its distance of
the one before) and nests (`(a NEAR/3 b) NEAR/10 c`: the parenthesised pair is one part); a part
is a word, a phrase, or a parenthesised group of them with AND, OR and NEAR, never NOT, `-` or
`lang:` (they say nothing about a place in the text). `alerts.query_eval` says what each form
matches.

A query may span lines (TOML's `query = '''...'''`): an error then names the line and the
column within it (`line 2, column 5: ...`), a one-line query only the column.
"""

from __future__ import annotations

import re
from functools import cache

from lark import Lark, Token, Tree, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from alerts.query_ast import FIELDS, And, Field, Lang, Near, Not, Or, Phrase, Query, Term
from alerts.textnorm import fold, is_word_char

__all__ = ["QuerySyntaxError", "parse_query"]

_END = r'(?![^\s()"])'  # a keyword or word ends at a space, a parenthesis, a quote or the end
GRAMMAR = rf"""
    start: or_expr
    ?or_expr: and_expr (OR and_expr)*
    ?and_expr: unary (AND? unary)*
    ?unary: (NOT | NEG) unary -> negation
          | near
    ?near: primary (NEAR primary)*
    ?primary: FIELD target -> fielded
            | target
            | LANG -> lang
    ?target: EXACT? WORD -> term
           | EXACT? PHRASE -> phrase
           | LPAR or_expr RPAR -> group

    OR.5: /OR{_END}/
    AND.5: /AND{_END}/
    NOT.5: /NOT{_END}/
    NEAR.5: /NEAR(\/[^\s()"]*)?{_END}/
    FIELD.4: /(title|teaser|body|topics):/i
    LANG.4: /lang:[^\s()"]*{_END}/i
    NEG.3: /-(?=[^\s-])/
    EXACT.3: /=(?=[^\s=])/
    WORD: /[^\s()"=:\-][^\s()":]*/
    PHRASE: /"[^"]*"/
    LPAR: "("
    RPAR: ")"
    %ignore /\s+/
"""

_NAMES = {
    "WORD": "a word",
    "PHRASE": 'a "phrase"',
    "LPAR": "'('",
    "RPAR": "')'",
    "FIELD": "a field (title: teaser: body: topics:)",
    "LANG": "lang:",
    "NEG": "'-'",
    "NOT": "NOT",
    "EXACT": "'='",
    "AND": "AND",
    "OR": "OR",
    "NEAR": "NEAR/n",
    "$END": "the end",
}
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{1,8})*")


class QuerySyntaxError(ValueError):
    """A query that cannot be read: one line naming where (1-based) and what was expected.
    The caller puts the watchlist's name in front. `column` counts within `line`; a query of
    several lines is told as `line 2, column 5: ...`, one of a single line as `column 5: ...`."""

    def __init__(self, column: int, message: str, line: int | None = None):
        where = f"column {column}" if line is None else f"line {line}, column {column}"
        super().__init__(f"{where}: {message}")
        self.column, self.line, self.message = column, line or 1, message

    def within(self, text: str) -> QuerySyntaxError:
        """The same error with its column (counted over the whole of `text`) told as a line and
        a column within it, when `text` spans several lines."""
        if "\n" not in text.rstrip():
            return self
        offset = min(self.column - 1, len(text))
        line_start = text.rfind("\n", 0, offset) + 1
        line = text.count("\n", 0, offset) + 1
        return QuerySyntaxError(offset - line_start + 1, self.message, line)


@cache
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False)


def parse_query(text: str) -> Query:
    """The tree of `text`, or QuerySyntaxError saying where and what is wrong."""
    try:
        return _parse(text)
    except QuerySyntaxError as error:
        raise error.within(text) from None


def _parse(text: str) -> Query:
    if not text.strip():
        raise QuerySyntaxError(1, "the query is empty")
    _check_balance(text)
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as error:
        raise _explained(text, error) from None
    return _convert(tree.children[0], None)


def _check_balance(text: str) -> None:
    """Unclosed quotes and parentheses, told with the column where they open (or the stray
    closing one), which says more than where the parser ran out."""
    opened: list[int] = []
    quote: int | None = None
    for index, char in enumerate(text):
        if quote is not None:
            if char == '"':
                quote = None
        elif char == '"':
            quote = index
        elif char == "(":
            opened.append(index)
        elif char == ")":
            if not opened:
                raise QuerySyntaxError(index + 1, "')' closes no '('")
            opened.pop()
    if quote is not None:
        raise QuerySyntaxError(quote + 1, "'\"' is never closed")
    if opened:
        raise QuerySyntaxError(opened[-1] + 1, "'(' is never closed")


def _explained(text: str, error: UnexpectedInput) -> QuerySyntaxError:
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream or 0
        column, char = position + 1, text[position]
        if char == ":":
            field = re.findall(r"[^\s()\"=:\-]+$", text[:position])
            name = field[0] if field else ""
            return QuerySyntaxError(
                column - len(name),
                f"unknown field {name + ':'!r} (fields: title, teaser, body, topics, lang); "
                "put other text with ':' in quotes",
            )
        if char == "-":
            return QuerySyntaxError(column, "'-' must touch what it excludes, as in -football")
        if char == "=":
            return QuerySyntaxError(column, "'=' must touch its word, as in =IS")
        return QuerySyntaxError(column, f"unexpected {char!r}")
    if isinstance(error, UnexpectedToken):
        token = error.token
        expected = _expectation(set(error.expected))
        if token.type == "$END":
            column = len(text.rstrip()) + 1
            return QuerySyntaxError(column, f"expected {expected}, found the end")
        return QuerySyntaxError(_at(token), f"expected {expected}, found {str(token)!r}")
    return QuerySyntaxError(getattr(error, "column", 1) or 1, "cannot be read")


def _expectation(expected: set[str]) -> str:
    if "WORD" in expected:
        return "a word, a \"phrase\" or '('"
    names = [_NAMES.get(name, name) for name in sorted(expected)]
    return " or ".join(names)


def _convert(node: Tree[Token] | Token, field: Field | None) -> Query:
    """The AST of a parse tree node; `field` is the innermost field written around it."""
    if isinstance(node, Token):  # pragma: no cover - every token sits inside a rule
        raise QuerySyntaxError(_at(node), f"unexpected {str(node)!r}")
    kind, children = node.data, node.children
    if kind == "or_expr":
        return Or(_flatten(Or, [_convert(c, field) for c in children if not _is(c, "OR")]))
    if kind == "and_expr":
        return And(_flatten(And, [_convert(c, field) for c in children if not _is(c, "AND")]))
    if kind == "negation":
        return Not(_convert(children[1], field))
    if kind == "near":
        return _near(children, field)
    if kind == "fielded":
        token = children[0]
        assert isinstance(token, Token)
        named = token.lower().removesuffix(":")
        return _convert(children[1], next(f for f in FIELDS if f == named))
    if kind == "lang":
        return _lang(_token(children[0]))
    if kind == "group":
        return _convert(children[1], field)
    if kind in ("term", "phrase"):
        return _leaf(kind, [_token(child) for child in children], field)
    raise AssertionError(f"rule {kind} has no conversion")  # pragma: no cover


def _flatten(kind: type[And] | type[Or], items: list[Query]) -> tuple[Query, ...]:
    """`a AND (b AND c)` is one And of three: the same query however it was bracketed."""
    flat: list[Query] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return tuple(flat)


def _near(children: list[Tree[Token] | Token], field: Field | None) -> Query:
    """`a NEAR/5 b`, or a chain `a NEAR/5 b NEAR/3 c`: one Near of all the parts."""
    distances: list[int] = []
    for operator in map(_token, children[1::2]):
        distance = operator.removeprefix("NEAR").removeprefix("/")
        if not distance.isascii() or not distance.isdigit():
            raise QuerySyntaxError(
                _at(operator), f"{str(operator)!r}: NEAR needs a number of words, as in NEAR/5"
            )
        distances.append(int(distance))
    parts = [_near_part(child, field) for child in children[0::2]]
    chain = tuple(zip(distances[1:], parts[2:], strict=True))
    return Near(parts[0], parts[1], distances[0], chain)


def _near_part(node: Tree[Token] | Token, field: Field | None) -> Query:
    """A part of NEAR/n: anything but NOT, '-' and lang:, which stand for no place in the text
    (reported where the first of them is written)."""
    if isinstance(node, Tree):
        placeless = [
            _column(tree) for tree in node.iter_subtrees() if tree.data in ("negation", "lang")
        ]
        if placeless:
            raise QuerySyntaxError(
                min(placeless),
                'a part of NEAR/n is made of words, "phrases", AND, OR and NEAR; '
                "put NOT, '-' and lang: outside it, as in (a NEAR/5 b) -c",
            )
    return _convert(node, field)


def _lang(token: Token) -> Lang:
    code = token[len("lang:") :].strip().lower().replace("_", "-")
    if not _LANGUAGE_CODE.fullmatch(code):
        raise QuerySyntaxError(
            _at(token), f"{str(token)!r}: lang: needs a language code, as in lang:de"
        )
    return Lang(code)


def _leaf(kind: str, tokens: list[Token], field: Field | None) -> Query:
    exact = tokens[0].type == "EXACT"
    token = tokens[-1]
    column = _at(token)
    text = token[1:-1] if kind == "phrase" else str(token)
    star = text.find("*")
    if star != -1 and star != len(text) - 1:
        raise QuerySyntaxError(
            column + star + (kind == "phrase"),
            "'*' may only end a word, as in terror*",
        )
    prefix = star != -1
    text = text.removesuffix("*").strip()
    if not any(is_word_char(char) for char in fold(text)):
        what = "phrase" if kind == "phrase" else "word"
        raise QuerySyntaxError(column, f"the {what} {str(token)!r} has no letter or digit")
    if kind == "phrase":
        return Phrase(text, prefix, exact, field)
    return Term(text, prefix, exact, field)


def _token(node: Tree[Token] | Token) -> Token:
    assert isinstance(node, Token)
    return node


def _is(node: Tree[Token] | Token, kind: str) -> bool:
    return isinstance(node, Token) and node.type == kind


def _column(node: Tree[Token] | Token) -> int:
    """Column of the first token under `node`."""
    while isinstance(node, Tree):
        node = node.children[0]
    return _at(node)


def _at(token: Token) -> int:
    """1-based column of a token, counted over the whole query (a query may span lines)."""
    return (token.start_pos or 0) + 1
