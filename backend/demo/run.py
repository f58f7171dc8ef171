"""The demo's run: start Telegram's side and the service, let the simulated respondents
answer, re-cluster, send the follow-ups, count what happened and print the report.

Telegram's side (the local Bot API sandbox and the simulated respondents) runs in a child
process, as Telegram and its users are elsewhere in production; this process runs the
service exactly as ``serve`` does (HTTP API, bot, scheduler) on an embedded SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine, func
from sqlmodel import select

from backend.demo import DEFAULT_QUESTIONNAIRE
from backend.demo.report import DemoReport, print_report, progress_bars
from backend.demo.respondents import telegram_side
from backend.followups import (
    DispatchConfig,
    import_pack,
    load_content_file,
    status_counts,
)
from backend.questionnaire import QuestionnaireDefinition, load_definition_file
from backend.runtime import build_service, follow_up_sender, open_database
from backend.scheduler.dispatch import CountingSender, dispatch_as_leader
from backend.services.questionnaires import import_definition
from backend.services.segments import list_segments, recluster
from backend.settings import Role, Settings
from backend.storage.engine import session_scope
from backend.storage.followup_tables import FollowupClick, FollowupMessage, FollowupStatus
from backend.storage.models import Respondent
from backend.storage.types import utcnow

BUNDLED = Path(__file__).resolve().parent.parent.parent / "questionnaires"


def free_port(preferred: int) -> int:
    """``preferred`` when it is free, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free port")


def demo_settings(
    settings: Settings, *, token: str, http_port: int, sandbox_port: int
) -> Settings:
    """The service's settings in the demo: the sandbox, one ops token, no scheduled runs.

    Built with ``model_validate`` (not ``model_copy``), so the token's role is a ``Role``
    exactly as when it is read from ``PSYCHOGRAPH_API_TOKENS``.
    """
    fields = {name: getattr(settings, name) for name in type(settings).model_fields}
    fields.update(
        telegram="sandbox",
        bot_token=None,
        telegram_base_url=f"http://127.0.0.1:{sandbox_port}/bot",
        http_port=http_port,
        api_tokens={token: Role.OPS, **settings.api_tokens},
        recluster_cron=None,
        recluster_after_completions=0,
    )
    return type(settings).model_validate(fields)


def pick_port(wanted: int, *, explicit: bool, what: str) -> int:
    """``wanted`` when free; a busy default gives way to any free port, a busy choice fails."""
    port = free_port(wanted)
    if port != wanted and explicit:
        raise ValueError(f"port {wanted} is in use; choose a free one with --{what}")
    return port


async def run_demo(
    settings: Settings,
    *,
    respondents: int = 300,
    questionnaire: str = DEFAULT_QUESTIONNAIRE,
    keep_running: bool = False,
    console: Console | None = None,
    http_port: int | None = None,
    sandbox_port: int | None = None,
    seed: int = 7,
    wait_forever: Callable[[], Any] | None = None,
) -> DemoReport:
    """Run the demo end to end and return its report (also printed to ``console``).

    The HTTP port is ``http_port``, else the settings' (``PSYCHOGRAPH_HTTP_PORT``); the
    sandbox's is ``sandbox_port``, else the next one. A busy default moves to a free port.
    """
    console = console or Console()
    started = time.perf_counter()
    http_port = pick_port(
        http_port or settings.http_port, explicit=http_port is not None, what="port"
    )
    sandbox_port = pick_port(
        sandbox_port or http_port + 1, explicit=sandbox_port is not None, what="sandbox-port"
    )
    token = "ops-" + secrets.token_urlsafe(12)
    settings = demo_settings(settings, token=token, http_port=http_port, sandbox_port=sandbox_port)
    context = mp.get_context("spawn")
    parent, child = context.Pipe()
    telegram = context.Process(target=telegram_side, args=(sandbox_port, child), daemon=True)
    telegram.start()
    engine = await asyncio.to_thread(open_database, settings)
    service = None
    try:
        with progress_bars(console) as progress:
            task = progress.add_task("Importing questionnaires", total=None)
            definitions: dict[str, QuestionnaireDefinition] = {}

            def import_all() -> None:
                with session_scope(engine) as session:
                    for path in sorted(BUNDLED.glob("*.yaml")):
                        definition = load_definition_file(path)
                        import_definition(definition, session=session, source_name=path.name)
                        definitions[definition.id] = definition
                _import_content(engine)

            await asyncio.to_thread(import_all)
            progress.update(task, total=1, completed=1)
            if questionnaire not in definitions:
                known = ", ".join(sorted(definitions))
                raise ValueError(f"no bundled questionnaire {questionnaire!r} (known: {known})")
            kind, _ = await asyncio.to_thread(parent.recv)
            assert kind == "ready"
            service = build_service(settings, engine)
            await service.start()
            task = progress.add_task("Respondents answering", total=respondents)
            parent.send(
                (
                    "respond",
                    {
                        "definition": definitions[questionnaire].model_dump(
                            mode="json", by_alias=True, exclude_none=True
                        ),
                        "key": questionnaire,
                        "count": respondents,
                        "seed": seed,
                    },
                )
            )
            while True:
                kind, payload = await asyncio.to_thread(parent.recv)
                if kind == "progress":
                    progress.update(task, completed=payload)
                elif kind == "finished":
                    answered = payload
                    break
            task = progress.add_task("Re-clustering", total=None)
            run = await asyncio.to_thread(_recluster, engine, questionnaire, seed)
            progress.update(task, total=1, completed=1)
            task = progress.add_task("Sending follow-ups", total=None)
            parent.send(("limits", True))
            await asyncio.to_thread(parent.recv)
            await _dispatch(settings, engine)
            progress.update(task, total=1, completed=1)
            task = progress.add_task("Respondents reacting", total=None)
            parent.send(
                (
                    "engage",
                    {"users": answered["completed"], "seed": seed, "click_share": 0.3},
                )
            )
            kind, engaged = await asyncio.to_thread(parent.recv)
            assert kind == "engaged"
            counts = await asyncio.to_thread(_outcomes, engine, expected_clicks=engaged["clicks"])
            progress.update(task, total=1, completed=1)
        host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::") else settings.http_host
        base = f"http://{host}:{http_port}"
        sandbox = f"http://127.0.0.1:{sandbox_port}/sandbox/view/chats"
        showcase = engaged["showcase"]
        report = DemoReport(
            questionnaire=questionnaire,
            respondents=respondents,
            failed=answered["failed"],
            stopped=answered["stopped"],
            completed=len(answered["completed"]),
            seconds=time.perf_counter() - started,
            choice_reason=run.get("reason", ""),
            segments=run.get("segments", []),
            outbox=counts["outbox"],
            followups_scheduled=counts["scheduled"],
            clicks=counts["clicks"],
            opted_out=counts["opted_out"],
            blocked=counts["blocked"],
            urls={
                "Dashboard": f"{base}/dashboard/",
                "API": f"{base}/api/questionnaires",
                "OpenAPI": f"{base}/api/openapi.json",
                "Metrics": f"{base}/metrics",
                "Respondents' chats": sandbox,
                **({"A respondent's chat": f"{sandbox}/{showcase}"} if showcase else {}),
                "API token (ops)": token,
            },
        )
        print_report(console, report)
        if keep_running:
            console.print("\nEverything keeps running; press Ctrl+C to stop.")
            await (wait_forever() if wait_forever else asyncio.Event().wait())
        return report
    finally:
        if service is not None:
            await service.stop()
        else:
            engine.dispose()
        with contextlib.suppress(BrokenPipeError, OSError):
            parent.send(("stop", None))
        telegram.join(5)
        if telegram.is_alive():
            telegram.kill()


