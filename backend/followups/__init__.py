"""Follow-ups: content packs, targeting rules, sandboxed templates, the outbox, the dispatcher.

- Marketers write content packs (``questionnaires/content/*.yaml``, see
  ``docs/content-format.md``); :func:`load_content` validates them with path and line and
  renders every template for every test profile; :func:`import_pack` stores them.
- After an assignment, the segmentation side calls :func:`enqueue_for_assignments` in its
  transaction with :class:`Assignment` values (see ``backend.services.segments.queueing``).
- :class:`Dispatcher` sends due rows through a :class:`Sender` (``bot.delivery.TelegramSender``).
- The bot records a button press with :func:`record_click` (callback data ``fu:<token>``).
"""

from backend.followups.content import (
    ContentPack,
    load_content,
    load_content_file,
    pack_from_json,
    test_profiles,
)
from backend.followups.delivery import (
    Blocked,
    Delivered,
    NotSent,
    Outcome,
    OutgoingButton,
    OutgoingMessage,
    RateLimited,
    Rejected,
    Sender,
    Uncertain,
)
from backend.followups.dispatcher import DispatchConfig, Dispatcher, DispatchReport
from backend.followups.outbox import (
    CALLBACK_PREFIX,
    Assignment,
    Click,
    EnqueueReport,
    SendRules,
    StatsRow,
    enqueue_for_assignments,
    followup_stats,
    has_packs,
    import_pack,
    list_packs,
    packs_for,
    record_click,
    release_uncertain,
    segment_view,
    status_counts,
)
from backend.followups.schema import ContentPackDefinition
from backend.followups.targeting import SegmentView, TraitView, choose_variant, select_items

__all__ = [
    "CALLBACK_PREFIX",
    "Assignment",
    "Blocked",
    "Click",
    "ContentPack",
    "ContentPackDefinition",
    "Delivered",
    "DispatchConfig",
    "DispatchReport",
    "Dispatcher",
    "EnqueueReport",
    "NotSent",
    "Outcome",
    "OutgoingButton",
    "OutgoingMessage",
    "RateLimited",
    "Rejected",
    "SegmentView",
    "SendRules",
    "Sender",
    "StatsRow",
    "TraitView",
    "Uncertain",
    "choose_variant",
    "enqueue_for_assignments",
    "followup_stats",
    "has_packs",
    "import_pack",
    "list_packs",
    "load_content",
    "load_content_file",
    "pack_from_json",
    "packs_for",
    "record_click",
    "release_uncertain",
    "segment_view",
    "select_items",
    "status_counts",
    "test_profiles",
]
