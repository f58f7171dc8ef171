"""The errors a Bot API call answers with, in Telegram's words."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Bot API call refused with Telegram's status code and description."""

    def __init__(self, code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after

    def to_json(self) -> dict[str, Any]:
        """Return the response body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> ApiError:
    """Return a 400 error with Telegram's "Bad Request: " prefix."""
    return ApiError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> ApiError:
    """Return a 403 error with Telegram's "Forbidden: " prefix."""
    return ApiError(403, f"Forbidden: {detail}")


class ControlError(Exception):
    """A respondent-side action the sandbox refuses (unknown user, button not shown, ...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
