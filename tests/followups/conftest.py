"""Fixtures for follow-ups: the Bot API sandbox on a real local port."""

from tests.sandbox_fixtures import (  # fixtures: importing registers them here
    _ptb_timedelta,
    bot_base_url,
    respondent,
    sandbox_config,
    sandbox_server,
)
