"""Where the bot's database calls run: its own threads, sized to the database."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from sqlalchemy import Engine

from backend.logs import CONTEXT
from backend.questionnaire import load_definition
from backend.services.questionnaires import import_definition
from backend.services.quiz import QuizService
from backend.storage.engine import session_scope
from bot.application import close_database_executor, database_executor
from bot.context import BotData
from bot.sandbox import SandboxClient, SandboxConfig
from bot.simulator import ScriptedRespondent
from tests.helpers.chat import random_chooser
from tests.helpers.definitions import TINY
from tests.helpers.quizbot import running_bot


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    return SandboxConfig(rate_limit_enabled=False)


def test_sqlite_gets_one_database_thread_and_postgresql_one_per_pooled_connection(
    engine: Engine,
) -> None:
    executor = database_executor(QuizService(engine))
    try:
        expected = 1 if engine.dialect.name == "sqlite" else engine.pool.size()  # type: ignore[attr-defined]
        assert executor._max_workers == expected
    finally:
        executor.shutdown()


async def test_answers_run_on_the_bots_database_threads_with_the_update_in_the_log_context(
    engine: Engine,
    bot_base_url: str,
    respondent: SandboxClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    definition = load_definition(TINY)
    with session_scope(engine) as session:
        import_definition(definition, session=session)
    seen: list[tuple[str, str | None]] = []
    press = QuizService.press

    def recording_press(self: QuizService, *args: Any, **kwargs: Any) -> Any:
        seen.append((threading.current_thread().name, CONTEXT.get()))
        return press(self, *args, **kwargs)

    monkeypatch.setattr(QuizService, "press", recording_press)
    users = [await respondent.create_user(first_name=f"R{i}") for i in range(5)]
    async with running_bot(engine, bot_base_url) as application:
        transcripts = await asyncio.gather(
            *(
                ScriptedRespondent(respondent, u.id, definition, random_chooser(i)).take("tiny")
                for i, u in enumerate(users)
            )
        )
        context: BotData = application.bot_data
    assert all("Your profile" in t.result for t in transcripts)
    assert seen
    assert {name.split("_")[0] for name, _ in seen} == {"psychograph-db"}
    assert all((log_context or "").startswith("update:") for _, log_context in seen)
    # running_bot closes the executor as the service does: nothing new may start on it.
    with pytest.raises(RuntimeError):
        context.executor.submit(print)


async def test_closing_the_database_threads_lets_a_running_call_finish(engine: Engine) -> None:
    from telegram.ext import Application

    from backend.settings import Settings
    from bot.application import build_application

    application: Application = build_application(
        Settings(database_url="sqlite://"), QuizService(engine), rate_limit=False
    )
    context: BotData = application.bot_data
    started, release = threading.Event(), threading.Event()

    def slow_call() -> str:
        started.set()
        release.wait(5)
        return "committed"

    call = asyncio.ensure_future(context.call(slow_call))
    await asyncio.to_thread(started.wait, 5)
    closing = asyncio.ensure_future(close_database_executor(application))
    await asyncio.sleep(0.05)
    assert not closing.done()  # waits for the call in flight
    release.set()
    assert await call == "committed"
    await closing
