"""A Jinja2 sandbox for the digest templates, which a user may override: what a template can
reach (jinja2.sandbox.SandboxedEnvironment), how long it may run, how much it may make, and
which files it may read.

- time: while a render runs, the deadline is checked on entering every block of template code
  (each loop iteration, branch and macro call) and at every call, item access, filter, test
  and intercepted operator;
- size: ``range()``, ``*``, ``+``, ``**``, ``%``, the filters and the str methods that pad,
  replace, format or wrap refuse to make anything over the caps of `alerts.template_caps`; a
  template's output stops at MAX_OUTPUT characters;
- recursion: a macro that calls itself too deeply is an error like any other;
- files: a user's folder is read through :class:`FolderLoader`, which refuses a template that
  resolves outside the folder (a symbolic link out of it).

Every failure is one :class:`TemplateProblem` naming the template and the line:
``template digest.html line 3: division by zero``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
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

from alerts.template_caps import (
    AMPLIFYING_FILTERS,
    capped_range,
    refuse_amplifying_filter,
    refuse_amplifying_method,
    refuse_huge,
    refuse_large,
    refuse_wide_format,
)

RENDER_SECONDS = 5.0  # one digest, all its templates, however many passes the size cap takes
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
        """Add a filter, refusing arguments that would make a result over the caps (also
        when Jinja runs it at compile time on constants)."""

        @wraps(function)  # keeps Jinja's pass_context/pass_environment marks
        def checked(*args: Any, **kwargs: Any) -> Any:
            return refuse_large(function(*args, **kwargs), f"|{name}")

        @wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            refuse_amplifying_filter(name, args, kwargs)
            return refuse_large(function(*args, **kwargs), f"|{name}")

        self.filters[name] = guarded if name in AMPLIFYING_FILTERS else checked

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
        refuse_amplifying_method(__obj, args)
        return refuse_large(super().call(__context, __obj, *args, **kwargs), "a call")

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        formatter = super().wrap_str_format(value)
        if formatter is not None:
            refuse_wide_format(value.__self__)
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
        refuse_huge(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def handle_exception(self, source: str | None = None) -> Any:
        """Any error while rendering becomes a TemplateProblem naming the innermost template
        line it happened on (Jinja's own traceback rewriting is skipped: a deep recursion
        would make a thousand fake frames of it)."""
        _, error, trace = sys.exc_info()
        if isinstance(error, TemplateSyntaxError) or error is None:
            return super().handle_exception(source)
        raise TemplateProblem(describe(error, _template_line(trace))) from None


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
