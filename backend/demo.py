"""``psychograph demo``: the whole product on one machine, with no token and no set-up.

Telegram's side (the local Bot API sandbox and the simulated respondents) runs in a child
process, as Telegram and its users are elsewhere in production; this process runs the
service exactly as ``serve`` does (HTTP API, bot, scheduler) on an embedded SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import random
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from backend.settings import Role, Settings

BUNDLED = Path(__file__).resolve().parent.parent / "questionnaires"
DEFAULT_QUESTIONNAIRE = "values-attitudes"
PROFILES = 4


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


# --- Telegram's side (child process) -------------------------------------------------------


def _telegram_side(port: int, conn: Connection) -> None:
    """Serve the sandbox; on request, let simulated respondents take a quiz."""
    asyncio.run(_telegram_main(port, conn))


async def _telegram_main(port: int, conn: Connection) -> None:
    from bot.sandbox import SandboxClient, SandboxConfig, run_sandbox

    server = asyncio.create_task(
        run_sandbox(SandboxConfig(rate_limit_enabled=False), "127.0.0.1", port)
    )
    loop = asyncio.get_running_loop()
    base = f"http://127.0.0.1:{port}"
    async with SandboxClient(base) as client:
        for _ in range(200):
            try:
                await client.stats()
                break
            except Exception:  # not listening yet
                await asyncio.sleep(0.05)
        conn.send(("ready", None))
        while True:
            command, payload = await loop.run_in_executor(None, conn.recv)
            if command == "respond":
                await _respond(client, conn, **payload)
            elif command == "engage":
                await _engage(client, conn, **payload)
            elif command == "limits":
                await client.set_rate_limits(enabled=payload, reset=True)
                conn.send(("ok", None))
            elif command == "stats":
                conn.send(("stats", await client.stats()))
            elif command == "stop":
                break
    server.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await server


async def _respond(
    client: Any, conn: Connection, *, definition: dict[str, Any], key: str, count: int, seed: int
) -> None:
    from backend.questionnaire import QuestionnaireDefinition
    from bot.simulator import ScriptedRespondent, crowd, latent_profiles, persona_chooser

    parsed = QuestionnaireDefinition.model_validate(definition)
    rng = random.Random(seed)
    profiles = latent_profiles(parsed, PROFILES, rng)
    people = crowd(parsed, profiles, count, rng)
    languages = ["en", "en", "en", "de"] if "de" in parsed.languages else ["en"]
    done = 0
    failed = 0
    stopped = 0
    completed: list[int] = []
    # Respondents arrive in waves, as people do, not all in the same second.
    gate = asyncio.Semaphore(60)

    async def one(index: int) -> None:
        nonlocal done, failed, stopped
        async with gate:
            user = await client.create_user(
                first_name=f"Respondent {index + 1}", language_code=rng.choice(languages)
            )
            persona = people[index]
            person = random.Random(seed * 100_003 + index)
            script = ScriptedRespondent(
                client, user.id, parsed, persona_chooser(parsed, persona, person), timeout=60
            )
            try:
                transcript = await script.take(key, stop_after=persona.stop_after)
            except Exception:  # counted and reported; one stuck respondent must not stop all
                failed += 1
            else:
                if transcript.completed:
                    completed.append(user.id)
                else:
                    stopped += 1
            done += 1
            conn.send(("progress", done))

    await asyncio.gather(*(one(i) for i in range(count)))
    # One person in a hundred (at least one) blocks the bot right after seeing their
    # profile: the dispatcher meets Telegram's 403 when it sends them a follow-up.
    blocked = sorted(rng.sample(completed, max(1, len(completed) // 100))) if completed else []
    for user_id in blocked:
        await client.block(user_id)
    conn.send(
        (
            "finished",
            {
                "done": done,
                "failed": failed,
                "stopped": stopped,
                "completed": completed,
                "blocked": blocked,
            },
        )
    )


async def _engage(
    client: Any, conn: Connection, *, users: list[int], seed: int, click_share: float
) -> None:
    """Let the people who got a follow-up react: some press its button, one or two /stop."""
    from backend.followups import CALLBACK_PREFIX

    rng = random.Random(seed + 1)
    received: list[tuple[int, int, str]] = []
    for user_id in users:
        view = await client.chat(user_id)
        for message in view.bot_messages:
            for row in message.buttons:
                for button in row:
                    if (button.callback_data or "").startswith(CALLBACK_PREFIX):
                        received.append((user_id, message.message_id, button.callback_data))
    clicks = 0
    for user_id, message_id, data in received:
        if rng.random() < click_share:
            await client.press(user_id, message_id, data=data)
            # the bot answers a press with the link: wait for it, as a person would
            with contextlib.suppress(TimeoutError):
                await client.next_event(user_id, timeout=10, kinds=("message",))
            clicks += 1
    readers = sorted({user_id for user_id, _, _ in received})
    opted_out = rng.sample(readers, min(len(readers), 1 + len(readers) // 150))
    for user_id in opted_out:
        await client.send_command(user_id, "stop")
        with contextlib.suppress(TimeoutError):
            await client.next_event(user_id, timeout=10, kinds=("message",))
    showcase = next((u for u, _, _ in received if u not in opted_out), users[0] if users else None)
    conn.send(("engaged", {"clicks": clicks, "opted_out": opted_out, "showcase": showcase}))


# --- this process ---------------------------------------------------------------------------


@dataclass
class DemoReport:
    questionnaire: str
    respondents: int
    failed: int
    seconds: float
    #: Respondents who left part-way, as some people do.
    stopped: int = 0
    completed: int = 0
    segments: list[dict[str, Any]] = field(default_factory=list)
    choice_reason: str = ""
    #: The outbox after the demo, by state (counted, not estimated).
    outbox: dict[str, int] = field(default_factory=dict)
    #: Follow-ups still pending and due later (their delay has not passed yet).
    followups_scheduled: int = 0
    clicks: int = 0
    opted_out: int = 0
    blocked: int = 0
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def followups_sent(self) -> int:
        return self.outbox.get("sent", 0)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


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
    from backend.questionnaire import load_definition_file
    from backend.runtime import build_service, open_database
    from backend.services.questionnaires import import_definition
    from backend.storage.engine import session_scope

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
    telegram = context.Process(target=_telegram_side, args=(sandbox_port, child), daemon=True)
    telegram.start()
    engine = await asyncio.to_thread(open_database, settings)
    service = None
    try:
        with _progress(console) as progress:
            task = progress.add_task("Importing questionnaires", total=None)
            definitions = {}

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
        _print(console, report)
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


def _import_content(engine: Any) -> None:
    """Import the bundled content packs."""
    from backend.followups.content import load_content_file
    from backend.followups.outbox import import_pack
    from backend.storage.engine import session_scope

    for path in sorted((BUNDLED / "content").glob("*.yaml")):
        pack = load_content_file(path)
        with session_scope(engine) as session:
            import_pack(session=session, pack=pack)


def _recluster(engine: Any, key: str, seed: int) -> dict[str, Any]:
    from backend.services.segments import list_segments, recluster
    from backend.storage.engine import session_scope

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


async def _dispatch(settings: Settings, engine: Any) -> int:
    """Send the follow-ups due now into the sandbox, within Telegram's limits."""
    from backend.followups import DispatchConfig
    from backend.runtime import follow_up_sender
    from backend.scheduler.dispatch import CountingSender, dispatch_as_leader

    sender = follow_up_sender(settings)
    await sender.bot.initialize()
    try:
        report = await dispatch_as_leader(
            engine, CountingSender(sender), DispatchConfig(), max_seconds=120
        )
    finally:
        await sender.bot.shutdown()
    return report.sent if report is not None else 0


