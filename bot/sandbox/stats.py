"""Counters of what the sandbox saw and did, for tests and benchmarks to read."""

from __future__ import annotations

from collections import Counter, deque
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
    #: Seconds from the bot receiving a chat's update to its next message in that chat.
    reply_latencies: deque[float] = field(default_factory=lambda: deque(maxlen=200_000))

    def latency_ms(self, quantile: float) -> float | None:
        """A quantile of the reply latencies, in milliseconds (None before any reply)."""
        if not self.reply_latencies:
            return None
        ordered = sorted(self.reply_latencies)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] * 1000

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
            "reply_latency_ms": {
                "count": len(self.reply_latencies),
                "p50": self.latency_ms(0.5),
                "p99": self.latency_ms(0.99),
            },
        }
