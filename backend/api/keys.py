"""Typed keys of what the aiohttp application holds."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import Engine

from backend.services.quiz import QuizService
from backend.services.uploads import UploadChecker
from backend.settings import Role, Settings

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", Engine)
#: An engine for long reads (exports, reports) that takes no write lock (see make_reader).
READER = web.AppKey("reader", Engine)
QUIZ = web.AppKey("quiz", QuizService)
#: Checks uploaded files in bounded child processes (see backend.services.uploads).
CHECKER = web.AppKey("checker", UploadChecker)
#: The python-telegram-bot Application, when the bot runs in this process.
BOT: web.AppKey[Any] = web.AppKey("bot")
#: The APScheduler scheduler, when it runs in this process.
SCHEDULER: web.AppKey[Any] = web.AppKey("scheduler")
#: The role of the token a request was made with.
ROLE = web.RequestKey("role", Role)
