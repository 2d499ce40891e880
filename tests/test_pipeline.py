"""The pipeline object the CLI and GUI share: progress, cancellation, resumption."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from cybertriage.analyzers import Settings
from cybertriage.assets import asset_dir
from cybertriage.errors import Cancelled
from cybertriage.pipeline import Scan, ScanOptions, integrity
from tests.conftest import Images, export, run_cli, scan_cancelled_after


def _comparable(rows: list[dict]) -> list[tuple]:
    return sorted((r["evidence"], r["partition_offset"], r["path"], r["deleted"], r["sha256"]) for r in rows)


def test_cancel_then_rescan_equals_uninterrupted(disk_images: Images, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    assert run_cli("scan", disk_images.mbr, "--case", reference, "--quiet").code == 0

    case = tmp_path / "case"
    cancel = threading.Event()
    scan = Scan(case, [disk_images.mbr], ScanOptions(settings=Settings(rule_paths=(asset_dir("rules"),))), cancel)
    stages = []
    for progress in scan.run():
        stages.append(progress.stage)
        if progress.stage == "analysing" and progress.objects_done > 0:
            cancel.set()
    assert scan.outcomes[0].status == "cancelled"
    db = sqlite3.connect(case / "case.db")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT status FROM runs").fetchone()[0] == "cancelled"
    db.close()

    assert run_cli("scan", disk_images.mbr, "--case", case, "--quiet").code == 0
    assert _comparable(export(case, "files")) == _comparable(export(reference, "files"))
    findings = sorted((f["object"], f["rule"]) for f in export(case, "findings"))
    assert findings == sorted((f["object"], f["rule"]) for f in export(reference, "findings"))
    assert "analysing" in stages


def test_progress_counts_reach_totals(disk_images: Images, tmp_path: Path) -> None:
    scan = Scan(tmp_path / "case", [disk_images.bare_fat], ScanOptions(jobs=1))
    last = None
    for progress in scan.run():
        if progress.stage == "analysing":
            last = progress
    assert last is not None and last.listing_done
    assert last.objects_done == last.objects_found == scan.outcomes[0].files
    assert last.bytes_done > 0


def test_an_evidence_item_that_fails_while_its_hash_runs_stops_only_its_hash(disk_images: Images, tmp_path: Path,
                                                                              monkeypatch) -> None:
    """An image whose analysis fails before its sha256 is done: that hash is stopped, but the scan is not
    cancelled, and the next evidence item is examined."""
    blank = tmp_path / "blank.raw"
    blank.write_bytes(bytes(4 * 1024 * 1024))  # no partition table, no filesystem: its analysis fails at once
    real_hash_files = integrity.hash_files

    def slow_for_the_blank_image(files, stop, progress, *options):
        if files[0] == blank:  # a hash that outlasts the failed analysis, as a large image's would
            stop.wait(30)
            raise Cancelled()
        return real_hash_files(files, stop, progress, *options)

    monkeypatch.setattr(integrity, "hash_files", slow_for_the_blank_image)
    cancel = threading.Event()
    scan = Scan(tmp_path / "case", [blank, disk_images.bare_fat], ScanOptions(jobs=1), cancel)
    for _ in scan.run():
        pass
    assert [outcome.status for outcome in scan.outcomes] == ["failed", "done"]
    assert not cancel.is_set()


def test_cancel_stops_reading_an_archive_s_members(tmp_path: Path, monkeypatch) -> None:
    """Cancelling while an archive's members are examined stops the pass over them (its thread ends) rather than
    inflating and listing the rest; the ledger says so, and processing again gives every member `tar -t` lists,
    with the sha256 `sha256sum` gives the extracted ones."""
    import subprocess

    stage = tmp_path / "stage"
    stage.mkdir()
    for index in range(300):
        (stage / f"note{index:03d}.txt").write_text(f"note {index}\n" * 50)
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    subprocess.run(["tar", "-czf", evidence / "notes.tar.gz", "-C", stage, "."], check=True)
    listed = {line[2:] for line in subprocess.run(["tar", "-tzf", evidence / "notes.tar.gz"], capture_output=True,
                                                  text=True, check=True).stdout.split() if line.endswith(".txt")}
    sums = subprocess.run(["sha256sum", *sorted(listed)], cwd=stage, capture_output=True, text=True, check=True)
    expected = {line[66:]: line[:64] for line in sums.stdout.splitlines()}

    case = tmp_path / "case"
    scan, examined = scan_cancelled_after(monkeypatch, evidence, case, "_examine_member", 10)
    assert scan.outcomes[0].status == "cancelled" and examined == 10
    assert not any(thread.name == "archive-read-ahead" for thread in threading.enumerate())
    db = sqlite3.connect(case / "case.db")
    assert db.execute("SELECT reasons FROM ledger WHERE stage = 'archive'").fetchone()[0] == \
        '{"cancelled: the rest of its members not examined": 1}'
    db.close()

    assert run_cli("scan", evidence, "--case", case, "--quiet").code == 0
    members = {row["path"].split("!./", 1)[1]: row["sha256"] for row in export(case, "files") if "!" in row["path"]
               and row["path"].endswith(".txt")}
    assert members == expected
