"""Benchmark: every dashboard page on SQLite with 1,000,000 respondents.

A fresh SQLite file gets N respondents with one session each (90% completed, the rest stopped
at a random question), their answers to a 14-question questionnaire (2 choice + 12 Likert,
about 13.5 answers a respondent), a score vector per completed session, five segments with
ten runs and the completed respondents assigned to them, and one follow-up per respondent
(random state, 10% clicked) - all with executemany. The respondents are drawn by
``tests/helpers/seed.py``, the seeder of the dashboard tests.

Each page is fetched over HTTP from the real application (signed in with a session cookie):
``cold`` with the dashboard's aggregate cache emptied, ``warm`` right after. The baseline is a
plain ``SELECT COUNT(*)`` over the tables the page reads, from the same run. With
``--indexes`` the indexes proposed for the dashboard are created and the pages timed again.

    .venv/bin/python bench/dashboard.py [--respondents 1000000] [--indexes] [--keep PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
# First, even when installed: the bench directory (sys.path[0]) holds a bot.py of its own.
sys.path.insert(0, str(ROOT))

from backend.api.app import create_app  # noqa: E402
from backend.api.dashboard.queries import forget  # noqa: E402
from backend.questionnaire import load_definition  # noqa: E402
from backend.scoring import ScoringKey, score_matrix  # noqa: E402
from backend.services.questionnaires import import_definition  # noqa: E402
from backend.settings import Role, Settings  # noqa: E402
from backend.storage.engine import make_engine, session_scope  # noqa: E402
from backend.storage.migrate import upgrade  # noqa: E402
from tests.helpers.seed import (  # noqa: E402
    DEFINITION,
    DIMENSIONS,
    HOBBY_SETS,
    KEY,
    QUESTIONS,
    draw_habits,
)

#: Extra indexes tried with --indexes (the migrations create the others already).
INDEXES = [
    "CREATE INDEX IF NOT EXISTS ix_quizsession_version_status_cursor "
    "ON quizsession (version_id, status, cursor)",
    "CREATE INDEX IF NOT EXISTS ix_answer_question_session ON answer (question_id, session_id)",
    "CREATE INDEX IF NOT EXISTS ix_followupmessage_stats ON followupmessage "
    "(pack_key, item_id, variant, segment_key, segment_name, status)",
]
TOKEN = "ops-token-0123456789"
BATCH = 200_000
NOW = "2026-01-01 00:00:00.000000"


def generate(path: Path, n: int) -> float:
    """Fill a migrated SQLite file with ``n`` respondents; return the seconds it took."""
    started = time.perf_counter()
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    definition = load_definition(DEFINITION)
    with session_scope(engine) as session:
        imported = import_definition(definition, session=session)
        qid, vid = imported.questionnaire.id, imported.version.id
    engine.dispose()
    assert qid is not None
    assert vid is not None
    key = ScoringKey.from_definition(definition)
    rng = np.random.default_rng(0)
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-400000")
    hobbies = [json.dumps(h) for h in HOBBY_SETS]
    for start in range(0, n, BATCH):
        size = min(BATCH, n - start)
        ids = np.arange(start + 1, start + size + 1)
        # The respondents of the dashboard tests; here 90% complete, in random order.
        drawn = draw_habits(size, rng, completed_share=0.9)
        order = rng.permutation(size)
        points, done = drawn.points[order], drawn.done[order]
        stop_at = drawn.stop_at[order]
        channel = np.where(drawn.online[order], '"online"', '"store"')
        hobby = drawn.hobbies[order]
        db.executemany(
            "INSERT INTO respondent (id, telegram_user_id, chat_id, last_update_id, created_at,"
            " updated_at, opted_out, unreachable) VALUES (?, ?, ?, 0, ?, ?, 0, 0)",
            ((int(i), int(i), int(i), NOW, NOW) for i in ids),
        )
        db.executemany(
            "INSERT INTO quizsession (id, respondent_id, version_id, status, language,"
            " cursor, seed, started_at, updated_at, completed_at)"
            " VALUES (?, ?, ?, ?, 'en', ?, 0, ?, ?, ?)",
            (
                (
                    int(i),
                    int(i),
                    vid,
                    "completed" if d else "active",
                    None if d else QUESTIONS[s],
                    NOW,
                    NOW,
                    NOW if d else None,
                )
                for i, d, s in zip(ids, done, stop_at, strict=True)
            ),
        )

        def answers(
            ids: np.ndarray = ids,
            stop_at: np.ndarray = stop_at,
            channel: np.ndarray = channel,
            hobby: np.ndarray = hobby,
            points: np.ndarray = points,
        ) -> object:
            for row, sid in enumerate(ids):
                last = int(stop_at[row])
                values = [str(channel[row]), hobbies[hobby[row]], *map(str, points[row])]
                for q in range(last):
                    yield int(sid), QUESTIONS[q], values[q], NOW

        db.executemany(
            "INSERT INTO answer (session_id, question_id, value, answered_at) VALUES (?, ?, ?, ?)",
            answers(),  # type: ignore[arg-type]
        )
        # Raw answers, as stored: the scoring key flips the reverse items itself.
        raw = points[done].astype(float)
        matrix = np.full((int(done.sum()), len(key.columns)), np.nan)
        order = {c.question: i for i, c in enumerate(key.columns)}
        for j, question in enumerate(QUESTIONS[2:]):
            if question in order:
                matrix[:, order[question]] = raw[:, j]
        scored = score_matrix(key, matrix)
        db.executemany(
            "INSERT INTO sessionscore (session_id, respondent_id, questionnaire_id, version_id,"
            " completed_at, scores, scores_100) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (int(sid), int(sid), qid, vid, NOW, *map(json.dumps, scored.row(r)))
                for r, sid in enumerate(ids[done])
            ),
        )
        # Completed respondents sit in one of the five segments (the split-by-segment page).
        db.executemany(
            "INSERT INTO segmentassignment (questionnaire_id, respondent_id, segment_id,"
            " run_id, assigned_at, moves) VALUES (?, ?, ?, 10, ?, 0)",
            ((qid, int(i), 1 + int(i) % 5, NOW) for i in ids[done]),
        )
        statuses = rng.choice(["pending", "sent", "sent", "sent", "failed", "cancelled"], size)
        db.executemany(
            "INSERT INTO followupmessage (id, respondent_id, pack_key, item_id, variant,"
            " segment_key, segment_name, step, status, due_at, expires_at, attempts, not_before,"
            " text, buttons, token, created_at, updated_at) VALUES"
            " (?, ?, 'habits-followups', ?, ?, ?, ?, 0, ?, ?, ?, 0, ?, 'Hi', '[]', ?, ?, ?)",
            (
                (
                    int(i),
                    int(i),
                    f"item{int(i) % 4}",
                    "ab"[int(i) % 2],
                    str(1 + int(i) % 5),
                    f"Segment {1 + int(i) % 5}",
                    str(st),
                    NOW,
                    NOW,
                    NOW,
                    f"t{int(i)}",
                    NOW,
                    NOW,
                )
                for i, st in zip(ids, statuses, strict=True)
            ),
        )
        db.executemany(
            "INSERT INTO followupclick (message_id, button, clicked_at) VALUES (?, 0, ?)",
            ((int(i), NOW) for i in ids[rng.random(size) < 0.1]),
        )
        db.commit()
        print(f"  generated {start + size:,} respondents", flush=True)
    _segments(db, qid, n)
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return time.perf_counter() - started


def _segments(db: sqlite3.Connection, qid: int, n: int) -> None:
    """Five segments and ten runs, written directly (the fit itself is bench/recluster.py's)."""
    candidates = json.dumps([{"k": k, "silhouette": 0.3 + k / 100} for k in range(2, 7)])
    for run in range(1, 11):
        sizes = {str(s): n // 5 + run * s for s in range(1, 6)}
        db.execute(
            "INSERT INTO segmentationrun (id, questionnaire_id, status, trigger, method,"
            " dimensions, k, candidates, choice_reason, metrics, n_respondents, n_excluded,"
            " n_moved, ari, started_at, finished_at, duration_seconds) VALUES (?, ?,"
            " 'succeeded', 'schedule', 'kmeans', ?, 5, ?, 'k=5 chosen', ?, ?, 0, ?, 0.93, ?,"
            " ?, 30.0)",
            (
                run,
                qid,
                json.dumps(list(DIMENSIONS)),
                candidates,
                json.dumps({"sizes": sizes}),
                int(n * 0.9),
                n // 50,
                NOW,
                NOW,
            ),
        )
    for s in range(1, 6):
        z = {
            d: round(float(v), 2)
            for d, v in zip(DIMENSIONS, np.sin(np.arange(4) + s), strict=True)
        }
        db.execute(
            "INSERT INTO segment (id, questionnaire_id, name, description, name_edited,"
            " description_edited, status, size, share, centroid, z_scores, traits, created_at,"
            " updated_at, first_run_id, last_run_id) VALUES (?, ?, ?, '', 0, 0, 'active', ?,"
            " 0.2, ?, ?, ?, ?, ?, 1, 10)",
            (
                s,
                qid,
                f"Segment {s}",
                n // 5,
                json.dumps(dict.fromkeys(DIMENSIONS, 3.0)),
                json.dumps(z),
                json.dumps([{"dimension": "adventure", "direction": "high", "z": 1.0}]),
                NOW,
                NOW,
            ),
        )


async def time_pages(path: Path) -> list[tuple[str, float, float, float]]:
    """Return (page, cold seconds, warm seconds, seconds until counted) for every page."""
    from aiohttp.test_utils import TestClient, TestServer

    settings = Settings(api_tokens={TOKEN: Role.OPS})
    engine = make_engine(f"sqlite:///{path}")
    app = create_app(settings, engine)
    results = []
    async with TestClient(TestServer(app)) as client:
        page = await (await client.get("/dashboard/sign-in")).text()
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found is not None
        await client.post("/dashboard/sign-in", data={"csrf": found.group(1), "token": TOKEN})
        for name in PAGE_TABLES:
            forget(())
            times = []
            started = time.perf_counter()
            counted_at = started
            for attempt in range(600):
                asked = time.perf_counter()
                response = await client.get(name)
                body = await response.text()
                assert response.status == 200, (name, response.status)
                times.append(time.perf_counter() - asked)
                if "this page refreshes itself" not in body:
                    counted_at = asked
                    if attempt > 0 or len(times) > 1:
                        break
                    continue  # counted at once: time one more, cached, request
                await asyncio.sleep(0.5)  # a first count runs in the background meanwhile
            results.append((name, times[0], times[-1], counted_at - started))
    engine.dispose()
    return results


def baselines(path: Path) -> dict[str, float]:
    db = sqlite3.connect(path)
    out = {}
    for table in [
        "quizsession",
        "answer",
        "sessionscore",
        "segment",
        "segmentationrun",
        "segmentassignment",
        "followupmessage",
    ]:
        started = time.perf_counter()
        db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        out[table] = time.perf_counter() - started
    db.close()
    return out


#: The tables each page reads, for its baseline.
PAGE_TABLES = {
    "/dashboard/questionnaires": ["quizsession", "sessionscore"],
    f"/dashboard/questionnaires/{KEY}": ["quizsession", "answer"],
    f"/dashboard/questionnaires/{KEY}?by=segment": ["answer", "segmentassignment"],
    "/dashboard/segments": ["segmentationrun", "sessionscore"],
    f"/dashboard/segments/{KEY}": ["segment", "followupmessage"],
    "/dashboard/followups": ["followupmessage"],
}


def report(path: Path, label: str) -> None:
    counts = baselines(path)
    print(f"\n{label}")
    print(
        f"{'page':42} {'cold':>8} {'warm':>8} {'counted':>8}   "
        "baseline: SELECT COUNT(*) over its tables"
    )
    for page, cold, warm, counted in asyncio.run(time_pages(path)):
        base = sum(counts[t] for t in PAGE_TABLES[page])
        tables = " + ".join(PAGE_TABLES[page])
        print(f"{page:42} {cold:7.3f}s {warm:7.3f}s {counted:7.1f}s   {base:7.3f}s ({tables})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--respondents", type=int, default=1_000_000)
    parser.add_argument("--indexes", action="store_true", help="also time with the indexes")
    parser.add_argument("--keep", type=Path, help="use (or create) this SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "dashboard.db"
        if not path.exists():
            print(f"generating {args.respondents:,} respondents into {path}")
            print(f"  done in {generate(path, args.respondents):.0f} s")
        db = sqlite3.connect(path)
        rows = {
            t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ["respondent", "quizsession", "answer", "followupmessage"]
        }
        db.close()
        print("rows: " + ", ".join(f"{t} {c:,}" for t, c in rows.items()))
        report(path, "the schema as migrated")
        if args.indexes:
            db = sqlite3.connect(path)
            for statement in INDEXES:
                db.execute(statement)
            db.execute("ANALYZE")
            db.close()
            report(path, "plus an answer (question_id, session_id) index")


if __name__ == "__main__":
    main()
