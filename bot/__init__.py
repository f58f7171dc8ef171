"""Everything that speaks Telegram: the Application, handlers, keyboards, the sandbox."""

import os

# python-telegram-bot 22 reports durations such as RetryAfter.retry_after as timedelta when
# this is set, and otherwise warns that ints are deprecated; opt in to the future behaviour.
os.environ.setdefault("PTB_TIMEDELTA", "1")
