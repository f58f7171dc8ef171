"""Errors found in a definition file, each with the path and line of the offending node."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

Path = tuple[str | int, ...]

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def printable(text: str) -> str:
    """Show control characters (and lone surrogates) as escapes, so a message that quotes a
    file's content cannot drive the terminal or chat it is shown in."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


def format_path(path: Path) -> str:
    """Render a path as ``sections[0].questions[2].text``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            part = printable(part)[:80]
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
        where = f"{printable(source)}:" if source else ""
        where += f"{self.line}: " if self.line is not None else " "
        return f"{where}{self.location}: {printable(self.message)}"


#: Problems kept per file: past these, one more issue says how many were left out.
MAX_ISSUES = 100


class DefinitionError(Exception):
    """A definition was rejected; ``issues`` lists every problem found (at most MAX_ISSUES)."""

    def __init__(self, issues: Sequence[DefinitionIssue], source: str | None = None) -> None:
        self.issues = list(issues)
        if len(issues) > MAX_ISSUES + 1:  # + 1: a list capped already is kept as it is
            self.issues = self.issues[:MAX_ISSUES]
            more = len(issues) - MAX_ISSUES
            self.issues.append(
                DefinitionIssue((), None, f"… and {more:,} more problems not listed")
            )
        self.source = source
        count = len(self.issues)
        head = f"{printable(source or 'definition')}: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([head, *(i.render(source) for i in self.issues)]))
