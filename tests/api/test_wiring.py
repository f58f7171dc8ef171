"""How the HTTP side is wired: one import direction, read-only reads, typed jobs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

import backend.api
from backend.api.app import create_app
from backend.api.db import reading
from backend.api.errors import status_of
from backend.api.keys import READER
from backend.followups import Delivered, Outcome, OutgoingMessage
from backend.scheduler import build_jobs
from backend.scheduler.dispatch import DispatchJob
from backend.services.questionnaires import QuestionnaireNotFound
from backend.settings import Settings


def test_nothing_under_the_api_imports_the_module_that_wires_it() -> None:
    root = Path(backend.api.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "app.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "backend.api.app":
                offenders.append(str(path.relative_to(root)))
    assert offenders == []


def test_domain_errors_map_to_statuses_and_others_do_not() -> None:
    assert status_of(QuestionnaireNotFound("nope")) == 404
    assert status_of(LookupError("nope")) is None
    assert status_of(RuntimeError("boom")) is None


def test_a_read_cannot_write(engine: Engine) -> None:
    app = create_app(Settings(), engine)
    try:
        with reading(app) as session, pytest.raises(DBAPIError):
            session.execute(text("CREATE TABLE wiring_probe (x INTEGER)"))
    finally:
        if app[READER] is not engine:
            app[READER].dispose()


class NoSender:
    async def send(self, message: OutgoingMessage) -> Outcome:
        return Delivered(message_id=1)


async def test_the_service_jobs_are_one_typed_object(sqlite_engine: Engine) -> None:
    jobs = build_jobs(Settings(recluster_cron=""), sqlite_engine, sender=NoSender())
    assert isinstance(jobs.dispatch, DispatchJob)
    assert {job.id for job in jobs.scheduler.get_jobs()} == {
        "segments:check",
        "followups:dispatch",
        "counters:fold",
    }
    jobs.start()
    try:
        assert jobs.running
        assert jobs.next_recluster("no-such-questionnaire") is None
    finally:
        await jobs.stop(grace=1.0)
    assert not jobs.running
