"""Only sandbox mode falls back to the sandbox's token; Telegram never receives it."""

from __future__ import annotations

import pytest

from backend.settings import SettingsError, load_settings


def test_telegram_mode_copied_without_a_token_refuses_instead_of_the_sandbox_token() -> None:
    sandbox = load_settings(_env_file=None, database_url="sqlite://")
    # model_copy skips validation: the property itself must not fall back.
    production = sandbox.model_copy(update={"telegram": "telegram", "bot_token": None})
    with pytest.raises(SettingsError, match="PSYCHOGRAPH_BOT_TOKEN"):
        _ = production.bot_api_token
