"""Benchmark: the production shape on one machine: PostgreSQL, webhook workers behind nginx.

Starts, all on 127.0.0.1: a throwaway PostgreSQL cluster (synchronous_commit on), the Bot
API sandbox delivering updates by webhook, nginx in front of 1, 2 and 4 ``psychograph serve``
workers (webhook mode), and simulated respondents. The bare bot runs on the same set-up: a
python-telegram-bot webhook server making the same API calls per update, with no database.

For each set-up it prints answers/s with respondents answering back-to-back; p50/p99 of the
time from the update leaving the sandbox (the webhook POST) to its acknowledgement, which the
workers send after the next question went out, with respondents who think 1-3 s (from the
proxy's log); CPU per answer (workers; PostgreSQL beside it); PostgreSQL connections used
(peak). It checks that every acknowledged answer is stored once (one session and one row per
question per respondent, every quiz completed), that the dispatcher and re-clustering ran at
most once a tick across the workers, and, with two or more workers, what a SIGKILL of one
worker under load does: nginx routes around it, the sandbox redelivers the updates it had in
flight (Telegram-style), and they are recorded once.

The sandbox runs in its lenient mode (``--no-rate-limit``); ``--sandbox-arg`` passes further
flags through to ``psychograph sandbox``. Both bots keep Telegram's limits themselves, as
``serve`` always does: one message a second per chat (so a back-to-back respondent answers
about once a second, and a completion's several messages go out a second apart) and 30 a
second per worker. Read answers/s and p99 against the bare bot's for that reason.

    .venv/bin/python bench/scaleout.py --quick       # ~3 minutes
    .venv/bin/python bench/scaleout.py               # ~8 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procstat import children_of, cpu_seconds, postgres_pids

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECRET = "scaleout-secret"
OPS_TOKEN = "scaleout-ops-token"


def definition_text(questions: int) -> str:
    return (
        "id: bench\ntitle: Bench\nsections:\n  - id: all\n    questions:\n"
        + "".join(
            f"      - {{id: q{i}, type: likert, text: Statement number {i}, min_label: No, "
            f"max_label: Yes}}\n"
            for i in range(questions)
        )
        + "dimensions:\n"
        + "".join(
            f"  - id: d{d}\n    label: D{d}\n    items: ["
            + ", ".join(f"{{question: q{i}}}" for i in range(d, questions, 2))
            + "]\n"
            for d in range(2)
        )
        + "segmentation:\n  k_min: 2\n  k_max: 3\n"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


# --- the bare bot: same API calls, no database, acknowledged after processing --------------


def run_bare(base_url: str, port: int, proxy_url: str, questions: int) -> None:
    from aiohttp import web
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

    from backend.followups.budget import SendBudget
    from bot.callbacks import Action, Callback, CallbackCodec
    from bot.ratelimit import BudgetRateLimiter
    from bot.sandbox import DEFAULT_TOKEN
    from bot.transport import AiohttpRequest

    codec = CallbackCodec(b"bench")

    def question(session: int, index: int) -> tuple[str, InlineKeyboardMarkup]:
        row = [
            InlineKeyboardButton(
                str(p), callback_data=codec.encode(Callback(Action.ANSWER, session, index, str(p)))
            )
            for p in range(1, 6)
        ]
        text = f"Question {index + 1} of {questions}\n<b>Statement number {index}</b>\n1 = No"
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
        await query.answer()
        await query.edit_message_text(
            f"Statement number {callback.question}\n✓ <b>{callback.value}</b>", parse_mode="HTML"
        )
        if callback.question + 1 < questions:
            text, markup = question(callback.session, callback.question + 1)
            await context.bot.send_message(
                update.effective_chat.id, text, parse_mode="HTML", reply_markup=markup
            )
        else:
            await context.bot.send_message(update.effective_chat.id, "Your profile · Bench")

    async def main() -> None:
        application = (  # the transport of ours, so only the database differs
            Application.builder()
            .token(DEFAULT_TOKEN)
            .base_url(base_url)
            .updater(None)
            .request(AiohttpRequest(connection_pool_size=256, pool_timeout=30.0))
            # Telegram's limits kept as `psychograph serve` keeps them (1 message a second
            # per chat, 30 in all), so that only the database and the workers differ.
            .rate_limiter(BudgetRateLimiter(SendBudget()))  # type: ignore[arg-type]
            .build()
        )
        application.add_handler(CommandHandler("start", start))
        application.add_handler(CallbackQueryHandler(press))

        async def hook(request: web.Request) -> web.Response:
            update = Update.de_json(await request.json(), application.bot)
            await application.process_update(update)
            return web.Response()

        async def ready(request: web.Request) -> web.Response:
            return web.Response()

        app = web.Application()
        app.router.add_post("/telegram/webhook", hook)
        app.router.add_get("/readyz", ready)
        async with application:
            await application.bot.set_webhook(proxy_url + "/telegram/webhook", secret_token=SECRET)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            stop = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
            await stop.wait()
            await runner.cleanup()

    asyncio.run(main())


# --- the set-up ----------------------------------------------------------------------------


NGINX_CONF = """
worker_processes 1;
error_log {dir}/nginx-error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    log_format timing '$msec $request_time $status $upstream_addr $upstream_status';
    upstream psychograph {{
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location /telegram/webhook {{
            access_log {dir}/webhook.log timing;
            proxy_pass http://psychograph;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout http_502 http_503;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
        }}
        location / {{
            proxy_pass http://psychograph;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


@dataclass
class Setup:
    """One measured configuration: the sandbox, N workers (0: the bare bot), nginx."""

    workdir: Path
    database_url: str
    workers: int
    questions: int
    sandbox_args: list[str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_ports: list[int] = field(default_factory=list)
    sandbox_port: int = 0
    proxy_port: int = 0
    nginx_dir: Path | None = None

    def _spawn(self, args: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
        out = open(self.workdir / log, "wb")  # noqa: SIM115  (closed with the process)
        proc = subprocess.Popen(
            args, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT
        )
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        self.sandbox_port, self.proxy_port = free_port(), free_port()
        self._spawn(
            [
                sys.executable,
                "-m",
                "backend.cli",
                "sandbox",
                "--port",
                str(self.sandbox_port),
                "--no-rate-limit",
                *self.sandbox_args,
            ],
            {},
            "sandbox.log",
        )
        wait_http(f"http://127.0.0.1:{self.sandbox_port}/sandbox/stats")
        count = max(self.workers, 1)
        self.worker_ports = [free_port() for _ in range(count)]
        self._start_proxy()
        base = f"http://127.0.0.1:{self.sandbox_port}/bot"
        proxy = f"http://127.0.0.1:{self.proxy_port}"
        for i, port in enumerate(self.worker_ports):
            if self.workers == 0:
                args = [__file__, "--run-bare", base, str(port), proxy, str(self.questions)]
                proc = self._spawn([sys.executable, *args], {}, "bare.log")
            else:
                env = {
                    "PSYCHOGRAPH_DATABASE_URL": self.database_url,
                    "PSYCHOGRAPH_TELEGRAM_BASE_URL": base,
                    "PSYCHOGRAPH_WEBHOOK_URL": proxy,
                    "PSYCHOGRAPH_WEBHOOK_SECRET": SECRET,
                    "PSYCHOGRAPH_HTTP_HOST": "127.0.0.1",
                    "PSYCHOGRAPH_HTTP_PORT": str(port),
                    "PSYCHOGRAPH_DISPATCH_INTERVAL_SECONDS": "2",
                    "PSYCHOGRAPH_RECLUSTER_CRON": "* * * * *",
                    "PSYCHOGRAPH_RECLUSTER_AFTER_COMPLETIONS": "0",
                    "PSYCHOGRAPH_API_TOKENS": f"ops:{OPS_TOKEN}",
                }
                proc = self._spawn(
                    [sys.executable, "-m", "backend.cli", "serve"], env, f"worker{i}.log"
                )
            self.worker_procs.append(proc)
            wait_http(f"http://127.0.0.1:{port}/readyz")

    def _start_proxy(self) -> None:
        self.nginx_dir = self.workdir / f"nginx-{self.workers}"
        self.nginx_dir.mkdir(exist_ok=True)
        servers = "".join(
            f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;\n"
            for p in self.worker_ports
        )
        conf = self.nginx_dir / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(dir=self.nginx_dir, servers=servers, port=self.proxy_port)
        )
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        self._spawn(
            [nginx, "-p", str(self.nginx_dir), "-c", str(conf), "-g", "daemon off;"],
            {},
            f"nginx-{self.workers}.log",
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.proxy_port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("nginx did not start: see " + str(self.nginx_dir))

    def worker_pids(self) -> list[int]:
        pids = []
        for proc in self.worker_procs:
            if proc.poll() is None:
                pids.append(proc.pid)
                pids.extend(children_of(proc.pid))
        return pids

    def webhook_log(self) -> list[tuple[float, float, int, str]]:
        assert self.nginx_dir is not None
        path = self.nginx_dir / "webhook.log"
        rows = []
        for line in path.read_text().splitlines() if path.exists() else []:
            msec, request_time, status, upstream, *_ = line.split()
            rows.append((float(msec), float(request_time), int(status), upstream))
        return rows

    def metrics(self, port: int) -> dict[str, float]:
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/metrics",
                headers={"Authorization": f"Bearer {OPS_TOKEN}"},
            )
            with urllib.request.urlopen(request, timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out = {}
        for line in text.splitlines():
            if line.startswith("psychograph_job_runs_total{"):
                name, value = line.rsplit(" ", 1)
                out[name.split('job="', 1)[1].split('"', 1)[0]] = float(value)
        return out

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                python = isinstance(proc.args, list) and proc.args[0] == sys.executable
                proc.send_signal(signal.SIGINT if python else signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextmanager
def running(setup: Setup) -> Iterator[Setup]:
    try:
        setup.start()
        yield setup
    finally:
        setup.stop()


# --- respondents ---------------------------------------------------------------------------


async def respondents(
    sandbox_url: str,
    n: int,
    questions: int,
    think: tuple[float, float] | None,
    first_user_id: int,
    during: Any = None,
) -> tuple[float, int, list[int], int]:
    """Let ``n`` respondents take the quiz; return elapsed seconds, answers, the ids of
    respondents who did not finish (the bot left them waiting), and the questions that
    reached a respondent twice."""
    from backend.questionnaire import load_definition
    from bot.sandbox import SandboxClient
    from bot.simulator import ScriptedRespondent

    definition = load_definition(definition_text(questions))
    rng = random.Random(first_user_id)
    async with SandboxClient(sandbox_url) as client:
        users = [await client.create_user(first_user_id + i, first_name=f"R{i}") for i in range(n)]
        thinker = (lambda: rng.uniform(*think)) if think else None
        scripts = [
            ScriptedRespondent(
                client, u.id, definition, lambda q: rng.randint(1, 5), timeout=30, think=thinker
            )
            for u in users
        ]
        started = time.perf_counter()
        tasks = [asyncio.ensure_future(s.take("bench")) for s in scripts]
        if during is not None:
            await during()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = time.perf_counter() - started
    answers = sum(len(r.answers) for r in results if not isinstance(r, BaseException))
    stuck = [u.id for u, r in zip(users, results, strict=True) if isinstance(r, BaseException)]
    repeats = sum(r.repeats for r in results if not isinstance(r, BaseException))
    return elapsed, answers, stuck, repeats


class ConnectionSampler:
    """Sample the database's connections (pg_stat_activity) while a run lasts."""

    def __init__(self, admin_url: str, dbname: str) -> None:
        self.admin_url, self.dbname = admin_url, dbname
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            while not self._stop.wait(0.2):
                row = conn.execute(
                    "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s", (self.dbname,)
                ).fetchone()
                self.peak = max(self.peak, int(row[0]) if row else 0)

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


# --- checks on what was stored ---------------------------------------------------------------


def stored_check(database_url: str, user_ids: range, questions: int) -> str:
    """Check one session, one row per question and a completion per respondent."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT r.telegram_user_id, COUNT(DISTINCT s.id), COUNT(a.id), "
                    "COUNT(DISTINCT a.question_id), "
                    "SUM(CASE WHEN s.status = 'completed' THEN 1 ELSE 0 END) "
                    "FROM respondent r JOIN quizsession s ON s.respondent_id = r.id "
                    "LEFT JOIN answer a ON a.session_id = s.id "
                    "WHERE r.telegram_user_id BETWEEN :lo AND :hi GROUP BY r.telegram_user_id"
                ),
                {"lo": user_ids.start, "hi": user_ids.stop - 1},
            ).all()
    finally:
        engine.dispose()
    problems = []
    seen = {int(r[0]) for r in rows}
    if missing := len(user_ids) - len(seen):
        problems.append(f"{missing} respondents missing")
    for user_id, sessions, answers, distinct, completed in rows:
        if sessions != 1:
            problems.append(f"user {user_id}: {sessions} sessions")
        elif answers != questions or distinct != questions:
            problems.append(f"user {user_id}: {answers} answer rows")
        elif not completed:
            problems.append(f"user {user_id}: not completed")
    return "ok" if not problems else "; ".join(problems[:5])


def run_counts(database_url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT COUNT(*) FROM segmentationrun WHERE trigger = 'schedule'")
                ).scalar_one()
            )
    finally:
        engine.dispose()


# --- one configuration -------------------------------------------------------------------------


@dataclass
class Figures:
    label: str
    rate: float = float("nan")
    p50: float = float("nan")
    p99: float = float("nan")
    cpu_ms: float = float("nan")
    pg_cpu_ms: float = float("nan")
    connections: int = 0
    stored: str = "—"
    jobs: str = "—"
    kill: str = ""


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def measure(
    workers: int,
    database_url: str,
    cluster: Any,
    args: argparse.Namespace,
    workdir: Path,
    first_user: int,
) -> Figures:
    label = "bare bot" if workers == 0 else f"{workers} worker{'s' if workers > 1 else ''}"
    figures = Figures(label)
    setup = Setup(workdir, database_url, workers, args.questions, args.sandbox_arg or [])
    admin = f"host=127.0.0.1 port={cluster.port} user=postgres dbname=postgres"
    with running(setup):
        sandbox = f"http://127.0.0.1:{setup.sandbox_port}"
        runs_before = run_counts(database_url) if workers else 0
        passes_before = sum(setup.metrics(p).get("dispatch", 0) for p in setup.worker_ports)
        started_at = time.time()
        # throughput: back-to-back respondents
        users = range(first_user, first_user + args.throughput_respondents)
        before = cpu_seconds(setup.worker_pids())
        pg_before = cpu_seconds(postgres_pids(cluster.datadir))
        with ConnectionSampler(admin, "bench") as sampler:
            elapsed, answers, stuck, _ = asyncio.run(
                respondents(sandbox, len(users), args.questions, None, users.start)
            )
        figures.rate = answers / elapsed
        figures.cpu_ms = (cpu_seconds(setup.worker_pids()) - before) * 1000 / max(answers, 1)
        figures.pg_cpu_ms = (
            (cpu_seconds(postgres_pids(cluster.datadir)) - pg_before) * 1000 / max(answers, 1)
        )
        figures.connections = sampler.peak
        # latency: respondents who think, as people do
        lat_users = range(first_user + 100_000, first_user + 100_000 + args.respondents)
        window_start = time.time()
        asyncio.run(
            respondents(sandbox, len(lat_users), args.questions, args.think, lat_users.start)
        )
        timings = [t for at, t, status, _ in setup.webhook_log() if at >= window_start]
        figures.p50, figures.p99 = percentile(timings, 0.5), percentile(timings, 0.99)
        if workers:
            checks = [
                stored_check(database_url, users, args.questions),
                stored_check(database_url, lat_users, args.questions),
            ]
            figures.stored = "ok" if checks == ["ok", "ok"] else " / ".join(checks)
            if stuck:
                figures.stored += f" ({len(stuck)} respondents timed out)"
            figures.jobs = jobs_check(setup, database_url, runs_before, passes_before, started_at)
            if workers >= 2 and args.kill:
                figures.kill = kill_check(setup, database_url, args, first_user + 200_000)
    return figures


def jobs_check(
    setup: Setup, database_url: str, runs_before: int, passes_before: float, started_at: float
) -> str:
    """Dispatch passes (2 s ticks) and scheduled re-clusterings (1 min) across workers."""
    seconds = time.time() - started_at
    passes = sum(setup.metrics(p).get("dispatch", 0) for p in setup.worker_ports)
    dispatch = passes - passes_before
    ticks = seconds / 2
    reclusters = run_counts(database_url) - runs_before
    minutes = int(time.time() // 60) - int(started_at // 60)
    ok = dispatch <= ticks + 1 and reclusters <= minutes + 1
    return (
        f"{'ok' if ok else 'NOT ok'}: dispatch {dispatch:.0f} passes in {ticks:.0f} ticks, "
        f"re-clustering {reclusters} runs in {minutes} minute ticks (a run in the last 15 "
        "minutes, on the shared database, is not repeated)"
    )


def kill_check(setup: Setup, database_url: str, args: argparse.Namespace, first: int) -> str:
    """SIGKILL one worker while respondents answer back-to-back."""
    users = range(first, first + args.throughput_respondents)
    victim = setup.worker_procs[0]
    victim_addr = f"127.0.0.1:{setup.worker_ports[0]}"
    killed_at = [0.0]

    async def kill_soon() -> None:
        await asyncio.sleep(args.kill_after)
        killed_at[0] = time.time()
        for pid in [*children_of(victim.pid), victim.pid]:  # its re-clustering pool too
            os.kill(pid, signal.SIGKILL)

    before = time.time()
    elapsed, answers, stuck, repeats = asyncio.run(
        respondents(
            f"http://127.0.0.1:{setup.sandbox_port}",
            len(users),
            args.questions,
            None,
            users.start,
            during=kill_soon,
        )
    )
    log = [row for row in setup.webhook_log() if row[0] >= before]
    after = [row for row in log if row[0] > killed_at[0] + 1]
    failed = [row for row in log if row[2] >= 500]
    to_victim_after = sum(1 for row in after if victim_addr in row[3].split(", ")[-1:])
    stats = json_get(f"http://127.0.0.1:{setup.sandbox_port}/sandbox/stats")
    stored = stored_check(database_url, users, args.questions)
    return (
        f"SIGKILL of 1 of {len(setup.worker_procs)} workers at {args.kill_after:.0f} s: "
        f"{answers / elapsed:.1f} answers/s; stored: {stored}; "
        f"{len(stuck)} respondents left waiting; {repeats} questions arrived twice; "
        f"{len(failed)} deliveries failed (5xx) and "
        f"{stats.get('webhook_failures', 0)} were redelivered by the sandbox; "
        f"requests sent to the dead worker after 1 s: {to_victim_after}"
    )


def json_get(url: str) -> dict[str, Any]:
    import json

    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, Any] = json.loads(response.read())
        return data


def prepare_database(url: str, questions: int) -> None:
    from backend.questionnaire import load_definition
    from backend.services.questionnaires import import_definition
    from backend.storage.engine import make_engine, session_scope
    from backend.storage.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        import_definition(load_definition(definition_text(questions)), session=session)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs: ~3 minutes")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--respondents", type=int, default=None)
    parser.add_argument("--throughput-respondents", type=int, default=None)
    parser.add_argument("--questions", type=int, default=None)
    parser.add_argument("--no-kill", dest="kill", action="store_false")
    parser.add_argument("--keep", action="store_true", help="keep the logs' directory")
    parser.add_argument(
        "--sandbox-arg", action="append", help="passed through to `psychograph sandbox`"
    )
    parser.add_argument("--run-bare", nargs=4, metavar=("BASE", "PORT", "PROXY", "QUESTIONS"))
    args = parser.parse_args()
    if args.run_bare:
        base, port, proxy, questions = args.run_bare
        run_bare(base, int(port), proxy, int(questions))
        return
    args.questions = args.questions or (10 if args.quick else 20)
    args.respondents = args.respondents or (30 if args.quick else 100)
    args.throughput_respondents = args.throughput_respondents or (30 if args.quick else 50)
    args.think = (1.0, 3.0)
    args.kill_after = 3.0 if args.quick else 5.0

    from tests.helpers.pgcluster import PostgresCluster

    workdir = Path(tempfile.mkdtemp(prefix="psychograph-scaleout-"))
    cluster = PostgresCluster()
    cluster.start()
    try:
        # What production runs with: an acknowledged commit survives a crash of the server.
        cluster.set("synchronous_commit", "on")
        url = cluster.create_database("bench")
        prepare_database(url, args.questions)
        results = [measure(0, url, cluster, args, workdir, 1_000_000)]
        for i, n in enumerate(args.workers):
            results.append(measure(n, url, cluster, args, workdir, 2_000_000 + i * 1_000_000))
        report(results, args)
    finally:
        cluster.stop()
        if args.keep:
            print(f"  logs: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def report(results: list[Figures], args: argparse.Namespace) -> None:
    bare = results[0]
    print(
        f"{args.questions}-question Likert quiz, webhook delivery through nginx, PostgreSQL "
        f"(synchronous_commit on); sandbox without Telegram's rate limits; "
        f"{os.cpu_count()} CPUs shared"
    )
    print(
        f"  throughput: {args.throughput_respondents} back-to-back respondents; latency: "
        f"{args.respondents} respondents thinking {args.think[0]:g}-{args.think[1]:g} s, "
        "from the webhook POST to its acknowledgement (after the next question was sent)"
    )
    print(
        f"  {'set-up':10s} {'answers/s':>9s} {'x bare':>6s} {'p50 ms':>7s} {'p99 ms':>7s} "
        f"{'CPU ms/answer':>13s} {'(PostgreSQL)':>12s} {'DB conns':>8s}  stored once"
    )
    for f in results:
        print(
            f"  {f.label:10s} {f.rate:9.1f} {f.rate / bare.rate:6.2f} {f.p50:7.1f} {f.p99:7.1f} "
            f"{f.cpu_ms:13.2f} {f.pg_cpu_ms:12.2f} {f.connections:8d}  {f.stored}"
        )
    for f in results[1:]:
        print(f"  {f.label}: scheduled jobs {f.jobs}")
        if f.kill:
            print(f"  {f.label}: {f.kill}")
    workers = [f for f in results[1:] if f.cpu_ms == f.cpu_ms]
    if workers:
        cost = min(f.cpu_ms + f.pg_cpu_ms for f in workers)
        print(
            f"  per-worker cost: {min(f.cpu_ms for f in workers):.2f} ms of worker CPU and "
            f"{min(f.pg_cpu_ms for f in workers):.2f} ms of PostgreSQL CPU per answer, so one "
            f"core answers about {1000 / cost:.0f}/s (bare bot: {bare.cpu_ms:.2f} ms/answer)"
        )


if __name__ == "__main__":
    main()
