"""Message templates: Jinja2's sandboxed environment, strict about undefined names and bounded.

A template sees ``first_name``, ``segment`` (``id``, ``name``, ``description``, ``scores``,
``z_scores``, ``bands``), ``segment_name``, ``segment_description``, ``top_traits`` (a list of
``dimension``, ``direction``, ``adjective``, ``label``, ``z``) and ``scores`` (the
respondent's own 0-100 scores, falling back to the segment's mean where they have none).

Every render is bounded, so a template can neither hang a dispatcher nor fill its memory:

- **steps**: loop iterations, calls and filters together, at most :data:`MAX_STEPS`;
- **time**: at most :data:`MAX_RENDER_SECONDS` of wall-clock time;
- **values**: no string or list built on the way grows past :data:`MAX_VALUE` items
  (``'x' * 10**9`` and ``10 ** 10 ** 10`` are refused before they are computed);
- **recursion**: macros and recursive loops nest at most :data:`MAX_DEPTH` deep;
- **output**: rendering stops once it passes :data:`MAX_OUTPUT` characters.

Breaking one raises :class:`TemplateLimitError` (a ``jinja2.TemplateError``).
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, nodes
from jinja2.runtime import Context, LoopContext, Macro
from jinja2.sandbox import SandboxedEnvironment, SecurityError
from jinja2.visitor import NodeTransformer

from backend.followups.schema import MAX_TEXT
from backend.followups.targeting import SegmentView

__all__ = [
    "TemplateError",
    "TemplateLimitError",
    "compile_template",
    "render",
    "render_context",
]

#: Loop iterations, calls and filter uses in one render.
MAX_STEPS = 20_000
#: Wall-clock seconds of one render.
MAX_RENDER_SECONDS = 0.25
#: Characters of a string, or items of a list, built while rendering.
MAX_VALUE = 20_000
#: Nesting of macro calls and recursive loops.
MAX_DEPTH = 20
#: Characters rendered before the render is stopped (a message holds MAX_TEXT).
MAX_OUTPUT = 4 * MAX_TEXT
#: Largest number accepted as a width, a count or an exponent.
MAX_NUMBER_ARGUMENT = 4 * MAX_TEXT


class TemplateLimitError(SecurityError):
    """A template went past one of the render limits."""


@dataclass
class _Budget:
    deadline: float
    steps: int = 0
    depth: int = 0
    output: int = 0
    stack: list[str] = field(default_factory=list)

    def spend(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise TemplateLimitError(
                f"the template takes more than {MAX_STEPS:,} steps (loops, calls, filters): "
                "simplify it"
            )
        if not self.steps % 64 and time.monotonic() > self.deadline:
            raise TemplateLimitError(
                f"the template takes longer than {MAX_RENDER_SECONDS:g} s to render: simplify it"
            )


_BUDGET: ContextVar[_Budget | None] = ContextVar("template_budget", default=None)


def _budget() -> _Budget:
    budget = _BUDGET.get()
    if budget is None:  # rendered outside render(): give it a budget of its own
        budget = _Budget(deadline=time.monotonic() + MAX_RENDER_SECONDS)
        _BUDGET.set(budget)
    return budget


def _size(value: Any) -> int:
    return len(value) if isinstance(value, str | list | tuple | dict) else 0


def _check_value(value: Any) -> Any:
    if _size(value) > MAX_VALUE:
        raise TemplateLimitError(
            f"the template builds a value of {_size(value):,} items; at most {MAX_VALUE:,} "
            "are allowed"
        )
    return value


def _check_number(value: Any, what: str) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER_ARGUMENT:
        raise TemplateLimitError(
            f"{what} {value:,} is too large (at most {MAX_NUMBER_ARGUMENT:,})"
        )


_PERCENT_WIDTH = re.compile(r"%[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?")
_BRACE_NUMBER = re.compile(r"\{[^{}]*?(\d{5,})[^{}]*\}")


def _check_format(template: Any) -> None:
    if not isinstance(template, str):
        return
    for match in _PERCENT_WIDTH.finditer(template):
        for number in match.groups():
            if number == "*" or (number and int(number) > MAX_NUMBER_ARGUMENT):
                raise TemplateLimitError("a format width or precision is too large")
    if _BRACE_NUMBER.search(template):
        raise TemplateLimitError("a format width or precision is too large")


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        count = len(text) + 1 if not old else text.count(old)
        if len(text) + count * len(new) > MAX_VALUE:
            raise TemplateLimitError(f"replace would build a text over {MAX_VALUE:,} characters")


def _check_indent(text: Any, width: Any) -> None:
    if isinstance(text, str):
        size = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
        if len(text) + (text.count("\n") + 1) * size > MAX_VALUE:
            raise TemplateLimitError(f"indent would build a text over {MAX_VALUE:,} characters")


def _bounded_filter(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    pass_arg = getattr(fn, "jinja_pass_arg", None)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _budget().spend()
        value_at = 1 if pass_arg is not None else 0
        rest = list(args[value_at + 1 :]) + list(kwargs.values())
        for argument in rest:
            _check_number(argument, f"the argument of |{name}")
        value = args[value_at] if len(args) > value_at else None
        if name == "replace" and len(args) >= value_at + 3:
            _check_replace(value, args[value_at + 1], args[value_at + 2])
        elif name == "indent":
            _check_indent(value, args[value_at + 1] if len(args) > value_at + 1 else
                          kwargs.get("width", 4))  # fmt: skip
        elif name == "format":
            _check_format(value)
        return _check_value(fn(*args, **kwargs))

    return wrapper


def _bounded_range(*args: int) -> Iterator[int]:
    for argument in args:
        _check_number(argument, "a range bound")
    return _loop_guard(range(*args))


def _loop_guard(iterable: Iterable[Any]) -> Iterator[Any]:
    budget = _budget()
    for item in iterable:
        budget.spend()
        yield item


def _concat(*parts: Any) -> str:
    texts = [str(part) for part in parts]
    if sum(map(len, texts)) > MAX_VALUE:
        raise TemplateLimitError(f"joining texts with ~ builds over {MAX_VALUE:,} characters")
    return "".join(texts)


#: String methods that build text from a number (a width or a count): templates use filters.
_BLOCKED_METHODS = frozenset(
    {"center", "ljust", "rjust", "zfill", "expandtabs", "format_map", "translate", "maketrans"}
)


class _Bounds(NodeTransformer):
    """Route every loop's iterable through ``_loop_guard`` (so each iteration is counted,
    whatever the loop runs over) and every ``a ~ b`` through ``_concat`` (so its size is
    checked before the text is built)."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = _call("_loop_guard", [node.iter], node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _call("_concat", list(node.nodes), node.lineno)