def _outcomes(engine: Any, *, expected_clicks: int, wait: float = 15.0) -> dict[str, Any]:
    """Count what the demo came to, from the database: the outbox by state, clicks,
    opt-outs and blocks (waiting briefly for the bot to record the last presses and for
    sends in flight to come back)."""
    from sqlalchemy import func
    from sqlmodel import select

    from backend.followups import status_counts
    from backend.storage.engine import session_scope
    from backend.storage.followup_tables import FollowupClick, FollowupMessage, FollowupStatus
    from backend.storage.models import Respondent
    from backend.storage.types import utcnow

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


def _print(console: Console, report: DemoReport) -> None:
    console.print()
    table = Table(
        "segment",
        "size",
        "share",
        "what sets it apart",
        title=f"Segments of {report.questionnaire} ({report.respondents} respondents, "
        f"{report.seconds:.0f} s)",
        title_justify="left",
        caption=report.choice_reason,
        caption_justify="left",
    )
    for segment in report.segments:
        table.add_row(
            segment["name"],
            str(segment["size"]),
            f"{segment['share']:.0%}",
            segment["traits"],
        )
    console.print(table)
    if report.failed:
        console.print(f"[yellow]{report.failed} simulated respondents did not finish.[/]")
    console.print(
        f"{report.completed} completed the quiz; {report.stopped} stopped part-way, as some "
        "people do (the dashboard's funnel shows where)."
    )
    others = ", ".join(
        f"{count} {state}"
        for state, count in sorted(report.outbox.items())
        if state not in ("sent", "pending")
    )
    console.print(
        f"Follow-ups: {report.followups_sent} delivered into the sandbox, "
        f"{report.followups_scheduled} due in the coming days"
        f"{f' ({others})' if others else ''}; {report.clicks} button presses; "
        f"{report.opted_out} opted out with /stop; "
        f"{report.blocked} blocked the bot."
    )
    console.print()
    for name, url in report.urls.items():
        console.print(f"  {name:<20} {url}", highlight=False)
