"""Initial schema: respondents, questionnaires and versions, sessions, answers, scores.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-22

Constraints carry explicit names (``uq_<table>_<columns>``, ``fk_<table>_<column>_<target>``)
so later revisions can drop or change them on SQLite, whose batch mode finds constraints by
name.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "respondent",
        sa.Column("first_name", sa.String(length=256), nullable=True),
        sa.Column("language_code", sa.String(length=16), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("unreachable", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("last_update_id", sa.BigInteger(), nullable=False),
        sa.Column("last_update_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_respondent"),
        sa.UniqueConstraint("external_id", name="uq_respondent_external_id"),
        sa.UniqueConstraint("telegram_user_id", name="uq_respondent_telegram_user_id"),
    )

    # questionnaire.current_version_id and questionnaireversion.questionnaire_id point at
    # each other: create both tables, then close the cycle. Batch mode adds the key with
    # ALTER TABLE on PostgreSQL and by rebuilding the (still empty) table on SQLite.
    op.create_table(
        "questionnaire",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active", "archived", name="questionnairestatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("current_version_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_questionnaire"),
    )
    op.create_table(
        "questionnaireversion",
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("questionnaire_id", sa.Integer(), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("source_name", sa.String(length=512), nullable=True),
        sa.Column("source_text", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"],
            ["questionnaire.id"],
            name="fk_questionnaireversion_questionnaire_id_questionnaire",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_questionnaireversion"),
        sa.UniqueConstraint(
            "questionnaire_id",
            "content_hash",
            name="uq_questionnaireversion_questionnaire_id_content_hash",
        ),
        sa.UniqueConstraint(
            "questionnaire_id", "version", name="uq_questionnaireversion_questionnaire_id_version"
        ),
    )
    with op.batch_alter_table("questionnaire") as batch_op:
        batch_op.create_foreign_key(
            "fk_current_version", "questionnaireversion", ["current_version_id"], ["id"]
        )
    op.create_index("ix_questionnaire_key", "questionnaire", ["key"], unique=True)
    op.create_index(
        "ix_questionnaireversion_questionnaire_id", "questionnaireversion", ["questionnaire_id"]
    )

    op.create_table(
        "quizsession",
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "completed",
                "cancelled",
                name="sessionstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("cursor", sa.String(length=64), nullable=True),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("respondent_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("draft", JSON, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["respondent_id"],
            ["respondent.id"],
            name="fk_quizsession_respondent_id_respondent",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["questionnaireversion.id"],
            name="fk_quizsession_version_id_questionnaireversion",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_quizsession"),
    )
    op.create_index("ix_quizsession_respondent_status", "quizsession", ["respondent_id", "status"])
    op.create_index("ix_quizsession_version_id", "quizsession", ["version_id"])

    op.create_table(
        "answer",
        sa.Column("question_id", sa.String(length=64), nullable=False),
        sa.Column("value", JSON, nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["quizsession.id"],
            name="fk_answer_session_id_quizsession",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_answer"),
        sa.UniqueConstraint("session_id", "question_id", name="uq_answer_session_id_question_id"),
    )

    op.create_table(
        "sessionscore",
        sa.Column("scores", JSON, nullable=False),
        sa.Column("scores_100", JSON, nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("respondent_id", sa.Integer(), nullable=False),
        sa.Column("questionnaire_id", sa.Integer(), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"],
            ["questionnaire.id"],
            name="fk_sessionscore_questionnaire_id_questionnaire",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["respondent_id"],
            ["respondent.id"],
            name="fk_sessionscore_respondent_id_respondent",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["quizsession.id"],
            name="fk_sessionscore_session_id_quizsession",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["questionnaireversion.id"],
            name="fk_sessionscore_version_id_questionnaireversion",
        ),
        sa.PrimaryKeyConstraint("session_id", name="pk_sessionscore"),
    )
    op.create_index(
        "ix_sessionscore_questionnaire_completed",
        "sessionscore",
        ["questionnaire_id", "completed_at"],
    )
    op.create_index("ix_sessionscore_respondent_id", "sessionscore", ["respondent_id"])


def downgrade() -> None:
    op.drop_table("sessionscore")
    op.drop_table("answer")
    op.drop_table("quizsession")
    # Break the questionnaire <-> version cycle before dropping either table.
    with op.batch_alter_table("questionnaire") as batch_op:
        batch_op.drop_constraint("fk_current_version", type_="foreignkey")
    op.drop_table("questionnaireversion")
    op.drop_table("questionnaire")
    op.drop_table("respondent")
