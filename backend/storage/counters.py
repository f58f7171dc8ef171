"""Counts that are always ready: kept by database triggers, read as sums, folded now and then.

Every change to a session (its status, its cursor), an answer (its value) or an outbox row
(its status) appends signed rows to ``statcounter`` in the same transaction, from triggers
in the database. So every writer is counted, whichever worker or tool it is (the bot, an
erasure that cascades, ``psql``), a rolled-back answer is not, and two answers never wait for
each other on a shared counter row: the triggers only insert. A figure is the sum of its
rows; :func:`fold` replaces each figure's rows by one row with their sum, so the sums stay
short.

Metrics (``scope`` is the questionnaire version, 0 for the outbox):

- ``status``: sessions by status (key);
- ``stopped``: sessions not completed, by their cursor (key; ``""`` before the first question);
- ``answered``: answers by question (key);
- ``value``: answers by question (key) and value (item), one per option ticked for multiple
  choice; free-text questions (``uncountedquestion``) and skipped answers are not counted;
- ``outbox``: follow-up messages by status (key).

SQLite drops a table's triggers when a migration rebuilds the table (``batch_alter_table``
with a copy): such a migration must call :func:`install` again.

One module of over 400 lines on purpose: each metric's triggers for SQLite and PostgreSQL sit
side by side with the sums that read them, so a metric is changed in one place, both dialects
at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Connection, Engine, bindparam, text
from sqlmodel import Session

from backend.storage.engine import session_scope

__all__ = ["DROP", "backfill", "fold", "install", "read", "uninstall"]

_PG_FUNCTIONS = [
    """
CREATE OR REPLACE FUNCTION psychograph_count_answer_value(
    v integer, q varchar, val jsonb, sign integer, with_answered boolean
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO statcounter (scope, metric, key, item, n)
    SELECT v, 'answered', q, '', sign WHERE with_answered
    UNION ALL
    SELECT v, 'value', q, e.item, sign
    FROM (
        SELECT val #>> '{}' AS item WHERE jsonb_typeof(val) NOT IN ('array', 'object', 'null')
        UNION ALL
        SELECT jsonb_array_elements_text(val) WHERE jsonb_typeof(val) = 'array'
    ) AS e
    WHERE e.item IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM uncountedquestion u WHERE u.version_id = v AND u.question_id = q
    )
$$
""",
    """
