"""Erasure tombstones, delivered-step marker of quiz sessions, revoked dashboard sessions

- ``erasure``: a keyed hash of an erased Telegram user's id and their last update id, so a
  late or replayed update of theirs does not re-create them.
- ``quizsession.shown``: the step last delivered, so a question lost to a crash between
  storing an answer and sending the next question is sent again. Sessions under way are
  marked as delivered: their messages went out before this version.
- ``revokedsession``: dashboard sessions signed out before they expire.

Revision ID: 0006_erasure_tombstones
Revises: 0004_report_indexes
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_erasure_tombstones"
down_revision: str | Sequence[str] | None = "0004_report_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasure",
        sa.Column("user_hash", sa.String(length=64), nullable=False),
        sa.Column("last_update_id", sa.BigInteger(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_hash", name=op.f("pk_erasure")),
    )
    with op.batch_alter_table("erasure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_erasure_erased_at"), ["erased_at"], unique=False)

    op.create_table(
        "revokedsession",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_revokedsession")),
    )
    with op.batch_alter_table("revokedsession", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_revokedsession_expires_at"), ["expires_at"], unique=False
        )

    with op.batch_alter_table("quizsession", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shown", sa.String(length=64), nullable=True))
    op.execute("UPDATE quizsession SET shown = COALESCE(cursor, '') WHERE status = 'active'")


def downgrade() -> None:
    with op.batch_alter_table("quizsession", schema=None) as batch_op:
        batch_op.drop_column("shown")

    with op.batch_alter_table("revokedsession", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revokedsession_expires_at"))
    op.drop_table("revokedsession")

    with op.batch_alter_table("erasure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasure_erased_at"))
    op.drop_table("erasure")
