"""An aiohttp transport for python-telegram-bot.

python-telegram-bot's default transport is httpx; on this workload (many small Bot API
calls) aiohttp's client spends far less CPU per request, which is most of a quiz answer's
cost. The same ``base_url`` reaches Telegram or the local sandbox.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import JSONDict, ODVInput
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import BaseRequest, HTTPXRequest, RequestData

log = logging.getLogger(__name__)


def json_error_body(status: int, payload: bytes) -> bytes:
    """Return ``payload``, or for an error answered without JSON a Bot API error body.

    A proxy in front of the Bot API (or Telegram itself during an outage) may answer a 502
    with an HTML page; python-telegram-bot would log that page with a traceback for every
    request. This keeps one line saying what came back.
    """
    if 200 <= status <= 299:
        return payload
    try:
        json.loads(payload)
    except ValueError:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "HTTP error"
        head = payload[:80].decode("utf-8", "replace").split("\n", 1)[0].strip()
        description = f"{phrase} ({status}): the Bot API answered without JSON ({head!r})"
        log.warning("%s", description)
        return json.dumps({"ok": False, "error_code": status, "description": description}).encode()
    return payload


def parse_json_quietly(payload: bytes) -> JSONDict:
    """Parse a Bot API answer; a broken one is an error, not a logged traceback."""
    try:
        data: JSONDict = json.loads(payload.decode("utf-8", "replace"))
    except ValueError:
        raise TelegramError("Invalid server response: not JSON") from None
    return data


class AiohttpRequest(BaseRequest):
    """A :class:`telegram.request.BaseRequest` on one pooled ``aiohttp.ClientSession``."""

    parse_json_payload = staticmethod(parse_json_quietly)

    def __init__(
        self,
        *,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 30.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    @staticmethod
    def _pick(value: ODVInput[float], default: float | None) -> float | None:
        return default if isinstance(value, DefaultValue) else value

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        read = self._pick(read_timeout, self._read_timeout)
        connect = self._pick(connect_timeout, self._connect_timeout)
        pool = self._pick(pool_timeout, self._pool_timeout)
        data: aiohttp.FormData | dict[str, str] | None = None
        if request_data is not None and request_data.contains_files:
            form = aiohttp.FormData()
            for name, value in (request_data.json_parameters or {}).items():
                form.add_field(name, value)
            for name, (filename, content, mime) in (request_data.multipart_data or {}).items():
                form.add_field(name, content, filename=filename, content_type=mime)
            data = form
        elif request_data is not None:
            data = request_data.json_parameters
        # aiohttp's "connect" covers waiting for a pooled connection and opening one.
        waits = [t for t in (connect, pool) if t is not None]
        timeout = aiohttp.ClientTimeout(
            total=None,
            connect=sum(waits) if waits else None,
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, json_error_body(response.status, await response.read())
        except aiohttp.ConnectionTimeoutError as err:
            raise TimedOut("Timed out connecting: the request was *not* sent to Telegram") from err
        except (TimeoutError, aiohttp.ServerTimeoutError) as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err


class QuietHTTPXRequest(HTTPXRequest):
    """python-telegram-bot's httpx transport, with non-JSON error answers as one log line."""

    parse_json_payload = staticmethod(parse_json_quietly)

    async def do_request(self, *args: object, **kwargs: object) -> tuple[int, bytes]:
        status, payload = await super().do_request(*args, **kwargs)  # type: ignore[arg-type]
        return status, json_error_body(status, payload)
