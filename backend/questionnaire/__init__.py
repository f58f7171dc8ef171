"""Questionnaire definitions: schema, loading from YAML/JSON, validation, content hashing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path as FilePath

from backend.questionnaire.errors import DefinitionError, DefinitionIssue, format_path
from backend.questionnaire.loader import LineMap, parse_definition_text
from backend.questionnaire.schema import (
    Condition,
    Dimension,
    Question,
    QuestionnaireDefinition,
    Section,
)
from backend.questionnaire.validation import semantic_issues, shape_issues

__all__ = [
    "Condition",
    "DefinitionError",
    "DefinitionIssue",
    "Dimension",
    "LineMap",
    "Question",
    "QuestionnaireDefinition",
    "Section",
    "content_hash",
    "format_path",
    "load_definition",
    "load_definition_file",
]

MAX_DEFINITION_BYTES = 1_000_000


def _format_of(name: str | None) -> str:
    return "json" if name and name.lower().endswith(".json") else "yaml"


def load_definition(
    text: str, *, source: str | None = None, fmt: str | None = None
) -> QuestionnaireDefinition:
    """Parse and validate a definition; raise :class:`DefinitionError` listing every problem.

    Parameters
    ----------
    text
        The YAML or JSON text.
    source
        A name for messages (usually the file name); its extension picks the format when
        ``fmt`` is not given.
    fmt
        ``"yaml"`` or ``"json"``.
    """
    if len(text.encode()) > MAX_DEFINITION_BYTES:
        issue = DefinitionIssue((), None, f"the file is over {MAX_DEFINITION_BYTES:,} bytes")
        raise DefinitionError([issue], source)
    try:
        data, lines = parse_definition_text(text, fmt=fmt or _format_of(source))
    except DefinitionError as exc:
        raise DefinitionError(exc.issues, source) from None
    definition, issues = shape_issues(data, lines)
    if definition is None:
        raise DefinitionError(issues, source)
    issues = semantic_issues(definition, lines)
    if issues:
        raise DefinitionError(issues, source)
    return definition


def load_definition_file(path: FilePath | str) -> QuestionnaireDefinition:
    """Read and validate a definition file (``.yaml``, ``.yml`` or ``.json``)."""
    path = FilePath(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        issue = DefinitionIssue((), None, f"the file is not UTF-8 text ({exc.reason})")
        raise DefinitionError([issue], str(path)) from None
    except OSError as exc:
        issue = DefinitionIssue((), None, f"cannot read the file: {exc.strerror}")
        raise DefinitionError([issue], str(path)) from None
    return load_definition(text, source=str(path))


def content_hash(definition: QuestionnaireDefinition) -> str:
    """Hash the definition's content, so formatting and comments never make a new version."""
    canonical = json.dumps(
        definition.model_dump(mode="json", by_alias=True, exclude_none=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
