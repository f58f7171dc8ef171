"""Benchmark: respondents answering through the sandbox, our bot beside a bare bot.

Three processes share the machine as they would in production (Telegram is elsewhere):
the Bot API sandbox, the bot under test, and the simulated respondents. The bare bot is a
python-telegram-bot Application that makes the same API calls per update (answer the
button, edit the question, send the next one) and touches no database.

Prints, for each bot: answers/s with respondents answering back-to-back, and p50/p99 of
the time from the update leaving the sandbox (getUpdates) to the next question arriving in
it, with respondents who take 1-3 s to answer (as people do); also the p99 as respondents
see it, which adds their own round trips to the sandbox.

    .venv/bin/python bench/bot.py [--respondents 100] [--throughput-respondents 50]
    .venv/bin/python bench/bot.py --latency-only --no-postgres   # the p99 figure, ~2 min

``--limited`` measures instead what production sees: the strict sandbox (Telegram's limits
to the letter), the bot's rate limiter on, and the follow-up dispatcher sending in the same
process through the same budget, as ``psychograph serve`` runs them. 100 respondents answer
back to back; printed: answers/s (target >= 25), p50/p99 as the respondent sees it, the
follow-ups sent meanwhile (they must progress) and the 429s, beside the bare bot with the
same limiter and no follow-ups; ``--edits-counted`` repeats it with edits counted like sends
(``limit_edits``), in case Telegram counted them, which its FAQ does not say.

    .venv/bin/python bench/bot.py --limited [--respondents 100] [--edits-counted]  # ~3 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from procstat import cpu_seconds, postgres_pids

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTIONS = 20
DEFINITION = (
    "id: bench\ntitle: Bench\nsections:\n  - id: all\n    questions:\n"
    + "".join(
        f"      - {{id: q{i}, type: likert, text: Statement number {i}, min_label: No, "
        f"max_label: Yes}}\n"
        for i in range(QUESTIONS)
    )
    + "dimensions:\n  - id: trait\n    label: Trait\n    items: ["
    + ", ".join(
        f"{{question: q{i}, reverse: {'true' if i % 2 else 'false'}}}" for i in range(QUESTIONS)
    )
    + "]\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def process(*args: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def wait_for_polling(base: str, bot: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Wait until the bot under test asks the sandbox for updates: it is up, start-up done.

    The clock must not start before: respondents who arrive while the bot still imports find
    it not answering, and their waiting is start-up time, not an answer's latency.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bot.poll() is not None:
            error = bot.stderr.read().decode() if bot.stderr else ""
            raise RuntimeError(f"the bot exited: {error}")
        with urllib.request.urlopen(f"{base}/sandbox/stats", timeout=5) as response:
            if json.load(response)["requests"].get("getUpdates"):
                return
        time.sleep(0.1)
    raise RuntimeError("the bot did not start polling")


# --- the bots under test (run in their own process) ---------------------------------------


def run_ours(base_url: str, database_url: str, limited: bool = False) -> None:
    from backend.followups import Dispatcher
    from backend.followups.budget import SendBudget
    from backend.runtime import tune_for_serving
    from backend.services.quiz import QuizService
    from backend.services.segments import segment_assigner
    from backend.settings import Settings
    from backend.storage.engine import make_engine
    from bot.application import build_application
    from bot.delivery import TelegramSender
    from bot.sandbox import DEFAULT_TOKEN

    settings = Settings(telegram_base_url=base_url, database_url=database_url)
    engine = make_engine(database_url, pool_size=settings.db_pool_size)
    budget = SendBudget() if limited else None
    application = build_application(
        settings,
        # as `psychograph serve` wires it: a completion is also assigned a segment
        QuizService(engine, assign_segment=segment_assigner()),
        rate_limit=limited,
        budget=budget,
    )
    if limited:  # the follow-up dispatcher in the same process, on the same budget
        hook = application.post_init

        async def start_dispatcher(app: Any) -> None:
            if hook is not None:
                await hook(app)
            sender = TelegramSender.build(DEFAULT_TOKEN, base_url)
            await sender.bot.initialize()
            dispatcher = Dispatcher(engine, sender, budget=budget)
            app.create_task(dispatcher.run_forever(1.0))

        application.post_init = start_dispatcher
    tune_for_serving()  # as `psychograph serve` does once it is up
    application.run_polling(poll_interval=0.0, timeout=1, close_loop=False)


def run_bare(base_url: str, transport: str, limited: bool = False) -> None:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

    from bot.callbacks import Action, Callback, CallbackCodec
    from bot.sandbox import DEFAULT_TOKEN

    codec = CallbackCodec(b"bench")

    def question(session: int, index: int) -> tuple[str, InlineKeyboardMarkup]:
        row = [
            InlineKeyboardButton(
                str(p), callback_data=codec.encode(Callback(Action.ANSWER, session, index, str(p)))
            )
            for p in range(1, 6)
        ]
        text = f"Question {index + 1} of {QUESTIONS}\n<b>Statement number {index}</b>\n1 = No"
        return text, InlineKeyboardMarkup([row])

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        text, markup = question(update.effective_chat.id, 0)
        await context.bot.send_message(
            update.effective_chat.id, text, parse_mode="HTML", reply_markup=markup
        )

    async def press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        assert query.data is not None
        assert update.effective_chat
        callback = codec.decode(query.data)
        session, current, value = callback.session, callback.question, callback.value
        await query.answer()
        await query.edit_message_text(
            f"Statement number {current}\n✓ <b>{value}</b>", parse_mode="HTML"
        )
        if current + 1 < QUESTIONS:
            text, markup = question(session, current + 1)
            await context.bot.send_message(
                update.effective_chat.id, text, parse_mode="HTML", reply_markup=markup
            )
        else:
            await context.bot.send_message(update.effective_chat.id, "Your profile · Bench")

    builder = (
        Application.builder()
        .token(DEFAULT_TOKEN)
        .base_url(base_url)
        .concurrent_updates(256)
        .connection_pool_size(256)
        .pool_timeout(30.0)
    )
    if limited:
        from backend.followups.budget import SendBudget
        from bot.ratelimit import BudgetRateLimiter

        builder = builder.rate_limiter(BudgetRateLimiter(SendBudget()))  # type: ignore[arg-type]
    application = builder.build()
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(press))
    application.run_polling(poll_interval=0.0, timeout=1, close_loop=False)


# --- the respondents (this process) --------------------------------------------------------


async def respondents(
    sandbox_url: str, n: int, think: tuple[float, float] | None, first_user_id: int
) -> tuple[int, float, list[float], dict[str, Any]]:
    """Let ``n`` respondents take the quiz; return the answers given, answers/s, each
    answer's latency as they saw it, and the sandbox's own latency figures."""
    from backend.questionnaire import load_definition
    from bot.sandbox import SandboxClient
    from bot.simulator import ScriptedRespondent

    definition = load_definition(DEFINITION)
    rng = random.Random(1)
    async with SandboxClient(sandbox_url) as client:
        users = [await client.create_user(first_user_id + i, first_name=f"R{i}") for i in range(n)]
        thinker = (lambda: rng.uniform(*think)) if think else None
        scripts = [
            ScriptedRespondent(
                client, u.id, definition, lambda q: rng.randint(1, 5), timeout=120, think=thinker
            )
            for u in users
        ]
        started = time.perf_counter()
        transcripts = await asyncio.gather(*(s.take("bench") for s in scripts))
        elapsed = time.perf_counter() - started
        sandbox_side = (await client.stats())["reply_latency_ms"]
    answers = sum(len(t.answers) for t in transcripts)
    latencies = sorted(x for t in transcripts for x in t.latencies)
    return answers, answers / elapsed, latencies, sandbox_side


def percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def _role(bot: str, database_url: str | None) -> list[str]:
    if bot == "ours":
        return ["--run-ours", database_url or ""]
    return ["--run-bare", "aiohttp" if bot == "bare-aiohttp" else "httpx"]


def _run(
    bot: str,
    database_url: str | None,
    n: int,
    think: tuple[float, float] | None,
    first: int,
    cluster: Path | None = None,
) -> dict[str, Any]:
    """Start a fresh sandbox and the bot, let ``n`` respondents take the quiz through it;
    return answers/s, latencies, and the processor time per answer of the bot and of
    PostgreSQL's server processes (``cluster`` is their data directory, if any)."""
    port = free_port()
    with process("-m", "backend.cli", "sandbox", "--port", str(port), "--no-rate-limit"):
        wait_for_port(port)
        base = f"http://127.0.0.1:{port}"
        with process(__file__, *_role(bot, database_url), f"{base}/bot") as proc:
            wait_for_polling(base, proc)
            bot_before = cpu_seconds([proc.pid])
            pg_before = cpu_seconds(postgres_pids(cluster)) if cluster else 0.0
            answers, rate, latencies, sandbox_side = asyncio.run(
                respondents(base, n, think, first)
            )
            bot_cpu = cpu_seconds([proc.pid]) - bot_before
            pg_cpu = cpu_seconds(postgres_pids(cluster)) - pg_before if cluster else math.nan
    return {
        "rate": rate,
        "latencies": latencies,
        "sandbox": sandbox_side,
        "cpu_ms": bot_cpu * 1000 / max(answers, 1),
        "pg_cpu_ms": pg_cpu * 1000 / max(answers, 1),
    }


