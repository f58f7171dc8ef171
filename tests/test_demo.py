"""`psychograph demo` at a reduced size: the whole product end to end, report included."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_demo_runs_end_to_end_and_names_its_segments(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "demo",
            "--respondents",
            "32",
            "--demo-database",
            f"sqlite:///{tmp_path / 'demo.db'}",
        ],
        cwd=tmp_path,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Respondents answering" in out
    assert "32/32" in out
    # four latent profiles: four named segments, each "Adjective · Adjective"
    names = re.findall(r"│ (\w[\w-]* · \w[\w-]*)\s+│", out)
    assert len(names) == 4, out
    assert "k=4 chosen" in out
    assert "Follow-ups sent into the sandbox:" in out
    assert "did not finish" not in out
    assert re.search(r"API token \(ops\)\s+ops-", out)
