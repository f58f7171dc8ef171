"""Tables of content items, the follow-up outbox and engagement.

A *content pack* is a validated definition stored as JSON (one current version per key). An
outbox row is one item for one respondent, unique per (respondent, pack, item), so nothing is
ever queued twice; its text is rendered when it is queued. A row moves pending -> sending
(claimed with a lease) -> sent | failed | uncertain, or ends cancelled / expired unsent.
Erasing a respondent deletes their rows (and clicks) with them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.storage.types import JSONType, UTCDateTime, utcnow, value_enum


class FollowupStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ContentPackBase(SQLModel):
    key: str = Field(max_length=64, unique=True, index=True)
    questionnaire_key: str = Field(max_length=64, index=True)
    title: str = Field(max_length=256)
    version: int = Field(default=1, ge=1)
    content_hash: str = Field(max_length=64)


class ContentPackPublic(ContentPackBase):
    id: int
    items: int
    imported_at: datetime


class ContentPack(ContentPackBase, table=True):
    """The current version of one content pack."""

    __tablename__ = "contentpack"

    id: int | None = Field(default=None, primary_key=True)
    definition: dict[str, Any] = Field(sa_type=JSONType)
    source_name: str | None = Field(default=None, max_length=512)
    source_text: str | None = Field(default=None, sa_type=Text)
    imported_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FollowupMessageBase(SQLModel):
    pack_key: str = Field(max_length=64)
    item_id: str = Field(max_length=64)
    variant: str | None = Field(default=None, max_length=64)
    segment_key: str = Field(max_length=64)
    segment_name: str = Field(default="", max_length=256)
    #: Position in the segment's sequence (0 is sent first).
    step: int = 0
    status: FollowupStatus = Field(
        default=FollowupStatus.PENDING, sa_type=value_enum(FollowupStatus)
    )
    due_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    attempts: int = 0
    telegram_message_id: int | None = Field(default=None, sa_type=BigInteger, nullable=True)
    reason: str | None = Field(default=None, sa_type=Text)
    #: Why sending was last put off: "quiet_hours" or "frequency_cap" (None: never).
    deferred_reason: str | None = Field(default=None, max_length=32, nullable=True)


class FollowupMessagePublic(FollowupMessageBase):
    id: int
    respondent_id: int
    created_at: datetime
    sent_at: datetime | None


class FollowupMessage(FollowupMessageBase, table=True):
    """One content item for one respondent: the outbox row the dispatcher sends."""

    __tablename__ = "followupmessage"
    __table_args__ = (
        UniqueConstraint("respondent_id", "pack_key", "item_id"),
        Index("ix_followupmessage_status_not_before", "status", "not_before"),
        Index("ix_followupmessage_respondent_sent_at", "respondent_id", "sent_at"),
        # Follow-up statistics (API, dashboard) group by these: the index alone answers them.
        Index(
            "ix_followupmessage_stats",
            "pack_key",
            "item_id",
            "variant",
            "segment_key",
            "segment_name",
            "status",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    respondent_id: int = Field(foreign_key="respondent.id", ondelete="CASCADE")
    #: Not sent before this time: the due time, moved by quiet hours, caps and back-off.
    not_before: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    text: str = Field(sa_type=Text)
    #: ``[{"text": ..., "url": ...}]``: the buttons' targets, reached through tracked links.
    buttons: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONType)
    #: Secret in the tracked links and callback data of this row's buttons.
    token: str = Field(max_length=32, unique=True)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    #: When the request that sent it (or may have) left.
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, nullable=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FollowupClick(SQLModel, table=True):
    """A press of a follow-up's button (through its tracked link or callback)."""

    __tablename__ = "followupclick"

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="followupmessage.id", index=True, ondelete="CASCADE")
    button: int = 0
    clicked_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
