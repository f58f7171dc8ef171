"""The command starts without what only some commands need (scikit-learn, Telegram, sandbox)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sklearn", "telegram", "aiohttp", "bot.sandbox", "backend.runtime", "backend.demo.run")


def test_importing_the_command_loads_none_of_the_heavy_modules() -> None:
    probe = (
        "import sys; import backend.cli; "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert loaded == ""


def test_python_m_runs_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backend.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "questionnaire" in result.stdout
    assert "segments" in result.stdout
