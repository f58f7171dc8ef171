"""Presses of follow-up buttons: the callback data or link token, and the click record."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from backend.storage.followup_tables import FollowupClick, FollowupMessage

#: Callback data of a follow-up button: ``fu:<row token>.<button index>``.
CALLBACK_PREFIX = "fu:"


@dataclass(frozen=True)
class Click:
    message_id: int
    url: str


def record_click(*, session: Session, token: str) -> Click | None:
    """Record a press of a follow-up button; return where it leads, or None if unknown.

    ``token`` is what follows ``fu:`` in the callback data, or the last part of the tracked
    link: ``<row token>.<button index>``.
    """
    token = token.removeprefix(CALLBACK_PREFIX)
    head, _, index_text = token.rpartition(".")
    # Anything else is forged: non-ASCII digits, NUL (refused by PostgreSQL), over-long.
    if not (head.isascii() and head.isprintable() and 0 < len(head) <= 32):
        return None
    if not (index_text.isascii() and index_text.isdigit() and len(index_text) <= 3):
        return None
    row = session.exec(select(FollowupMessage).where(FollowupMessage.token == head)).first()
    index = int(index_text)
    if row is None or row.id is None or index >= len(row.buttons):
        return None
    session.add(FollowupClick(message_id=row.id, button=index))
    return Click(row.id, str(row.buttons[index]["url"]))
