"""Respondent views (ops only): look one up, erase one and everything stored about them."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel
from sqlmodel import Session, func, select

from backend.api.db import read, write
from backend.api.edges import path_int
from backend.api.errors import ApiError
from backend.api.keys import SETTINGS
from backend.api.replies import ok
from backend.api.routes import OPS, RouteTable
from backend.services import quiz as quiz_service
from backend.storage.models import QuizSession, Respondent, RespondentPublic, SessionScore

routes = RouteTable()


class RespondentOut(RespondentPublic):
    sessions: int
    completed: int


class ErasedOut(BaseModel):
    erased: int


def _respondent(session: Session, respondent_id: int) -> Respondent:
    """Return the respondent, or answer 404."""
    respondent = session.get(Respondent, respondent_id)
    if respondent is None:
        raise ApiError(404, f"no respondent with id {respondent_id}")
    return respondent


@routes.route(
    "GET",
    "/api/respondents/{respondent_id}",
    summary="Look up a respondent",
    tag="respondents",
    roles=OPS,
    response=RespondentOut,
    statuses={400: "bad id", 404: "no such respondent"},
)
async def get_respondent(request: web.Request) -> web.Response:
    respondent_id = path_int(request, "respondent_id")

    def work(session: Session) -> RespondentOut:
        respondent = _respondent(session, respondent_id)
        sessions = session.exec(
            select(func.count())
            .select_from(QuizSession)
            .where(QuizSession.respondent_id == respondent_id)
        ).one()
        completed = session.exec(
            select(func.count())
            .select_from(SessionScore)
            .where(SessionScore.respondent_id == respondent_id)
        ).one()
        return RespondentOut(**respondent.model_dump(), sessions=sessions, completed=completed)

    return ok(await read(request, work))


@routes.route(
    "DELETE",
    "/api/respondents/{respondent_id}",
    summary="Erase a respondent and everything stored about them",
    tag="respondents",
    roles=OPS,
    response=ErasedOut,
    statuses={400: "bad id", 404: "no such respondent"},
)
async def erase_respondent(request: web.Request) -> web.Response:
    respondent_id = path_int(request, "respondent_id")
    key = request.app[SETTINGS].erasure_key()

    def work(session: Session) -> None:
        quiz_service.erase_respondent(
            session=session, respondent=_respondent(session, respondent_id), key=key
        )

    await write(request, work)
    return ok(ErasedOut(erased=respondent_id))