def measure(
    bot: str, database_url: str | None, args: argparse.Namespace, cluster: Path | None = None
) -> dict[str, float]:
    rate = cpu_ms = pg_cpu_ms = math.nan
    if not args.latency_only:
        run = _run(bot, database_url, args.throughput_respondents, None, 1_000_000, cluster)
        rate, cpu_ms, pg_cpu_ms = run["rate"], run["cpu_ms"], run["pg_cpu_ms"]
    run = _run(bot, database_url, args.respondents, (1.0, 3.0), 2_000_000, cluster)
    latencies, sandbox_side = run["latencies"], run["sandbox"]
    return {
        "rate": rate,
        # the measure: from the update leaving the sandbox to the next question
        "p50": sandbox_side["p50"],
        "p99": sandbox_side["p99"],
        # as the respondent sees it, including the respondent's own round trips
        "seen_p50": percentile(latencies, 0.5),
        "seen_p99": percentile(latencies, 0.99),
        # processor time per answer at full speed (the throughput run)
        "cpu_ms": cpu_ms,
        "pg_cpu_ms": pg_cpu_ms,
    }


def _rate(figures: dict[str, float]) -> str:
    return "" if math.isnan(figures["rate"]) else f"{figures['rate']:7.1f} answers/s; "


def _latency(figures: dict[str, float]) -> str:
    return (
        f"p50 {figures['p50']:5.1f} ms, p99 {figures['p99']:5.1f} ms"
        f" (respondent-side p99 {figures['seen_p99']:.1f} ms)"
    )


