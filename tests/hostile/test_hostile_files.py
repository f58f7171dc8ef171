"""Every hostile file is refused with a clear message, fast, in little memory, storing nothing.

Through ``psychograph questionnaire|content validate`` and ``import`` (SQLite and PostgreSQL)
and through the HTTP upload (SQLite and PostgreSQL), with /healthz polled while each upload
is checked. One app and one database per backend serve all the cases.
"""

from __future__ import annotations

import asyncio
import io
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from backend.api.app import create_app
from backend.api.keys import CHECKER
from backend.cli import cli
from backend.settings import Role, Settings
from backend.storage.followup_tables import ContentPack
from backend.storage.models import Questionnaire, QuestionnaireVersion
from tests.helpers.hostile_cases import CASES, CONTENT, QUESTIONNAIRE, Case

#: The bounds every hostile file is rejected within. Time is processor time: on an idle
#: machine it is the wall time; on a busy one, wall time stretches and work does not.
MAX_SECONDS = 2.0
MAX_EXTRA_MB = 100
MAX_HEALTH_SECONDS = 1.0

TOKEN = "marketer-token-0123456789"


def test_the_suite_has_at_least_sixty_kinds_of_hostile_file() -> None:
    assert len({case.name for case in CASES}) == len(CASES) >= 60
    assert {case.kind for case in CASES} == {"questionnaire", "content"}


def _command(case: Case) -> str:
    return "questionnaire" if case.kind == "questionnaire" else "content"


def _write(case: Case, folder: Path) -> Path:
    path = folder / case.file_name
    path.write_bytes(case.data)
    return path


def _assert_message(case: Case, output: str) -> None:
    assert case.expect in output, f"{case.name}: expected {case.expect!r} in:\n{output[:2000]}"
    if case.line is not None:
        assert f"{case.file_name}:{case.line}:" in output, (
            f"{case.name}: expected line {case.line} in:\n{output[:2000]}"
        )


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_validate_rejects_within_bounds(case: Case, tmp_path: Path) -> None:
    path = _write(case, tmp_path)
    runner = CliRunner()
    started = time.process_time()
    result = runner.invoke(cli, [_command(case), "validate", str(path)])
    elapsed = time.process_time() - started
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    _assert_message(case, result.output)
    assert "\x1b" not in result.output.replace("\x1b[", ""), "no raw escape reaches the terminal"
    assert elapsed < MAX_SECONDS, f"{case.name}: {elapsed:.2f} s"

    tracemalloc.start()
    try:
        runner.invoke(cli, [_command(case), "validate", str(path)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MAX_EXTRA_MB * 1024 * 1024, f"{case.name}: {peak / 1e6:.0f} MB"


def _stored(engine: Engine) -> tuple[int, int, int]:
    with Session(engine) as session:
        return (
            session.exec(select(func.count()).select_from(Questionnaire)).one(),
            session.exec(select(func.count()).select_from(QuestionnaireVersion)).one(),
            session.exec(select(func.count()).select_from(ContentPack)).one(),
        )


def test_import_rejects_and_stores_nothing(
    engine: Engine, migrated_database_url: str, tmp_path: Path
) -> None:
    runner = CliRunner()
    failures: list[str] = []
    for case in CASES:
        path = _write(case, tmp_path)
        result = runner.invoke(
            cli,
            ["--database-url", migrated_database_url, _command(case), "import", str(path)],
        )
        if result.exit_code != 1 or case.expect not in result.output:
            failures.append(f"{case.name}: exit {result.exit_code}: {result.output[:300]}")
    assert not failures, "\n".join(failures)
    assert _stored(engine) == (0, 0, 0)

    # The same command stores a good file: the rejections above were not an import that
    # cannot store anything.
    good = tmp_path / "good.yaml"
    good.write_text(QUESTIONNAIRE, encoding="utf-8")
    result = runner.invoke(
        cli, ["--database-url", migrated_database_url, "questionnaire", "import", str(good)]
    )
    assert result.exit_code == 0, result.output
    assert _stored(engine) == (1, 1, 0)


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def _upload_watching_health(
    client: TestClient[Any, Any], case: Case
) -> tuple[int, dict[str, Any], float, float]:
    """Upload ``case`` while polling /healthz; return the status, the body, the processor
    seconds its check used and the slowest /healthz answer."""
    done = asyncio.Event()
    slowest = 0.0

    async def watch() -> None:
        nonlocal slowest
        while not done.is_set():
            started = time.perf_counter()
            response = await client.get("/healthz")
            assert response.status == 200
            slowest = max(slowest, time.perf_counter() - started)
            await asyncio.sleep(0.05)

    watcher = asyncio.create_task(watch())
    try:
        path = "/api/questionnaires" if case.kind == "questionnaire" else "/api/content"
        response = await client.post(
            path,
            data=io.BytesIO(case.data),
            params={"filename": case.file_name},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        body = await response.json()
    finally:
        done.set()
        await watcher
    return response.status, body, client.app[CHECKER].last_cpu_seconds, slowest


async def test_upload_rejects_within_bounds_and_health_answers(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], engine: Engine
) -> None:
    settings = Settings(database_url="sqlite://", api_tokens={TOKEN: Role.MARKETER})
    client = await aiohttp_client(create_app(settings, engine))
    # Start the checker's process server first, as the service does at start-up.
    await asyncio.to_thread(client.app[CHECKER].start)
    baseline = _rss_mb()
    failures: list[str] = []
    for case in CASES:
        status, body, elapsed, slowest = await _upload_watching_health(client, case)
        text = str(body)
        if status != 400 or case.expect not in text:
            failures.append(f"{case.name}: {status} {text[:300]}")
        if case.line is not None and not any(
            p.get("line") == case.line for p in body.get("details", {}).get("problems", [])
        ):
            failures.append(f"{case.name}: no problem on line {case.line}: {text[:300]}")
        if elapsed >= MAX_SECONDS:
            failures.append(f"{case.name}: its check took {elapsed:.2f} s of processor time")
        if slowest >= MAX_HEALTH_SECONDS:
            failures.append(f"{case.name}: /healthz took {slowest:.2f} s")
    grown = _rss_mb() - baseline
    assert not failures, "\n".join(failures)
    assert grown < MAX_EXTRA_MB, f"the service grew by {grown:.0f} MB"
    assert _stored(engine) == (0, 0, 0)

    # A good questionnaire and pack still go through the same app.
    for path, text in (("/api/questionnaires", QUESTIONNAIRE), ("/api/content", CONTENT)):
        response = await client.post(
            path, data=text.encode(), headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert response.status == 201, await response.text()
    assert _stored(engine) == (1, 1, 1)
