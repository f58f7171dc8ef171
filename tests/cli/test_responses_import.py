"""`psychograph responses import FILE --questionnaire ID` on a SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func
from sqlmodel import select

from backend.cli import cli
from backend.storage.engine import make_engine, session_scope
from backend.storage.migrate import upgrade
from backend.storage.models import Answer, QuizSession, Respondent, SessionScore
from tests.helpers.lifestyle import import_lifestyle


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'import.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        import_lifestyle(engine)
    finally:
        engine.dispose()
    return url


def invoke(url: str, path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        cli,
        ["--database-url", url, "responses", "import", str(path), "--questionnaire", "lifestyle"],
    )
    return result.exit_code, result.output


def counts(url: str) -> tuple[int, int, int, int]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            return tuple(  # type: ignore[return-value]
                session.exec(select(func.count()).select_from(table)).one()
                for table in (Respondent, QuizSession, Answer, SessionScore)
            )
    finally:
        engine.dispose()


def likert_ids(url: str) -> tuple[list[str], int]:
    from backend.questionnaire.schema import LikertQuestion
    from backend.services.questionnaires import current_version, definition_of

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            found = definition_of(current_version("lifestyle", session=session)).questions()
    finally:
        engine.dispose()
    likert = [q for q in found.values() if isinstance(q, LikertQuestion)]
    return [q.id for q in likert], likert[0].points


def test_import_matches_columns_case_insensitively_and_is_idempotent(
    database: str, tmp_path: Path
) -> None:
    ids, points = likert_ids(database)
    header = ["Respondent", *(q.upper() for q in ids)]
    rows = [[f"crm-{i}", *(str(1 + (i + j) % points) for j in range(len(ids)))] for i in range(5)]
    path = tmp_path / "answers.csv"
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")

    code, out = invoke(database, path)
    assert code == 0, out
    assert "5 respondents: 5 new, 0 updated, 0 unchanged" in out
    assert "5 of them have no Telegram chat" in out
    first = counts(database)
    assert first[0] == 5
    assert first[3] == 5

    code, out = invoke(database, path)
    assert code == 0, out
    assert "0 new, 0 updated, 5 unchanged" in out
    assert counts(database) == first

    rows[0][1] = str(points if rows[0][1] != str(points) else 1)
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    code, out = invoke(database, path)
    assert code == 0, out
    assert "0 new, 1 updated, 4 unchanged" in out
    assert counts(database) == first


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "the file is empty"),
        (
            b"respondent,not_a_question\nx,1\n",
            "row 1, column 2 ('not_a_question'): not a question",
        ),
        (b"respondent,{q}\na,99\n", "row 2, column 2 ({q}): '99' is outside the 1"),
        (b"respondent,{q}\na,1\na,2\n", "row 3, column 1 ('respondent'): respondent 'a' again"),
        ("respondent,{q}\nJos\u00e9,1\n".encode("cp1252"), "row 2: byte 0xe9 is not UTF-8"),
        (b"{q}\n1\n", "row 1: no respondent id column"),
    ],
    ids=["empty", "unknown-column", "out-of-scale", "duplicate-id", "cp1252", "no-id"],
)
def test_bad_files_are_rejected_with_one_clear_line_and_store_nothing(
    database: str, tmp_path: Path, content: bytes, expected: str
) -> None:
    ids, _ = likert_ids(database)
    path = tmp_path / "bad.csv"
    path.write_bytes(content.replace(b"{q}", ids[0].encode()))
    before = counts(database)
    code, out = invoke(database, path)
    assert code == 1
    assert expected.replace("{q}", ids[0]) in out
    assert "nothing was stored" in out
    assert counts(database) == before


def test_large_file_reports_progress(database: str, tmp_path: Path) -> None:
    from backend.services.imports import import_response_file

    ids, points = likert_ids(database)
    lines = ["respondent," + ";".join(ids).replace(";", ",")]
    lines += [
        f"r{i}," + ",".join(str(1 + (i * 7 + j) % points) for j in range(len(ids)))
        for i in range(1200)
    ]
    path = tmp_path / "big.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    seen: list[tuple[str, int, int]] = []
    engine = make_engine(database)
    try:
        report = import_response_file(
            engine, "lifestyle", path, progress=lambda *step: seen.append(step)
        )
    finally:
        engine.dispose()
    assert report.created == 1200
    assert {stage for stage, _, _ in seen} == {"check", "store"}
    assert seen[-1] == ("store", 1200, 1200)
