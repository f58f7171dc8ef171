"""Telegram's side of the demo, run in a child process: the local Bot API sandbox and the
simulated respondents who take a quiz through it and react to follow-ups.

The parent sends commands over a pipe (``respond``, ``engage``, ``limits``, ``stats``,
``stop``) and reads progress and results back.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from multiprocessing.connection import Connection
from typing import Any

from backend.followups import CALLBACK_PREFIX
from backend.questionnaire import QuestionnaireDefinition
from bot.sandbox import SandboxClient, SandboxConfig, run_sandbox
from bot.simulator import ScriptedRespondent, crowd, latent_profiles, persona_chooser

#: Latent profiles the simulated respondents are drawn from.
PROFILES = 4


def telegram_side(port: int, conn: Connection) -> None:
    """Serve the sandbox; on request, let simulated respondents take a quiz."""
    asyncio.run(_telegram_main(port, conn))


async def _telegram_main(port: int, conn: Connection) -> None:
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
    client: SandboxClient,
    conn: Connection,
    *,
    definition: dict[str, Any],
    key: str,
    count: int,
    seed: int,
) -> None:
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
    client: SandboxClient, conn: Connection, *, users: list[int], seed: int, click_share: float
) -> None:
    """Let the people who got a follow-up react: some press its button, one or two /stop."""
    rng = random.Random(seed + 1)
    received: list[tuple[int, int, str]] = []
    for user_id in users:
        view = await client.chat(user_id)
        for message in view.bot_messages:
            for row in message.buttons:
                for button in row:
                    data = button.callback_data
                    if data is not None and data.startswith(CALLBACK_PREFIX):
                        received.append((user_id, message.message_id, data))
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
