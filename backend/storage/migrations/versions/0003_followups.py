"""Follow-ups: content packs, the outbox (one row per respondent and item), button clicks.

Revision ID: 0003_followups
Revises: 0002_segments
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_followups"
down_revision: str | Sequence[str] | None = "0002_segments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "contentpack",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("questionnaire_key", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=256), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("source_name", sa.String(length=512), nullable=True),
        sa.Column("source_text", sa.Text(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contentpack")),
    )
    with op.batch_alter_table("contentpack", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contentpack_key"), ["key"], unique=True)
        batch_op.create_index(
            batch_op.f("ix_contentpack_questionnaire_key"), ["questionnaire_key"], unique=False
        )

    op.create_table(
        "followupmessage",
        sa.Column("pack_key", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.String(length=64), nullable=False),
        sa.Column("variant", sa.String(length=64), nullable=True),
        sa.Column("segment_key", sa.String(length=64), nullable=False),
        sa.Column("segment_name", sa.String(length=256), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sending",
                "sent",
                "failed",
                "uncertain",
                "cancelled",
                "expired",
                name="followupstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("telegram_message_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("respondent_id", sa.Integer(), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("buttons", JSON, nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["respondent_id"],
            ["respondent.id"],
            name=op.f("fk_followupmessage_respondent_id_respondent"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followupmessage")),
        sa.UniqueConstraint(
            "respondent_id",
            "pack_key",
            "item_id",
            name=op.f("uq_followupmessage_respondent_id_pack_key_item_id"),
        ),
        sa.UniqueConstraint("token", name=op.f("uq_followupmessage_token")),
    )
    with op.batch_alter_table("followupmessage", schema=None) as batch_op:
        batch_op.create_index(
            "ix_followupmessage_respondent_sent_at", ["respondent_id", "sent_at"], unique=False
        )
        batch_op.create_index(
            "ix_followupmessage_status_not_before", ["status", "not_before"], unique=False
        )

    op.create_table(
        "followupclick",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("button", sa.Integer(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["followupmessage.id"],
            name=op.f("fk_followupclick_message_id_followupmessage"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_followupclick")),
    )
    with op.batch_alter_table("followupclick", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_followupclick_message_id"), ["message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("followupclick", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_followupclick_message_id"))

    op.drop_table("followupclick")
    with op.batch_alter_table("followupmessage", schema=None) as batch_op:
        batch_op.drop_index("ix_followupmessage_status_not_before")
        batch_op.drop_index("ix_followupmessage_respondent_sent_at")

    op.drop_table("followupmessage")
    with op.batch_alter_table("contentpack", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contentpack_questionnaire_key"))
        batch_op.drop_index(batch_op.f("ix_contentpack_key"))

    op.drop_table("contentpack")
