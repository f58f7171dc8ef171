"""Segments: segmentation runs, segments with stable ids, and current assignments.

Revision ID: 0002_segments
Revises: 0001_initial
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_segments"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "segmentationrun",
        sa.Column(
            "status",
            sa.Enum(
                "running", "succeeded", "failed", name="runstatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("dimensions", JSON, nullable=False),
        sa.Column("k", sa.Integer(), nullable=True),
        sa.Column("candidates", JSON, nullable=False),
        sa.Column("choice_reason", sa.Text(), nullable=True),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("n_respondents", sa.Integer(), nullable=False),
        sa.Column("n_excluded", sa.Integer(), nullable=False),
        sa.Column("n_moved", sa.Integer(), nullable=True),
        sa.Column("ari", sa.Float(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("questionnaire_id", sa.Integer(), nullable=False),
        sa.Column("standardiser", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"],
            ["questionnaire.id"],
            name=op.f("fk_segmentationrun_questionnaire_id_questionnaire"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segmentationrun")),
    )
    with op.batch_alter_table("segmentationrun", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_segmentationrun_questionnaire_id"), ["questionnaire_id"], unique=False
        )

    op.create_table(
        "segment",
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("name_edited", sa.Boolean(), nullable=False),
        sa.Column("description_edited", sa.Boolean(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("active", "retired", name="segmentstatus", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.Column("centroid", JSON, nullable=False),
        sa.Column("z_scores", JSON, nullable=False),
        sa.Column("traits", JSON, nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("questionnaire_id", sa.Integer(), nullable=False),
        sa.Column("first_run_id", sa.Integer(), nullable=True),
        sa.Column("last_run_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["first_run_id"],
            ["segmentationrun.id"],
            name=op.f("fk_segment_first_run_id_segmentationrun"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["last_run_id"],
            ["segmentationrun.id"],
            name=op.f("fk_segment_last_run_id_segmentationrun"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"],
            ["questionnaire.id"],
            name=op.f("fk_segment_questionnaire_id_questionnaire"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment")),
    )
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_segment_questionnaire_id"), ["questionnaire_id"], unique=False
        )

    op.create_table(
        "segmentassignment",
        sa.Column("questionnaire_id", sa.Integer(), nullable=False),
        sa.Column("respondent_id", sa.Integer(), nullable=False),
        sa.Column("segment_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("moves", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["questionnaire_id"],
            ["questionnaire.id"],
            name=op.f("fk_segmentassignment_questionnaire_id_questionnaire"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["respondent_id"],
            ["respondent.id"],
            name=op.f("fk_segmentassignment_respondent_id_respondent"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["segmentationrun.id"],
            name=op.f("fk_segmentassignment_run_id_segmentationrun"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["segment_id"],
            ["segment.id"],
            name=op.f("fk_segmentassignment_segment_id_segment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "questionnaire_id", "respondent_id", name=op.f("pk_segmentassignment")
        ),
    )
    with op.batch_alter_table("segmentassignment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_segmentassignment_respondent_id"), ["respondent_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_segmentassignment_segment_id"), ["segment_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("segmentassignment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segmentassignment_segment_id"))
        batch_op.drop_index(batch_op.f("ix_segmentassignment_respondent_id"))

    op.drop_table("segmentassignment")
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segment_questionnaire_id"))

    op.drop_table("segment")
    with op.batch_alter_table("segmentationrun", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_segmentationrun_questionnaire_id"))

    op.drop_table("segmentationrun")
