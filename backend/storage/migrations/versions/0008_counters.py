"""Counts kept as rows change (statcounter, uncountedquestion, triggers); job ticks

Revision ID: 0008_counters
Revises: 0004_report_indexes
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from backend.storage import counters

revision: str = "0008_counters"
down_revision: str | Sequence[str] | None = "0007_deferrals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "statcounter",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("scope", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statcounter")),
    )
    op.create_index("ix_statcounter_scope_metric", "statcounter", ["scope", "metric"])
    op.create_table(
        "uncountedquestion",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["questionnaireversion.id"],
            name=op.f("fk_uncountedquestion_version_id_questionnaireversion"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "question_id", name=op.f("pk_uncountedquestion")),
    )
    op.create_table(
        "jobtick",
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("tick", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_jobtick")),
    )
    connection = op.get_bind()
    counters.install(connection)
    counters.backfill(connection)


def downgrade() -> None:
    counters.uninstall(op.get_bind())
    op.drop_table("jobtick")
    op.drop_table("uncountedquestion")
    op.drop_index("ix_statcounter_scope_metric", table_name="statcounter")
    op.drop_table("statcounter")
