"""What a sandboxed template may make: each check refuses, before it is made, a result over
the caps (OverflowError, which the sandbox reports as a one-line template problem).

- ``range()`` gives at most MAX_RANGE items;
- ``*``, ``+``, ``**`` and ``%`` (`refuse_huge`), the filters that pad, indent, format, replace
  or wrap (`refuse_amplifying_filter`) and the str methods that pad or replace
  (`refuse_amplifying_method`) make no string or list over MAX_SIZE items and no number over
  MAX_INT_BITS bits; any other filter's or call's result over MAX_SIZE is refused once made
  (`refuse_large`).
"""

from __future__ import annotations

import re
from collections.abc import Sized
from typing import Any

MAX_RANGE = 10_000
MAX_SIZE = 1_000_000  # characters or items
MAX_INT_BITS = 100_000


def capped_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise OverflowError(f"range() of {len(numbers)} items: at most {MAX_RANGE}")
    return numbers


_SEQUENCES = (str, list, tuple)
# a field width or precision of MAX_SIZE or more in a %-format or a str.format spec
_WIDE_FORMAT = re.compile(r"(?:%(?:\([^)]*\))?[-#0 +]*|[:.][^\d{}]{0,3})(?:\d*\.)?\d{7,}")
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
AMPLIFYING_FILTERS = frozenset({"center", "indent", "format", "replace", "wordwrap"})


def refuse_large(result: Any, made_by: str) -> Any:
    if isinstance(result, _SEQUENCES) and len(result) > MAX_SIZE:
        raise OverflowError(f"{made_by} made {len(result):,} items: at most {MAX_SIZE:,}")
    return result


def refuse_wide_format(text: Any) -> None:
    if isinstance(text, str) and _WIDE_FORMAT.search(text):
        raise OverflowError(f"a format wider than {MAX_SIZE:,} characters")


def _refuse_width(width: Any, lines: int = 1) -> None:
    size = len(width) if isinstance(width, str) else width
    if isinstance(size, int) and size * lines > MAX_SIZE:
        raise OverflowError(f"a width of {size:,} characters: at most {MAX_SIZE:,}")


def _refuse_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        times = len(text) // len(old) if old else len(text) + 1
        if len(text) + times * len(new) > MAX_SIZE:
            raise OverflowError(f"replacing would make over {MAX_SIZE:,} characters")


def refuse_amplifying_method(function: Any, args: tuple[Any, ...]) -> None:
    """str methods that make a string far larger than their arguments."""
    owner, name = getattr(function, "__self__", None), getattr(function, "__name__", "")
    if not isinstance(owner, str):
        return
    if name in _WIDTH_METHODS and args:
        _refuse_width(args[0])
    elif name == "replace" and len(args) >= 2:
        _refuse_replace(owner, args[0], args[1])


def refuse_amplifying_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    def argument(position: int, keyword: str) -> Any:
        return args[position] if len(args) > position else kwargs.get(keyword)

    if name == "center":
        _refuse_width(argument(1, "width"))
    elif name == "indent":
        _refuse_width(argument(1, "width"), str(argument(0, "s")).count("\n") + 1)
    elif name == "format":
        refuse_wide_format(argument(0, "value"))
    elif name == "replace":  # (eval_ctx, s, old, new)
        _refuse_replace(argument(1, "s"), argument(2, "old"), argument(3, "new"))
    elif name == "wordwrap":  # (environment, s, width=79, break_long_words, wrapstring)
        text, width = argument(1, "s"), argument(2, "width") or 79
        wrapstring = argument(4, "wrapstring") or "\n"
        if isinstance(text, str) and isinstance(width, int) and isinstance(wrapstring, str):
            _refuse_width(wrapstring, len(text) // max(width, 1) + text.count("\n") + 1)


def refuse_huge(op: str, left: Any, right: Any) -> None:
    """Refuse, before it is made, a result over MAX_SIZE items or MAX_INT_BITS bits."""
    ints = isinstance(left, int) and isinstance(right, int)
    if op == "%":
        refuse_wide_format(left)
    elif op == "**":
        if ints and abs(left) > 1 and right > 0 and left.bit_length() * right > MAX_INT_BITS:
            raise OverflowError(f"{left} ** {right} is too large a number")
    elif op == "*":
        if ints and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise OverflowError("too large a number")
        for sequence, count in ((left, right), (right, left)):
            repeated = isinstance(sequence, _SEQUENCES) and isinstance(count, int)
            if repeated and len(sequence) * count > MAX_SIZE:
                raise OverflowError(f"repeating {len(sequence)} items {count} times")
    elif isinstance(left, _SEQUENCES) and isinstance(right, Sized):  # "+"
        joined = len(left) + len(right)
        if joined > MAX_SIZE:
            raise OverflowError(f"joining {len(left)} and {len(right)} items")
