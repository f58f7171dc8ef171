"""Benchmark: end-to-end re-clustering on SQLite (or PostgreSQL) at 10k, 100k and 1M respondents.

For each size a fresh SQLite file (with ``--postgres``: a database on a throwaway PostgreSQL
cluster, filled with COPY) gets N respondents with one completed session and a score
vector each (four latent profiles, 5 dimensions), written with executemany. Then, each in a
fresh subprocess so ``ru_maxrss`` is that step's own peak:

* ``recluster``: :func:`backend.services.segments.recluster` (read vectors, select k, fit,
  match, profiles, store run + segments + assignments), first run and a second run;
* ``baseline``: a plain SQL read of the same vectors into numpy, standardise, and one
  scikit-learn ``KMeans`` fit at the chosen k.

At 100k it also measures the p99 latency of ``QuizService.answer`` calls made from the event
loop with ``asyncio.to_thread`` at a steady rate, with and without a re-clustering running in
a worker process, as the scheduler runs it. The 100 respondents start at every stage of the
quiz, so one call in 11 completes a quiz (scores, segment assignment by the current run's
model) and the next starts a new one, evenly over the whole measurement.

    .venv/bin/python bench/recluster.py [--sizes 10000,100000,1000000] [--no-latency]
    .venv/bin/python bench/recluster.py --postgres --sizes 1000000   # latency at 1M too
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# First, even when installed: the bench directory (sys.path[0]) holds a bot.py of its own.
sys.path.insert(0, str(ROOT))

DIMENSIONS = ("openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism")
PROFILES = np.array(
    [
        [4.2, 2.0, 4.0, 3.0, 2.0],
        [2.0, 4.2, 2.0, 3.0, 4.0],
        [3.0, 3.0, 4.2, 2.0, 4.0],
        [2.0, 2.0, 2.0, 4.2, 2.0],
    ]
)
KEY = "bench"
QUESTIONS = 2 * len(DIMENSIONS)


def definition_text() -> str:
    questions = "".join(
        f"      - {{id: {d}{i}, type: likert, text: '{d} {i}'}}\n"
        for d in DIMENSIONS
        for i in range(2)
    )
    dims = "".join(
        f"  - id: {d}\n    label: {d.capitalize()}\n"
        f"    items: [{{question: {d}0}}, {{question: {d}1}}]\n"
        for d in DIMENSIONS
    )
    return (
        f"id: {KEY}\ntitle: Bench\nsections:\n  - id: main\n    questions:\n{questions}"
        f"dimensions:\n{dims}segmentation:\n  k_min: 2\n  k_max: 8\n  min_share: 0.05\n"
    )


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- steps, each run in its own process ------------------------------------------------


def url_of(target: str) -> str:
    """A step's target is a SQLite file path or a PostgreSQL URL."""
    return target if target.startswith("postgresql") else f"sqlite:///{target}"


def _copy_postgres(url: str, n: int, qid: int, vid: int, scores: np.ndarray) -> None:
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    stamp = "2026-01-01 00:00:00+00"
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY respondent (id, telegram_user_id, chat_id, last_update_id, opted_out, "
            "unreachable, created_at, updated_at) FROM STDIN"
        ) as copy:
            for i in range(1, n + 1):
                copy.write_row((i, i, i, 0, False, False, stamp, stamp))
        with cur.copy(
            "COPY quizsession (id, respondent_id, version_id, status, language, seed, "
            "started_at, updated_at, completed_at) FROM STDIN"
        ) as copy:
            for i in range(1, n + 1):
                copy.write_row((i, i, vid, "completed", "en", 0, stamp, stamp, stamp))
        with cur.copy(
            "COPY sessionscore (session_id, respondent_id, questionnaire_id, version_id, "
            "completed_at, scores, scores_100) FROM STDIN"
        ) as copy:
            for i, row in enumerate(scores.tolist(), 1):
                scores_json = json.dumps(dict(zip(DIMENSIONS, row, strict=True)))
                copy.write_row((i, i, qid, vid, stamp, scores_json, "{}"))
        for table in ("respondent", "quizsession"):
            cur.execute(f"SELECT setval('{table}_id_seq', {n})")
        cur.execute("ANALYZE")


