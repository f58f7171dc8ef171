"""Helpers of the follow-up tests: a content pack, respondents, segments, sandbox users."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from backend.followups import (
    Assignment,
    SegmentView,
    TraitView,
    enqueue_for_assignments,
    import_pack,
    load_content,
)
from backend.storage.engine import session_scope
from backend.storage.models import Respondent
from bot.sandbox import SandboxClient

CONTENT_DIR = Path(__file__).resolve().parents[2] / "questionnaires" / "content"

#: A small pack: two sequences by rule, one chosen by name, a default with a later step.
PACK = """\
id: test-pack
questionnaire: big-five-ipip
title: Test follow-ups
expires_after: 3d
items:
  - id: curious_now
    target: {rule: {openness: high}}
    text: "Hi {{ first_name }} from {{ segment_name }}"
    buttons:
      - {text: Read, url: "https://example.com/read"}
  - id: curious_later
    target: {rule: {openness: high}}
    send_after: 2d
    text: "Later, {{ first_name }}"
  - id: social_now
    target: {rule: {extraversion: ">= 0.5"}}
    variants:
      - {id: a, text: "A {{ first_name }}"}
      - {id: b, text: "B {{ first_name }}"}
  - id: chosen
    target: {segments: ["Hand-picked"]}
    text: "Picked for {{ segment_name }}"
  - id: fallback
    target: {default: true}
    text: "Welcome {{ first_name }}"
"""

CURIOUS = SegmentView(
    id="1",
    name="Curious",
    z_scores={"openness": 1.0, "extraversion": 0.0},
    traits=(TraitView("openness", "high", "Curious", "Openness", 1.0),),
)
SOCIAL = SegmentView(id="2", name="Outgoing", z_scores={"openness": 0.0, "extraversion": 0.9})
PLAIN = SegmentView(id="3", name="Plain", z_scores={"openness": 0.0, "extraversion": 0.0})
PICKED = SegmentView(id="4", name="Hand-picked", z_scores={"openness": 0.0})


def add_pack(engine: Engine, text: str = PACK) -> None:
    """Import a pack given as text."""
    with session_scope(engine) as session:
        import_pack(session=session, pack=load_content(text, source="pack.yaml"))


def add_respondents(
    engine: Engine, chat_ids: list[int], *, timezone: str | None = None
) -> list[int]:
    """Create respondents with these chat ids; return their ids."""
    with session_scope(engine) as session:
        people = [
            Respondent(
                first_name=f"R{chat}", chat_id=chat, telegram_user_id=chat, timezone=timezone
            )
            for chat in chat_ids
        ]
        session.add_all(people)
        session.flush()
        return [p.id for p in people if p.id is not None]


def assign(
    engine: Engine,
    respondent_ids: list[int],
    segment: SegmentView,
    *,
    now: datetime | None = None,
    assigned_at: datetime | None = None,
) -> None:
    """Put respondents in a segment and queue their follow-ups."""
    with session_scope(engine) as session:
        enqueue_for_assignments(
            session=session,
            assignments=[
                Assignment(rid, "big-five-ipip", segment, assigned_at=assigned_at, scores={})
                for rid in respondent_ids
            ],
            now=now,
        )


async def sandbox_users(client: SandboxClient, n: int) -> list[int]:
    """Create ``n`` users who started the bot; return their (private chat) ids."""
    return [(await client.create_user(first_name=f"U{i}")).id for i in range(n)]


async def plain_audience(engine: Engine, client: SandboxClient, n: int) -> list[int]:
    """``n`` sandbox users in the PLAIN segment of the default pack, its item due now;
    return their chat ids."""
    chats = await sandbox_users(client, n)
    add_pack(engine)
    assign(engine, add_respondents(engine, chats), PLAIN)
    return chats
