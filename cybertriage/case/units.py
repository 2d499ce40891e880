"""Units of work of a scan spread over several workstations (scan --broker), as the case store records them.

The store, not the broker, is the truth about each unit: the scan's process makes a unit `queued` and sends it; a
worker takes it only while it is queued (`claim`), which makes a message delivered twice do nothing the second
time; while it works it raises the unit's heartbeat; it ends the unit `done`, `partial`, `failed` or `cancelled`.
A unit whose heartbeat stops (its worker killed, its machine gone) is queued again by the scan's process and sent
anew, up to a number of times, then `quarantined`. Heartbeats are counters, not times, so that the machines'
clocks need not agree.

A disk image's or a folder's unit may hand its files on in parts: the worker that lists the item adds a unit per
part (its files written down in `objects`), which the scan's process sends like any other. Each unit of such an
item keeps what it found of the item's completeness in `account`; the scan's process merges them into the ledger
once the item's last unit has ended (pipeline/parts.py). The file-id blocks an examination takes are kept in `blocks`,
so that a unit examined again first forgets exactly the rows its earlier examination left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..formatting import utc_now

ENDED = ("done", "partial", "failed", "cancelled", "quarantined", "already processed")


@dataclass(frozen=True)
class Unit:
    """One unit as the store has it now."""

    id: int
    evidence_id: int
    path: str
    key: str
    status: str  # queued | running | done | partial | failed | cancelled | quarantined | already processed
    worker: str | None
    sends: int
    claims: int
    beat: int
    objects_done: int
    bytes_done: int
    message: str | None
    parent_id: int | None  # the unit that listed this part's files, or None for an evidence item's own unit
    part: int | None
    accounted: bool  # it ended with an account of an evidence item examined in parts (`accounts` reads them)

    @property
    def ended(self) -> bool:
        return self.status in ENDED


_COLUMNS = ("id, evidence_id, path, key, status, worker, sends, claims, beat, objects_done, bytes_done, message, "
            "parent_id, part, account IS NOT NULL")  # not the accounts themselves: the scan polls every unit


def add_unit(db: Any, run_id: int, evidence_id: int, path: str, key: str) -> int:
    """A new unit of this run, queued, not yet sent."""
    cursor = db.execute("INSERT INTO units (run_id, evidence_id, path, key, status, sends, claims, beat, objects_done, "
                        "bytes_done) VALUES (?, ?, ?, ?, 'queued', 0, 0, 0, 0, 0)", [run_id, evidence_id, path, key])
    return int(cursor.lastrowid)


def add_part(db: Any, parent: Unit, run_id: int, part: int, objects: str) -> bool:
    """A part of the files `parent` lists, queued for the scan's process to send; False when an earlier
    examination of `parent` (its worker died) added it already: a listing is the same every time."""
    if db.execute("SELECT 1 FROM units WHERE parent_id = ? AND part = ?", [parent.id, part]).fetchone():
        return False
    db.execute("INSERT INTO units (run_id, evidence_id, path, key, status, sends, claims, beat, objects_done, "
               "bytes_done, parent_id, part, objects) VALUES (?, ?, ?, ?, 'queued', 0, 0, 0, 0, 0, ?, ?, ?)",
               [run_id, parent.evidence_id, parent.path, parent.key, parent.id, part, objects])
    return True


def has_parts(db: Any, unit_id: int) -> bool:
    """Whether this unit handed files on in parts (an earlier examination of it did)."""
    return db.execute("SELECT 1 FROM units WHERE parent_id = ? LIMIT 1", [unit_id]).fetchone() is not None


def accounts(db: Any, unit_id: int) -> dict[int, str]:
    """The accounts a unit and its parts ended with (JSON), by unit."""
    rows = db.execute("SELECT id, account FROM units WHERE account IS NOT NULL AND (id = ? OR parent_id = ?)",
                      [unit_id, unit_id]).fetchall()
    return {int(each): str(account) for each, account in rows}


def objects(db: Any, unit_id: int) -> str:
    """A part's files, as its listing wrote them down (JSON)."""
    return str(db.execute("SELECT objects FROM units WHERE id = ?", [unit_id]).fetchone()[0])


def took_block(db: Any, unit_id: int, first: int) -> None:
    """This unit's examination gives file ids from `first` on (a block of writes.FILE_ID_BLOCK)."""
    db.execute("UPDATE units SET blocks = COALESCE(blocks || ',', '') || ? WHERE id = ?", [str(first), unit_id])


def blocks(db: Any, unit_id: int) -> list[int]:
    """The file-id blocks this unit's examinations took, earlier ones included."""
    value = db.execute("SELECT blocks FROM units WHERE id = ?", [unit_id]).fetchone()[0]
    return [int(first) for first in value.split(",")] if value else []


