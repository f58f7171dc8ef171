"""Send-time rules: quiet hours in the respondent's zone, and the frequency cap. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

QUIET_HOURS = "quiet_hours"
FREQUENCY_CAP = "frequency_cap"
_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """Read ``"21:00-09:00"`` (local time, may span midnight); ``"off"`` or ``""``: none.

    Raises ``ValueError`` saying what is wrong with anything else.
    """
    if text.strip().lower() in ("", "off", "none"):
        return None
    match = _SPAN.match(text)
    if match is None:
        raise ValueError(
            f"expected quiet hours as HH:MM-HH:MM (e.g. 21:00-09:00) or off, got {text!r}"
        )
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError:
        raise ValueError(f"{text!r} is not a time span: hours 0-23, minutes 0-59") from None
    if start == end:
        raise ValueError(f"quiet hours {text!r} start and end at the same time; write off")
    return start, end


def zone(name: str | None) -> ZoneInfo | None:
    """Return the zone called ``name``, or None when it is unset or unknown."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def quiet_until(now: datetime, tz_name: str | None, start: time, end: time) -> datetime | None:
    """Return when quiet hours end if ``now`` falls in them locally, else None.

    Quiet hours may span midnight (21:00-09:00); an unknown zone has none.
    """
    tz = zone(tz_name)
    if tz is None or start == end:
        return None
    local = now.astimezone(tz)
    t = local.time()
    quiet = (start <= t or t < end) if start > end else (start <= t < end)
    if not quiet:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(now.tzinfo)


def capped_until(
    now: datetime, recent: Sequence[datetime], cap: int, window: timedelta
) -> datetime | None:
    """Return when another message is allowed if ``cap`` were sent within ``window``."""
    inside = sorted(t for t in recent if t > now - window)
    if cap <= 0 or len(inside) < cap:
        return None
    return inside[-cap] + window
