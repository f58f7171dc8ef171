"""Message templates: Jinja2's sandboxed environment, strict about undefined names.

A template sees ``first_name``, ``segment`` (``id``, ``name``, ``description``, ``scores``,
``z_scores``, ``bands``), ``segment_name``, ``segment_description``, ``top_traits`` (a list of
``dimension``, ``direction``, ``adjective``, ``label``, ``z``) and ``scores`` (the
respondent's own 0-100 scores, falling back to the segment's mean where they have none).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from backend.followups.schema import MAX_TEXT
from backend.followups.targeting import SegmentView

__all__ = ["TemplateError", "compile_template", "render", "render_context"]

_ENV = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True
)


@lru_cache(maxsize=1024)
def compile_template(source: str) -> Template:
    """Compile a template (cached); raise ``jinja2.TemplateSyntaxError`` when malformed."""
    return _ENV.from_string(source)


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
    """Render a template; raise ``TemplateError`` (or ValueError for an empty/long text)."""
    text = compile_template(source).render(context).strip()
    if not text:
        raise ValueError("the message is empty")
    if len(text) > MAX_TEXT:
        raise ValueError(f"the message is {len(text)} characters, over Telegram's {MAX_TEXT}")
    return text
