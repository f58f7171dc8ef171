"""Settings of one sandbox instance: the bot it pretends to be, its limits and its faults."""

from __future__ import annotations

from dataclasses import dataclass, field

from backend.settings import SANDBOX_TOKEN as DEFAULT_TOKEN


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Faults the sandbox injects into bot-side calls, to test timeouts and retries.

    Parameters
    ----------
    hang_next
        The next N matching requests respond only after ``hang_seconds``.
    hang_fraction
        Each further matching request hangs with this probability (0 turns it off).
    hang_seconds
        How long a hanging request waits before its response is written.
    hang_delivers
        True: the call takes effect at once and only its response is late ("the message was
        delivered but the answer got lost"). False: nothing happens and the late response is a
        502 ("the request never reached Telegram").
    fail_next
        The next N matching requests fail at once with ``fail_status`` and take no effect.
    fail_status
        The HTTP status of injected failures (500 or 502 are the usual ones).
    fail_html
        True: failures answer with an HTML page, as a proxy in front of the Bot API does,
        instead of Telegram's JSON error.
    methods
        Bot API methods the faults apply to.
    chat_id
        When set, only requests addressed to this chat are affected.
    """

    hang_next: int = 0
    hang_fraction: float = 0.0
    hang_seconds: float = 10.0
    hang_delivers: bool = True
    fail_next: int = 0
    fail_status: int = 502
    fail_html: bool = False
    methods: frozenset[str] = frozenset({"sendMessage"})
    chat_id: int | None = None


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything one sandbox needs to know; built once and passed to ``create_sandbox_app``.

    Rate limits are strict by default (see ``bot.sandbox.limits``): Telegram's published
    numbers as sliding windows with flood waits, "about 30 messages per second" taken as 30 in
    any one second, "avoid more than one message per second" in a chat as one per second, and
    20 per minute in a group. ``strict=False`` chooses the lenient token buckets instead
    (``*_rate`` per second, at most ``*_burst`` saved up, 3 in a row forgiven per chat).

    Parameters
    ----------
    token
        The only token the sandbox accepts; the bot id is the part before the colon.
    bot_username, bot_first_name
        What getMe reports.
    rate_limit_enabled
        False switches all rate limits off (benchmarks of the bot itself).
    strict
        True (the default): Telegram's limits to the letter; False: the lenient buckets.
    global_limit, global_window
        Strict: at most this many messages in any window of this many seconds, all chats.
    chat_interval
        Strict: seconds between two messages to one private chat.
    group_limit, group_window
        Strict: at most this many messages to one group or channel in this many seconds.
    global_rate, global_burst
        Messages per second across all chats, and the bucket size.
    chat_rate, chat_burst
        Messages per second in one private chat, and the bucket size.
    group_rate, group_burst
        Messages per second in one group or channel (20 a minute), and the bucket size.
    limit_edits
        True: editMessageText / editMessageReplyMarkup count against the same limits as
        sendMessage. Telegram's FAQ documents limits for sending messages only, none for
        edits in a private chat, so this is off by default.
    first_update_id
        The update_id of the first update; later ones increase by one.
    max_poll_timeout
        getUpdates waits at most this many seconds, whatever the bot asks for.
    webhook_require_https
        True refuses http:// webhook URLs as Telegram does; off so tests can use plain HTTP.
    webhook_timeout
        Seconds the sandbox waits for the webhook to answer one delivery.
    webhook_retry_initial, webhook_retry_max
        Back-off between redeliveries of a failed update: starts at the first, doubles, and
        stops growing at the second.
    callback_query_ttl
        Seconds after which answerCallbackQuery fails with "query is too old"; None never.
    faults
        The faults in force when the sandbox starts (the control API changes them later).
    seed
        Seed of the random generator behind ``faults.hang_fraction``.
    """

    token: str = DEFAULT_TOKEN
    bot_username: str = "psychograph_sandbox_bot"
    bot_first_name: str = "Psychograph"
    rate_limit_enabled: bool = True
    strict: bool = True
    global_limit: int = 30
    global_window: float = 1.0
    chat_interval: float = 1.0
    group_limit: int = 20
    group_window: float = 60.0
    global_rate: float = 30.0
    global_burst: int = 30
    chat_rate: float = 1.0
    chat_burst: int = 3
    group_rate: float = 20.0 / 60.0
    group_burst: int = 3
    limit_edits: bool = False
    first_update_id: int = 1
    max_poll_timeout: float = 50.0
    webhook_require_https: bool = False
    webhook_timeout: float = 10.0
    webhook_retry_initial: float = 0.05
    webhook_retry_max: float = 2.0
    callback_query_ttl: float | None = None
    faults: FaultConfig = field(default_factory=FaultConfig)
    seed: int | None = None

    @property
    def bot_id(self) -> int:
        """Return the bot's user id, the numeric part of the token."""
        head, _, _ = self.token.partition(":")
        return int(head) if head.isdigit() else 1
