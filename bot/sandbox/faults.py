"""Injected faults: late responses and failed calls, decided request by request."""

from __future__ import annotations

import dataclasses
import enum
import random
from typing import Any

from bot.sandbox.config import FaultConfig


class Fault(enum.Enum):
    """What happens to one request."""

    HANG_DELIVERED = "hang_delivered"
    HANG_LOST = "hang_lost"
    FAIL = "fail"


class FaultPlan:
    """The faults in force; counts down ``hang_next`` / ``fail_next`` as requests match."""

    def __init__(self, config: FaultConfig, *, seed: int | None = None) -> None:
        self.config = config
        self._random = random.Random(seed)

    def update(self, changes: dict[str, Any]) -> FaultConfig:
        """Replace some fields of the plan (unknown fields are a ``TypeError``)."""
        if "methods" in changes:
            changes = {**changes, "methods": frozenset(changes["methods"])}
        self.config = dataclasses.replace(self.config, **changes)
        return self.config

    def draw(self, method: str, chat_id: int | None) -> Fault | None:
        """Return the fault for one request of ``method`` to ``chat_id``, if any."""
        config = self.config
        if method.lower() not in {m.lower() for m in config.methods}:
            return None
        if config.chat_id is not None and chat_id != config.chat_id:
            return None
        if config.fail_next > 0:
            self.config = dataclasses.replace(config, fail_next=config.fail_next - 1)
            return Fault.FAIL
        hang = False
        if config.hang_next > 0:
            self.config = dataclasses.replace(config, hang_next=config.hang_next - 1)
            hang = True
        elif config.hang_fraction > 0 and self._random.random() < config.hang_fraction:
            hang = True
        if not hang:
            return None
        return Fault.HANG_DELIVERED if config.hang_delivers else Fault.HANG_LOST

    def to_json(self) -> dict[str, Any]:
        """Return the plan as the control API shows it."""
        data = dataclasses.asdict(self.config)
        data["methods"] = sorted(self.config.methods)
        return data