CREATE OR REPLACE FUNCTION psychograph_count_answer() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT version_id INTO v FROM quizsession WHERE id = NEW.session_id;
        PERFORM psychograph_count_answer_value(v, NEW.question_id, NEW.value, 1, true);
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT version_id INTO v FROM quizsession WHERE id = NEW.session_id;
        PERFORM psychograph_count_answer_value(v, OLD.question_id, OLD.value, -1, false);
        PERFORM psychograph_count_answer_value(v, NEW.question_id, NEW.value, 1, false);
    ELSE
        -- A session being erased deletes its answers first, while it can still be read.
        SELECT version_id INTO v FROM quizsession WHERE id = OLD.session_id;
        IF FOUND THEN
            PERFORM psychograph_count_answer_value(v, OLD.question_id, OLD.value, -1, true);
        END IF;
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION psychograph_count_session() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM answer WHERE session_id = OLD.id;
        INSERT INTO statcounter (scope, metric, key, item, n)
        SELECT OLD.version_id, 'status', OLD.status, '', -1
        UNION ALL
        SELECT OLD.version_id, 'stopped', coalesce(OLD.cursor, ''), '', -1
        WHERE OLD.status <> 'completed';
        RETURN OLD;
    END IF;
    INSERT INTO statcounter (scope, metric, key, item, n)
    SELECT c.scope, c.metric, c.key, '', sum(c.n)
    FROM (
        SELECT NEW.version_id AS scope, 'status' AS metric, NEW.status AS key, 1 AS n
        UNION ALL
        SELECT NEW.version_id, 'stopped', coalesce(NEW.cursor, ''), 1
        WHERE NEW.status <> 'completed'
        UNION ALL
        SELECT OLD.version_id, 'status', OLD.status, -1 WHERE TG_OP = 'UPDATE'
        UNION ALL
        SELECT OLD.version_id, 'stopped', coalesce(OLD.cursor, ''), -1
        WHERE TG_OP = 'UPDATE' AND OLD.status <> 'completed'
    ) AS c
    GROUP BY c.scope, c.metric, c.key
    HAVING sum(c.n) <> 0;
    RETURN NULL;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION psychograph_count_outbox() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO statcounter (scope, metric, key, item, n)
        VALUES (0, 'outbox', OLD.status, '', -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO statcounter (scope, metric, key, item, n)
        VALUES (0, 'outbox', NEW.status, '', 1);
    END IF;
    RETURN NULL;
END
$$
""",
    """
CREATE OR REPLACE FUNCTION psychograph_uncounted_questions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO uncountedquestion (version_id, question_id)
    SELECT DISTINCT NEW.id, q ->> 'id'
    FROM jsonb_array_elements(coalesce(NEW.definition -> 'sections', '[]')) AS s,
         jsonb_array_elements(coalesce(s -> 'questions', '[]')) AS q
    WHERE q ->> 'type' = 'text' AND q ->> 'id' IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$
""",
]

_PG_TRIGGERS = [
    "CREATE TRIGGER statcount_answer AFTER INSERT OR DELETE ON answer "
    "FOR EACH ROW EXECUTE FUNCTION psychograph_count_answer()",
    "CREATE TRIGGER statcount_answer_value AFTER UPDATE OF value ON answer "
    "FOR EACH ROW WHEN (OLD.value IS DISTINCT FROM NEW.value) "
    "EXECUTE FUNCTION psychograph_count_answer()",
    "CREATE TRIGGER statcount_session AFTER INSERT ON quizsession "
    "FOR EACH ROW EXECUTE FUNCTION psychograph_count_session()",
    "CREATE TRIGGER statcount_session_change AFTER UPDATE OF status, cursor, version_id "
    "ON quizsession FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status "
    "OR OLD.cursor IS DISTINCT FROM NEW.cursor OR OLD.version_id <> NEW.version_id) "
    "EXECUTE FUNCTION psychograph_count_session()",
    "CREATE TRIGGER statcount_session_erase BEFORE DELETE ON quizsession "
    "FOR EACH ROW EXECUTE FUNCTION psychograph_count_session()",
    "CREATE TRIGGER statcount_outbox AFTER INSERT OR DELETE ON followupmessage "
    "FOR EACH ROW EXECUTE FUNCTION psychograph_count_outbox()",
    "CREATE TRIGGER statcount_outbox_change AFTER UPDATE OF status ON followupmessage "
    "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) "
    "EXECUTE FUNCTION psychograph_count_outbox()",
    "CREATE TRIGGER statcount_uncounted AFTER INSERT ON questionnaireversion "
    "FOR EACH ROW EXECUTE FUNCTION psychograph_uncounted_questions()",
]

_PG_DROP = [
    "DROP TRIGGER IF EXISTS statcount_answer ON answer",
    "DROP TRIGGER IF EXISTS statcount_answer_value ON answer",
    "DROP TRIGGER IF EXISTS statcount_session ON quizsession",
    "DROP TRIGGER IF EXISTS statcount_session_change ON quizsession",
    "DROP TRIGGER IF EXISTS statcount_session_erase ON quizsession",
    "DROP TRIGGER IF EXISTS statcount_outbox ON followupmessage",
    "DROP TRIGGER IF EXISTS statcount_outbox_change ON followupmessage",
    "DROP TRIGGER IF EXISTS statcount_uncounted ON questionnaireversion",
    "DROP FUNCTION IF EXISTS psychograph_count_answer()",
    "DROP FUNCTION IF EXISTS psychograph_count_answer_value(integer, varchar, jsonb, integer,"
    " boolean)",
    "DROP FUNCTION IF EXISTS psychograph_count_session()",
    "DROP FUNCTION IF EXISTS psychograph_count_outbox()",
    "DROP FUNCTION IF EXISTS psychograph_uncounted_questions()",
]


def _sqlite_answer_rows(row: str, sign: int, *, answered: bool) -> str:
    """The INSERT of an answer's rows (``row`` is NEW or OLD) in a SQLite trigger body."""
    version = f"(SELECT version_id FROM quizsession WHERE id = {row}.session_id)"
    counted = (
        f"NOT EXISTS (SELECT 1 FROM uncountedquestion u WHERE u.version_id = {version} "
        f"AND u.question_id = {row}.question_id)"
    )
    parts = []
    if answered:
        parts.append(
            f"SELECT {version}, 'answered', {row}.question_id, '', {sign} "
            f"WHERE {version} IS NOT NULL"
        )
    parts.append(
        f"SELECT {version}, 'value', {row}.question_id, CAST(json_extract({row}.value, '$') "
        f"AS TEXT), {sign} WHERE {version} IS NOT NULL "
        f"AND json_type({row}.value) NOT IN ('array', 'object', 'null') AND {counted}"
    )
    parts.append(
        f"SELECT {version}, 'value', {row}.question_id, CAST(e.value AS TEXT), {sign} "
        f"FROM json_each(CASE json_type({row}.value) WHEN 'array' THEN {row}.value "
        f"ELSE '[]' END) AS e WHERE {version} IS NOT NULL AND {counted}"
    )
    return (
        "INSERT INTO statcounter (scope, metric, key, item, n) " + " UNION ALL ".join(parts) + ";"
    )


def _sqlite_session_rows(row: str, sign: int) -> str:
    return (
        "INSERT INTO statcounter (scope, metric, key, item, n) "
        f"SELECT {row}.version_id, 'status', {row}.status, '', {sign} UNION ALL "
        f"SELECT {row}.version_id, 'stopped', coalesce({row}.cursor, ''), '', {sign} "
        f"WHERE {row}.status <> 'completed';"
    )


_SQLITE_TRIGGERS = [
    "CREATE TRIGGER statcount_answer_insert AFTER INSERT ON answer BEGIN "
    + _sqlite_answer_rows("NEW", 1, answered=True)
    + " END",
    "CREATE TRIGGER statcount_answer_update AFTER UPDATE OF value ON answer "
    "WHEN OLD.value IS NOT NEW.value BEGIN "
    + _sqlite_answer_rows("OLD", -1, answered=False)
    + _sqlite_answer_rows("NEW", 1, answered=False)
    + " END",
    "CREATE TRIGGER statcount_answer_delete AFTER DELETE ON answer BEGIN "
    + _sqlite_answer_rows("OLD", -1, answered=True)
    + " END",
    "CREATE TRIGGER statcount_session_insert AFTER INSERT ON quizsession BEGIN "
    + _sqlite_session_rows("NEW", 1)
    + " END",
    "CREATE TRIGGER statcount_session_update AFTER UPDATE OF status, cursor, version_id "
    "ON quizsession WHEN OLD.status IS NOT NEW.status OR OLD.cursor IS NOT NEW.cursor "
    "OR OLD.version_id IS NOT NEW.version_id BEGIN "
    + _sqlite_session_rows("OLD", -1)
    + _sqlite_session_rows("NEW", 1)
    + " END",
    # A session being erased deletes its answers first, while they can still be counted.
    "CREATE TRIGGER statcount_session_delete BEFORE DELETE ON quizsession BEGIN "
    "DELETE FROM answer WHERE session_id = OLD.id; " + _sqlite_session_rows("OLD", -1) + " END",
    "CREATE TRIGGER statcount_outbox_insert AFTER INSERT ON followupmessage BEGIN "
    "INSERT INTO statcounter (scope, metric, key, item, n) "
    "VALUES (0, 'outbox', NEW.status, '', 1); END",
    "CREATE TRIGGER statcount_outbox_update AFTER UPDATE OF status ON followupmessage "
    "WHEN OLD.status IS NOT NEW.status BEGIN "
    "INSERT INTO statcounter (scope, metric, key, item, n) "
    "VALUES (0, 'outbox', OLD.status, '', -1), (0, 'outbox', NEW.status, '', 1); END",
    "CREATE TRIGGER statcount_outbox_delete AFTER DELETE ON followupmessage BEGIN "
    "INSERT INTO statcounter (scope, metric, key, item, n) "
    "VALUES (0, 'outbox', OLD.status, '', -1); END",
    "CREATE TRIGGER statcount_uncounted AFTER INSERT ON questionnaireversion BEGIN "
    "INSERT OR IGNORE INTO uncountedquestion (version_id, question_id) "
    "SELECT NEW.id, json_extract(q.value, '$.id') "
    "FROM json_each(NEW.definition, '$.sections') AS s, json_each(s.value, '$.questions') AS q "
    "WHERE json_extract(q.value, '$.type') = 'text' "
    "AND json_extract(q.value, '$.id') IS NOT NULL; END",
]

_SQLITE_DROP = [
    f"DROP TRIGGER IF EXISTS {name}"
    for name in (
        "statcount_answer_insert",
        "statcount_answer_update",
        "statcount_answer_delete",
        "statcount_session_insert",
        "statcount_session_update",
        "statcount_session_delete",
        "statcount_outbox_insert",
        "statcount_outbox_update",
        "statcount_outbox_delete",
        "statcount_uncounted",
    )
]

#: The statements that remove the triggers, per dialect.
DROP = {"postgresql": _PG_DROP, "sqlite": _SQLITE_DROP}


def install(connection: Connection) -> None:
    """Create (or re-create) the counting triggers on the database of ``connection``."""
    dialect = connection.dialect.name
    uninstall(connection)
    statements = _PG_FUNCTIONS + _PG_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS
    for statement in statements:
        connection.exec_driver_sql(statement)


def uninstall(connection: Connection) -> None:
    """Remove the counting triggers (the tables stay)."""
    for statement in DROP[connection.dialect.name]:
        connection.exec_driver_sql(statement)


def backfill(connection: Connection) -> None:
    """Count what is stored now, from scratch (the counters are emptied first)."""
    pg = connection.dialect.name == "postgresql"
    connection.execute(text("DELETE FROM statcounter"))
    connection.execute(text("DELETE FROM uncountedquestion"))
    if pg:
        uncounted = (
            "INSERT INTO uncountedquestion (version_id, question_id) "
            "SELECT DISTINCT v.id, q ->> 'id' FROM questionnaireversion v, "
            "jsonb_array_elements(coalesce(v.definition -> 'sections', '[]')) AS s, "
            "jsonb_array_elements(coalesce(s -> 'questions', '[]')) AS q "
            "WHERE q ->> 'type' = 'text' AND q ->> 'id' IS NOT NULL"
        )
        scalar = (
            "SELECT s.version_id AS v, a.question_id AS q, a.value #>> '{}' AS item FROM answer a "
            "JOIN quizsession s ON s.id = a.session_id "
            "WHERE jsonb_typeof(a.value) NOT IN ('array', 'object', 'null')"
        )
        elements = (
            "SELECT s.version_id AS v, a.question_id AS q, e.item AS item FROM answer a "
            "JOIN quizsession s ON s.id = a.session_id "
            "CROSS JOIN LATERAL jsonb_array_elements_text(a.value) AS e(item) "
            "WHERE jsonb_typeof(a.value) = 'array'"
        )
    else:
        uncounted = (
            "INSERT OR IGNORE INTO uncountedquestion (version_id, question_id) "
            "SELECT v.id, json_extract(q.value, '$.id') FROM questionnaireversion v, "
            "json_each(v.definition, '$.sections') AS s, json_each(s.value, '$.questions') AS q "
            "WHERE json_extract(q.value, '$.type') = 'text' "
            "AND json_extract(q.value, '$.id') IS NOT NULL"
        )
        scalar = (
            "SELECT s.version_id AS v, a.question_id AS q, "
            "CAST(json_extract(a.value, '$') AS TEXT) AS item "
            "FROM answer a JOIN quizsession s ON s.id = a.session_id "
            "WHERE json_type(a.value) NOT IN ('array', 'object', 'null')"
        )
        elements = (
            "SELECT s.version_id AS v, a.question_id AS q, CAST(e.value AS TEXT) AS item "
            "FROM answer a "
            "JOIN quizsession s ON s.id = a.session_id, json_each(a.value) AS e "
            "WHERE json_type(a.value) = 'array'"
        )
    connection.execute(text(uncounted))
    insert = "INSERT INTO statcounter (scope, metric, key, item, n) "
    connection.execute(
        text(
            insert + "SELECT version_id, 'status', status, '', COUNT(*) FROM quizsession "
            "GROUP BY version_id, status"
        )
    )
    connection.execute(
        text(
            insert + "SELECT version_id, 'stopped', coalesce(cursor, ''), '', COUNT(*) "
            "FROM quizsession WHERE status <> 'completed' "
            "GROUP BY version_id, coalesce(cursor, '')"
        )
    )
    connection.execute(
        text(
            insert + "SELECT s.version_id, 'answered', a.question_id, '', COUNT(*) FROM answer a "
            "JOIN quizsession s ON s.id = a.session_id GROUP BY s.version_id, a.question_id"
        )
    )
    connection.execute(
        text(
            insert + "SELECT x.v, 'value', x.q, x.item, COUNT(*) "
            f"FROM ({scalar} UNION ALL {elements}) AS x "
            "WHERE x.item IS NOT NULL AND NOT EXISTS (SELECT 1 FROM uncountedquestion u "
            "WHERE u.version_id = x.v AND u.question_id = x.q) GROUP BY x.v, x.q, x.item"
        )
    )
    connection.execute(
        text(
            insert + "SELECT 0, 'outbox', status, '', COUNT(*) FROM followupmessage "
            "GROUP BY status"
        )
    )


def fold(engine: Engine) -> int:
    """Replace each figure's rows by one row holding their sum; return the rows removed.

    Safe beside writers and another fold: a row is moved into a sum at most once (a
    concurrent fold finds it deleted), and rows of transactions still open are left for the
    next fold.
    """
    if engine.dialect.name == "postgresql":
        with session_scope(engine) as session:
            result = session.execute(
                text(
                    "WITH gone AS (DELETE FROM statcounter "
                    "RETURNING scope, metric, key, item, n), "
                    "sums AS (INSERT INTO statcounter (scope, metric, key, item, n) "
                    "SELECT scope, metric, key, item, SUM(n) FROM gone "
                    "GROUP BY scope, metric, key, item HAVING SUM(n) <> 0 RETURNING 1) "
                    "SELECT (SELECT COUNT(*) FROM gone), (SELECT COUNT(*) FROM sums)"
                )
            ).one()
            return int(result[0]) - int(result[1])
    with session_scope(engine) as session:  # SQLite: one writer, this transaction
        top = session.execute(text("SELECT MAX(id), COUNT(*) FROM statcounter")).one()
        if top[0] is None:
            return 0
        sums = session.execute(
            text(
                "SELECT scope, metric, key, item, SUM(n) FROM statcounter WHERE id <= :top "
                "GROUP BY scope, metric, key, item HAVING SUM(n) <> 0"
            ),
            {"top": top[0]},
        ).all()
        session.execute(text("DELETE FROM statcounter WHERE id <= :top"), {"top": top[0]})
        if sums:
            session.execute(
                text(
                    "INSERT INTO statcounter (scope, metric, key, item, n) "
                    "VALUES (:scope, :metric, :key, :item, :n)"
                ),
                [
                    {"scope": s, "metric": m, "key": k, "item": i, "n": int(n)}
                    for s, m, k, i, n in sums
                ],
            )
        return int(top[1]) - len(sums)


def read(
    scope: int, metrics: Iterable[str], *, session: Session
) -> dict[str, dict[tuple[str, str], int]]:
    """Return metric -> (key, item) -> count for one scope (0 counts are left out)."""
    wanted = list(metrics)
    out: dict[str, dict[tuple[str, str], int]] = defaultdict(dict)
    rows = session.execute(
        text(
            "SELECT metric, key, item, SUM(n) FROM statcounter "
            "WHERE scope = :scope AND metric IN :metrics GROUP BY metric, key, item"
        ).bindparams(bindparam("metrics", expanding=True)),
        {"scope": scope, "metrics": wanted},
    )
    for metric, key, item, n in rows:
        if n:
            out[metric][(key, item)] = int(n)
    return {m: out.get(m, {}) for m in wanted}
