"""What the tests of a scan spread over Celery workers share: the demo evidence they spread, the workers they
start (cybertriage.lab), and what they read back from a case (its ledger, its units, its audit entries)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cybertriage import lab
from cybertriage.case import units
from cybertriage.case.store import open_case
from tests.conftest import REPO

DEMO = REPO / "resources" / "demo"
PE_FOLDER = REPO / "tests" / "data" / "corpus" / "pe"  # a folder of loose files
EVIDENCE = [DEMO / "demo-disk.img", DEMO / "demo-windows.img", DEMO / "demo-vm.qcow2", DEMO / "demo-capture.pcap",
            PE_FOLDER]
# The same kinds (a disk image, a virtual disk, a capture, a folder) without the Windows image, the one whose files
# come in several parts: for the faults that need no part of it, in about half the time.
LIGHT = [path for path in EVIDENCE if path.name != "demo-windows.img"]


def ledger(case: Path) -> list[tuple]:
    """The completeness ledger per evidence item and stage (the units' own stage aside: a local scan has none), the
    problems, the partitions and each item's status."""
    db = open_case(case)
    try:
        rows = db.execute("SELECT e.path, l.stage, l.attempted, l.processed, l.skipped, l.reasons FROM ledger l "
                          "JOIN evidence e ON e.id = l.evidence_id WHERE l.stage != 'unit'").fetchall()
        problems = db.execute("SELECT e.path, p.stage, p.object, p.message FROM problems p "
                              "JOIN evidence e ON e.id = p.evidence_id").fetchall()
        evidence = db.execute("SELECT path, status, error FROM evidence").fetchall()
        partitions = db.execute("SELECT e.path, p.offset, p.length, p.description, p.filesystem, p.status, p.note "
                                "FROM partitions p JOIN evidence e ON e.id = p.evidence_id").fetchall()
    finally:
        db.close()
    return sorted((*row[:5], json.loads(row[5])) for row in rows) + sorted(map(tuple, problems)) + \
        sorted(map(tuple, evidence)) + sorted(map(tuple, partitions))


def run_units(case: Path) -> list[units.Unit]:
    db = open_case(case)
    try:
        return units.run_units(db, int(db.execute("SELECT max(id) FROM runs").fetchone()[0]))
    finally:
        db.close()


@contextmanager
def workers(broker: str, folder: Path, *names: str, crash_at: str | None = None) -> Iterator[list[subprocess.Popen]]:
    """`cybertriage worker` processes (cybertriage.lab), the first crashing itself at `crash_at` if given
    (CYBERTRIAGE_CRASH_AT: SIGKILL at that point of the code); stopped at the end."""
    environments = [{"PYTHONPATH": str(REPO), **({"CYBERTRIAGE_CRASH_AT": crash_at} if crash_at and index == 0 else {})}
                    for index in range(len(names))]
    started = lab.start_workers(broker, folder, list(names), jobs=1, environments=environments)
    try:
        yield started.processes
    finally:
        started.stop()


def spread_scan(case: Path, store: str, broker: str, evidence: list[Path] = EVIDENCE) -> list[str]:
    return [sys.executable, "-m", "cybertriage", "scan", *map(str, evidence), "--case", str(case), "--store", store,
            "--broker", broker, "--worker-timeout", "5", "--unit-mb", "1", "--quiet"]  # disk images in parts


def audit_entries(case: Path, action: str) -> list[dict]:
    db = open_case(case)
    try:
        rows = db.execute("SELECT detail FROM audit_log WHERE action = ? ORDER BY id", [action]).fetchall()
    finally:
        db.close()
    return [json.loads(row[0]) for row in rows]
