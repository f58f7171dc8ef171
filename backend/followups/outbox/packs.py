"""Content packs in the database: import a validated pack as a version, list, load."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from backend.caches import BoundedCache
from backend.followups.content import ContentPack, pack_from_json
from backend.storage.followup_tables import ContentPack as ContentPackRow
from backend.storage.followup_tables import ContentPackPublic
from backend.storage.types import utcnow


@dataclass(frozen=True)
class PackImport:
    record: ContentPackRow
    outcome: str  # "created", "new_version" or "unchanged"


def import_pack(
    *,
    session: Session,
    pack: ContentPack,
    source_name: str | None = None,
    source_text: str | None = None,
) -> PackImport:
    """Store a validated pack as the current version of its key (unchanged content: no-op)."""
    digest = pack.content_hash()
    record = session.exec(select(ContentPackRow).where(ContentPackRow.key == pack.key)).first()
    if record is not None and record.content_hash == digest:
        return PackImport(record, "unchanged")
    outcome = "created" if record is None else "new_version"
    if record is None:
        record = ContentPackRow(
            key=pack.key,
            questionnaire_key=pack.definition.questionnaire,
            title=pack.definition.title,
            content_hash=digest,
            definition={},
        )
    else:
        record.version += 1
    record.questionnaire_key = pack.definition.questionnaire
    record.title = pack.definition.title
    record.content_hash = digest
    record.definition = pack.definition.model_dump(mode="json")
    record.source_name = source_name
    record.source_text = source_text
    record.imported_at = utcnow()
    session.add(record)
    session.flush()
    return PackImport(record, outcome)


def list_packs(*, session: Session) -> list[ContentPackPublic]:
    """Return every stored pack with its item count."""
    rows = session.exec(select(ContentPackRow).order_by(col(ContentPackRow.key))).all()
    return [
        ContentPackPublic(
            id=row.id or 0,
            key=row.key,
            questionnaire_key=row.questionnaire_key,
            title=row.title,
            version=row.version,
            content_hash=row.content_hash,
            items=len(row.definition.get("items", [])),
            imported_at=row.imported_at,
        )
        for row in rows
    ]


#: Parsed packs by (key, content hash): a stored version never changes, a new one is a new key.
_PACKS: BoundedCache[ContentPack] = BoundedCache("followups.packs", maxsize=256)


def pack_of(row: ContentPackRow) -> ContentPack:
    """Return a stored pack parsed (cached by key and content hash)."""
    cache_key = (row.key, row.content_hash)
    pack = _PACKS.get(cache_key)
    if pack is None:
        pack = pack_from_json(row.definition)
        _PACKS.put(cache_key, pack)
    return pack


def has_packs(*, session: Session, questionnaire_key: str) -> bool:
    """Whether any pack targets a questionnaire's segments (nothing parsed)."""
    found = session.exec(
        select(ContentPackRow.id).where(ContentPackRow.questionnaire_key == questionnaire_key)
    ).first()
    return found is not None


def packs_for(*, session: Session, questionnaire_key: str) -> list[ContentPack]:
    """Return the packs that target a questionnaire's segments."""
    rows = session.exec(
        select(ContentPackRow).where(ContentPackRow.questionnaire_key == questionnaire_key)
    ).all()
    return [pack_of(row) for row in rows]
