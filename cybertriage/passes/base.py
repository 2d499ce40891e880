"""What every post-scan pass is: one step over the whole case, once its evidence is in.

A pass reads the case through `case.lookups`, adds what it finds through `case.writes`, and is
idempotent: it knows what it recorded before (by a key in each finding's detail, or by the file and
rule) and adds only what is new, so running it again adds nothing. A pass that finds something about
a file does not touch the file's score: it hands a `ScoreRaise` on, and the scoring pass, which runs
last and once, adds them all to the scores.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Any, ClassVar

import sqlite_utils

from ..case.intel_store import Intel


@dataclass(frozen=True)
class ScoreRaise:
    """A finding a pass recorded about a file, for the scoring pass to add to the file's score."""

    file_id: int
    severity: str
    said: str  # the finding as the score's reason names it
    arrival: str | None = None  # how the file arrived over the network: counts as arrival, not as a severity


@dataclass
class PassResult:
    """What one run of a pass did."""

    new: int  # findings (or, for scoring, scores) it added or changed
    summary: str  # one line for the examiner
    record: dict[str, Any] = field(default_factory=dict)  # what the audit log keeps of it
    raises: list[ScoreRaise] = field(default_factory=list)  # for the scoring pass


@dataclass
class PassContext:
    """What the passes of one run share: the intel to match, the time their findings are stamped with,
    what the audit log adds to each pass's entry (the scan's run id), and the score raises waiting for
    the scoring pass."""

    intel: Intel | None
    now: str
    audit_detail: dict[str, Any] = field(default_factory=dict)
    raises: list[ScoreRaise] = field(default_factory=list)

    def take_raises(self) -> list[ScoreRaise]:
        """The score raises waiting, handed over once: scoring them twice would count them twice."""
        taken, self.raises = self.raises, []
        return taken


class Pass(abc.ABC):
    """One post-scan pass over the whole case."""

    NAME: ClassVar[str]  # stable id, as `run_passes` and the tests name it
    ACTION: ClassVar[str]  # its entry in the audit log ("<ACTION> failed" when it fails)
    STAGE: ClassVar[str]  # what the scan's progress shows while it runs

    @abc.abstractmethod
    def wanted(self, context: PassContext) -> bool:
        """Whether this run gives the pass anything to do (an IOC pass needs IOC lists)."""

    @abc.abstractmethod
    def run(self, db: sqlite_utils.Database, context: PassContext) -> PassResult:
        """Add what is new to the case in `db`, inside the caller's write transaction."""
