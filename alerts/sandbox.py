"""A Jinja2 sandbox for the digest templates, which a user may override: what a template can
reach (jinja2.sandbox.SandboxedEnvironment), how long it may run, how much it may make, and
which files it may read.

- time: while a render runs, the deadline is checked on entering every block of template code
  (each loop iteration, branch and macro call) and at every call, item access, filter, test
  and intercepted operator;
- size: ``range()`` gives at most MAX_RANGE items; ``*``, ``+``, ``**``, ``%``, the filters
  and the str methods that pad, replace or format refuse to make a string or list over
  MAX_SIZE items or a number over MAX_INT_BITS bits; a template's output stops at MAX_OUTPUT
  characters;
- recursion: a macro that calls itself too deeply is an error like any other;
- files: a user's folder is read through :class:`FolderLoader`, which refuses a template that
  resolves outside the folder (a symbolic link out of it).

Every failure is one :class:`TemplateProblem` naming the template and the line:
``template digest.html line 3: division by zero``.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from functools import wraps
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import BaseLoader, Environment, TemplateError, TemplateNotFound, TemplateSyntaxError
from jinja2.compiler import CodeGenerator, Frame
from jinja2.loaders import split_template_path
from jinja2.nodes import Node
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

RENDER_SECONDS = 5.0  # one digest, all its templates, however many passes the size cap takes
MAX_RANGE = 10_000
MAX_SIZE = 1_000_000  # characters or items
MAX_INT_BITS = 100_000
MAX_OUTPUT = 10_000_000  # characters per template


class TemplateProblem(ValueError):
    """A template that does not compile or render; names the template and the line."""


class TemplateRefused(TemplateError):
    """A template file newswatch will not read."""

    def __init__(self, name: str, why: str) -> None:
        super().__init__(f"{name} {why}")
        self.name, self.why = name, why


class RenderTimeout(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"took longer than {seconds:g}s to render")


class FolderLoader(BaseLoader):
    """Templates from one folder. A template whose path resolves outside the folder (a
    symbolic link out of it, or a linked subfolder) is refused, not read."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.root = folder.resolve()

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = self.folder.joinpath(*split_template_path(template))
        if not (path.exists() or path.is_symlink()):
            raise TemplateNotFound(template)
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError) as error:  # a loop of links
            raise TemplateRefused(template, f"cannot be read: {error}") from None
        if not resolved.is_relative_to(self.root):
            raise TemplateRefused(
                template, f"is a link to {resolved}, outside the templates folder {self.folder}"
            )
        if not resolved.is_file():
            raise TemplateRefused(template, "is not a file")
        try:
            source = resolved.read_text(encoding="utf-8")
            mtime = resolved.stat().st_mtime
        except (OSError, UnicodeDecodeError) as error:
            raise TemplateRefused(template, f"cannot be read: {error}") from None

        def uptodate() -> bool:
            try:
                return resolved.stat().st_mtime == mtime
            except OSError:
                return False

        return source, os.fspath(path), uptodate


class _TickingCodeGenerator(CodeGenerator):
    """Compiled templates call ``environment.tick()`` on entering every block: each loop
    iteration, each branch taken, each macro call."""

    def blockvisit(self, nodes: Iterable[Node], frame: Frame) -> None:
        self.writeline("environment.tick()")
        super().blockvisit(nodes, frame)