def step_generate(target: str, n: int) -> dict[str, Any]:
    from backend.questionnaire import load_definition
    from backend.services.questionnaires import import_definition
    from backend.storage.engine import make_engine, session_scope
    from backend.storage.migrate import upgrade

    url = url_of(target)
    engine = make_engine(url)
    upgrade(engine)
    with session_scope(engine) as session:
        result = import_definition(load_definition(definition_text()), session=session)
        qid, vid = result.questionnaire.id, result.version.id
    engine.dispose()

    started = time.perf_counter()
    rng = np.random.default_rng(n)
    truth = rng.integers(0, len(PROFILES), n)
    scores = np.clip(PROFILES[truth] + rng.normal(0, 0.45, (n, len(DIMENSIONS))), 1, 5).round(3)
    if url.startswith("postgresql"):
        assert qid is not None
        assert vid is not None
        _copy_postgres(url, n, qid, vid, scores)
        return {"seconds": time.perf_counter() - started, "rss": peak_rss_mib()}
    stamp = "2026-01-01 00:00:00.000000"
    db = sqlite3.connect(target, isolation_level=None)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    chunk = 200_000
    for start in range(0, n, chunk):
        ids = range(start + 1, min(start + chunk, n) + 1)
        db.executemany(
            "INSERT INTO respondent (id, telegram_user_id, chat_id, last_update_id, opted_out, "
            "unreachable, created_at, updated_at) VALUES (?, ?, ?, 0, 0, 0, ?, ?)",
            ((i, i, i, stamp, stamp) for i in ids),
        )
        db.executemany(
            "INSERT INTO quizsession (id, respondent_id, version_id, status, language, seed, "
            "started_at, updated_at, completed_at) "
            "VALUES (?, ?, ?, 'completed', 'en', 0, ?, ?, ?)",
            ((i, i, vid, stamp, stamp, stamp) for i in ids),
        )
        block = scores[start : start + chunk].tolist()
        db.executemany(
            "INSERT INTO sessionscore (session_id, respondent_id, questionnaire_id, version_id, "
            "completed_at, scores, scores_100) VALUES (?, ?, ?, ?, ?, ?, '{}')",
            (
                (i, i, qid, vid, stamp, json.dumps(dict(zip(DIMENSIONS, row, strict=True))))
                for i, row in zip(ids, block, strict=True)
            ),
        )
    db.execute("COMMIT")
    db.close()
    return {"seconds": time.perf_counter() - started, "rss": peak_rss_mib()}


def step_recluster(target: str) -> dict[str, Any]:
    from backend.services.segments import recluster
    from backend.storage.engine import make_engine

    engine = make_engine(url_of(target))
    started = time.perf_counter()
    first = recluster(engine=engine, questionnaire_key=KEY, random_state=0)
    first_seconds = time.perf_counter() - started
    started = time.perf_counter()
    second = recluster(engine=engine, questionnaire_key=KEY, random_state=1)
    second_seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": first_seconds,
        "rerun_seconds": second_seconds,
        "k": first.k,
        "timings": first.timings,
        "rerun_moved": second.n_moved,
        "rerun_ids_kept": set(second.segment_ids) == set(first.segment_ids),
        "rss": peak_rss_mib(),
    }


def step_baseline(target: str, k: int) -> dict[str, Any]:
    from sklearn.cluster import KMeans

    started = time.perf_counter()
    blocks = []
    if target.startswith("postgresql"):
        import psycopg

        columns = ", ".join(f"(scores->>'{d}')::float8" for d in DIMENSIONS)
        conninfo = target.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo) as conn, conn.cursor(name="vectors") as server:
            server.execute(f"SELECT {columns} FROM sessionscore")
            while rows := server.fetchmany(50_000):
                blocks.append(np.array(rows, dtype=float))
    else:
        db = sqlite3.connect(target)
        paths = ", ".join(f"'$.{d}'" for d in DIMENSIONS)
        cursor = db.execute(f"SELECT json_extract(scores, {paths}) FROM sessionscore")
        while rows := cursor.fetchmany(50_000):
            blocks.append(np.array(json.loads("[" + ",".join(r[0] for r in rows) + "]")))
        db.close()
    x = np.concatenate(blocks)
    read = time.perf_counter() - started
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    KMeans(n_clusters=k, n_init=1, random_state=0).fit(x)
    return {"seconds": time.perf_counter() - started, "read": read, "rss": peak_rss_mib()}


