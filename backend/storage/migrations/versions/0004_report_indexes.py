"""Indexes for follow-up statistics and the response funnel

Revision ID: 0004_report_indexes
Revises: 0003_followups
Create Date: 2026-11-22 12:15:48.479487
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_report_indexes"
down_revision: str | Sequence[str] | None = "0003_followups"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("followupmessage", schema=None) as batch_op:
        batch_op.create_index(
            "ix_followupmessage_stats",
            ["pack_key", "item_id", "variant", "segment_key", "segment_name", "status"],
            unique=False,
        )

    with op.batch_alter_table("quizsession", schema=None) as batch_op:
        batch_op.create_index(
            "ix_quizsession_version_status_cursor",
            ["version_id", "status", "cursor"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("quizsession", schema=None) as batch_op:
        batch_op.drop_index("ix_quizsession_version_status_cursor")

    with op.batch_alter_table("followupmessage", schema=None) as batch_op:
        batch_op.drop_index("ix_followupmessage_stats")