class Sandbox(SandboxedEnvironment):
    """SandboxedEnvironment with size caps, a render deadline and one-line errors. A
    deadline is per environment: render with one in one thread at a time."""

    code_generator_class = _TickingCodeGenerator
    intercepted_binops = frozenset({"*", "+", "**", "%"})
    # types whose public attributes are plain data (no callables): read without the checks
    plain_types: frozenset[type] = frozenset()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.globals["range"] = capped_range
        for name, function in list(self.filters.items()):
            self.set_filter(name, function)
        self._seconds = RENDER_SECONDS
        self._end = math.inf  # no deadline outside `deadline()`

    def set_filter(self, name: str, function: Callable[..., Any]) -> None:
        """Add a filter, refusing arguments that would make a result over MAX_SIZE (also
        when Jinja runs it at compile time on constants)."""

        @wraps(function)  # keeps Jinja's pass_context/pass_environment marks
        def checked(*args: Any, **kwargs: Any) -> Any:
            return _refuse_large(function(*args, **kwargs), f"|{name}")

        @wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            _refuse_amplifying_filter(name, args, kwargs)
            return _refuse_large(function(*args, **kwargs), f"|{name}")

        self.filters[name] = guarded if name in _AMPLIFYING_FILTERS else checked

    @contextmanager
    def deadline(self, seconds: float = RENDER_SECONDS) -> Iterator[None]:
        """Template code run inside the block raises RenderTimeout once ``seconds`` have
        passed: it is checked on entering each block of template code (every loop iteration,
        branch and macro call), at every call, item access (``x[i]``, and the attributes
        filters such as ``map`` and ``sort`` read), filter, test and intercepted operator."""
        outer = self._seconds, self._end
        self._seconds, self._end = seconds, min(self._end, time.monotonic() + seconds)
        try:
            yield
        finally:
            self._seconds, self._end = outer

    def tick(self) -> None:
        if time.monotonic() > self._end:
            raise RenderTimeout(self._seconds)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.tick()
        _refuse_amplifying_method(__obj, args)
        return _refuse_large(super().call(__context, __obj, *args, **kwargs), "a call")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        formatter = super().wrap_str_format(value)
        if formatter is not None:
            _refuse_wide_format(value.__self__)
        return formatter

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) in self.plain_types and not attribute.startswith("_"):
            try:
                return getattr(obj, attribute)
            except AttributeError:
                pass  # undefined, as the sandbox says it
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        self.tick()
        return super().getitem(obj, argument)

    def call_filter(self, *args: Any, **kwargs: Any) -> Any:
        self.tick()
        return super().call_filter(*args, **kwargs)

    def call_test(self, *args: Any, **kwargs: Any) -> Any:
        self.tick()
        return super().call_test(*args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.tick()
        _refuse_huge(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def handle_exception(self, source: str | None = None) -> Any:
        """Any error while rendering becomes a TemplateProblem naming the innermost template
        line it happened on (Jinja's own traceback rewriting is skipped: a deep recursion
        would make a thousand fake frames of it)."""
        _, error, trace = sys.exc_info()
        if isinstance(error, TemplateSyntaxError) or error is None:
            return super().handle_exception(source)
        raise TemplateProblem(describe(error, _template_line(trace))) from None


def capped_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise OverflowError(f"range() of {len(numbers)} items: at most {MAX_RANGE}")
    return numbers


_SEQUENCES = (str, list, tuple)
# a field width or precision of MAX_SIZE or more in a %-format or a str.format spec
_WIDE_FORMAT = re.compile(r"(?:%(?:\([^)]*\))?[-#0 +]*|[:.][^\d{}]{0,3})(?:\d*\.)?\d{7,}")
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_AMPLIFYING_FILTERS = frozenset({"center", "indent", "format", "replace", "wordwrap"})


def _refuse_large(result: Any, made_by: str) -> Any:
    if isinstance(result, _SEQUENCES) and len(result) > MAX_SIZE:
        raise OverflowError(f"{made_by} made {len(result):,} items: at most {MAX_SIZE:,}")
    return result


def _refuse_wide_format(text: Any) -> None:
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


def _refuse_amplifying_method(function: Any, args: tuple[Any, ...]) -> None:
    """str methods that make a string far larger than their arguments."""
    owner, name = getattr(function, "__self__", None), getattr(function, "__name__", "")
    if not isinstance(owner, str):
        return
    if name in _WIDTH_METHODS and args:
        _refuse_width(args[0])
    elif name == "replace" and len(args) >= 2:
        _refuse_replace(owner, args[0], args[1])


def _refuse_amplifying_filter(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    def argument(position: int, keyword: str) -> Any:
        return args[position] if len(args) > position else kwargs.get(keyword)

    if name == "center":
        _refuse_width(argument(1, "width"))
    elif name == "indent":
        _refuse_width(argument(1, "width"), str(argument(0, "s")).count("\n") + 1)
    elif name == "format":
        _refuse_wide_format(argument(0, "value"))
    elif name == "replace":  # (eval_ctx, s, old, new)
        _refuse_replace(argument(1, "s"), argument(2, "old"), argument(3, "new"))
    elif name == "wordwrap":
        text, width = argument(0, "text") or argument(1, "s"), argument(1, "width")
        wrapstring = kwargs.get("wrapstring", args[3] if len(args) > 3 else "\n")
        if isinstance(text, str) and isinstance(width, int) and isinstance(wrapstring, str):
            _refuse_width(wrapstring, len(text) // max(width, 1) + text.count("\n") + 1)


def _refuse_huge(op: str, left: Any, right: Any) -> None:
    """Refuse, before it is made, a result over MAX_SIZE items or MAX_INT_BITS bits."""
    ints = isinstance(left, int) and isinstance(right, int)
    if op == "%":
        _refuse_wide_format(left)
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


def render_capped(environment: Sandbox, name: str, context: dict[str, Any]) -> str:
    """Render one template, stopping at MAX_OUTPUT characters."""
    pieces: list[str] = []
    size, output = 0, environment.get_template(name).generate(context)
    while batch := list(islice(output, 1024)):
        size += sum(map(len, batch))
        if size > MAX_OUTPUT:
            raise TemplateProblem(f"template {name}: renders over {MAX_OUTPUT:,} characters")
        pieces += batch
    return "".join(pieces)


def _template_line(trace: TracebackType | None) -> tuple[str, int] | None:
    """The innermost template (name, line) in a traceback of compiled template code."""
    found = None
    while trace is not None:
        template = trace.tb_frame.f_globals.get("__jinja_template__")
        if template is not None:
            found = (template.name, template.get_corresponding_lineno(trace.tb_lineno))
        trace = trace.tb_next
    return found


def describe(error: BaseException, where: tuple[str, int | None] | None = None) -> str:
    """``template NAME line N: what went wrong``, on one line."""
    if where is None:
        name = getattr(error, "name", None) or getattr(error, "filename", None)
        where = (name, getattr(error, "lineno", None)) if name else None
    if isinstance(error, TemplateRefused) and where is not None and where[0] == error.name:
        message = error.why  # the name is said once
    elif isinstance(error, TemplateNotFound):
        message = f"no template named {error.name}"
    elif isinstance(error, TemplateError):
        message = error.message or type(error).__name__
    elif isinstance(error, RecursionError):
        message = f"{error} (a macro that calls itself?)"
    else:
        message = str(error) or type(error).__name__
        if isinstance(error, LookupError | TypeError | AttributeError):
            message = f"{type(error).__name__}: {message}"
    message = " ".join(message.split())
    if where is None:
        return f"template: {message}"
    name, line = where
    return f"template {name}{f' line {line}' if line else ''}: {message}"