def _import_content(engine: Engine) -> None:
    """Import the bundled content packs."""
    for path in sorted((BUNDLED / "content").glob("*.yaml")):
        pack = load_content_file(path)
        with session_scope(engine) as session:
            import_pack(session=session, pack=pack)


def _recluster(engine: Engine, key: str, seed: int) -> dict[str, Any]:
    report = recluster(engine=engine, questionnaire_key=key, random_state=seed, trigger="demo")
    with session_scope(engine) as session:
        segments = list_segments(session=session, questionnaire_key=key)
    return {
        "reason": report.choice_reason,
        "segments": [
            {
                "id": s.id,
                "name": s.name,
                "size": s.size,
                "share": s.share,
                "traits": ", ".join(
                    f"{t['label']} {'↑' if t['direction'] == 'high' else '↓'}"
                    for t in s.traits[:3]
                ),
            }
            for s in segments
        ],
    }


async def _dispatch(settings: Settings, engine: Engine) -> int:
    """Send the follow-ups due now into the sandbox, within Telegram's limits."""
    sender = follow_up_sender(settings)
    await sender.bot.initialize()
    try:
        report = await dispatch_as_leader(
            engine, CountingSender(sender), DispatchConfig(), max_seconds=120
        )
    finally:
        await sender.bot.shutdown()
    return report.sent if report is not None else 0


def _outcomes(engine: Engine, *, expected_clicks: int, wait: float = 15.0) -> dict[str, Any]:
    """Count what the demo came to, from the database: the outbox by state, clicks,
    opt-outs and blocks (waiting briefly for the bot to record the last presses and for
    sends in flight to come back)."""
    deadline = time.monotonic() + wait
    while True:
        with session_scope(engine) as session:
            clicks = int(session.exec(select(func.count()).select_from(FollowupClick)).one())
            # the scheduler may be sending too: count once its sends have come back
            sending = int(
                session.exec(
                    select(func.count()).where(FollowupMessage.status == FollowupStatus.SENDING)
                ).one()
            )
            settled = clicks >= expected_clicks and sending == 0
            if settled or time.monotonic() > deadline:
                return {
                    "outbox": status_counts(session=session),
                    "scheduled": int(
                        session.exec(
                            select(func.count()).where(
                                FollowupMessage.status == FollowupStatus.PENDING,
                                FollowupMessage.not_before > utcnow(),
                            )
                        ).one()
                    ),
                    "clicks": clicks,
                    "opted_out": int(
                        session.exec(
                            select(func.count()).where(Respondent.opted_out == True)  # noqa: E712
                        ).one()
                    ),
                    "blocked": int(
                        session.exec(
                            select(func.count()).where(Respondent.unreachable == True)  # noqa: E712
                        ).one()
                    ),
                }
        time.sleep(0.1)
