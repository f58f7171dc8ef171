"""The demo's report: what it came to, and how it is printed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


@dataclass
class DemoReport:
    """What a demo run came to, counted from the database and the sandbox."""

    questionnaire: str
    respondents: int
    failed: int
    seconds: float
    #: Respondents who left part-way, as some people do.
    stopped: int = 0
    completed: int = 0
    segments: list[dict[str, Any]] = field(default_factory=list)
    choice_reason: str = ""
    #: The outbox after the demo, by state (counted, not estimated).
    outbox: dict[str, int] = field(default_factory=dict)
    #: Follow-ups still pending and due later (their delay has not passed yet).
    followups_scheduled: int = 0
    clicks: int = 0
    opted_out: int = 0
    blocked: int = 0
    urls: dict[str, str] = field(default_factory=dict)

    @property
    def followups_sent(self) -> int:
        return self.outbox.get("sent", 0)


def progress_bars(console: Console) -> Progress:
    """One bar per step of the run, with its elapsed time."""
    return Progress(
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def print_report(console: Console, report: DemoReport) -> None:
    """Print the segments, what the respondents and follow-ups did, and where to look."""
    console.print()
    table = Table(
        "segment",
        "size",
        "share",
        "what sets it apart",
        title=f"Segments of {report.questionnaire} ({report.respondents} respondents, "
        f"{report.seconds:.0f} s)",
        title_justify="left",
        caption=report.choice_reason,
        caption_justify="left",
    )
    for segment in report.segments:
        table.add_row(
            segment["name"],
            str(segment["size"]),
            f"{segment['share']:.0%}",
            segment["traits"],
        )
    console.print(table)
    if report.failed:
        console.print(f"[yellow]{report.failed} simulated respondents did not finish.[/]")
    console.print(
        f"{report.completed} completed the quiz; {report.stopped} stopped part-way, as some "
        "people do (the dashboard's funnel shows where)."
    )
    others = ", ".join(
        f"{count} {state}"
        for state, count in sorted(report.outbox.items())
        if state not in ("sent", "pending")
    )
    console.print(
        f"Follow-ups: {report.followups_sent} delivered into the sandbox, "
        f"{report.followups_scheduled} due in the coming days"
        f"{f' ({others})' if others else ''}; {report.clicks} button presses; "
        f"{report.opted_out} opted out with /stop; "
        f"{report.blocked} blocked the bot."
    )
    console.print()
    for name, url in report.urls.items():
        console.print(f"  {name:<20} {url}", highlight=False)
