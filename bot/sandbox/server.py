"""The sandbox's aiohttp application: the Bot API at ``/bot{token}/{method}`` and the control API.

Telegram serves the Bot API at ``https://api.telegram.org/bot{token}/{method}`` and
python-telegram-bot builds its URLs as ``f"{base_url}{token}/{method}"``; so a bot built with
``base_url=f"http://{host}:{port}/bot"`` talks to this server exactly as it would to Telegram.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from bot.sandbox.config import SandboxConfig
from bot.sandbox.control import control_errors, routes
from bot.sandbox.errors import ApiError, bad_request
from bot.sandbox.faults import Fault
from bot.sandbox.instance import SANDBOX, Sandbox
from bot.sandbox.methods import success_body
from bot.sandbox.params import Params
from bot.sandbox.webhook import WebhookDispatcher
from bot.sandbox.webview import routes as view_routes

log = logging.getLogger(__name__)

WEBHOOK_DISPATCHER = web.AppKey("webhook_dispatcher", WebhookDispatcher)
_FAULT_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 504: "Gateway Timeout"}


def create_sandbox_app(config: SandboxConfig | None = None) -> web.Application:
    """Build the sandbox server for ``config`` (the defaults when omitted)."""
    app = web.Application(middlewares=[control_errors])
    app[SANDBOX] = Sandbox.create(config or SandboxConfig())
    app.router.add_route("*", r"/bot{token}/{method}", _bot_call)
    app.router.add_routes(routes)
    app.router.add_routes(view_routes)
    app.cleanup_ctx.append(_webhook_delivery)
    app.on_shutdown.append(_wake_waiters)
    return app


async def _webhook_delivery(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession() as session:
        dispatcher = WebhookDispatcher(app[SANDBOX].world, session)
        app[WEBHOOK_DISPATCHER] = dispatcher
        dispatcher.kick()
        yield
        await dispatcher.close()


async def _wake_waiters(app: web.Application) -> None:
    # Long polls and hanging responses would otherwise hold the shutdown for their full time.
    app[SANDBOX].world.close()


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise bad_request("can't parse JSON encoded request body") from None
        if not isinstance(body, dict):
            raise bad_request("the JSON request body must be an object")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for name, value in form.items():
            if isinstance(value, str):
                params[name] = value
            else:
                params[name] = {"file": getattr(value, "filename", name)}
    return params


def _chat_id_of(params: Params) -> int | None:
    try:
        return params.opt_int("chat_id")
    except ApiError:
        return None


async def _bot_call(request: web.Request) -> web.Response:
    sandbox = request.app[SANDBOX]
    world, method = sandbox.world, request.match_info["method"]
    world.stats.requests[method] += 1
    fault: Fault | None = None
    try:
        if request.match_info["token"] != sandbox.config.token:
            raise ApiError(401, "Unauthorized")
        handler = sandbox.api.lookup(method)
        params = Params(await _read_params(request))
        fault = sandbox.faults.draw(method, _chat_id_of(params))
        if fault is Fault.FAIL:
            world.stats.faults_failed += 1
            status = sandbox.faults.config.fail_status
            if sandbox.faults.config.fail_html:
                world.stats.errors[status] += 1
                reason = _FAULT_REASONS.get(status, "Internal Server Error")
                page = f"<html><head><title>{status} {reason}</title></head><body></body></html>"
                return web.Response(text=page, status=status, content_type="text/html")
            raise ApiError(status, _FAULT_REASONS.get(status, "Internal Server Error"))
        if fault is Fault.HANG_LOST:
            world.stats.faults_hung += 1
            await world.sleep(sandbox.faults.config.hang_seconds)
            raise ApiError(502, "Bad Gateway")
        body, status = success_body(await handler(params)), 200
    except ApiError as exc:
        world.stats.errors[exc.code] += 1
        body, status = exc.to_json(), exc.code
    if fault is Fault.HANG_DELIVERED:
        world.stats.faults_hung += 1
        await world.sleep(sandbox.faults.config.hang_seconds)
    return web.json_response(body, status=status)


async def run_sandbox(config: SandboxConfig, host: str, port: int) -> None:
    """Serve the sandbox on ``host:port`` until cancelled."""
    runner = web.AppRunner(create_sandbox_app(config), shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        log.info(
            "Bot API sandbox on http://%s:%d/bot (token %s); control API under /sandbox/",
            host,
            port,
            config.token,
        )
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
