"""The upload checker: a bounded process that rejects what runs too long or grows too big."""

from __future__ import annotations

import time

import pytest

from backend.questionnaire import DefinitionError, load_definition
from backend.services.uploads import UploadChecker

GOOD = """\
id: tiny
title: Tiny
sections:
  - id: s
    questions:
      - {id: q1, type: text, text: Hello?}
"""


def _spin(*, source: str) -> None:
    while True:
        pass


def _hog(*, source: str) -> str:
    return "x" * (400 * 1024 * 1024)


@pytest.fixture(scope="module")
def checker() -> UploadChecker:
    checker = UploadChecker(timeout=1.0, memory_mb=100)
    checker.start()
    return checker


def test_a_good_file_comes_back_validated(checker: UploadChecker) -> None:
    definition = checker.run(load_definition, GOOD, source="tiny.yaml", fmt="yaml")
    assert definition.id == "tiny"


def test_its_problems_come_back_with_lines(checker: UploadChecker) -> None:
    with pytest.raises(DefinitionError) as info:
        checker.run(load_definition, GOOD.replace("Tiny", "[x"), source="bad.yaml", fmt="yaml")
    assert info.value.source == "bad.yaml"
    assert info.value.issues[0].line is not None


def test_a_check_that_runs_too_long_is_killed(checker: UploadChecker) -> None:
    started = time.perf_counter()
    with pytest.raises(DefinitionError, match="took longer than 1 s"):
        checker.run(_spin, source="spin.yaml")
    assert time.perf_counter() - started < 2.0


def test_a_check_that_needs_too_much_memory_is_refused(checker: UploadChecker) -> None:
    with pytest.raises(DefinitionError, match="more than 100 MB of memory"):
        checker.run(_hog, source="hog.yaml")
