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

from backend.settings import Settings

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
    from bot.simulator import ScriptedRespondent, latent_chooser, latent_profiles

    parsed = QuestionnaireDefinition.model_validate(definition)
    rng = random.Random(seed)
    profiles = latent_profiles(parsed, PROFILES, rng)
    languages = ["en", "en", "en", "de"] if "de" in parsed.languages else ["en"]
    done = 0
    failed = 0
    # Respondents arrive in waves, as people do, not all in the same second.
    gate = asyncio.Semaphore(60)

    async def one(index: int) -> None:
        nonlocal done, failed
        async with gate:
            user = await client.create_user(
                first_name=f"Respondent {index + 1}", language_code=rng.choice(languages)
            )
            profile = profiles[index % len(profiles)]
            person = random.Random(seed * 100_003 + index)
            script = ScriptedRespondent(
                client, user.id, parsed, latent_chooser(parsed, profile, person), timeout=60
            )
            try:
                await script.take(key)
            except Exception:  # counted and reported; one stuck respondent must not stop all
                failed += 1
            done += 1
            conn.send(("progress", done))

    await asyncio.gather(*(one(i) for i in range(count)))
    conn.send(("finished", {"done": done, "failed": failed}))


# --- this process ---------------------------------------------------------------------------


@dataclass
class DemoReport:
    questionnaire: str
    respondents: int
    failed: int
    seconds: float
    segments: list[dict[str, Any]] = field(default_factory=list)
    choice_reason: str = ""
    followups_sent: int = 0
    followups_scheduled: int = 0
    urls: dict[str, str] = field(default_factory=dict)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


async def run_demo(
    settings: Settings,
    *,
    respondents: int = 300,
    questionnaire: str = DEFAULT_QUESTIONNAIRE,
    keep_running: bool = False,
    console: Console | None = None,
    http_port: int = 8080,
    sandbox_port: int = 8081,
    seed: int = 7,
    wait_forever: Callable[[], Any] | None = None,
) -> DemoReport:
    """Run the demo end to end and return its report (also printed to ``console``)."""
    from backend.questionnaire import load_definition_file
    from backend.runtime import build_service, open_database
    from backend.services.questionnaires import import_definition
    from backend.storage.engine import session_scope

    console = console or Console()
    started = time.perf_counter()
    sandbox_port = free_port(sandbox_port)
    http_port = free_port(http_port)
    token = "ops-" + secrets.token_urlsafe(12)
    settings = settings.model_copy(
        update={
            "telegram_base_url": f"http://127.0.0.1:{sandbox_port}/bot",
            "http_port": http_port,
            "api_tokens": {token: "ops", **settings.api_tokens},
            "recluster_cron": None,
            "recluster_after_completions": 0,
        }
    )
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
            failed = 0
            while True:
                kind, payload = await asyncio.to_thread(parent.recv)
                if kind == "progress":
                    progress.update(task, completed=payload)
                elif kind == "finished":
                    failed = payload["failed"]
                    break
            task = progress.add_task("Re-clustering", total=None)
            run = await asyncio.to_thread(_recluster, engine, questionnaire, seed)
            progress.update(task, total=1, completed=1)
            task = progress.add_task("Sending follow-ups", total=None)
            parent.send(("limits", True))
            await asyncio.to_thread(parent.recv)
            sent = await _dispatch(settings, engine)
            scheduled = await asyncio.to_thread(_pending_followups, engine)
            progress.update(task, total=1, completed=1)
        report = DemoReport(
            questionnaire=questionnaire,
            respondents=respondents,
            failed=failed,
            seconds=time.perf_counter() - started,
            choice_reason=run.get("reason", ""),
            segments=run.get("segments", []),
            followups_sent=sent,
            followups_scheduled=scheduled,
            urls={
                "API": f"http://127.0.0.1:{http_port}/api/questionnaires",
                "OpenAPI": f"http://127.0.0.1:{http_port}/api/openapi.json",
                "Dashboard": f"http://127.0.0.1:{http_port}/dashboard/",
                "Metrics": f"http://127.0.0.1:{http_port}/metrics",
                "A respondent's chat": f"http://127.0.0.1:{sandbox_port}/sandbox/chats/100000001",
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
            import_pack(pack, session=session)


def _recluster(engine: Any, key: str, seed: int) -> dict[str, Any]:
    from backend.services.segments import list_segments, recluster
    from backend.storage.engine import session_scope

    report = recluster(engine, key, random_state=seed, trigger="demo")
    with session_scope(engine) as session:
        segments = list_segments(key, session=session)
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


def _pending_followups(engine: Any) -> int:
    from backend.followups import status_counts
    from backend.storage.engine import session_scope

    with session_scope(engine) as session:
        return int(status_counts(session=session).get("pending", 0))


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
        f"Follow-ups sent into the sandbox: {report.followups_sent} "
        f"(and {report.followups_scheduled} scheduled for the coming days)"
    )
    console.print()
    for name, url in report.urls.items():
        console.print(f"  {name:<20} {url}", highlight=False)
