"""A match's snippet as pieces to show, each hit marked: the digest's ``<mark>``s on the web.

A stored snippet is ``{"text": ..., "spans": [[start, end], ...]}`` (``alerts.snippets``); the
spans are offsets into the text. They are read defensively (clamped, in order, no overlap), so
a damaged row shows its text unmarked rather than failing the page."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Segments = list[tuple[str, bool]]


def clean_spans(text: str, spans: Iterable[Any]) -> list[tuple[int, int]]:
    """The usable ``(start, end)`` spans of ``text``: inside it, sorted, not overlapping."""
    usable: list[tuple[int, int]] = []
    for span in spans:
        if not isinstance(span, Sequence) or len(span) != 2:
            continue
        start, end = span
        if not isinstance(start, int) or not isinstance(end, int):
            continue
        start, end = max(0, start), min(len(text), end)
        if start < end:
            usable.append((start, end))
    usable.sort()
    merged: list[tuple[int, int]] = []
    for start, end in usable:
        if merged and start < merged[-1][1]:
            continue
        merged.append((start, end))
    return merged


def segments(text: str, spans: Iterable[tuple[int, int]]) -> Segments:
    """``text`` cut into ``(piece, is_hit)`` pairs; the template escapes each piece."""
    pieces: Segments = []
    done = 0
    for start, end in clean_spans(text, spans):
        if start > done:
            pieces.append((text[done:start], False))
        pieces.append((text[start:end], True))
        done = end
    if done < len(text):
        pieces.append((text[done:], False))
    return pieces
