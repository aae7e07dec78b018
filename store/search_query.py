"""The search language of /search, parsed once, here: words (all must be there), "quoted
phrases" and prefixes (``raq*``). Terms hold only letters, digits and marks, so no user text
reaches the database's own syntax (FTS5 MATCH, PostgreSQL tsquery): we quote every term. Also the
splitting of the database's highlighted text, marked with two control characters, into
``(text, is_hit)`` pieces that a page escapes."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

MAX_QUERY_CHARS = 500
MAX_TERMS = 16
MAX_WORD_CHARS = 64  # longer is no word (PostgreSQL refuses lexemes over 2 KB)
HIT_START, HIT_END = "\x02", "\x03"  # markers the crawler never stores (it drops C0 controls)
_WORD_CATEGORIES = ("L", "N", "M")  # letters, digits, combining marks (Arabic vowel signs)

Pieces = list[tuple[str, bool]]


class SearchQueryError(ValueError):
    """A query with nothing to search for, or too much; the message is one line for the user."""


@dataclass(frozen=True)
class Term:
    """One thing every hit must contain: a word, or a phrase (words in this order, adjacent);
    ``prefix``: the last word may go on (``raq*`` finds Raqqa)."""

    words: tuple[str, ...]
    prefix: bool = False


def parse_query(query: str) -> list[Term]:
    """The terms of a query: ``"quoted phrases"``, ``prefix*`` and words; a word joined by
    punctuation (``al-Assad``) is a phrase of its parts. Anything but letters, digits and marks
    separates words, so operators and quotes of the database's syntax are never passed on."""
    if len(query) > MAX_QUERY_CHARS:
        raise SearchQueryError(f"the search is too long: at most {MAX_QUERY_CHARS} characters")
    query = unicodedata.normalize("NFC", query)
    terms: list[Term] = []
    position = 0
    while position < len(query):
        if query[position] == '"':
            end = query.find('"', position + 1)
            end = len(query) if end < 0 else end
            inside = query[position + 1 : end]
            starred = query.startswith("*", end + 1) or inside.rstrip().endswith("*")
            words = query_words(inside)
            if words:
                terms.append(Term(tuple(w for w, _ in words), prefix=starred))
            position = end + 1
        elif query[position].isspace():
            position += 1
        else:
            end = position
            while end < len(query) and not query[end].isspace() and query[end] != '"':
                end += 1
            terms.extend(_chunk_terms(query[position:end]))
            position = end
    if not terms:
        raise SearchQueryError(
            'nothing to search for: type a word, a "phrase in quotes" or the start of a word*'
        )
    if len(terms) > MAX_TERMS:
        raise SearchQueryError(f"too many words in the search: at most {MAX_TERMS}")
    for term in terms:
        for word in term.words:
            if len(word) > MAX_WORD_CHARS:
                raise SearchQueryError(f"a word in the search is over {MAX_WORD_CHARS} letters")
    return terms


def query_words(text_: str) -> list[tuple[str, bool]]:
    """The words of ``text_``, each with whether a ``*`` follows it at once."""
    words: list[tuple[str, bool]] = []
    current: list[str] = []
    for char in text_ + " ":
        if unicodedata.category(char)[0] in _WORD_CATEGORIES:
            current.append(char)
        elif current:
            words.append(("".join(current), char == "*"))
            current = []
    return words


def _chunk_terms(chunk: str) -> list[Term]:
    """The terms of text between spaces: ``raq*`` a prefix; ``al-Assad`` the phrase al Assad."""
    words = query_words(chunk)
    terms: list[Term] = []
    run: list[str] = []
    for word, starred in words:
        run.append(word)
        if starred:
            terms.append(Term(tuple(run), prefix=True))
            run = []
    if run:
        terms.append(Term(tuple(run)))
    return terms


def fts5_match(terms: Sequence[Term]) -> str:
    """The FTS5 MATCH expression: every term a quoted string (``"word"``, ``"a b"``, ``"raq"*``),
    side by side (AND)."""
    parts = []
    for term in terms:
        quoted = '"' + " ".join(term.words).replace('"', '""') + '"'
        parts.append(quoted + "*" if term.prefix else quoted)
    return " ".join(parts)


def postgres_tsquery(terms: Sequence[Term]) -> str:
    """The to_tsquery text: quoted lexemes (``'word'``, ``'a' <-> 'b'``, ``'raq':*``) joined
    by ``&``. PostgreSQL lowercases them with the same 'simple' configuration as the index."""

    def lexeme(word: str) -> str:
        return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"

    parts = []
    for term in terms:
        lexemes = [lexeme(word) for word in term.words]
        if term.prefix:
            lexemes[-1] += ":*"
        parts.append(" <-> ".join(lexemes))
    return " & ".join(parts)


def highlighted_pieces(marked: str) -> Pieces:
    """``(text, is_hit)`` pieces of a text with HIT_START/HIT_END around its hits."""
    pieces: Pieces = []
    hit = False
    current: list[str] = []
    for char in marked:
        if char in (HIT_START, HIT_END):
            if current:
                pieces.append(("".join(current), hit))
                current = []
            hit = char == HIT_START
        else:
            current.append(char)
    if current:
        pieces.append(("".join(current), hit))
    return pieces
