"""The Evidence tab tells what was and was not examined: each item's ledger and problems, Verify hashes, Process
again after a cancel, a folder scan's total, and the heading after Cancel (issue 21, item 6)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from cybertriage.gui.progress import ProgressTracker
from cybertriage.pipeline import Progress
from cybertriage.pipeline.progress import count_folder
from tests import images
from tests.gui.conftest import DEMO_IMAGE, SCAN_TIMEOUT_MS, count, scan_cancelled_midway


def sha256sum(path: Path) -> str:
    return subprocess.run(["sha256sum", str(path)], check=True, capture_output=True, text=True).stdout.split()[0]


def scan(qtbot, window, case: Path, evidence: list[Path]) -> list:
    """Make a case, add evidence with carving off (nothing here is about carving), wait for the end of the scan."""
    window.create_case(case, {"name": case.name})
    window.evidence.carve_check.setChecked(False)
    with qtbot.waitSignal(window.scan_done, timeout=SCAN_TIMEOUT_MS) as done:
        window.add_evidence(evidence)
    return done.args[0]


def wait_status(qtbot, window, name: str) -> None:
    """Select the evidence row of this name and wait for the panel to show what the case says about it."""
    model, status = window.evidence.model, window.evidence.status
    window.show_tab("evidenceTab")
    window.evidence.view.selectRow(next(r for r, item in enumerate(model.rows) if Path(item["path"]).name == name))
    qtbot.waitUntil(lambda: status.reader is None and status.row is not None and Path(status.row["path"]).name == name
                    and status.ledger_model.rowCount() > 0, timeout=10_000)


def table(model) -> list[list[str]]:
    return [[model.data(model.index(r, c)) for c in range(model.columnCount())] for r in range(model.rowCount())]


@pytest.fixture(scope="module")
def truncated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """The MBR test disk (FAT32, ext4, a FAT16 logical) and a copy cut at 40 % of its bytes."""
    base = tmp_path_factory.mktemp("truncated")
    full = images.build_mbr_fat32_ext4(base)
    data = full.read_bytes()
    cut = base / "cut.raw"
    cut.write_bytes(data[: len(data) * 40 // 100])
    return full, cut, len(data) * 40 // 100


def test_a_truncated_image_shows_its_ledger_problems_and_volumes(qtbot, main_window, tmp_path, truncated):
    full, cut, size = truncated
    # mmls on the whole disk: the primary table's partitions that start past the cut are beyond the truncated image
    # (the logical one's table lies past the cut too, so it is never seen)
    beyond = [p for p in images.mmls_partitions(full) if p.slot.startswith("000:") and p.offset >= size]
    inside = [p for p in images.mmls_partitions(full) if p.slot.startswith("000:") and p.offset < size]
    assert beyond and inside
    outcomes = scan(qtbot, main_window, tmp_path / "case", [cut])
    assert [o.status for o in outcomes] == ["partial"]
    wait_status(qtbot, main_window, "cut.raw")
    status = main_window.evidence.status
    assert status.widget.isVisible()
    problems = table(status.problems_model)
    for partition in beyond:
        assert ["volumes", partition.description, "partition beyond end of truncated image"] in problems
    ledger = {row[0]: row for row in table(status.ledger_model)}
    assert ledger["volumes"][1:4] == [str(len(beyond) + len(inside)), str(len(inside)), str(len(beyond))]
    assert ledger["volumes"][4] == f"{len(beyond)} partition beyond end of truncated image"
    assert status.tabs.tabText(1) == f"Problems ({len(problems)})"
    volumes = {row[2]: row for row in table(status.volumes_model)}
    assert [volumes[p.description][4] for p in beyond] == ["beyond end of image"] * len(beyond)
    assert volumes[inside[0].description][0] == f"{inside[0].offset:,}"
    assert f"image is truncated: {size} bytes" in status.facts.text()
    assert sha256sum(cut) in status.facts.text()
    main_window.evidence.view.parentWidget().window().grab().save(str(tmp_path / "status.png"))


def test_verify_hashes_says_ok_then_mismatch_on_a_modified_copy(qtbot, main_window, tmp_path):
    copy = tmp_path / "evidence" / "copy.img"
    copy.parent.mkdir()
    shutil.copy(DEMO_IMAGE, copy)
    recorded = sha256sum(copy)
    scan(qtbot, main_window, tmp_path / "case", [copy])
    wait_status(qtbot, main_window, "copy.img")
    status = main_window.evidence.status
    assert "not verified" in status.verdict.text()
    with qtbot.waitSignal(status.verify_ended, timeout=30_000):
        qtbot.mouseClick(status.verify_button, Qt.MouseButton.LeftButton)
    assert "<b style='color:#2e7d32'>OK</b>" in status.verdict.text() and recorded in status.verdict.text()

    with copy.open("r+b") as handle:  # one byte changed, past the partition table
        handle.seek(4_000_000)
        byte = handle.read(1)
        handle.seek(4_000_000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    now = sha256sum(copy)
    assert now != recorded
    with qtbot.waitSignal(status.verify_ended, timeout=30_000):
        qtbot.mouseClick(status.verify_button, Qt.MouseButton.LeftButton)
    verdict = status.verdict.text()
    assert "MISMATCH" in verdict and f"sha256 recorded {recorded}, now {now}" in verdict
    with sqlite3.connect(tmp_path / "case" / "case.db") as conn:
        action, detail = conn.execute("SELECT action, detail FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    assert action == "evidence verified"
    assert json.loads(detail)["all_ok"] is False and json.loads(detail)["results"][0]["status"] == "MISMATCH"
    # the verdict is the case's: reading the item again shows the last one the audit log recorded
    status.reread()
    qtbot.waitUntil(lambda: status.reader is None, timeout=10_000)
    status.verdicts.clear()
    status.reread()
    qtbot.waitUntil(lambda: status.reader is None and "last verified" in status.verdict.text(), timeout=10_000)
    assert f"now {now}" in status.verdict.text()


def test_process_again_after_a_cancel_finishes_the_item(qtbot, main_window, tmp_path, many_files_image):
    case = tmp_path / "case"
    main_window.create_case(case, {"name": "again"})
    main_window.evidence.carve_check.setChecked(False)
    scan_cancelled_midway(qtbot, main_window, [many_files_image])
    kept = count(case, "SELECT count(*) FROM files")
    assert 0 < kept < 2400
    heading = main_window.evidence.progress_labels["Evidence"].text()
    assert heading == f"Cancelled: {kept:,} objects kept; Process again to finish"
    assert "Processing finished" not in heading
    wait_status(qtbot, main_window, "many.img")
    status = main_window.evidence.status
    assert status.row["shown_status"].startswith("cancelled")
    assert status.again_button.isEnabled()

    with qtbot.waitSignal(main_window.scan_done, timeout=SCAN_TIMEOUT_MS) as done:
        qtbot.mouseClick(status.again_button, Qt.MouseButton.LeftButton)
    assert [o.status for o in done.args[0]] == ["done"]
    assert main_window.evidence.progress_labels["Evidence"].text() == "Processing finished"
    fls = {record.path for record in images.fls_records(many_files_image, 0)}
    with sqlite3.connect(case / "case.db") as conn:
        ours = [row[0] for row in conn.execute("SELECT path FROM files")]
    assert len(ours) == len(fls) and set(ours) == fls
    assert count(case, "SELECT count(*) FROM evidence") == 1  # the same item, examined again, not a second one
    qtbot.waitUntil(lambda: status.row is not None and status.row["shown_status"] == "done", timeout=10_000)
    assert not status.again_button.isEnabled()


def test_an_empty_case_calls_for_evidence_and_remembers_where_it_came_from(qtbot, main_window, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QFrame

    with qtbot.waitSignal(main_window.refreshed, timeout=10_000):
        main_window.create_case(tmp_path / "case", {"name": "empty"})
    call = main_window.window.findChild(QFrame, "dashboardAddEvidenceCall")
    assert main_window.tabs.currentWidget().objectName() == "dashboardTab" and call.isVisible()
    loose = tmp_path / "stick" / "usb"
    loose.mkdir(parents=True)
    (loose / "notes.txt").write_text("meeting at ten\n")
    starts = []

    def chosen(parent, caption, start):
        starts.append(start)
        return str(loose)

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(chosen))
    main_window.evidence.carve_check.setChecked(False)
    with qtbot.waitSignal(main_window.scan_done, timeout=SCAN_TIMEOUT_MS):
        qtbot.mouseClick(call.findChild(type(main_window.evidence.cancel_button), "dashboardAddEvidenceCallAddFolderButton"),
                         Qt.MouseButton.LeftButton)
    assert starts == [str(Path.home())]  # nothing remembered yet
    assert not call.isVisible() and count(tmp_path / "case", "SELECT count(*) FROM evidence") == 1
    main_window.evidence.add_folder_dialog()  # the same folder again: already processed
    assert starts[-1] == str(loose.parent)


def test_a_folder_is_counted_as_find_counts_it(tmp_path):
    root = tmp_path / "folder"
    for d in range(5):
        (root / f"d{d}" / "inner").mkdir(parents=True)
        for i in range(7):
            (root / f"d{d}" / f"f{i}.txt").write_text(str(i))
    (root / "link").symlink_to(tmp_path)  # a link is an object, never followed
    found = subprocess.run(["find", str(root), "-mindepth", "1"], check=True, capture_output=True, text=True).stdout
    assert count_folder(root) == len(found.splitlines()) == 5 * 2 + 5 * 7 + 1
    stopped = threading.Event()
    stopped.set()
    assert count_folder(root, stopped) is None


def test_a_counted_folder_shows_a_total_and_an_eta(tmp_path):
    clock = [0.0]
    tracker = ProgressTracker(clock=lambda: clock[0])
    folder = str(tmp_path / "folder")
    tracker.counting.add(folder)
    shown = tracker.update(Progress(folder, "analysing", objects_found=300, objects_done=100))
    assert (shown.counts, shown.eta, shown.percent) == ("100 of 300+ objects", "counting the folder's objects", None)
    tracker.expect(folder, 1000)
    clock[0] = 2.0
    shown = tracker.update(Progress(folder, "analysing", objects_found=500, objects_done=300))
    # 200 objects in 2 s: the 700 left take 7 s
    assert (shown.counts, shown.percent) == ("300 of 1,000 objects", 30)
    assert shown.eta == "about 7 s left"
    other = ProgressTracker(clock=lambda: clock[0])
    shown = other.update(Progress(folder, "analysing", objects_found=500, objects_done=300))
    assert (shown.counts, shown.eta, shown.percent) == ("300 of 500+ objects", "still listing files", None)


def test_a_folder_scan_shows_its_total_while_it_lists(qtbot, main_window, tmp_path):
    folder = tmp_path / "export"
    for d in range(30):
        (folder / f"chat{d:02d}").mkdir(parents=True)
        for i in range(100):
            (folder / f"chat{d:02d}" / f"message{i:03d}.txt").write_text(f"message {d} {i}\n" * 20)
    found = subprocess.run(["find", str(folder), "-mindepth", "1"], check=True, capture_output=True, text=True).stdout
    total = len(found.splitlines())
    main_window.create_case(tmp_path / "case", {"name": "folder"})
    counts: list[str] = []
    main_window.evidence.ticked.connect(lambda: counts.append(main_window.evidence.progress_labels["Counts"].text()))
    with qtbot.waitSignal(main_window.scan_done, timeout=SCAN_TIMEOUT_MS):
        main_window.add_evidence([folder])
    assert counts and all(text.endswith((f" of {total:,} objects", "+ objects")) for text in counts if text), counts
    assert any(text.endswith(f" of {total:,} objects") and not text.startswith(f"{total:,}") for text in counts), counts
    assert count(tmp_path / "case", "SELECT count(*) FROM files") == total


def test_a_dashboard_evidence_row_opens_its_status(qtbot, main_window, demo_case):
    with qtbot.waitSignal(main_window.refreshed, timeout=10_000):
        main_window.open_case(demo_case)
    names = [Path(row["path"]).name for row in main_window.evidence.dashboard_model.rows]
    view = main_window.evidence.dashboard_view
    last = len(names) - 1
    at = view.visualRect(view.model().index(last, 0)).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=at)  # a double click begins with a click
    qtbot.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=at)
    assert main_window.tabs.currentWidget().objectName() == "evidenceTab"
    status = main_window.evidence.status
    qtbot.waitUntil(lambda: status.reader is None and status.row is not None and status.ledger_model.rowCount() > 0,
                    timeout=10_000)
    assert Path(status.row["path"]).name == names[last]
    with sqlite3.connect(demo_case / "case.db") as conn:
        stages = {row[0] for row in conn.execute(
            "SELECT stage FROM ledger WHERE evidence_id = (SELECT id FROM evidence WHERE path = ?)", [status.row["path"]])}
    assert {row[0] for row in table(status.ledger_model)} == stages


def test_evidence_a_cancel_left_unstarted_stays_listed_to_process_again(qtbot, main_window, tmp_path, many_files_image):
    main_window.create_case(tmp_path / "case", {"name": "unstarted"})
    main_window.evidence.carve_check.setChecked(False)
    scan_cancelled_midway(qtbot, main_window, [many_files_image, DEMO_IMAGE])
    rows = {Path(row["path"]).name: row["shown_status"] for row in main_window.evidence.model.rows}
    assert rows == {"many.img": "cancelled: cancelled by the examiner", DEMO_IMAGE.name: "cancelled: not started"}
    assert count(tmp_path / "case", "SELECT count(*) FROM evidence") == 1  # the second never reached the case
    main_window.evidence.view.selectRow(1)
    status = main_window.evidence.status
    assert Path(status.row["path"]).name == DEMO_IMAGE.name and status.again_button.isEnabled()
    assert not status.verify_button.isEnabled()  # nothing of it in the case to verify
