"""Replies of API views: a model as JSON, or rows streamed as a CSV download."""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from backend.api.db import in_thread
from backend.services import responses as rs

#: Rows encoded per hop to a thread while a CSV is streamed.
CSV_ROWS_PER_CHUNK = 1_000


def ok(model: BaseModel | list[Any] | dict[str, Any], status: int = 200) -> web.Response:
    """Reply with a model (or a list of them) as JSON."""
    if isinstance(model, BaseModel):
        return web.json_response(text=model.model_dump_json(), status=status)
    if isinstance(model, list):
        payload = [m.model_dump(mode="json") if isinstance(m, BaseModel) else m for m in model]
        return web.json_response(payload, status=status)
    return web.json_response(model, status=status)


async def stream_csv(
    request: web.Request, filename: str, rows: Iterator[Sequence[Any]], *, raw: bool = False
) -> web.StreamResponse:
    """Send ``rows`` as a CSV download while they are read, chunk by chunk off the loop.

    Cells a spreadsheet would run as formulas are neutralised unless ``raw``. The first
    chunk is read before anything is sent, so an error there (an unknown questionnaire) can
    still become a proper error response.
    """

    def chunk() -> bytes:
        out = io.StringIO()
        batch = itertools.islice(rows, CSV_ROWS_PER_CHUNK)
        csv.writer(out).writerows(batch if raw else map(rs.neutralise_row, batch))
        return out.getvalue().encode()

    try:
        data = await in_thread(chunk)
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="{filename}"',
                "Cache-Control": "no-store",
            }
        )
        await response.prepare(request)
        while data:
            await response.write(data)
            data = await in_thread(chunk)
        await response.write_eof()
        return response
    finally:
        close = getattr(rows, "close", None)
        if close is not None:  # a generator: let go of its database session now
            await in_thread(close)
