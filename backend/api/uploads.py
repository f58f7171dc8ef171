"""Uploaded files at the API's edge: their name, their text, and a refusal listing problems."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from backend.api.errors import ApiError
from backend.questionnaire import DefinitionError, decode_text

#: Longest ``?filename=`` accepted: the column that keeps it holds 512 characters.
MAX_FILENAME_CHARS = 255


class ProblemOut(BaseModel):
    line: int | None
    path: str
    message: str


def decode_upload(raw: bytes, what: str, name: str) -> str:
    """Decode an uploaded file as UTF-8 (a BOM is dropped), naming the line of a bad byte."""
    try:
        return decode_text(raw, source=name)
    except DefinitionError as exc:
        raise rejected(exc, name, what) from None


def upload_name(request: web.Request) -> str:
    """Return ``?filename=``, refused when too long or holding control characters."""
    name = request.query.get("filename") or "upload"
    if len(name) > MAX_FILENAME_CHARS:
        raise ApiError(
            400, f"filename is {len(name):,} characters; at most {MAX_FILENAME_CHARS} are allowed"
        )
    if any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF for c in name):
        raise ApiError(400, "filename contains a control character; use a plain file name")
    return name


async def read_upload(request: web.Request, what: str) -> tuple[str, str, str]:
    """Return an uploaded file's text, its name for messages (``?filename=``) and format."""
    name = upload_name(request)
    text_body = decode_upload(await request.read(), what, name)
    fmt = "json" if "json" in request.content_type or name.endswith(".json") else "yaml"
    return text_body, name, fmt


def rejected(exc: DefinitionError, name: str, what: str) -> ApiError:
    """A 400 listing every problem of a rejected file with its line and path."""
    problems = [
        ProblemOut(line=i.line, path=i.location, message=i.message).model_dump()
        for i in exc.issues
    ]
    return ApiError(400, f"{name}: {len(problems)} problem(s) in the {what}", problems=problems)
