"""What the examiner is told: where the scan is while it runs, and what became of each evidence item."""

from __future__ import annotations

from dataclasses import dataclass, field

PROGRESS_SECONDS = 0.2  # how often a long stage says where it is


@dataclass
class Progress:
    """Where the scan is: the evidence and stage, and how much is done of what is known."""

    evidence: str
    stage: str  # hashing evidence | verifying image | analysing | matching IOCs | indexing times | correlating | finished
    objects_found: int = 0
    objects_done: int = 0
    bytes_done: int = 0
    bytes_total: int | None = None
    listing_done: bool = False


@dataclass
class Outcome:
    """What became of one evidence item in this run."""

    path: str
    status: str  # done | partial | failed | cancelled | already processed
    evidence_id: int | None = None
    message: str | None = None
    files: int = 0
    findings: dict[str, int] = field(default_factory=dict)
