"""A scan killed at any point leaves a sound case, and scanning again ends where an uninterrupted scan ends.

Each test runs a real `python -m cybertriage scan` that kills itself with SIGKILL (or interrupts itself
with SIGINT) the n-th time it passes a named point (the CYBERTRIAGE_CRASH_AT hook in
cybertriage/case/store.py), checks the case with SQLite's integrity_check and the CLI, scans again, and
compares every export, the ledger, the problems and the partitions with those of an uninterrupted scan,
less what differs between any two runs (ids, creation times).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cybertriage.case import open_case, queries
from tests import images
from tests.conftest import REPO, Images, export, run_cli

EXPORTS = ("files", "findings", "flows", "dns", "http", "tls", "smtp", "ftp", "credentials")
BIG_FILE = 6 * 1024 * 1024  # six chunks: a kill "mid-file" lands inside its read


@dataclass
class EvidenceSet:
    paths: list[Path]
    reference: dict[str, list]


def _scan_args(evidence: EvidenceSet, case: Path) -> list[str | Path]:
    return ["scan", *evidence.paths, "--case", case, "--quiet", "--jobs", "2"]


def _scan_stopped_at(point: str, evidence: EvidenceSet, case: Path, sig: str = "SIGKILL") -> int:
    """Run a scan that stops itself at `point` ("name" or "name:n"); its return code."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "CYBERTRIAGE_CRASH_AT": point, "CYBERTRIAGE_CRASH_SIGNAL": sig}
    command = [sys.executable, "-m", "cybertriage", *map(str, _scan_args(evidence, case))]
    return subprocess.run(command, capture_output=True, timeout=300, cwd=REPO, env=env).returncode


def _comparable(case: Path) -> dict[str, list]:
    """Everything a scan leaves in the case, without what differs between two runs of the same scan."""
    result: dict[str, list] = {}
    case_db = open_case(case)  # in-process: the CLI's export of the same rows is checked by _assert_sound
    files = list(queries.files(case_db))
    where = {f["id"]: (f["evidence"], f["partition_offset"], f["path"]) for f in files}
    for what in EXPORTS:
        rows = files if what == "files" else list(queries.EXPORTS[what][1](case_db))
        cleaned = []
        for row in rows:
            if what == "files":
                row["parent"] = where.get(row.pop("parent_id"))
            if what == "findings" and row["object_kind"] == "file":
                row["object_file"] = where[row["object_id"]]
            for volatile in ("id", "created_at", "object_id") if what == "findings" else ("id",):
                row.pop(volatile, None)
            cleaned.append(repr(sorted(row.items())))
        result[what] = sorted(cleaned)
    db = sqlite3.connect(case / "case.db")
    result["ledger"] = sorted(db.execute(
        """SELECT e.path, stage, attempted, processed, skipped, reasons FROM ledger l JOIN evidence e ON e.id = l.evidence_id
           WHERE run_id = (SELECT max(run_id) FROM ledger WHERE evidence_id = l.evidence_id)""").fetchall())
    result["problems"] = sorted(db.execute(
        "SELECT e.path, stage, object, message FROM problems p JOIN evidence e ON e.id = p.evidence_id").fetchall())
    result["partitions"] = sorted(db.execute(
        "SELECT e.path, p.offset, p.length, p.description, p.filesystem, p.status FROM partitions p "
        "JOIN evidence e ON e.id = p.evidence_id").fetchall())
    result["evidence"] = sorted(db.execute(
        "SELECT path, kind, format, size, sha256, stored_md5, verified, status, error FROM evidence").fetchall())
    db.close()
    case_db.close()
    return result


