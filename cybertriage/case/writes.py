"""Named writes the post-scan passes (hash sets, IOCs, correlation) make to a case they hold open.

Each takes the pass's connection, inside the transaction the pass runs in; the scan's own rows go
through `CaseWriter` instead.
"""

from __future__ import annotations

import json
from typing import Any

import sqlite_utils


def add_findings(db: sqlite_utils.Database, findings: list[dict[str, Any]]) -> None:
    """Store findings: rows of the findings table (evidence_id, object_kind, object_id, object, analyzer, rule,
    severity, severity_rank, title, detail as JSON text, created_at)."""
    db["findings"].insert_all(findings)


def set_score(db: sqlite_utils.Database, file_id: int, value: int, reasons: list[str]) -> None:
    """Record a file's triage score and the reasons for it."""
    db["files"].update(file_id, {"score": value, "reasons": json.dumps(reasons, ensure_ascii=False)})


def mark_known(db: sqlite_utils.Database, file_id: int, known: str, hash_set: str) -> None:
    """Mark a file as found in a hash set (`known` is the set's good or bad)."""
    db["files"].update(file_id, {"known": known, "known_set": hash_set})
