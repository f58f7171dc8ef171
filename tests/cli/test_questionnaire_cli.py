"""`psychograph questionnaire ...`: every problem at once, and nothing raw to the terminal."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from backend.cli import cli
from backend.storage.engine import make_engine, session_scope
from backend.storage.migrate import upgrade
from backend.storage.models import Questionnaire
from tests.helpers.hostile_cases import QUESTIONNAIRE


def test_validate_lists_every_problem_with_file_and_line(tmp_path: Path) -> None:
    text = (
        QUESTIONNAIRE.replace("text: I like tests.", "text: I like tests.\n        txet: typo")
        .replace("items: [{question: q1}]", "items: [{question: q9}]")
        .replace("{up_to: 100, label: high", "{up_to: 100, label: low")
        .replace("{id: b, text: B}", "{id: a, text: B}")
    )
    path = tmp_path / "four.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["questionnaire", "validate", str(path)])
    assert result.exit_code == 1
    out = result.output
    assert "four.yaml: 4 problems" in out
    assert f"{path}:9: sections[0].questions[0].txet: unknown key 'txet'" in out
    assert f"{path}:15: sections[0].questions[1].options[1].id: duplicate option id" in out
    assert f"{path}:21: dimensions[0].items[0].question:" in out
    assert f"{path}:24: dimensions[0].bands[1].label: duplicate band label 'low'" in out


def test_list_shows_control_characters_and_markup_as_text(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        with session_scope(engine) as session:  # stored before titles were checked
            session.add(Questionnaire(key="evil", title="\x1b[2J\x07[bold red]Boo[/]"))
    finally:
        engine.dispose()
    result = CliRunner().invoke(cli, ["--database-url", url, "questionnaire", "list"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    assert "\x07" not in result.output
    assert "\\x1b[2J\\x07" in result.output  # shown as escapes
    assert "red]Boo[/]" in result.output  # markup printed as written, not applied
