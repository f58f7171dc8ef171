"""One running sandbox: its world, limiter, faults and Bot API, shared by all its handlers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from aiohttp import web

from bot.sandbox.config import SandboxConfig
from bot.sandbox.faults import FaultPlan
from bot.sandbox.limits import RateLimiter, StrictRateLimiter
from bot.sandbox.methods import BotApi
from bot.sandbox.state import World


@dataclass(slots=True)
class Sandbox:
    """The parts of one sandbox; ``app[SANDBOX]`` holds it."""

    config: SandboxConfig
    world: World
    limiter: RateLimiter | StrictRateLimiter
    faults: FaultPlan
    api: BotApi

    @classmethod
    def create(cls, config: SandboxConfig) -> Sandbox:
        """Build a fresh sandbox from its config."""
        world = World(config)
        limiter = make_limiter(config)
        faults = FaultPlan(dataclasses.replace(config.faults), seed=config.seed)
        return cls(config, world, limiter, faults, BotApi(world, limiter))

    def reset(self) -> None:
        """Forget everything the sandbox saw; faults and limits go back to the config's."""
        self.world.reset()
        self.limiter.reset()
        self.limiter.enabled = self.config.rate_limit_enabled
        self.faults.config = self.config.faults


def make_limiter(config: SandboxConfig) -> RateLimiter | StrictRateLimiter:
    """Return the strict limiter, or the lenient one when the config chose it."""
    if config.strict:
        return StrictRateLimiter(
            enabled=config.rate_limit_enabled,
            global_limit=config.global_limit,
            global_window=config.global_window,
            chat_interval=config.chat_interval,
            group_limit=config.group_limit,
            group_window=config.group_window,
        )
    return RateLimiter(
        enabled=config.rate_limit_enabled,
        global_rate=config.global_rate,
        global_burst=config.global_burst,
        chat_rate=config.chat_rate,
        chat_burst=config.chat_burst,
        group_rate=config.group_rate,
        group_burst=config.group_burst,
    )


SANDBOX = web.AppKey("sandbox", Sandbox)
