"""Sizes, durations and times written for the examiner, the same in the terminal, the application and the reports.

Sizes are in binary units (1 KiB = 1,024 bytes), as forensic tools and file systems count them; times are
UTC in ISO 8601 with a `Z`.
"""

from __future__ import annotations

import datetime as dt

SIZE_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


def human_size(count: float | None) -> str:
    """A size in short, as `numfmt --to=iec-i` writes it: 512 B, 1.5 MiB (1,048,575 bytes are 1.0 MiB,
    not 1024.0 KiB); '' when unknown."""
    if count is None:
        return ""
    if abs(round(count)) < 1024:
        return f"{count:.0f} B"
    for unit in SIZE_UNITS:
        count /= 1024
        if abs(round(count, 1)) < 1024 or unit == SIZE_UNITS[-1]:
            break
    return f"{count:.1f} {unit}"


def exact_size(count: int | None) -> str:
    """A size with its exact byte count, for details and reports: 512 bytes, 1.5 MiB (1,572,864 bytes); '' when unknown."""
    if count is None:
        return ""
    return f"{count} bytes" if abs(count) < 1024 else f"{human_size(count)} ({count:,} bytes)"


def duration(seconds: float) -> str:
    """A short human duration: 45 s, 3 min 05 s, 2 h 10 min."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def utc_iso(moment: dt.datetime) -> str:
    """A moment in ISO 8601 UTC, with microseconds only when it has them: 2024-05-01T10:00:00Z."""
    moment = moment.astimezone(dt.timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def utc_now() -> str:
    """Now, to the second, as the case records times of its own (runs, audit entries, tags)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
