"""Reading the libyal tools' output (sccainfo, lnkinfo) in the tests."""

from __future__ import annotations

import datetime as dt
import re


def libyal_time(text: str) -> str | None:
    """libyal's 'Mar 10, 2013 10:11:49.281250000 UTC' as ISO 8601 UTC, to the microsecond; None for 'Not set'."""
    if text.startswith("Not set"):
        return None
    match = re.fullmatch(r"(\w+ \d+, \d+ \d+:\d+:\d+)\.(\d{6})\d* UTC", text)
    assert match, text
    moment = dt.datetime.strptime(match[1], "%b %d, %Y %H:%M:%S").replace(microsecond=int(match[2]))
    iso = moment.strftime("%Y-%m-%dT%H:%M:%S")
    return iso + (f".{moment.microsecond:06d}".rstrip("0") if moment.microsecond else "") + "Z"
