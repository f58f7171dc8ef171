"""The real quiz bot polling the Bot API sandbox, on a database with questionnaires."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import Engine
from telegram.ext import Application

from backend.questionnaire import QuestionnaireDefinition, load_definition_file
from backend.services.questionnaires import import_definition
from backend.services.quiz import QuizService
from backend.settings import Settings
from backend.storage.engine import session_scope
from bot.application import build_application, close_database_executor

BUNDLED = sorted((Path(__file__).resolve().parents[2] / "questionnaires").glob("*.yaml"))


def import_bundled(engine: Engine) -> dict[str, QuestionnaireDefinition]:
    """Import every bundled questionnaire; return the definitions by id."""
    definitions = {}
    with session_scope(engine) as session:
        for path in BUNDLED:
            definition = load_definition_file(path)
            import_definition(definition, session=session, source_name=path.name)
            definitions[definition.id] = definition
    return definitions


@asynccontextmanager
async def running_bot(
    engine: Engine, base_url: str, *, rate_limit: bool = False
) -> AsyncIterator[Application]:
    """Run the real quiz bot, polling the sandbox, until the block ends."""
    settings = Settings(telegram_base_url=base_url, database_url="sqlite://")
    application = build_application(settings, QuizService(engine), rate_limit=rate_limit)
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0.0, timeout=1)
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()
    await close_database_executor(application)  # as the service does after shutdown
