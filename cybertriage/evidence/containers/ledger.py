"""Ledger honesty for containers: an object that could hold others but was not opened (a format or backend missing,
a limit reached, encrypted, damaged) is counted in its analyzer's ledger stage with the reason; these are the
stages, so that `info` and the report can say how many such objects there are apart from the rest."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

# The ledger stages of the analyzers that open containers (archive, mail, virtual disk, embedded objects) and of
# the carving of unallocated space.
CONTAINER_STAGES = ("archive", "mail", "virtual disk", "embedded", "carving")


def not_opened(stages: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Reason → count of the objects that could hold others but were not opened, from an evidence item's ledger rows
    (their `reasons` as a dict or as its JSON text), most frequent first."""
    counts: dict[str, int] = {}
    for stage in stages:
        if stage["stage"] not in CONTAINER_STAGES:
            continue
        reasons = stage["reasons"]
        for reason, count in (json.loads(reasons) if isinstance(reasons, str) else reasons or {}).items():
            key = f"{stage['stage']}: {reason}"
            counts[key] = counts.get(key, 0) + int(count)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
