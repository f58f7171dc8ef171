"""Parameters of one Bot API call, read the way Telegram reads them.

Telegram accepts parameters in the query string, as a JSON body, form-encoded or as
multipart; python-telegram-bot sends them form-encoded with strings as they are and every
other value JSON-encoded. So a value may arrive as a native JSON value or as its string form,
and each accessor here accepts both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.sandbox.errors import bad_request

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


class Params:
    """Typed access to a call's parameters; a wrong or missing one is a 400 naming it."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = dict(raw)

    def __contains__(self, name: object) -> bool:
        return name in self._raw and self._raw[name] is not None

    def raw(self) -> dict[str, Any]:
        """Return the parameters as received."""
        return dict(self._raw)

    def _missing(self, name: str, missing: str | None) -> Exception:
        return bad_request(missing or f'parameter "{name}" is required')

    def opt_int(self, name: str) -> int | None:
        """Return an optional integer parameter."""
        value = self._raw.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            raise bad_request(f'parameter "{name}" must be an integer, got a boolean')
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad_request(f'parameter "{name}" must be an integer, got {value!r}')

    def req_int(self, name: str, *, missing: str | None = None) -> int:
        """Return a required integer parameter."""
        value = self.opt_int(name)
        if value is None:
            raise self._missing(name, missing)
        return value

    def opt_float(self, name: str) -> float | None:
        """Return an optional number parameter."""
        value = self._raw.get(name)
        if value is None:
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise bad_request(f'parameter "{name}" must be a number, got {value!r}')

    def opt_str(self, name: str) -> str | None:
        """Return an optional string parameter; numbers are taken in their decimal form."""
        value = self._raw.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise bad_request(f'parameter "{name}" must be a string, got {type(value).__name__}')

    def req_str(self, name: str, *, missing: str | None = None) -> str:
        """Return a required string parameter."""
        value = self.opt_str(name)
        if value is None:
            raise self._missing(name, missing)
        return value

    def opt_bool(self, name: str, default: bool = False) -> bool:
        """Return an optional boolean parameter."""
        value = self._raw.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad_request(f'parameter "{name}" must be a boolean, got {value!r}')

    def opt_json(self, name: str, *, what: str | None = None) -> Any:
        """Return an optional JSON-serialised parameter (object or array) decoded."""
        value = self._raw.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(
                    f"can't parse {what or name} JSON object"
                    if what
                    else f'parameter "{name}" is not valid JSON'
                ) from None
        return value

    def chat_id(self) -> int | str:
        """Return ``chat_id``: an integer id, or an ``@username`` of a channel or group."""
        value = self._raw.get("chat_id")
        if value is None or value == "":
            raise bad_request("chat_id is empty")
        if isinstance(value, str) and value.startswith("@"):
            return value
        try:
            return self.req_int("chat_id")
        except Exception:
            raise bad_request("chat not found") from None
