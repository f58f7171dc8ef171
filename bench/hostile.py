"""Benchmark: what a hostile file costs, per class, beside a legitimate file of the same kind.

Every case of the hostile suite (tests/helpers/hostile_cases.py) is validated the way an
author would (``psychograph questionnaire|content validate FILE``, in-process) and measured:
processor seconds and peak Python memory. The baseline is the bundled Big Five questionnaire
and its content pack, validated in the same run. The service's own bounds come beside them:
an upload is checked in a separate process limited to 2 processor seconds and 100 MB more.

    .venv/bin/python bench/hostile.py
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
from pathlib import Path

from click.testing import CliRunner

from backend.cli import cli
from tests.helpers.hostile_cases import CASES, Case

ROOT = Path(__file__).resolve().parent.parent
BASELINES = {
    "questionnaire": ROOT / "questionnaires" / "big-five-ipip.yaml",
    "content": ROOT / "questionnaires" / "content" / "big-five-ipip.yaml",
}

#: Classes of hostile file, by the first case of each in the suite's order.
CLASSES = [
    ("encodings and control characters", "oversize"),
    ("alias bombs", "billion-laughs"),
    ("deep nesting", "deep-flow-yaml"),
    ("huge counts", "ten-thousand-questions"),
    ("numbers out of range", "yaml-huge-integer"),
    ("texts Telegram cannot send", "twenty-thousand-char-question"),
    ("tags and syntax", "python-object-tag"),
    ("content files", "content-oversize"),
    ("template abuse", "nested-range-loops"),
]


def measure(kind: str, path: Path) -> tuple[float, float, int]:
    """Validate one file; return processor seconds, peak MiB and the exit code."""
    command = "questionnaire" if kind == "questionnaire" else "content"
    runner = CliRunner()
    tracemalloc.start()
    started = time.process_time()
    result = runner.invoke(cli, [command, "validate", str(path)])
    seconds = time.process_time() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20, result.exit_code


def classify(cases: list[Case]) -> dict[str, list[Case]]:
    starts = {first: name for name, first in CLASSES}
    grouped: dict[str, list[Case]] = {name: [] for name, _ in CLASSES}
    current = CLASSES[0][0]
    for case in cases:
        current = starts.get(case.name, current)
        grouped[current].append(case)
    return grouped


def main() -> None:
    base = {kind: measure(kind, path) for kind, path in BASELINES.items()}
    for kind, (seconds, mib, code) in base.items():
        print(f"baseline: bundled {kind}, valid (exit {code}): {seconds:.3f} s, {mib:.1f} MiB")
    print()
    header = f"{'class':34} {'cases':>5} {'rejected':>8} {'worst CPU s':>11} {'worst MiB':>9}"
    print(f"{header}  worst case (time / memory)")
    with tempfile.TemporaryDirectory() as folder:
        for name, cases in classify(list(CASES)).items():
            results = []
            for case in cases:
                path = Path(folder) / case.file_name
                path.write_bytes(case.data)
                results.append((case, *measure(case.kind, path)))
            rejected = sum(1 for *_, code in results if code == 1)
            slow = max(results, key=lambda r: r[1])
            big = max(results, key=lambda r: r[2])
            print(
                f"{name:34} {len(cases):5} {rejected:8} {slow[1]:11.3f} {big[2]:9.1f}  "
                f"{slow[0].name} / {big[0].name}"
            )
    print()
    print(
        "bounds: uploads are checked off the event loop in a process limited to 2 CPU s and "
        "100 MB more, 10 s wall clock; the tests assert < 2 CPU s per validate and /healthz "
        "answering within 1 s during every upload"
    )


if __name__ == "__main__":
    main()
