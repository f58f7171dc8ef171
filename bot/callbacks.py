"""Callback data codec: compact, signed, and at most 64 bytes as Telegram requires.

``<action>.<session>.<question>.<value>.<signature>`` with numbers in base 36; the
signature is a truncated HMAC-SHA256, so a client cannot forge a button for another
session or a value the bot never offered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

MAX_CALLBACK_BYTES = 64
SIGNATURE_CHARS = 11  # 66 bits


class Action(StrEnum):
    BEGIN = "g"
    ANSWER = "a"
    TOGGLE = "t"
    DONE = "d"
    SKIP = "s"
    BACK = "b"
    OPEN = "o"  # open a questionnaire from the /start list
    ERASE = "e"  # confirm /delete_me
    KEEP = "k"  # cancel /delete_me


class ForgedCallback(ValueError):
    """Callback data that this bot did not sign."""


@dataclass(frozen=True, slots=True)
class Callback:
    action: Action
    session: int = 0
    question: int = 0
    value: str = ""


def _b36(number: int) -> str:
    if number < 0:
        raise ValueError("negative number in callback data")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


class CallbackCodec:
    """Encode and verify callback data with a secret key."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sign(self, payload: str) -> str:
        digest = hmac.new(self._secret, payload.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:SIGNATURE_CHARS]

    def encode(self, callback: Callback) -> str:
        if "." in callback.value:
            raise ValueError(f"callback value may not contain '.': {callback.value!r}")
        payload = ".".join(
            [
                callback.action.value,
                _b36(callback.session),
                _b36(callback.question),
                callback.value,
            ]
        )
        data = f"{payload}.{self._sign(payload)}"
        if len(data.encode()) > MAX_CALLBACK_BYTES:
            raise ValueError(f"callback data over {MAX_CALLBACK_BYTES} bytes: {data!r}")
        return data

    def decode(self, data: str | None) -> Callback:
        """Return the callback ``data`` holds, or raise :class:`ForgedCallback` for any data
        this bot did not sign (whatever its content: non-ASCII, NUL, lone surrogates)."""
        if not data or not data.isascii():  # the bot signs ASCII only
            raise ForgedCallback("empty or non-ASCII callback data")
        if len(data) > MAX_CALLBACK_BYTES:
            raise ForgedCallback("over-long callback data")
        payload, _, signature = data.rpartition(".")
        # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError).
        if not payload or not hmac.compare_digest(
            signature.encode(), self._sign(payload).encode()
        ):
            raise ForgedCallback("bad signature")
        parts = payload.split(".")
        if len(parts) != 4:
            raise ForgedCallback("malformed callback data")
        action, session, question, value = parts
        try:
            return Callback(Action(action), int(session, 36), int(question, 36), value)
        except ValueError:
            raise ForgedCallback("malformed callback data") from None
