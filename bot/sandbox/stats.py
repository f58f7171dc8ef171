"""Counters of what the sandbox saw and did, for tests and benchmarks to read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Stats:
    """Running totals since the sandbox started or was last reset."""

    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[int] = field(default_factory=Counter)
    messages_sent: int = 0
    messages_edited: int = 0
    messages_deleted: int = 0
    rate_limited: int = 0
    callback_answers: int = 0
    chat_actions: int = 0
    updates_created: int = 0
    updates_filtered: int = 0
    webhook_deliveries: int = 0
    webhook_failures: int = 0
    faults_hung: int = 0
    faults_failed: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return the counters as plain JSON."""
        return {
            "requests": dict(self.requests),
            "errors": {str(code): count for code, count in self.errors.items()},
            "messages_sent": self.messages_sent,
            "messages_edited": self.messages_edited,
            "messages_deleted": self.messages_deleted,
            "rate_limited": self.rate_limited,
            "callback_answers": self.callback_answers,
            "chat_actions": self.chat_actions,
            "updates_created": self.updates_created,
            "updates_filtered": self.updates_filtered,
            "webhook_deliveries": self.webhook_deliveries,
            "webhook_failures": self.webhook_failures,
            "faults_hung": self.faults_hung,
            "faults_failed": self.faults_failed,
        }