@pytest.fixture(scope="module")
def evidence_set(disk_images: Images, corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> EvidenceSet:
    """A partitioned raw image, its E01, a folder with one large file, and an FTP capture (flows, ftp,
    credentials), with the result of one uninterrupted scan of them."""
    folder = tmp_path_factory.mktemp("loose")
    (folder / "Downloads").mkdir()
    (folder / "Downloads" / "eicar.com").write_bytes(images.EICAR)
    (folder / "notes.txt").write_text("meet at noon\n")
    (folder / "video.bin").write_bytes(images._pseudo_random("big", BIG_FILE))
    paths = [disk_images.mbr, disk_images.e01, folder, corpus_dir / "pcap" / "ftp_ipv4.pcap"]
    reference = tmp_path_factory.mktemp("reference")
    evidence = EvidenceSet(paths, {})
    assert run_cli(*_scan_args(evidence, reference)).code == 0
    evidence.reference = _comparable(reference)
    assert evidence.reference["files"] and evidence.reference["findings"] and evidence.reference["credentials"]
    return evidence


def _assert_sound(case: Path) -> None:
    db = sqlite3.connect(case / "case.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    db.close()
    info = run_cli("info", "--case", case)
    assert info.code == 0 and "Traceback" not in info.stderr, info.stderr
    assert run_cli("export", "--case", case, "--what", "files").code == 0
    assert run_cli("export", "--case", case, "--what", "findings").code == 0


# Early (the case just created, the run just recorded, evidence just added), mid-file (inside the large
# file's read), inside a writer batch (its transaction half written: the first, the third, the sixth),
# while the E01 is verified and while the evidence is hashed, and between two evidence items.
KILL_POINTS = ["case-created", "scan-started", "evidence-added:1", "evidence-added:3", "mid-file",
               "writer-batch:1", "writer-batch:3", "writer-batch:6", "verifying-image:3", "hashing-evidence:5",
               "evidence-finished:2"]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_scan_resumes_to_the_same_case(point: str, evidence_set: EvidenceSet, tmp_path: Path) -> None:
    case = tmp_path / "case"
    assert _scan_stopped_at(point, evidence_set, case) == -signal.SIGKILL, f"{point} was never reached"
    _assert_sound(case)
    again = run_cli(*_scan_args(evidence_set, case))
    assert again.code == 0, again.stderr
    assert _comparable(case) == evidence_set.reference
    runs = sqlite3.connect(case / "case.db").execute("SELECT status FROM runs ORDER BY id").fetchall()
    assert runs == ([] if point == "case-created" else [("interrupted",)]) + [("completed",)]


def test_killed_twice_then_resumed(evidence_set: EvidenceSet, tmp_path: Path) -> None:
    case = tmp_path / "case"
    for point in ("evidence-finished:1", "writer-batch:2"):
        assert _scan_stopped_at(point, evidence_set, case) == -signal.SIGKILL
        _assert_sound(case)
    assert run_cli(*_scan_args(evidence_set, case)).code == 0
    assert _comparable(case) == evidence_set.reference


def test_ctrl_c_cancels_cleanly_and_tags_survive_the_resume(evidence_set: EvidenceSet, tmp_path: Path) -> None:
    """SIGINT mid-file: the run and the evidence are marked cancelled, exit 130; what was examined is kept
    until the evidence is examined again, and an examiner's tag on it follows its file."""
    case = tmp_path / "case"
    assert _scan_stopped_at("mid-file", evidence_set, case, sig="SIGINT") == 130
    _assert_sound(case)
    db = sqlite3.connect(case / "case.db")
    assert db.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
    statuses = dict(db.execute("SELECT path, status FROM evidence").fetchall())
    folder = str(evidence_set.paths[2])
    assert statuses[folder] == "cancelled"
    actions = [row[0] for row in db.execute("SELECT action FROM audit_log WHERE action != 'export'")]
    assert actions[-2:] == ["evidence cancelled", "scan finished"]
    notes = db.execute("SELECT id, path FROM files f JOIN (SELECT id AS e FROM evidence WHERE path = ?) ON f.evidence_id = e "
                       "WHERE path = '/notes.txt'", [folder]).fetchall()
    db.close()
    assert notes, "the small files examined before Ctrl-C are kept"
    assert run_cli("tag", "--case", case, "--file", notes[0][0], "--tag", "exhibit-7").code == 0

    assert run_cli(*_scan_args(evidence_set, case)).code == 0
    assert _comparable(case) == evidence_set.reference
    tags = export(case, "tags")
    assert [(t["tag"], t["object"], t["evidence"]) for t in tags] == [("exhibit-7", "/notes.txt", folder)]
