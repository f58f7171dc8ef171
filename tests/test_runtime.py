"""`psychograph serve` as ops run it: a subprocess, a quiz answered, SIGTERM, clean exit."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlmodel import select

from backend.questionnaire import load_definition
from backend.services.questionnaires import import_definition
from backend.storage.engine import make_engine, session_scope
from backend.storage.migrate import upgrade
from backend.storage.models import Answer
from bot.sandbox import SandboxClient, SandboxConfig, create_sandbox_app
from tests.helpers.chat import Chat
from tests.helpers.definitions import TINY

LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING) ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if process.returncode is not None:
                raise AssertionError("serve exited during start-up")
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("serve did not become ready")


async def test_serve_answers_a_quiz_and_stops_cleanly_on_sigterm(
    tmp_path: Path, aiohttp_server: object
) -> None:
    sandbox: TestServer = await aiohttp_server(  # type: ignore[operator]
        create_sandbox_app(SandboxConfig())  # strict, as Telegram
    )
    database_url = f"sqlite:///{tmp_path / 'service.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    with session_scope(engine) as session:
        import_definition(load_definition(TINY), session=session)
    port = free_port()
    env = {
        **os.environ,
        "PSYCHOGRAPH_DATABASE_URL": database_url,
        "PSYCHOGRAPH_TELEGRAM_BASE_URL": str(sandbox.make_url("/bot")),
        "PSYCHOGRAPH_HTTP_PORT": str(port),
        "PSYCHOGRAPH_LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backend.cli",
        "serve",
        env=env,
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        await wait_ready(f"http://127.0.0.1:{port}/readyz", process)
        async with SandboxClient(str(sandbox.make_url(""))) as client:
            chat = await Chat.open(client, first_name="Ops")
            await chat.command("start", "tiny")
            intro = await chat.expect()
            await chat.choose(intro.buttons[0][0].text)
            await chat.choose("4")
            menu = await client.commands()
            assert {"start", "resume", "stop", "timezone"} <= {c["command"] for c in menu}
            assert (await client.stats())["rate_limited"] == 0
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), timeout=10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.stderr is not None
    logs = (await process.stderr.read()).decode()
    assert code == 0, logs
    assert '"message": "stopped"' in logs
    assert '"message": "button handled in' in logs
    assert '"context": "update:' in logs
    with session_scope(engine) as session:
        assert [(a.question_id, a.value) for a in session.exec(select(Answer)).all()] == [
            ("mood", 4)
        ]
    engine.dispose()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PSYCHOGRAPH_DATABASE_URL", "mysql://x", "PSYCHOGRAPH_DATABASE_URL"),
        ("PSYCHOGRAPH_HTTP_PORT", "99999", "PSYCHOGRAPH_HTTP_PORT"),
        ("PSYCHOGRAPH_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1:1/x", "cannot reach"),
    ],
)
async def test_serve_says_in_one_line_what_is_wrong(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    assert message in await failed_start(tmp_path, {variable: value})


async def failed_start(tmp_path: Path, env: dict[str, str]) -> str:
    """Start ``serve`` with ``env``, expect exit status 2 and one line; return that line."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PSYCHOGRAPH_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "backend.cli",
        "serve",
        env={**clean, "PSYCHOGRAPH_HTTP_PORT": str(free_port()), **env},
        stderr=asyncio.subprocess.PIPE,
        cwd=tmp_path,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    text = stderr.decode()
    # Start-up's log lines (a fresh SQLite file is migrated first) may come before it.
    lines = [line for line in text.splitlines() if line.strip() and not LOG_LINE.match(line)]
    assert process.returncode == 2, text
    assert len(lines) == 1, text
    return lines[0]


async def test_a_production_start_without_a_token_says_so(tmp_path: Path) -> None:
    line = await failed_start(tmp_path, {"PSYCHOGRAPH_TELEGRAM": "telegram"})
    assert "PSYCHOGRAPH_TELEGRAM=telegram needs PSYCHOGRAPH_BOT_TOKEN" in line


async def test_an_unreachable_bot_api_is_one_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/bot"
    line = await failed_start(tmp_path, {"PSYCHOGRAPH_TELEGRAM_BASE_URL": url})
    assert f"cannot reach the Bot API at {url} (sandbox mode" in line
    assert "psychograph sandbox" in line


async def test_a_token_the_bot_api_refuses_is_one_line(
    tmp_path: Path, aiohttp_server: object
) -> None:
    sandbox: TestServer = await aiohttp_server(  # type: ignore[operator]
        create_sandbox_app(SandboxConfig())
    )
    line = await failed_start(
        tmp_path,
        {
            "PSYCHOGRAPH_TELEGRAM": "telegram",
            "PSYCHOGRAPH_BOT_TOKEN": "42:not-the-token-of-this-bot",
            "PSYCHOGRAPH_TELEGRAM_BASE_URL": str(sandbox.make_url("/bot")),
        },
    )
    assert "does not accept the bot token: check PSYCHOGRAPH_BOT_TOKEN" in line
