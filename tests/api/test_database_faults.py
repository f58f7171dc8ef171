"""A worker whose PostgreSQL goes away: not ready meanwhile, back without a restart, and no
acknowledged answer lost when the server restarts (crashes) under load."""

from __future__ import annotations

import asyncio
import functools
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from backend.api.app import create_app
from backend.questionnaire import load_definition
from backend.services.questionnaires import import_definition
from backend.services.quiz import ChatUser, Duplicate, QuizService, StaleAction
from backend.settings import Settings
from backend.storage.engine import make_engine, retry_stale, session_scope
from backend.storage.migrate import upgrade
from tests.helpers.pgcluster import PostgresCluster, PostgresUnavailable

pytestmark = pytest.mark.postgres

QUESTIONS = 12
DEFINITION = (
    "id: restart\ntitle: Restart\nsections:\n  - id: all\n    questions:\n"
    + "".join(f"      - {{id: q{i}, type: likert, text: Item {i}}}\n" for i in range(QUESTIONS))
    + "dimensions:\n  - id: d\n    label: D\n    items: ["
    + ", ".join(f"{{question: q{i}}}" for i in range(QUESTIONS))
    + "]\n"
)


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    """A cluster of this test's own, since the test stops and starts it."""
    try:
        own = PostgresCluster()
        own.start()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL not available: {exc}")
    try:
        yield own
    finally:
        own.stop()


async def test_readyz_is_503_while_the_database_is_away_and_recovers_without_restart(
    cluster: PostgresCluster,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:
    url = cluster.create_database("ready")
    upgrade(url)
    engine = make_engine(url)
    client = await aiohttp_client(create_app(Settings(database_url=url), engine))
    try:
        assert (await client.get("/readyz")).status == 200

        await asyncio.to_thread(cluster.stop_server, mode="immediate")
        away = await client.get("/readyz")
        body = await away.json()
        assert away.status == 503
        assert body["checks"]["database"].startswith("unreachable")

        await asyncio.to_thread(cluster.start_server)
        back = await client.get("/readyz")
        assert back.status == 200, await back.text()
        assert (await back.json())["checks"]["database"] == "ok"
    finally:
        engine.dispose()


def test_a_connection_the_server_dropped_is_replaced_on_its_next_use(
    cluster: PostgresCluster,
) -> None:
    engine = make_engine(cluster.create_database("stale"))

    def ping() -> int:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT 1")).scalar_one())

    try:
        assert ping() == 1  # one connection now waits in the pool
        cluster.stop_server(mode="immediate")
        cluster.start_server()
        with pytest.raises(DBAPIError) as dropped:
            ping()  # connections are not pinged before use: the stale one fails once ...
        assert dropped.value.connection_invalidated
        assert ping() == 1  # ... and the pool has replaced it

        assert ping() == 1
        cluster.stop_server(mode="immediate")
        cluster.start_server()
        assert retry_stale(ping) == 1  # what the bot's calls and the API's reads go through
    finally:
        engine.dispose()


def test_a_postgres_crash_under_load_loses_no_acknowledged_answer(
    cluster: PostgresCluster,
) -> None:
    # Durability is what production runs with; the test clusters switch it off for speed.
    cluster.set("synchronous_commit", "on")
    url = cluster.create_database("restart")
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        import_definition(load_definition(DEFINITION), session=session)
    service = QuizService(engine)
    acknowledged: dict[int, dict[str, int]] = {}
    retried = [0]
    errors: list[BaseException] = []
    lock = threading.Lock()
    update_ids = iter(range(1, 10_000_000))

    def deliver(call: Callable[[int], Any]) -> Any:
        """Deliver one update until it is acknowledged, as Telegram redelivers."""
        with lock:
            update_id = next(update_ids)
        deadline = time.monotonic() + 60
        while True:
            try:
                return call(update_id)
            except (Duplicate, StaleAction):
                return None  # stored by an earlier delivery whose answer was lost
            except SQLAlchemyError:
                if time.monotonic() > deadline:
                    raise
                with lock:
                    retried[0] += 1
                time.sleep(0.05)

    def answer(user: ChatUser, session_id: int, question: str, value: int, u: int) -> Any:
        return service.answer(
            user=user, session_id=session_id, question_id=question, value=value, update_id=u
        )

    def respondent(user_id: int) -> None:
        rng = random.Random(user_id)
        user = ChatUser(user_id=user_id, chat_id=user_id)
        try:
            step = deliver(lambda u: service.start(user=user, key="restart", update_id=u))
            if step is None:  # opened by a delivery we never heard back from
                step = deliver(lambda u: service.resume(user=user, update_id=u))
            while step is not None and step.kind == "question":
                assert step.question is not None
                question, session_id, value = step.question.id, step.session_id, rng.randint(1, 5)
                step = deliver(functools.partial(answer, user, session_id, question, value))
                if step is None:  # recorded by a delivery we never heard back from
                    step = deliver(lambda u: service.resume(user=user, update_id=u))
                    continue
                with lock:
                    acknowledged.setdefault(user_id, {})[question] = value
                time.sleep(rng.uniform(0.0, 0.02))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    # Load until after the restart, however fast the answers are: each thread takes the
    # quiz as one respondent after another.
    done = threading.Event()
    started: list[int] = []

    def respondents(first: int) -> None:
        user_id = first
        while not done.is_set() and not errors:
            with lock:
                started.append(user_id)
            respondent(user_id)
            user_id += 1

    threads = [threading.Thread(target=respondents, args=(100 + 10_000 * i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    cluster.stop_server(mode="immediate")  # a crash: no shutdown checkpoint
    time.sleep(1.0)
    cluster.start_server()
    time.sleep(0.5)
    done.set()
    for thread in threads:
        thread.join()

    try:
        assert errors == []
        assert retried[0] > 0, "the restart happened after the load: nothing was tested"
        with engine.connect() as connection:
            stored: dict[int, dict[str, int]] = {}
            for user_id, question, value in connection.execute(
                text(
                    "SELECT r.telegram_user_id, a.question_id, a.value FROM answer a "
                    "JOIN quizsession s ON s.id = a.session_id "
                    "JOIN respondent r ON r.id = s.respondent_id"
                )
            ):
                stored.setdefault(int(user_id), {})[question] = value
            sessions = connection.execute(text("SELECT COUNT(*) FROM quizsession")).scalar_one()
        for user_id, answers in acknowledged.items():
            assert stored[user_id].items() >= answers.items(), user_id
        assert all(len(answers) == QUESTIONS for answers in stored.values())
        assert sessions == len(started)  # a redelivered /start opened no second session
    finally:
        engine.dispose()
