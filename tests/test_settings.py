"""Settings: the Telegram mode is chosen explicitly, and a wrong choice is one line."""

from __future__ import annotations

import os

import pytest

from backend.settings import (
    SANDBOX_BASE_URL,
    SANDBOX_TOKEN,
    TELEGRAM_BASE_URL,
    Settings,
    SettingsError,
    load_settings,
)


@pytest.fixture(autouse=True)
def no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("PSYCHOGRAPH_")]:
        monkeypatch.delenv(name)


def settings(**values: object) -> Settings:
    return load_settings(_env_file=None, **values)


def test_the_default_is_the_local_sandbox_with_its_own_token() -> None:
    default = settings()
    assert default.telegram == "sandbox"
    assert (default.bot_api_url, default.bot_api_token) == (SANDBOX_BASE_URL, SANDBOX_TOKEN)


def test_telegram_mode_talks_to_telegram_with_the_configured_token() -> None:
    production = settings(telegram="telegram", bot_token="123:real-token")
    assert (production.bot_api_url, production.bot_api_token) == (
        TELEGRAM_BASE_URL,
        "123:real-token",
    )


def test_a_base_url_wins_over_the_mode_default() -> None:
    local = settings(telegram_base_url="http://127.0.0.1:9999/bot")
    assert local.bot_api_url == "http://127.0.0.1:9999/bot"


def test_telegram_mode_without_a_token_is_one_line_naming_both_variables() -> None:
    with pytest.raises(SettingsError) as error:
        settings(telegram="telegram")
    assert str(error.value) == (
        "PSYCHOGRAPH_TELEGRAM=telegram needs PSYCHOGRAPH_BOT_TOKEN (the token @BotFather "
        "gave the bot)"
    )


def test_an_unknown_mode_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PSYCHOGRAPH_TELEGRAM", "prod")
    with pytest.raises(SettingsError, match=r"^PSYCHOGRAPH_TELEGRAM: Input should be"):
        settings()
