"""Soft membership: each assignment's segment probabilities and confidence; the run's model; each segment's uncertain share

Revision ID: 0005_soft_membership
Revises: 0004_report_indexes
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005_soft_membership"
down_revision: str | Sequence[str] | None = "0008_counters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("segmentassignment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("probabilities", JSON, nullable=True))
        batch_op.add_column(sa.Column("confidence", sa.Float(), nullable=True))
    with op.batch_alter_table("segmentationrun", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model", JSON, nullable=True))
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uncertain_share", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("segment", schema=None) as batch_op:
        batch_op.drop_column("uncertain_share")
    with op.batch_alter_table("segmentationrun", schema=None) as batch_op:
        batch_op.drop_column("model")
    with op.batch_alter_table("segmentassignment", schema=None) as batch_op:
        batch_op.drop_column("confidence")
        batch_op.drop_column("probabilities")
