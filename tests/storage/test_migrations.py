"""Migrations build exactly the models' schema, both ways, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

from backend.storage import migrate, models  # noqa: F401  (models registers the tables)
from backend.storage.engine import make_engine
from backend.storage.migrate import (
    SchemaOutOfDate,
    current_revision,
    downgrade,
    ensure_current,
    head_revision,
    upgrade,
)

MODEL_TABLES = set(SQLModel.metadata.tables)


@pytest.fixture
def url_engine(database_url: str) -> Iterator[Engine]:
    """Yield an engine on the empty database behind ``database_url``."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def schema_diff(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_models_define_the_tables_the_product_needs() -> None:
    assert {
        "respondent",
        "questionnaire",
        "questionnaireversion",
        "quizsession",
        "answer",
        "sessionscore",
    } <= MODEL_TABLES


def test_upgrade_from_empty_builds_exactly_the_models(url_engine: Engine) -> None:
    assert table_names(url_engine) == set()

    upgrade(url_engine)

    assert table_names(url_engine) == MODEL_TABLES | {"alembic_version"}
    assert schema_diff(url_engine) == []
    assert current_revision(url_engine) == head_revision()


def test_upgrade_by_url_commits_for_other_connections(database_url: str) -> None:
    upgrade(database_url)

    fresh = make_engine(database_url)
    try:
        assert table_names(fresh) >= MODEL_TABLES
        assert current_revision(fresh) == head_revision()
    finally:
        fresh.dispose()


def test_upgrade_at_head_is_a_no_op(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert schema_diff(engine) == []


def test_downgrade_to_base_and_up_again(engine: Engine) -> None:
    downgrade(engine, "base")

    assert table_names(engine) == {"alembic_version"}
    assert current_revision(engine) is None

    upgrade(engine)

    assert schema_diff(engine) == []
    assert current_revision(engine) == head_revision()


def test_schema_diff_detects_a_model_without_a_migration(engine: Engine) -> None:
    # The guard above is only worth something if a column the models have and the database
    # lacks (a model change without a migration) shows up as a difference.
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE respondent DROP COLUMN timezone"))

    diff = schema_diff(engine)

    assert [(op[0], op[2], op[3].name) for op in diff if isinstance(op, tuple)] == [
        ("add_column", "respondent", "timezone")
    ]


def test_ensure_current_passes_at_head(engine: Engine) -> None:
    ensure_current(engine)


def test_ensure_current_rejects_an_empty_database(url_engine: Engine) -> None:
    with pytest.raises(SchemaOutOfDate, match=r"run `psychograph db upgrade`") as caught:
        ensure_current(url_engine)
    assert caught.value.current is None
    assert caught.value.expected == head_revision()
    assert "no schema yet" in str(caught.value)


def test_ensure_current_rejects_an_older_revision(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One revision exists so far: pretend the code has moved on to a second one.
    at = head_revision()
    monkeypatch.setattr(migrate, "head_revision", lambda: "0099_future")

    with pytest.raises(SchemaOutOfDate) as caught:
        ensure_current(engine)

    assert str(caught.value).endswith(
        f"is at revision {at}, code expects 0099_future: run `psychograph db upgrade`"
    )


def test_ensure_current_rejects_a_database_from_a_newer_release(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))

    with pytest.raises(SchemaOutOfDate, match="newer release"):
        ensure_current(engine)


def test_results_of_sessions_completed_before_0009_count_as_shown(engine: Engine) -> None:
    # Before 0009 a result was never marked: without the data migration, the next
    # redelivered update of each such respondent would send an old result again.
    downgrade(engine, "0005_soft_membership")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO questionnaire (id, key, title, status, created_at)"
                " VALUES (1, 'q', 'Q', 'active', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO questionnaireversion (id, questionnaire_id, version, content_hash,"
                " definition, created_at) VALUES (1, 1, 1, 'h', '{}', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO respondent (id, telegram_user_id, chat_id, opted_out, unreachable,"
                " last_update_id, created_at, updated_at)"
                " VALUES (1, 5, 5, false, false, 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        for session_id, status, shown in [(1, "completed", "note"), (2, "active", "mood")]:
            connection.execute(
                text(
                    "INSERT INTO quizsession (id, status, language, seed, respondent_id,"
                    " version_id, shown, started_at, updated_at)"
                    " VALUES (:id, :status, 'en', 1, 1, 1, :shown,"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": session_id, "status": status, "shown": shown},
            )

    upgrade(engine)

    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, shown FROM quizsession ORDER BY id")).all()
    assert [tuple(row) for row in rows] == [(1, "#result"), (2, "mood")]
