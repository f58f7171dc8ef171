"""Fixtures of the follow-up tests (the sandbox's come from ``tests.helpers.sandbox``)."""

import pytest


@pytest.fixture(autouse=True)
def _ptb_timedelta(ptb_timedelta: None) -> None:
    """Opt in to python-telegram-bot's timedelta values in every follow-up test."""
