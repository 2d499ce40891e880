"""The main window end to end: cases, evidence, processing in the background, cancel, views."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from cybertriage.case import browse
from cybertriage.case.objects import read_object
from cybertriage.gui.models import FindingsModel
from tests import images
from tests.conftest import REPO
from tests.gui.conftest import DEMO_IMAGE, count, scan_cancelled_midway

SCAN_TIMEOUT_MS = 60_000


def open_case(qtbot, window, case: Path) -> None:
    """Open a case and wait for the views to show its first snapshot (read on the thread pool)."""
    with qtbot.waitSignal(window.refreshed, timeout=10_000):
        assert window.open_case(case)


def statuses(window) -> dict[str, str]:
    model = window.evidence.model
    return {Path(row["path"]).name: row["shown_status"] for row in model.rows}


def test_open_a_case_made_by_the_cli(qtbot, main_window, demo_case, settings):
    open_case(qtbot, main_window, demo_case)
    assert str(demo_case.resolve()) in main_window.window.windowTitle()
    assert main_window.findings.model.rowCount() == count(demo_case, "SELECT count(*) FROM findings")
    assert statuses(main_window) == {"demo-disk.img": "done"}
    critical = count(demo_case, "SELECT count(*) FROM findings WHERE severity = 'critical'")
    assert f">{critical}<" in main_window.dashboard.severity_cards["critical"].text()
    assert main_window.dashboard.top_model.rowCount() == min(10, count(demo_case, "SELECT count(*) FROM files WHERE score > 0"))
    assert "No packet capture" in main_window.network.label.text()
    assert main_window.session.recent_cases()[0] == str(demo_case.resolve())


def test_a_case_opens_on_its_first_page_of_findings_then_lists_them_all(qtbot, main_window, demo_case, monkeypatch):
    monkeypatch.setattr(FindingsModel, "PAGE", 2)
    total = count(demo_case, "SELECT count(*) FROM findings")
    assert main_window.open_case(demo_case)
    listed = []
    main_window.findings.model.rowsInserted.connect(lambda *_: listed.append(main_window.findings.model.rowCount()))
    with qtbot.waitSignal(main_window.refreshed, timeout=10_000):
        pass
    assert listed == [2, total]  # the first page ahead of the snapshot, then every finding
    ids = [main_window.findings.model.data(main_window.findings.model.index(r, 0), Qt.ItemDataRole.UserRole)
           for r in range(total)]
    with sqlite3.connect(demo_case / "case.db") as conn:
        assert ids == [r[0] for r in conn.execute(
            "SELECT g.id FROM findings g LEFT JOIN files f ON g.object_kind = 'file' AND f.id = g.object_id "
            "ORDER BY g.severity_rank DESC, f.score DESC, g.id")]
    assert main_window.findings.count_label.text() == f"{total:,} findings"


def test_selecting_a_finding_shows_matched_strings_and_hashes(qtbot, main_window, demo_case):
    open_case(qtbot, main_window, demo_case)
    main_window.findings.view.sortByColumn(0, Qt.SortOrder.DescendingOrder)
    main_window.findings.view.selectRow(0)
    html = main_window.findings.details.toHtml()
    assert "Ransom_Note_Generic" in html and "ALL YOUR FILES HAVE BEEN ENCRYPTED" in html
    sha256 = count(demo_case, "SELECT sha256 FROM files WHERE path = '/home/alex/Desktop/README_RESTORE_FILES.txt'")
    assert sha256 in html


def test_sorting_and_searching_in_the_window_keep_the_gui_thread_free(qtbot, main_window, demo_case):
    open_case(qtbot, main_window, demo_case)
    model, view = main_window.findings.model, main_window.findings.view
    view.selectRow(0)
    chosen = view.currentIndex().data(Qt.ItemDataRole.UserRole)
    with qtbot.waitSignal(main_window.refreshed, timeout=10_000):
        view.sortByColumn(4, Qt.SortOrder.AscendingOrder)  # by title, read on the thread pool
    titles = [model.finding(r)["title"] for r in range(model.rowCount())]
    assert titles == sorted(titles)
    assert view.currentIndex().data(Qt.ItemDataRole.UserRole) == chosen  # the selection followed its finding
    with qtbot.waitSignal(main_window.refreshed, timeout=10_000):
        main_window.findings.search.setText("cradle")
    assert [model.finding(r)["rule"] for r in range(model.rowCount())] == ["PowerShell_Download_Cradle"]
    assert main_window.findings.count_label.text().startswith("1 of ")


def test_a_bad_case_folder_is_a_message_not_a_crash(main_window, tmp_path):
    assert not main_window.open_case(tmp_path / "nothing-here")
    assert "Cannot open" in main_window.window.statusBar().currentMessage()
    assert main_window.case_dir is None


def test_a_case_from_a_newer_cybertriage_is_refused_with_a_message(main_window, demo_case, tmp_path):
    import shutil
    import sqlite3

    from cybertriage.case.schema import SCHEMA_VERSION

    case = tmp_path / "newer"
    shutil.copytree(demo_case, case)
    with sqlite3.connect(case / "case.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    assert not main_window.open_case(case)
    message = main_window.window.statusBar().currentMessage()
    assert "Cannot open" in message and f"schema {SCHEMA_VERSION + 1}" in message
    assert main_window.case_dir is None


def test_new_case_records_its_details(main_window, tmp_path):
    folder = tmp_path / "new-case"
    info = {"name": "Laptop A", "number": "2024-017", "examiner": "J. Doe", "agency": "Example Police"}
    assert main_window.create_case(folder, info)
    with sqlite3.connect(folder / "case.db") as conn:
        stored = dict(conn.execute("SELECT key, value FROM case_info"))
    assert {k: stored[k] for k in info} == info
    assert "Laptop A [2024-017]" in main_window.window.windowTitle()
    assert "J. Doe" in main_window.session.status_label.text()


def test_scan_from_the_gui_into_a_fresh_case(qtbot, main_window, tmp_path):
    case = tmp_path / "case"
    main_window.create_case(case, {"name": "demo"})
    main_window.add_evidence([DEMO_IMAGE])
    worker = main_window.evidence.worker
    assert worker is not None and statuses(main_window) == {"demo-disk.img": "queued"}
    progress, outcomes = [], []
    worker.signals.progress.connect(progress.append)
    main_window.scan_done.connect(outcomes.append)
    with qtbot.waitSignals([worker.signals.finished, main_window.scan_done], order="strict", timeout=SCAN_TIMEOUT_MS):
        pass
    assert [o.status for o in outcomes[0]] == ["done"]
    assert progress and progress[-1].stage == "finished"
    assert statuses(main_window) == {"demo-disk.img": "done"}
    assert main_window.findings.model.rowCount() == count(case, "SELECT count(*) FROM findings") > 0
    assert count(case, "SELECT count(*) FROM runs WHERE status = 'completed'") == 1
    assert not main_window.is_scanning() and main_window.evidence.cancel_button.text() == "Dismiss"


def test_cancel_a_scan_midway(qtbot, main_window, tmp_path, many_files_image):
    case = tmp_path / "case"
    main_window.create_case(case, {"name": "cancel me"})
    outcomes, analysing = scan_cancelled_midway(qtbot, main_window, [many_files_image])
    assert analysing
    assert [o.status for o in outcomes] == ["cancelled"]
    assert count(case, "SELECT status FROM runs") == "cancelled"
    assert count(case, "SELECT status FROM evidence") == "cancelled"
    done_objects = count(case, "SELECT count(*) FROM files")
    assert 0 < done_objects < 2400
    assert statuses(main_window)["many.img"].startswith("cancelled")


def test_findings_appear_while_the_scan_runs(qtbot, main_window, tmp_path, many_files_image):
    main_window.create_case(tmp_path / "case", {"name": "live"})
    seen = []
    main_window.refreshed.connect(lambda: seen.append((main_window.is_scanning(), main_window.findings.model.rowCount())))
    with qtbot.waitSignal(main_window.scan_done, timeout=SCAN_TIMEOUT_MS):
        main_window.add_evidence([DEMO_IMAGE, many_files_image])  # the demo's findings land first
    assert any(scanning and rows > 0 for scanning, rows in seen), seen


def test_unreadable_evidence_becomes_a_message_on_its_row(qtbot, main_window, tmp_path):
    main_window.create_case(tmp_path / "case", {"name": "errors"})
    empty = tmp_path / "empty.img"
    empty.write_bytes(b"")
    with qtbot.waitSignal(main_window.scan_done, timeout=SCAN_TIMEOUT_MS):
        main_window.add_evidence([empty])
    assert statuses(main_window)["empty.img"] == "failed: evidence file is empty"
    assert main_window.evidence.progress_labels["Message"].property("error") is True


def test_dropping_a_folder_processes_it(qtbot, main_window, tmp_path):
    main_window.create_case(tmp_path / "case", {"name": "drop"})
    loose = tmp_path / "usb-stick"
    loose.mkdir()
    (loose / "notes.txt").write_text("meeting at ten\n")
    (loose / "eicar.com").write_bytes(images.EICAR)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(loose))])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(50, 50), *args)  # a QPoint, as Qt declares it (PySide6 6.12 also took a QPointF)
    QApplication.sendEvent(main_window.window, enter)
    assert enter.isAccepted()
    # Qt delivers a drop only within a real drag; hand it to the window's filter as Qt would.
    with qtbot.waitSignal(main_window.scan_done, timeout=SCAN_TIMEOUT_MS):
        assert main_window.eventFilter(main_window.window, QDropEvent(QPointF(50, 50), *args))
    assert statuses(main_window) == {"usb-stick": "done"}
    assert main_window.findings.model.rowCount() >= 1  # the EICAR rule


def test_show_file_opens_its_folder_and_its_bytes(qtbot, main_window, demo_case):
    open_case(qtbot, main_window, demo_case)
    file_id = count(demo_case, "SELECT id FROM files WHERE path = '/Pictures/holiday.jpg'")
    main_window.show_file(file_id)
    assert main_window.tabs.currentWidget().objectName() == "filesTab"
    assert main_window.files.view.currentIndex().data() == "holiday.jpg"
    qtbot.waitUntil(lambda: (main_window.files.content_viewer.hex.row_text(0) or "").startswith("00000000  4d 5a"), timeout=10_000)
    assert "extension mismatch" in main_window.files.info.toHtml().lower()


def test_double_clicking_a_finding_shows_its_file(qtbot, main_window, demo_case):
    open_case(qtbot, main_window, demo_case)
    model = main_window.findings.model
    row = next(r for r in range(model.rowCount()) if model.finding(r)["rule"] == "EICAR_Test_File")
    main_window.findings.view.doubleClicked.emit(model.index(row, 4))
    assert main_window.tabs.currentWidget().objectName() == "filesTab"
    assert main_window.files.folder_label.text() == "<b>/Downloads</b>"
    assert main_window.files.view.currentIndex().data() == "eicar.com"
    qtbot.waitUntil(lambda: "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in main_window.files.content_viewer.text.edit.toPlainText(),
                    timeout=10_000)


def test_closing_the_window_during_a_scan_cancels_it_cleanly(qtbot, main_window, tmp_path, many_files_image):
    case = tmp_path / "case"
    main_window.create_case(case, {"name": "closing"})
    main_window.add_evidence([many_files_image])
    qtbot.waitUntil(lambda: main_window.evidence.live is not None and main_window.evidence.live.stage == "analysing", timeout=10_000)
    main_window.window.close()  # waits for the worker: the case is consistent when it returns
    assert count(case, "SELECT status FROM runs") == "cancelled"
    assert count(case, "SELECT status FROM evidence") == "cancelled"


def test_read_object_equals_icat(demo_case):
    """The bytes shown in the hex view are the bytes Sleuth Kit's icat reads."""
    conn = browse.connect(demo_case)
    for path, offset in (("/Pictures/holiday.jpg", 1048576), ("/home/alex/Desktop/README_RESTORE_FILES.txt", 4194304)):
        row = browse.file_row(conn, count(demo_case, "SELECT id FROM files WHERE path = ?", path))
        data = read_object(demo_case, row["id"], 0, row["size"])
        assert hashlib.sha256(data).hexdigest() == images.icat_sha256(DEMO_IMAGE, offset, row["inode"])


def test_self_test_exits_zero(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "cybertriage.gui.app", "--self-test"], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env=env)
    assert done.returncode == 0, done.stderr
    assert "Opened case" in done.stderr


def test_the_core_stays_headless():
    """Only cybertriage.gui may import PySide6: the CLI runs on machines without Qt's libraries."""
    code = "import sys, cybertriage.cli, cybertriage.pipeline; sys.exit('PySide6' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
