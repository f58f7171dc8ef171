"""Questionnaire definitions: schema, loading from YAML/JSON, validation, content hashing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path as FilePath

from backend.questionnaire.errors import DefinitionError, DefinitionIssue, format_path, printable
from backend.questionnaire.loader import LineMap, parse_definition_text, string_issues
from backend.questionnaire.schema import (
    Condition,
    Dimension,
    Question,
    QuestionnaireDefinition,
    Section,
)
from backend.questionnaire.validation import (
    semantic_issues,
    shape_issues,
    without_unknown_keys,
)

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
    "decode_text",
    "format_path",
    "load_definition",
    "load_definition_file",
    "printable",
    "read_definition_file",
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
        data, lines = parse_definition_text(
            text, fmt=fmt or _format_of(source), check_strings=False
        )
    except DefinitionError as exc:
        raise DefinitionError(exc.issues, source) from None
    # Report everything found at once: strings, shape, and (when only unknown keys stood in
    # the way of the shape) the cross-references and limits too.
    issues = string_issues(data, lines)
    definition, shape = shape_issues(data, lines)
    issues += shape
    if definition is None:
        stripped = without_unknown_keys(data, shape)
        if stripped is not None:
            definition, _ = shape_issues(stripped, lines)
    if definition is not None:
        issues += semantic_issues(definition, lines)
    if issues or definition is None:
        raise DefinitionError(sorted(issues, key=lambda i: (i.line or 0, i.location)), source)
    return definition


def read_definition_file(path: FilePath | str, *, max_bytes: int = MAX_DEFINITION_BYTES) -> str:
    """Read a definition or content file as UTF-8 text, checking its size before reading.

    Raises
    ------
    DefinitionError
        When the file cannot be read, is too big, or is not UTF-8 (with the line of the
        first byte that is not).
    """
    path = FilePath(path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            issue = DefinitionIssue((), None, f"the file is over {max_bytes:,} bytes")
            raise DefinitionError([issue], str(path))
        raw = path.read_bytes()[: max_bytes + 1]
    except OSError as exc:
        issue = DefinitionIssue((), None, f"cannot read the file: {exc.strerror}")
        raise DefinitionError([issue], str(path)) from None
    return decode_text(raw, source=str(path))


def decode_text(raw: bytes, *, source: str | None = None) -> str:
    """Decode a file as UTF-8 (a byte-order mark is dropped), naming the line of a bad byte."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        issue = DefinitionIssue((), 1, "the file is UTF-16 text: save it as UTF-8")
        raise DefinitionError([issue], source)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        issue = DefinitionIssue(
            (),
            line,
            f"the file is not UTF-8 text: column {column} has the byte 0x{raw[exc.start]:02X} "
            "(save the file as UTF-8)",
        )
        raise DefinitionError([issue], source) from None


def load_definition_file(path: FilePath | str) -> QuestionnaireDefinition:
    """Read and validate a definition file (``.yaml``, ``.yml`` or ``.json``)."""
    return load_definition(read_definition_file(path), source=str(path))


def content_hash(definition: QuestionnaireDefinition) -> str:
    """Hash the definition's content, so formatting and comments never make a new version."""
    canonical = json.dumps(
        definition.model_dump(mode="json", by_alias=True, exclude_none=True),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
