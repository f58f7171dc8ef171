"""Errors found in a definition file, each with the path and line of the offending node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """Render a path as ``sections[0].questions[2].text``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


@dataclass(frozen=True, slots=True)
class DefinitionIssue:
    """One problem in a definition: where it is and what is wrong."""

    path: Path
    line: int | None
    message: str

    @property
    def location(self) -> str:
        return format_path(self.path)

    def render(self, source: str | None = None) -> str:
        where = f"{source}:" if source else ""
        where += f"{self.line}: " if self.line is not None else " "
        return f"{where}{self.location}: {self.message}"


class DefinitionError(Exception):
    """A definition was rejected; ``issues`` lists every problem found."""

    def __init__(self, issues: Sequence[DefinitionIssue], source: str | None = None) -> None:
        self.issues = list(issues)
        self.source = source
        count = len(self.issues)
        head = f"{source or 'definition'}: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([head, *(i.render(source) for i in self.issues)]))
