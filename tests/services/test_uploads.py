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
    checker = UploadChecker(cpu_seconds=1, timeout=60.0, memory_mb=100)
    checker.start()
    return checker


def test_a_good_file_comes_back_validated(checker: UploadChecker) -> None:
    definition = checker.run(load_definition, GOOD, source="tiny.yaml", fmt="yaml")
    assert definition.id == "tiny"
    assert 0 < checker.last_cpu_seconds < 1


def test_its_problems_come_back_with_lines(checker: UploadChecker) -> None:
    with pytest.raises(DefinitionError) as info:
        checker.run(load_definition, GOOD.replace("Tiny", "[x"), source="bad.yaml", fmt="yaml")
    assert info.value.source == "bad.yaml"
    assert info.value.issues[0].line is not None


def test_a_check_that_runs_too_long_is_killed(checker: UploadChecker) -> None:
    with pytest.raises(DefinitionError, match="took more than 1 s, the limit"):
        checker.run(_spin, source="spin.yaml")


def test_a_check_that_hangs_is_killed_at_the_wall_clock_limit() -> None:
    hasty = UploadChecker(timeout=0.5)
    started = time.perf_counter()
    with pytest.raises(DefinitionError, match=r"did not finish within 0\.5 s"):
        hasty.run(time.sleep, 30)
    assert time.perf_counter() - started < 5.0


def test_a_check_that_needs_too_much_memory_is_refused() -> None:
    # A generous time limit: this is about memory, even on a machine too busy to be quick.
    roomy = UploadChecker(timeout=60.0, memory_mb=100)
    with pytest.raises(DefinitionError, match="more than 100 MB of memory"):
        roomy.run(_hog, source="hog.yaml")