def prepare_database(url: str) -> None:
    from backend.questionnaire import load_definition
    from backend.services.questionnaires import import_definition
    from backend.storage.engine import make_engine, session_scope
    from backend.storage.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        import_definition(load_definition(DEFINITION), session=session)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--respondents", type=int, default=100)
    parser.add_argument("--throughput-respondents", type=int, default=50)
    parser.add_argument("--run-ours", nargs=2, metavar=("DATABASE_URL", "BASE_URL"))
    parser.add_argument("--run-bare", nargs=2, metavar=("TRANSPORT", "BASE_URL"))
    parser.add_argument("--limited", action="store_true", help="production's limits (see above)")
    parser.add_argument(
        "--edits-counted", action="store_true", help="with --limited: also count edits as sends"
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--latency-only", action="store_true", help="skip the throughput runs (answers/s)"
    )
    parser.add_argument(
        "--pool-sizes",
        type=int,
        nargs="+",
        default=[4],
        help="PostgreSQL pool sizes to measure (PSYCHOGRAPH_DB_POOL_SIZE), one run each",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every bot this many times, interleaved"
    )
    args = parser.parse_args()
    if args.run_ours:
        run_ours(args.run_ours[1], args.run_ours[0], args.limited)
        return
    if args.run_bare:
        run_bare(args.run_bare[1], args.run_bare[0], args.limited)
        return
    if args.limited:
        limited_main(args.respondents, args.edits_counted)
        return

    workdir = Path(tempfile.mkdtemp(prefix="psychograph-bench-"))
    cluster = None
    if not args.no_postgres:
        try:
            from tests.helpers.pgcluster import PostgresCluster

            cluster = PostgresCluster()
            cluster.start()
        except Exception as exc:  # PostgreSQL is optional here
            print(f"(PostgreSQL not measured: {exc})")
            cluster = None

    def bots(round_: int) -> dict[str, tuple[str, str | None, int | None]]:
        """The bots of one round, each of ours on a database of its own (update ids start
        afresh with every sandbox, so a database cannot serve two rounds)."""
        bots: dict[str, tuple[str, str | None, int | None]] = {
            "bare bot (httpx)": ("bare", None, None),
            "bare bot (aiohttp)": ("bare-aiohttp", None, None),
            "psychograph, SQLite": ("ours", f"sqlite:///{workdir}/bench-{round_}.db", None),
        }
        for size in args.pool_sizes if cluster is not None else []:
            url = cluster.create_database(f"bench_{size}_{round_}")
            bots[f"psychograph, PostgreSQL, pool {size}"] = ("ours", url, size)
        return bots

    try:
        rounds: dict[str, list[dict[str, float]]] = {}
        for round_ in range(args.rounds):  # interleaved, so that drift hits every bot alike
            for label, (role, url, pool_size) in bots(round_).items():
                if url is not None:
                    prepare_database(url)
                if pool_size is not None:
                    os.environ["PSYCHOGRAPH_DB_POOL_SIZE"] = str(pool_size)
                # pool sizes are PostgreSQL's: its server processes are measured too
                datadir = cluster.datadir if cluster is not None and pool_size else None
                rounds.setdefault(label, []).append(measure(role, url, args, datadir))
                os.environ.pop("PSYCHOGRAPH_DB_POOL_SIZE", None)
        report({label: _median(runs) for label, runs in rounds.items()}, args)
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def report(figures: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    print(
        f"{QUESTIONS}-question Likert quiz through the sandbox; bare bot = same API calls,"
        " no database"
    )
    throughput = f"throughput: {args.throughput_respondents} back-to-back respondents; "
    print(
        f"  {'' if args.latency_only else throughput}"
        f"latency: {args.respondents} respondents thinking 1-3 s"
        + (f"; median of {args.rounds} interleaved rounds" if args.rounds > 1 else "")
    )
    print(
        f"  {'bot':36s} {'answers/s':>9s} {'x bare':>6s} {'p50 ms':>7s} {'p99 ms':>7s}"
        f" {'seen p99':>8s} {'CPU ms/answer':>13s} {'PostgreSQL':>10s}"
    )
    bare = figures["bare bot (httpx)"]["rate"]
    for label, f in figures.items():
        print(
            f"  {label:36s} {f['rate']:9.1f} {f['rate'] / bare:6.2f} {f['p50']:7.1f}"
            f" {f['p99']:7.1f} {f['seen_p99']:8.1f} {f['cpu_ms']:13.2f} {f['pg_cpu_ms']:10.2f}"
        )
    sqlite = figures["psychograph, SQLite"]
    for label, f in figures.items():
        if "PostgreSQL" not in label:
            continue
        fast = args.latency_only or f["rate"] >= sqlite["rate"]
        quick = f["p99"] < 50
        print(
            f"  {label}: answers/s {f['rate']:.1f} vs SQLite's {sqlite['rate']:.1f},"
            f" p99 {f['p99']:.1f} ms -> targets (>= SQLite, p99 < 50 ms): "
            f"{'met' if fast and quick else 'NOT met'}"
        )


# --- production's limits: the strict sandbox, the limiter on, follow-ups sent meanwhile -----

FOLLOWUPS = 3000
FOLLOWUP_PACK = """\
id: bench-followups
questionnaire: bench
title: Bench follow-ups
items:
  - id: hello
    target: {default: true}
    text: "Hello {{ first_name }}, a follow-up for {{ segment_name }}."
"""


async def create_followup_audience(sandbox_url: str, database_url: str) -> list[int]:
    """Sandbox users with one follow-up each due now; return their chat ids."""
    from backend.followups import Assignment, SegmentView, enqueue_for_assignments, import_pack
    from backend.followups import load_content as load_pack
    from backend.storage.engine import make_engine, session_scope
    from backend.storage.models import Respondent
    from bot.sandbox import SandboxClient

    async with SandboxClient(sandbox_url) as client:
        chats: list[int] = []
        for start in range(0, FOLLOWUPS, 200):
            batch = await asyncio.gather(
                *(
                    client.create_user(5_000_000 + i, first_name=f"F{i}")
                    for i in range(start, min(FOLLOWUPS, start + 200))
                )
            )
            chats.extend(u.id for u in batch)
    engine = make_engine(database_url)
    with session_scope(engine) as session:
        import_pack(session=session, pack=load_pack(FOLLOWUP_PACK))
        people = [Respondent(first_name=f"F{c}", chat_id=c) for c in chats]
        session.add_all(people)
        session.flush()
        segment = SegmentView(id="1", name="Bench segment")
        enqueue_for_assignments(
            session=session,
            assignments=[
                Assignment(p.id, "bench", segment, scores={}) for p in people if p.id is not None
            ],
        )
    engine.dispose()
    return chats


async def followups_sent(sandbox_url: str, chats: list[int]) -> int:
    from bot.sandbox import SandboxClient

    async with SandboxClient(sandbox_url) as client:
        views = await asyncio.gather(*(client.chat(c) for c in chats))
    return sum(len(v.bot_messages) for v in views)


def limited_run(
    bot: str, n: int, *, limit_edits: bool, database_url: str | None
) -> dict[str, Any]:
    """One run against the strict sandbox: ``n`` back-to-back respondents."""
    port = free_port()
    sandbox_args = ["-c", _SANDBOX.format(port=port, limit_edits=limit_edits)]
    with process(*sandbox_args):
        wait_for_port(port)
        base = f"http://127.0.0.1:{port}"
        chats: list[int] = []
        if database_url is not None:
            chats = asyncio.run(create_followup_audience(base, database_url))
        role = _role(bot, database_url)
        with process(__file__, *role, f"{base}/bot", "--limited") as proc:
            wait_for_polling(base, proc)
            before = asyncio.run(followups_sent(base, chats)) if chats else 0
            started = time.perf_counter()
            _, rate, latencies, _ = asyncio.run(respondents(base, n, None, 1_000_000))
            elapsed = time.perf_counter() - started
            after = asyncio.run(followups_sent(base, chats)) if chats else 0
            stats = asyncio.run(_stats(base))
    return {
        "rate": rate,
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "followups": (after - before) / elapsed,
        "rate_limited": stats["rate_limited"],
    }


_SANDBOX = (
    "import asyncio; from bot.sandbox import SandboxConfig, run_sandbox; "
    "asyncio.run(run_sandbox(SandboxConfig(limit_edits={limit_edits}), '127.0.0.1', {port}))"
)


async def _stats(base: str) -> dict[str, Any]:
    from bot.sandbox import SandboxClient

    async with SandboxClient(base) as client:
        return await client.stats()


def limited_main(n: int, edits_counted: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="psychograph-bench-"))
    try:
        print(
            f"{QUESTIONS}-question quiz, {n} respondents answering back to back, strict sandbox "
            "(30 msg/s, 1/s per chat), rate limiter on; target: >= 25 answers/s with "
            "follow-ups progressing"
        )
        for limit_edits in (False, True) if edits_counted else (False,):
            label = "edits counted like sends" if limit_edits else "edits not counted (FAQ)"
            print(f"  {label}:")
            bare = limited_run("bare-aiohttp", n, limit_edits=limit_edits, database_url=None)
            url = f"sqlite:///{workdir}/bench-{int(limit_edits)}.db"
            prepare_database(url)
            ours = limited_run("ours", n, limit_edits=limit_edits, database_url=url)
            for name, figures in (("bare bot, same limiter", bare), ("psychograph", ours)):
                extra = (
                    f"; follow-ups {figures['followups']:.1f} msg/s meanwhile"
                    if name == "psychograph"
                    else ""
                )
                print(
                    f"    {name:24s}: {figures['rate']:5.1f} answers/s, "
                    f"p50 {figures['p50']:6.0f} ms, p99 {figures['p99']:6.0f} ms; "
                    f"429s {figures['rate_limited']}{extra}"
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
