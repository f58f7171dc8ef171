"""Typed keys of what the aiohttp application holds."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import Engine
from telegram.ext import Application

from backend.api.reclusters import Reclusters
from backend.api.routes import RouteTable
from backend.scheduler import Jobs
from backend.services.quiz import QuizService
from backend.services.uploads import UploadChecker
from backend.settings import Role, Settings

#: The python-telegram-bot Application as this service builds it.
BotApplication = Application[Any, Any, Any, Any, Any, Any]

SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", Engine)
#: An engine for long reads (exports, reports) that takes no write lock (see make_reader).
READER = web.AppKey("reader", Engine)
QUIZ = web.AppKey("quiz", QuizService)
#: Checks uploaded files in bounded child processes (see backend.services.uploads).
CHECKER = web.AppKey("checker", UploadChecker)
#: The bot, when it runs in this process (it takes the webhook's updates).
BOT: web.AppKey[BotApplication | None] = web.AppKey("bot")
#: The scheduler and its jobs, when they run in this process.
JOBS: web.AppKey[Jobs | None] = web.AppKey("jobs")
#: Re-clusterings started from the API or the dashboard, by questionnaire.
RECLUSTERS = web.AppKey("reclusters", Reclusters)
#: The API's routes, which the OpenAPI document describes.
ROUTES = web.AppKey("routes", RouteTable)
#: The role of the token a request was made with.
ROLE = web.RequestKey("role", Role)