def _call(name: str, args: list[Any], lineno: int) -> nodes.Call:
    return nodes.Call(nodes.Name(name, "load"), args, [], None, None, lineno=lineno)


class BoundedSandbox(SandboxedEnvironment):
    """Jinja2's sandbox with limits on steps, time, value sizes, recursion and output."""

    intercepted_binops = frozenset({"*", "**", "%", "+", "//"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.globals.pop("lipsum", None)  # builds paragraphs of text from a number
        self.globals["range"] = _bounded_range
        self.globals["_loop_guard"] = _loop_guard
        self.globals["_concat"] = _concat
        self.filters = {name: _bounded_filter(name, fn) for name, fn in self.filters.items()}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = _Bounds().visit(super()._parse(source, name, filename))
        assert isinstance(tree, nodes.Template)
        return tree

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _BLOCKED_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _check_format(value.__self__)

        def bounded(*args: Any, **kwargs: Any) -> str:
            _budget().spend()
            return str(_check_value(wrapped(*args, **kwargs)))

        return bounded

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _budget().spend()
        if operator == "**":
            _check_number(right, "an exponent")
            big = isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1
            if big and abs(left).bit_length() * right > 64 * 1024:
                raise TemplateLimitError("a power is too large")
        elif operator == "*":
            for seq, count in ((left, right), (right, left)):
                repeated = isinstance(seq, str | list | tuple) and isinstance(count, int)
                if repeated and len(seq) * max(count, 0) > MAX_VALUE:
                    raise TemplateLimitError(f"repeating a value builds over {MAX_VALUE:,} items")
        elif operator == "%":
            _check_format(left)
        return _check_value(super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget()
        budget.spend()
        if getattr(__obj, "__name__", None) == "replace" and isinstance(
            getattr(__obj, "__self__", None), str
        ):
            _check_replace(__obj.__self__, *[*args, None, None][:2])
        for argument in list(args) + list(kwargs.values()):
            if __obj is not _loop_guard:
                _check_number(argument, "a number passed to a call")
        nested = isinstance(__obj, Macro | LoopContext)
        if nested:
            budget.depth += 1
            if budget.depth > MAX_DEPTH:
                raise TemplateLimitError(
                    f"macros or recursive loops nest more than {MAX_DEPTH} deep"
                )
        try:
            return _check_value(super().call(__context, __obj, *args, **kwargs))
        finally:
            if nested:
                budget.depth -= 1


_ENV = BoundedSandbox(
    undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
)


@lru_cache(maxsize=1024)
def compile_template(source: str) -> Template:
    """Compile a template (cached); raise ``jinja2.TemplateSyntaxError`` when malformed
    (``TemplateLimitError`` when it nests too deeply to compile)."""
    try:
        return _ENV.from_string(source)
    except RecursionError:
        raise TemplateLimitError("the template nests too deeply to read") from None


def render_context(
    *,
    first_name: str,
    segment: SegmentView,
    scores: Mapping[str, float | None] | None = None,
) -> dict[str, Any]:
    """Build what a template sees for one respondent in one segment."""
    merged = {k: round(float(v), 1) for k, v in segment.scores.items()}
    merged.update({k: round(float(v), 1) for k, v in (scores or {}).items() if v is not None})
    return {
        "first_name": first_name,
        "segment": {
            "id": segment.id,
            "name": segment.name,
            "description": segment.description,
            "scores": dict(segment.scores),
            "z_scores": dict(segment.z_scores),
            "bands": dict(segment.bands),
        },
        "segment_name": segment.name,
        "segment_description": segment.description,
        "top_traits": [
            {
                "dimension": t.dimension,
                "direction": t.direction,
                "adjective": t.adjective,
                "label": t.label or t.dimension,
                "z": t.z,
            }
            for t in segment.traits
        ],
        "scores": merged,
    }


def render(source: str, context: Mapping[str, Any]) -> str:
    """Render a template within the limits; raise ``TemplateError`` (``TemplateLimitError``
    past a limit) or ValueError for an empty or over-long text."""
    template = compile_template(source)
    budget = _Budget(deadline=time.monotonic() + MAX_RENDER_SECONDS)
    token = _BUDGET.set(budget)
    parts: list[str] = []
    try:
        for chunk in template.generate(context):
            budget.output += len(chunk)
            if budget.output > MAX_OUTPUT:
                raise TemplateLimitError(
                    f"the template renders more than {MAX_OUTPUT:,} characters; a message "
                    f"holds {MAX_TEXT:,}"
                )
            parts.append(chunk)
    except RecursionError:
        raise TemplateLimitError("the template recurses too deeply") from None
    except MemoryError:
        raise TemplateLimitError("the template needs too much memory") from None
    finally:
        _BUDGET.reset(token)
    text = "".join(parts).strip()
    if not text:
        raise ValueError("the message is empty")
    if len(text) > MAX_TEXT:
        raise ValueError(f"the message is {len(text)} characters, over Telegram's {MAX_TEXT}")
    return text
