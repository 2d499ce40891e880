"""The post-scan passes: steps over the whole case once its evidence is in, run in the order declared
here, each idempotent (base.py says what that asks of a pass).

The scan runs them all at its end; `cybertriage hashset match` and `ioc match` run theirs alone. Either
way scoring comes last and once, adding to the files' scores what the passes before it found.

To add a pass: a module with a `Pass` subclass, and its instance in `FINDING_PASSES` where it must run
(a pass that reads another's findings comes after it).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass

import sqlite_utils

from ..case import audit
from ..case.custody import write_transaction
from .artefact_links import ArtefactLinkPass
from .base import Pass, PassContext, PassResult, ScoreRaise
from .correlation import CorrelationPass
from .hash_sets import HashSetPass
from .iocs import IocPass
from .scoring import ScoringPass
from .timeline_counts import TimelineCountsPass

FINDING_PASSES: tuple[Pass, ...] = (HashSetPass(), IocPass(), CorrelationPass(), ArtefactLinkPass(), TimelineCountsPass())
SCORING = ScoringPass()
PASSES: tuple[Pass, ...] = (*FINDING_PASSES, SCORING)  # the declared order

__all__ = ["FINDING_PASSES", "PASSES", "SCORING", "Pass", "PassContext", "PassOutcome", "PassResult", "ScoreRaise",
           "chosen_passes", "run_passes"]


@dataclass
class PassOutcome:
    """One pass as it ran: its result, or the error that stopped it (its writes undone)."""

    step: Pass
    result: PassResult | None = None
    error: str | None = None


def chosen_passes(context: PassContext, names: Collection[str] | None = None) -> tuple[Pass, ...]:
    """The passes to run, in the declared order: those named (all when None) that have something to do in
    this context, then scoring."""
    return (*(step for step in FINDING_PASSES if (names is None or step.NAME in names) and step.wanted(context)),
            SCORING)


def run_passes(db: sqlite_utils.Database, context: PassContext, passes: Collection[Pass]) -> list[PassOutcome]:
    """Run `passes` (from `chosen_passes`) in order, each recorded in the audit log. The caller holds the
    write transaction, so that the findings and the scores they raise are committed together; each pass
    runs in a savepoint of it, so a pass that fails adds nothing and the others still run (its failure is
    recorded). A failure to write the case is not a pass's failure: it stops them all."""
    outcomes = []
    for step in passes:
        try:
            with write_transaction(db):
                result = step.run(db, context)
        except sqlite3.Error:
            raise
        except Exception as error:  # the case stands without this pass's findings
            outcomes.append(PassOutcome(step, error=f"{type(error).__name__}: {error}"))
            audit(db, f"{step.ACTION} failed", {**context.audit_detail, "error": outcomes[-1].error})
            continue
        context.raises.extend(result.raises)
        audit(db, step.ACTION, {**context.audit_detail, **result.record})
        outcomes.append(PassOutcome(step, result))
    return outcomes