def step_latency(target: str, seconds: float, with_recluster: bool) -> dict[str, Any]:
    from backend.runtime import tune_for_serving
    from backend.scheduler.jobs import recluster_in_process
    from backend.services.quiz import ChatUser, QuizService
    from backend.services.segments import segment_assigner
    from backend.storage.engine import make_engine

    engine = make_engine(url_of(target))
    service = QuizService(engine, assign_segment=segment_assigner())
    # Other people in the run beside the re-clustering than in the quiet one.
    first = 10**9 + (1000 if with_recluster else 0)
    users = [ChatUser(user_id=first + i, chat_id=first + i) for i in range(100)]
    busy: set[int] = set()
    # Each call is an update, as the bot makes them; ids grow across steps on one database.
    updates = itertools.count(time.time_ns() // 1000)
    steps = {u.user_id: service.start(user=u, key=KEY, update_id=next(updates)) for u in users}
    # Respondents at every stage of the quiz, so completions (and restarts) are spread over
    # the measurement as in live traffic, one call in 11, not bunched where all finish.
    for index, user in enumerate(users):
        for _ in range(index % QUESTIONS):
            step = steps[user.user_id]
            assert step.question is not None
            steps[user.user_id] = service.answer(
                user=user,
                session_id=step.session_id,
                question_id=step.question.id,
                value=3,
                update_id=next(updates),
            )
    tune_for_serving()  # as `psychograph serve` does once it is up
    rate = 50.0  # operations per second
    latencies: list[float] = []
    completions: list[float] = []
    result: dict[str, Any] = {}

    async def one(user: ChatUser) -> None:
        step = steps[user.user_id]
        busy.add(user.user_id)
        t0 = time.perf_counter()
        if step.kind == "question" and step.question is not None:
            step = await asyncio.to_thread(
                service.answer,
                user=user,
                session_id=step.session_id,
                question_id=step.question.id,
                value=3,
                update_id=next(updates),
            )
        else:
            step = await asyncio.to_thread(
                service.start, user=user, key=KEY, restart=True, update_id=next(updates)
            )
        latencies.append(time.perf_counter() - t0)
        if step.kind == "result":
            completions.append(latencies[-1])
        steps[user.user_id] = step
        busy.discard(user.user_id)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        fit = None
        if with_recluster:
            # As the scheduler runs it: in a worker process (backend.scheduler.SegmentJobs).
            executor = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            t0 = time.perf_counter()
            fit = loop.run_in_executor(
                executor,
                partial(
                    recluster_in_process,
                    url_of(target),
                    KEY,
                    trigger="bench",
                    min_interval=timedelta(0),
                    random_state=2,
                ),
            )
        tasks = []
        start = time.perf_counter()
        i = 0
        while True:
            elapsed = time.perf_counter() - start
            if elapsed >= seconds and (fit is None or fit.done()):
                break
            # A user whose previous call is still running waits for the next turn (as a chat
            # would: the button is answered before the next press).
            free = [u for u in users[i % len(users) :] + users if u.user_id not in busy]
            if not free:  # every chat waits for its previous answer: the host is saturated
                await asyncio.sleep(0.005)
                continue
            tasks.append(asyncio.create_task(one(free[0])))
            i += 1
            await asyncio.sleep(max(0.0, i / rate - (time.perf_counter() - start)))
        await asyncio.gather(*tasks)
        if fit is not None:
            await fit
            result["recluster_seconds"] = time.perf_counter() - t0

    asyncio.run(main())
    engine.dispose()
    ordered = np.sort(np.array(latencies))
    result.update(
        {
            "ops": len(ordered),
            "p50_ms": float(np.percentile(ordered, 50) * 1000),
            "p99_ms": float(np.percentile(ordered, 99) * 1000),
            "max_ms": float(ordered[-1] * 1000),
            "completions": len(completions),
            "completion_p99_ms": float(np.percentile(completions, 99) * 1000)
            if completions
            else float("nan"),
        }
    )
    return result


# --- driver ------------------------------------------------------------------------------


def child(step: str, *args: str) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--step", step, *args],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ).stdout
    parsed: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument(
        "--postgres", action="store_true", help="on a throwaway PostgreSQL cluster"
    )
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs="*", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.step:
        path = options.args[0]
        if options.step == "generate":
            out = step_generate(path, int(options.args[1]))
        elif options.step == "recluster":
            out = step_recluster(path)
        elif options.step == "baseline":
            out = step_baseline(path, int(options.args[1]))
        else:
            out = step_latency(path, float(options.args[1]), options.args[2] == "1")
        print(json.dumps(out))
        return

    sizes = [int(s) for s in options.sizes.split(",")]
    cluster = None
    if options.postgres:
        from tests.helpers.pgcluster import PostgresCluster

        cluster = PostgresCluster()
        cluster.start()
        cluster.set("synchronous_commit", "on")
    print(
        f"{'PostgreSQL' if cluster else 'SQLite'}\n"
        f"{'respondents':>11}  {'step':<28}{'wall s':>8}{'peak RSS MiB':>14}"
    )
    latency_at = max(sizes) if cluster else 100_000
    with tempfile.TemporaryDirectory() as scratch:
        for n in sizes:
            path = (
                cluster.create_database(f"bench_{n}")
                if cluster
                else str(Path(scratch) / f"bench-{n}.db")
            )
            gen = child("generate", str(path), str(n))
            print(f"{n:>11,}  {'generate (not timed below)':<28}{gen['seconds']:>8.1f}")
            ours = child("recluster", str(path))
            base = child("baseline", str(path), str(ours["k"]))
            stages = ", ".join(f"{k} {v:.1f}" for k, v in ours["timings"].items())
            print(
                f"{'':>11}  {'recluster (first run)':<28}{ours['seconds']:>8.1f}"
                f"{ours['rss']:>14.0f}   k={ours['k']}; {stages}"
            )
            print(
                f"{'':>11}  {'recluster (re-run)':<28}{ours['rerun_seconds']:>8.1f}"
                f"{'':>14}   ids kept: {ours['rerun_ids_kept']}, moved {ours['rerun_moved']:,}"
            )
            print(
                f"{'':>11}  {'baseline: SQL read + KMeans':<28}{base['seconds']:>8.1f}"
                f"{base['rss']:>14.0f}   read {base['read']:.1f}"
            )
            if n == latency_at and not options.no_latency:
                quiet = child("latency", str(path), "6", "0")
                busy = child("latency", str(path), "6", "1")
                print(
                    f"{'':>11}  answer p99 while re-clustering: {busy['p99_ms']:.1f} ms "
                    f"(p50 {busy['p50_ms']:.1f}, max {busy['max_ms']:.0f}, {busy['ops']} ops, "
                    f"re-clustering took {busy['recluster_seconds']:.1f} s; "
                    f"{busy['completions']} completions, p99 {busy['completion_p99_ms']:.1f} ms)"
                )
                print(
                    f"{'':>11}  answer p99 without:             {quiet['p99_ms']:.1f} ms "
                    f"(p50 {quiet['p50_ms']:.1f}, max {quiet['max_ms']:.0f}, {quiet['ops']} ops; "
                    f"{quiet['completions']} completions, p99 {quiet['completion_p99_ms']:.1f} ms)"
                )
            if cluster:
                cluster.drop_database(f"bench_{n}")
            else:
                Path(path).unlink(missing_ok=True)
    if cluster:
        cluster.stop()


if __name__ == "__main__":
    main()
