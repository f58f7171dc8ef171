"""Property-based run over the OpenAPI document (schemathesis): no input makes a 5xx,
on SQLite and on PostgreSQL (which refuses what SQLite stores: NUL, over-long strings)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Ok
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.api.views import routes
from backend.questionnaire import load_definition_file
from backend.services.questionnaires import import_definition
from backend.settings import Settings
from backend.storage.engine import session_scope
from tests.helpers.auth import TOKENS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def live_api(engine: Engine, api_settings: Settings) -> Iterator[str]:
    """Serve the API on a real port from a thread of its own (schemathesis calls are sync)."""
    with session_scope(engine) as session:
        import_definition(
            load_definition_file(ROOT / "questionnaires" / "values-attitudes.yaml"),
            session=session,
        )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    runner: web.AppRunner | None = None

    async def start() -> None:
        nonlocal runner
        runner = web.AppRunner(create_app(api_settings, engine), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        ready.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    ready.wait(10)
    yield f"http://127.0.0.1:{port}"
    assert runner is not None
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_no_generated_request_makes_a_server_error(live_api: str) -> None:
    document = routes.openapi(title="Psychograph API", version="test")
    schema = schemathesis.openapi.from_dict(document)
    headers = {"Authorization": f"Bearer {TOKENS['ops']}"}
    failures: list[str] = []
    statuses: dict[int, int] = {}
    operations = [r.ok() for r in schema.get_all_operations() if isinstance(r, Ok)]
    assert len(operations) == len(routes.specs)
    for operation in operations:

        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def call(case: Any) -> None:
            response = case.call(base_url=live_api, headers=headers, timeout=30)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: "
                    f"{response.text[:200]}"
                )

        call()
    assert failures == []
    # the run really exercised the API: many calls, both accepted and refused ones
    assert sum(statuses.values()) >= 5 * len(operations)
    assert any(200 <= status < 300 for status in statuses)
    assert any(400 <= status < 500 for status in statuses)
