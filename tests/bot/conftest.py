"""Fixtures of the bot tests: the quiz bot polling a fresh sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Engine
from telegram.ext import Application

from backend.questionnaire import QuestionnaireDefinition
from tests.helpers.quizbot import import_bundled, running_bot


@pytest.fixture(autouse=True)
def _ptb_timedelta(ptb_timedelta: None) -> None:
    """Opt in to python-telegram-bot's timedelta values in every bot test."""


@pytest.fixture
def quiz_definitions(engine: Engine) -> dict[str, QuestionnaireDefinition]:
    return import_bundled(engine)


@pytest.fixture
async def quiz_bot(
    engine: Engine,
    quiz_definitions: dict[str, QuestionnaireDefinition],
    bot_base_url: str,
) -> AsyncIterator[Application]:
    """The quiz bot polling a fresh sandbox, on a database with the bundled questionnaires."""
    async with running_bot(engine, bot_base_url) as application:
        yield application
