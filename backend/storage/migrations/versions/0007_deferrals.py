"""Why a follow-up was deferred (quiet hours, frequency cap)

Revision ID: 0007_deferrals
Revises: 0004_report_indexes
Create Date: 2026-12-04 16:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_deferrals"
down_revision: str | Sequence[str] | None = "0006_erasure_tombstones"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("followupmessage", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deferred_reason", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("followupmessage", schema=None) as batch_op:
        batch_op.drop_column("deferred_reason")
