"""`psychograph segments ...` on a SQLite file, through click's CliRunner."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from backend.cli import cli
from backend.storage.engine import make_engine
from backend.storage.migrate import upgrade
from tests.helpers.lifestyle import DIMENSIONS, seed_respondents


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        seed_respondents(engine, 400, seed=11)
    finally:
        engine.dispose()
    return url


def run(url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--database-url", url, "segments", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_recluster_show_rename_export(database: str, tmp_path: Path) -> None:
    out = run(database, "recluster", "--questionnaire", "lifestyle", "--seed", "0")
    assert "lifestyle: 3 segments from 400 respondents" in out
    assert "k=3 chosen" in out

    shown = run(database, "show")
    assert "lifestyle" in shown
    assert "share" in shown

    exported = run(database, "export")
    rows = list(csv.reader(io.StringIO(exported)))
    assert rows[0][6 : 6 + len(DIMENSIONS)] == list(DIMENSIONS)
    assert rows[0][6 + len(DIMENSIONS)] == "confidence"
    assert len(rows) == 401
    segment_id = rows[1][3]

    renamed = run(database, "rename", segment_id, "Weekend explorers", "--description", "Hi.")
    assert f"Segment {segment_id} is now Weekend explorers." in renamed
    run(database, "recluster", "--seed", "5")
    assert "Weekend explorers" in run(database, "show")

    target = tmp_path / "out.csv"
    run(database, "export", "--output", str(target))
    with target.open(encoding="utf-8") as handle:
        saved = list(csv.reader(handle))
    assert [r[4] for r in saved if r[3] == segment_id][:1] == ["Weekend explorers"]


def test_rename_an_unknown_segment_says_how_to_find_one(database: str) -> None:
    result = CliRunner().invoke(
        cli, ["--database-url", database, "segments", "rename", "999", "X"]
    )
    assert result.exit_code == 1
    assert "no segment with id 999" in result.output
    assert "psychograph segments show" in result.output


def test_recluster_an_unknown_questionnaire_fails_clearly(database: str) -> None:
    result = CliRunner().invoke(
        cli, ["--database-url", database, "segments", "recluster", "--questionnaire", "nope"]
    )
    assert result.exit_code == 1
    assert "no questionnaire with id 'nope'" in result.output


@pytest.mark.parametrize(
    ("environment", "args", "expected"),
    [({}, (), 0), ({"PSYCHOGRAPH_SEGMENTATION_SEED": "4"}, (), 4), ({}, ("--seed", "9"), 9)],
)
def test_recluster_without_a_seed_uses_the_configured_one(
    database: str,
    monkeypatch: pytest.MonkeyPatch,
    environment: dict[str, str],
    args: tuple[str, ...],
    expected: int,
) -> None:
    from backend.services import segments

    seeds: list[int | None] = []
    recluster = segments.recluster

    def recording(*a: Any, random_state: int | None = None, **kw: Any) -> Any:
        seeds.append(random_state)
        return recluster(*a, random_state=random_state, **kw)

    monkeypatch.setattr(segments, "recluster", recording)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    run(database, "recluster", *args)
    assert seeds == [expected]