def sent(db: Any, unit_id: int, most: int) -> bool:
    """Count one more sending of a unit, unless it was sent `most` times already (False: not to be sent again)."""
    return db.execute("UPDATE units SET sends = sends + 1 WHERE id = ? AND sends < ?", [unit_id, most]).rowcount == 1


# A unit is taken, and worked on, only while its scan runs: the messages of a scan whose process was killed stay
# in the broker, and must not be examined beside the next scan of the same case (which marks that run interrupted).
_RUN_GOES_ON = "run_id IN (SELECT id FROM runs WHERE status = 'running')"


def claim(db: Any, unit_id: int, worker: str) -> bool:
    """Take a queued unit for this worker; False when it is not queued (taken, ended, or a message seen twice) or
    its scan no longer runs."""
    cursor = db.execute("UPDATE units SET status = 'running', worker = ?, claims = claims + 1, beat = beat + 1, "
                        f"started = ?, message = NULL WHERE id = ? AND status = 'queued' AND {_RUN_GOES_ON}",
                        [worker, utc_now(), unit_id])
    return cursor.rowcount == 1


def beat(db: Any, unit_id: int, worker: str, objects_done: int, bytes_done: int) -> bool:
    """Raise the heartbeat of a unit this worker holds; False when it no longer holds it (queued again elsewhere)
    or its scan no longer runs."""
    cursor = db.execute("UPDATE units SET beat = beat + 1, objects_done = ?, bytes_done = ? "
                        f"WHERE id = ? AND worker = ? AND status = 'running' AND {_RUN_GOES_ON}",
                        [objects_done, bytes_done, unit_id, worker])
    return cursor.rowcount == 1


def finish(db: Any, unit_id: int, worker: str, status: str, message: str | None, account: str | None = None) -> bool:
    """End a unit this worker holds, with its account of an evidence item examined in parts; False when it no
    longer held it (sent again elsewhere, or ended already)."""
    cursor = db.execute("UPDATE units SET status = ?, message = ?, finished = ?, account = ? "
                        "WHERE id = ? AND worker = ? AND status = 'running'",
                        [status, message, utc_now(), account, unit_id, worker])
    return cursor.rowcount == 1


def refuse(db: Any, unit_id: int, message: str) -> None:
    """A worker could not take a queued unit (another version, the evidence not visible): it says why, and the
    unit stays queued for another worker."""
    db.execute("UPDATE units SET message = ? WHERE id = ? AND status = 'queued'", [message, unit_id])


def clear_refusal(db: Any, unit_id: int) -> None:
    """The refusal was seen and the unit sent again."""
    db.execute("UPDATE units SET message = NULL WHERE id = ? AND status = 'queued'", [unit_id])


def requeue(db: Any, unit_id: int, last_beat: int) -> bool:
    """Queue again a running unit whose heartbeat is still `last_beat` (its worker is gone); False if it moved."""
    cursor = db.execute("UPDATE units SET status = 'queued', message = NULL WHERE id = ? AND status = 'running' "
                        "AND beat = ?", [unit_id, last_beat])
    return cursor.rowcount == 1


def quarantine(db: Any, unit_id: int, message: str) -> None:
    """Give up a unit sent too often (it kills its workers, or no worker can take it)."""
    db.execute("UPDATE units SET status = 'quarantined', message = ?, finished = ? WHERE id = ? AND status IN "
               "('queued', 'running')", [message, utc_now(), unit_id])


def run_units(db: Any, run_id: int) -> list[Unit]:
    """The run's units, as the store has them now."""
    rows = db.execute(f"SELECT {_COLUMNS} FROM units WHERE run_id = ? ORDER BY id", [run_id]).fetchall()
    return [Unit(*row) for row in rows]


def unit(db: Any, unit_id: int) -> Unit | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM units WHERE id = ?", [unit_id]).fetchone()
    return Unit(*row) if row else None


def evidence_tally(db: Any, evidence_id: int) -> tuple[int, dict[str, int]]:
    """How many files an evidence item has in the case, and its findings by severity (a unit's outcome)."""
    files = int(db.execute("SELECT count(*) FROM files WHERE evidence_id = ?", [evidence_id]).fetchone()[0])
    findings = dict(db.execute("SELECT severity, count(*) FROM findings WHERE evidence_id = ? GROUP BY severity",
                               [evidence_id]).fetchall())
    return files, {severity: int(count) for severity, count in findings.items()}


def cancel_run(db: Any, run_id: int) -> None:
    """The examiner stopped the scan: its units not ended are cancelled (a worker sees it at its next heartbeat)."""
    db.execute("UPDATE units SET status = 'cancelled', finished = ? WHERE run_id = ? AND status IN ('queued', 'running')",
               [utc_now(), run_id])
