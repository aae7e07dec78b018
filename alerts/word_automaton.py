"""Whole-word occurrences of many keys in one pass: Aho-Corasick automata over word boundaries.

Keys are numbered terms (the matcher's term ids). Two ways to make every reported occurrence a
whole word:

* padded (`build_padded_automaton`, `scan_padded`): each key carries a space on each side that
  must be a word boundary, and the text is scanned as " " + text + " ", so every occurrence the
  automaton reports is already a hit: no boundary checks, no candidates inside words to sift.
  This needs a text whose words are separated by spaces (the folded text of `alerts.textnorm`).
* checked (`build_automaton`, `scan`): unpadded keys, and a boundary check per candidate; for
  text as written (match_case words) and for scripts without spaces (CJK), where words touch.

A key may stand for whole-word terms and prefix terms (written with a trailing `*`) at once.
"""

from __future__ import annotations

import ahocorasick

from alerts.textnorm import ASCII_WORD_CHARS, is_boundary, needs_boundary

__all__ = [
    "Occurrence",
    "TermIds",
    "build_automaton",
    "build_padded_automaton",
    "scan",
    "scan_padded",
]

TermIds = dict[str, tuple[list[int], list[int]]]  # key -> (whole-word term ids, prefix term ids)
Occurrence = tuple[int, int, int]  # (term id, start, end) in offsets of the text scanned
# Automaton value per key of `build_automaton`: (key length, check boundary before, check
# boundary after, ids of whole-word terms, ids of prefix terms).
_KeyEntry = tuple[int, bool, bool, tuple[int, ...], tuple[int, ...]]


def build_automaton(term_ids: TermIds) -> ahocorasick.Automaton | None:
    """Unpadded keys for `scan`; None without keys."""
    if not term_ids:
        return None
    automaton = ahocorasick.Automaton()
    for key, (whole_words, prefixes) in sorted(term_ids.items()):
        entry: _KeyEntry = (
            len(key),
            needs_boundary(key[0]),
            needs_boundary(key[-1]),
            tuple(whole_words),
            tuple(prefixes),
        )
        automaton.add_word(key, entry)
    automaton.make_automaton()
    return automaton


def build_padded_automaton(keys: list[tuple[str, bool, int]]) -> ahocorasick.Automaton:
    """(key, prefix, term id) as keys with a space on each side that must be a word boundary,
    for `scan_padded`."""
    padded: dict[str, list[int]] = {}
    for key, prefix, term_id in keys:
        before = " " if needs_boundary(key[0]) else ""
        after = " " if needs_boundary(key[-1]) and not prefix else ""
        padded.setdefault(before + key + after, []).append(term_id)
    automaton = ahocorasick.Automaton()
    for key, term_ids in sorted(padded.items()):
        spaces_before = 1 if key.startswith(" ") else 0
        spaces_after = 1 if key.endswith(" ") else 0
        automaton.add_word(key, (len(key), spaces_before, spaces_after, tuple(term_ids)))
    if padded:
        automaton.make_automaton()
    return automaton


def scan_padded(automaton: ahocorasick.Automaton, text: str) -> list[Occurrence]:
    """(term id, start, end) of every occurrence, in offsets of `text`."""
    hits: list[Occurrence] = []
    add = hits.append
    # In " " + text + " ", an occurrence ends at `last` (inclusive); text offsets are one less.
    for last, (size, spaces_before, spaces_after, term_ids) in automaton.iter(f" {text} "):
        start, end = last - size + spaces_before, last - spaces_after
        for term_id in term_ids:
            add((term_id, start, end))
    return hits


def scan(automaton: ahocorasick.Automaton, text: str) -> list[Occurrence]:
    """(term id, start, end) of every occurrence at word boundaries."""
    hits: list[Occurrence] = []
    add = hits.append
    length = len(text)
    for last, (size, check_before, check_after, whole_words, prefixes) in automaton.iter(text):
        start, end = last + 1 - size, last + 1
        # Most candidates that fail sit inside a word: an ASCII neighbour settles it at once.
        if check_before and start:
            before = text[start - 1]
            if before in ASCII_WORD_CHARS or (before > "\x7f" and not is_boundary(text, start)):
                continue
        if whole_words:
            after = text[end] if check_after and end < length else " "
            if after not in ASCII_WORD_CHARS and (after < "\x80" or is_boundary(text, end)):
                for term_id in whole_words:
                    add((term_id, start, end))
        for term_id in prefixes:
            add((term_id, start, end))
    return hits
