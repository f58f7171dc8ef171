"""API errors: domain errors become JSON with a status and a message a person can act on."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from backend.services.questionnaires import QuestionnaireNotFound
from backend.services.segments import SegmentNotFound
from backend.storage.limits import StoredValueError

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An error with an HTTP status, shown to the caller as JSON."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details


#: Domain errors and the HTTP status each becomes; views raise them, never translate them.
STATUSES: dict[type[Exception], int] = {
    QuestionnaireNotFound: 404,
    SegmentNotFound: 404,
}


def status_of(exc: BaseException) -> int | None:
    """Return the status of a domain error (its nearest class in :data:`STATUSES`)."""
    for cls in type(exc).__mro__:
        if cls in STATUSES:
            return STATUSES[cls]
    return None


def message_of(exc: BaseException) -> str:
    """The message a domain error was raised with (``str`` of a LookupError adds quotes)."""
    return str(exc.args[0]) if exc.args else type(exc).__name__


def json_error(status: int, message: str, **details: Any) -> web.Response:
    body = {"error": message, **({"details": details} if details else {})}
    return web.json_response(body, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into a JSON error; never leak a traceback to the caller."""
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status, exc.message, **exc.details)
    except web.HTTPRequestEntityTooLarge as exc:
        return json_error(413, f"the request body is too large: {exc.text}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = {
            404: f"no such endpoint: {request.method} {request.path} (see /api/openapi.json)",
            405: f"{request.method} is not allowed on {request.path}",
        }.get(exc.status, exc.reason)
        return json_error(exc.status, message)
    except json.JSONDecodeError as exc:
        return json_error(400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno}")
    except StoredValueError as exc:  # a value its column cannot hold: nothing was stored
        return json_error(400, f"{exc}; nothing was stored")
    except UnicodeDecodeError as exc:  # a form or text body read by aiohttp itself
        return json_error(
            400, f"the request body is not UTF-8 text (a {exc.encoding} error at byte {exc.start})"
        )
    except Exception as exc:
        status = status_of(exc)
        if status is not None:
            return json_error(status, message_of(exc))
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, "internal error; it has been logged for the operators")
