"""Strict parsing at the HTTP edge: URLs, numbers in paths and queries, and headers.

Everything a request carries is checked here before a view or the database sees it, so a
Unicode digit, a NUL byte or a header that is not UTF-8 becomes a 400 or 401 with a message
that says what was wrong and where, never a 500 deeper down.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from aiohttp import web

from backend.api.errors import ApiError, Handler, json_error

#: The largest id a BIGINT column holds; a longer number cannot name anything stored.
MAX_ID = 2**63 - 1
#: Questionnaire keys are short ASCII identifiers (see the definition schema); a path
#: segment that cannot be one names no questionnaire.
_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: C0 controls and DEL: never part of a URL's meaning, and NUL breaks PostgreSQL strings.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: Headers read as text by the service: they must be UTF-8 (aiohttp keeps undecodable
#: bytes as lone surrogates, which fail later when encoded).
TEXT_HEADERS = ("Authorization", "X-Telegram-Bot-Api-Secret-Token", "Cookie")


def parse_int(raw: str, what: str, *, low: int = 0, high: int = MAX_ID) -> int:
    """Parse ``raw`` as a whole number written in ASCII digits, from ``low`` to ``high``.

    ``str.isdigit`` accepts ``²`` and ``int`` accepts ``٣``; neither is a number a caller
    meant, so only ``0-9`` count here.
    """
    shown = raw[:40]
    if not raw or not raw.isascii() or not raw.isdigit():
        raise ApiError(
            400, f"{what} must be a whole number written with digits 0-9, got {shown!r}"
        )
    digits = raw.lstrip("0") or "0"  # leading zeros are harmless; length bounds the work
    if len(digits) > len(str(high)) or not low <= int(digits) <= high:
        raise ApiError(400, f"{what} must be a whole number from {low} to {high}, got {shown!r}")
    return int(digits)


def path_int(request: web.Request, name: str, *, low: int = 1, high: int = MAX_ID) -> int:
    """Return the path parameter ``name`` as a number (an id: 1 or more by default)."""
    return parse_int(request.match_info[name], name.replace("_", " "), low=low, high=high)


def query_int(request: web.Request, name: str, *, default: int, low: int, high: int) -> int:
    """Return the query parameter ``name`` as a number, ``default`` when it is absent."""
    raw = request.query.get(name)
    if raw is None:
        return default
    return parse_int(raw, name, low=low, high=high)


def path_key(request: web.Request, name: str = "key") -> str:
    """Return a questionnaire key from the path; one that cannot be a key names nothing."""
    key = request.match_info[name]
    if not _KEY.fullmatch(key):
        raise ApiError(404, f"no questionnaire called {key[:64]!r}")
    return key


def _bad_url(request: web.Request) -> str | None:
    try:
        decoded = unquote_to_bytes(request.raw_path).decode("utf-8")
    except UnicodeDecodeError:
        return "the URL is not UTF-8 once its %-escapes are decoded"
    if _CONTROL.search(decoded):
        return "the URL holds a control character (such as NUL); remove it"
    return None


def _bad_header(request: web.Request) -> tuple[str, str] | None:
    for name in TEXT_HEADERS:
        for value in request.headers.getall(name, ()):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return name, f"the {name} header is not valid UTF-8"
    return None


@web.middleware
async def strict_input_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse URLs and headers that no view could read correctly, before any view runs."""
    problem = _bad_url(request)
    if problem is not None:
        return json_error(400, problem)
    bad = _bad_header(request)
    if bad is not None:
        name, message = bad
        if name == "Authorization":
            response = json_error(401, f"{message}: send Authorization: Bearer <token>")
            response.headers["WWW-Authenticate"] = 'Bearer realm="psychograph"'
            return response
        return json_error(400, message)
    return await handler(request)
