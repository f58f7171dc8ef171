"""`psychograph demo` at a reduced size: the whole product end to end, report included."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.demo.run import demo_settings, pick_port
from backend.settings import Role, Settings
from tests.helpers.auth import csrf_of


def test_demo_runs_end_to_end_and_names_its_segments(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "demo",
            "--respondents",
            "60",
            "--demo-database",
            f"sqlite:///{tmp_path / 'demo.db'}",
        ],
        cwd=tmp_path,
        # the port comes from the settings, as for `serve`
        env={**os.environ, "COLUMNS": "200", "PSYCHOGRAPH_HTTP_PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Respondents answering" in out
    assert "60/60" in out
    names = re.findall(r"│ (\w[\w-]* · \w[\w-]*)\s+│", out)
    assert len(names) >= 2, out
    assert re.search(r"k=\d chosen", out)
    # unequal segments, as real samples have
    sizes = [int(n) for n in re.findall(r"│ \w[\w-]* · \w[\w-]*\s+│\s+(\d+)\s+│", out)]
    assert len(set(sizes)) > 1, out
    assert "did not finish" not in out
    stopped = re.search(r"(\d+) completed the quiz; (\d+) stopped part-way", out)
    assert stopped is not None, out
    assert int(stopped.group(2)) >= 1
    # the counts come from the outbox after the scheduler and the demo both sent
    followups = re.search(
        r"Follow-ups: (\d+) delivered.*?(\d+) button presses; (\d+) opted out with /stop; "
        r"(\d+) blocked the bot",
        out,
        re.S,
    )
    assert followups is not None, out
    delivered, clicks, opted_out, blocked = map(int, followups.groups())
    assert delivered > 0
    assert clicks > 0
    assert opted_out >= 1
    assert blocked >= 1
    assert f"http://127.0.0.1:{port}/dashboard/" in out
    assert re.search(r"A respondent's chat\s+http://127\.0\.0\.1:\d+/sandbox/view/chats/\d+", out)
    assert re.search(r"API token \(ops\)\s+ops-", out)


async def test_the_token_the_demo_prints_signs_in_to_the_dashboard(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], sqlite_engine: Engine
) -> None:
    token = "ops-demo-token-123456"
    settings = demo_settings(Settings(), token=token, http_port=8080, sandbox_port=8081)
    assert settings.api_tokens[token] is Role.OPS
    app = create_app(settings, sqlite_engine)
    client = await aiohttp_client(app)
    csrf = await csrf_of(client, "/dashboard/sign-in")
    response = await client.post(
        "/dashboard/sign-in",
        data={"csrf": csrf, "token": token, "next": "/dashboard/questionnaires"},
    )
    assert response.status == 200, await response.text()
    assert "signed in as ops" in await response.text()


def test_a_busy_port_chosen_on_the_command_line_is_refused() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused = f"port {port} is in use; choose a free one with --port"
        with pytest.raises(ValueError, match=refused):
            pick_port(port, explicit=True, what="port")
        assert pick_port(port, explicit=False, what="port") != port
