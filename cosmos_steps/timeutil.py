"""Times as the CLI reads and shows them: `--since 2d`, durations, local timestamps."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_AGE = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SINCE_FORMAT = "Ns, Nm, Nh, Nd or Nw (e.g. 2d) or an ISO date (e.g. 2026-01-31 or 2026-01-31T08:00)"


def parse_since(value: str | datetime, now: datetime | None = None) -> str:
    """The UTC ISO time `value` means (an age such as `2d`, or a date); ValueError if neither."""
    if isinstance(value, datetime):
        moment = value
    elif match := _AGE.fullmatch(value.strip()):
        amount, unit = match.groups()
        moment = (now or datetime.now(UTC)) - timedelta(**{_UNITS[unit]: int(amount)})
    else:
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a time: use {SINCE_FORMAT}") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a date without a zone is local time
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _parse(stamp: str | None) -> datetime | None:
    return datetime.fromisoformat(stamp) if stamp else None


def duration_seconds(
    started_at: str | None, completed_at: str | None, now: datetime | None = None
) -> float | None:
    """Seconds from start to end (to now while unfinished); None if it never started."""
    start = _parse(started_at)
    if start is None:
        return None
    end = _parse(completed_at) or now or datetime.now(UTC)
    return max((end - start).total_seconds(), 0.0)


def format_duration(seconds: float | None) -> str:
    """`4.2s`, `3m 05s`, `2h 07m`, `3d 04h` ('' when unknown)."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def format_time(stamp: str | None) -> str:
    """A stored UTC timestamp as local `YYYY-MM-DD HH:MM:SS` ('' when missing)."""
    moment = _parse(stamp)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else ""
