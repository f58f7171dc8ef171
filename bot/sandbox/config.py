"""Settings of one sandbox instance: the bot it pretends to be, its limits and its faults."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_TOKEN = "123456789:AAsandbox-local-token-not-for-telegram00"


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
    methods: frozenset[str] = frozenset({"sendMessage"})
    chat_id: int | None = None


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Everything one sandbox needs to know; built once and passed to ``create_sandbox_app``.

    Rate limits are token buckets: a bucket holds at most ``*_burst`` sends and refills at
    ``*_rate`` sends per second. Telegram documents "about 30 messages per second" overall and
    "no more than one message per second" in a chat, but in practice tolerates short bursts in
    a private chat; a per-chat burst of 3 lets a bot answer a button press with a new message
    right after editing the old one without being punished, while a bot that floods a chat
    still gets 429 after the third message. Groups get 20 messages per minute.

    Parameters
    ----------
    token
        The only token the sandbox accepts; the bot id is the part before the colon.
    bot_username, bot_first_name
        What getMe reports.
    rate_limit_enabled
        False switches all rate limits off (benchmarks of the bot itself).
    global_rate, global_burst
        Messages per second across all chats, and the bucket size.
    chat_rate, chat_burst
        Messages per second in one private chat, and the bucket size.
    group_rate, group_burst
        Messages per second in one group or channel (20 a minute), and the bucket size.
    limit_edits
        True: editMessageText / editMessageReplyMarkup draw from the same buckets as
        sendMessage. Telegram limits edits far more loosely, so this is off by default.
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
