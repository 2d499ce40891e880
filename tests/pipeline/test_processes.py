"""Objects examined in processes of their own (pipeline/processes.py): the case they make is the one threads make,
and a process that dies loses only the objects it was examining, counted as such, while the rest is examined."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from cybertriage.analyzers import Settings
from cybertriage.assets import asset_dir
from cybertriage.pipeline import Scan, ScanOptions
from cybertriage.pipeline.examine import Examiner
from tests.case_exports import exports
from tests.conftest import REPO, Images, export

DEMO_WINDOWS = REPO / "resources" / "demo" / "demo-windows.img"
# The exports disk evidence fills (the network ones stay empty; credentials, e-mails and places are read from the
# artefacts)
DISK_EXPORTS = ("artifacts", "files", "findings", "keyword-hits", "timeline")


def _scan(evidence: list[Path], case: Path, processes_after: int | None) -> list[str]:
    options = ScanOptions(jobs=2, processes_after=processes_after, verify_images=False,  # the E01 checks are not at stake
                          settings=Settings(rule_paths=(asset_dir("rules"),)))
    scan = Scan(case, evidence, options)
    for _ in scan.run():
        pass
    return [outcome.status for outcome in scan.outcomes]


@pytest.fixture(scope="module")
def folder_with_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of loose files and a 7z archive of some of them (members, with ids the processes give)."""
    folder = tmp_path_factory.mktemp("loose")
    for number in range(40):
        (folder / f"note-{number}.txt").write_text(f"note {number}: mail alice{number}@example.org\n")
    (folder / "eicar.com").write_bytes(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")
    subprocess.run(["7z", "a", "-bd", "-y", str(folder / "notes.7z"), *(f"note-{n}.txt" for n in range(10))],
                   cwd=folder, check=True, capture_output=True)
    return folder


def test_processes_make_the_case_threads_make(disk_images: Images, folder_with_archive: Path,
                                              tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk image (NTFS, with an alternate data stream and a deleted file), an E01, the demo's Windows computer
    (registry, event logs, prefetch, LNK: artefact rows) and a folder holding an archive: examined in processes from
    the start, every export is the threads' (store-given ids aside)."""
    evidence = [disk_images.gpt, disk_images.e01, DEMO_WINDOWS, folder_with_archive]
    assert _scan(evidence, tmp_path / "threads", None) == ["done"] * 4
    in_this_process = []
    examine = Examiner.examine
    monkeypatch.setattr(Examiner, "examine", lambda self, obj, batch: in_this_process.append(obj) or examine(
        self, obj, batch))  # the examining processes start afresh, without this
    assert _scan(evidence, tmp_path / "processes", 0) == ["done"] * 4
    assert not in_this_process
    threads, processes = (exports(tmp_path / case, DISK_EXPORTS) for case in ("threads", "processes"))
    assert threads == processes
    assert len(threads["artifacts"]) > 100
    ledgers = [sqlite3.connect(tmp_path / case / "case.db").execute(
        "SELECT e.path, l.stage, l.attempted, l.processed, l.skipped, l.reasons FROM ledger l "
        "JOIN evidence e ON e.id = l.evidence_id ORDER BY 1, 2").fetchall() for case in ("threads", "processes")]
    assert ledgers[0] == ledgers[1]
    members = [row for row in export(tmp_path / "processes", "files") if row["parent_id"] is not None]
    assert sorted(row["name"] for row in members) == sorted(f"note-{n}.txt" for n in range(10))
    assert len({row["id"] for row in export(tmp_path / "processes", "files")}) == len(threads["files"])


def test_a_process_that_dies_loses_only_its_objects(folder_with_archive: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Each examining process killed (SIGKILL) at its second object: the objects each held are in the ledger as
    not examined, the item is partial and says why, and every other object is examined by the threads that fed
    them."""
    monkeypatch.setenv("CYBERTRIAGE_CRASH_AT", "examining-process:2")  # read by the processes as they start
    case = tmp_path / "case"
    assert _scan([folder_with_archive], case, 0) == ["partial"]
    db = sqlite3.connect(case / "case.db")
    (error,) = db.execute("SELECT error FROM evidence").fetchone()
    assert "an examining process died (the child process died (SIGKILL))" in error
    lost = [path for (path,) in db.execute("SELECT object FROM problems WHERE message LIKE "
                                           "'examining process died:%'")]
    (attempted, processed, skipped, reasons) = db.execute(
        "SELECT attempted, processed, skipped, reasons FROM ledger WHERE stage = 'files'").fetchone()
    assert lost and skipped == len(lost) and attempted == processed + skipped
    assert f'"examining process died": {len(lost)}' in reasons
    examined = {row["path"] for row in export(case, "files") if row["parent_id"] is None}
    listed = {f"/{path.name}" for path in folder_with_archive.iterdir()}
    assert examined.isdisjoint(lost) and examined | set(lost) == listed


def test_cancel_ends_the_examining_processes(folder_with_archive: Path, tmp_path: Path) -> None:
    """The examiner's cancel, given while the processes start: the item is cancelled and no process outlives it."""
    cancel = threading.Event()
    options = ScanOptions(jobs=2, processes_after=0, settings=Settings(rule_paths=None))
    scan = Scan(tmp_path / "case", [folder_with_archive], options, cancel)
    for progress in scan.run():
        if progress.stage == "analysing":
            cancel.set()
    assert [outcome.status for outcome in scan.outcomes] == ["cancelled"]
    assert not [child for child in multiprocessing.active_children() if child.name == "examine"]
