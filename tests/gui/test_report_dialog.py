"""Case → Export report…: the dialog, the report written on the thread pool, its audit entry, its errors."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
import threading
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMessageBox

from cybertriage.gui import report_action, report_dialog
from cybertriage.gui.report_dialog import ReportDialog
from cybertriage.report import SECTIONS
from tests.gui.conftest import DEMO_IMAGE

REPORT_TIMEOUT_MS = 30_000


def open_case(qtbot, window, case: Path) -> None:
    with qtbot.waitSignal(window.refreshed, timeout=10_000):
        assert window.open_case(case)


def last_audit(case: Path) -> tuple[str, dict]:
    with sqlite3.connect(case / "case.db") as conn:
        action, detail = conn.execute("SELECT action, detail FROM audit_log ORDER BY id DESC LIMIT 1").fetchone()
    return action, json.loads(detail)


def test_the_dialog_is_filled_from_the_case(qtbot, tmp_path):
    info = {"name": "Laptop A", "number": "2025-0042", "examiner": "J. Doe", "agency": "Example Police"}
    dialog = ReportDialog(None, tmp_path, info)
    qtbot.addWidget(dialog.dialog)
    assert dialog.case_number.text() == "2025-0042"
    assert dialog.examiner.text() == "J. Doe" and dialog.agency.text() == "Example Police"
    assert list(dialog.sections) == list(SECTIONS) and all(box.isChecked() for box in dialog.sections.values())
    assert not dialog.show_credentials.isChecked() and "clear" in dialog.show_credentials.toolTip()
    assert dialog.pdf_path() == tmp_path / "report.pdf" and dialog.html_path() is None
    dialog.also_html.setChecked(True)
    assert dialog.html_path() == tmp_path / "report.html"
    dialog.output.setText(str(tmp_path / "out" / "court"))  # the .pdf is added
    assert dialog.pdf_path() == tmp_path / "out" / "court.pdf"
    for box in dialog.sections.values():
        box.setChecked(False)
    assert dialog.problem() == "Choose at least one section."
    dialog.sections["findings"].setChecked(True)
    dialog.output.setText("")
    assert dialog.problem() == "Choose where to save the PDF."
    dialog.ok_button.click()
    assert dialog.error.text() == "Choose where to save the PDF." and dialog.dialog.result() == 0
    # the case_info keys the command line's reports read are honoured too
    other = ReportDialog(None, tmp_path, {"case_name": "B", "case_number": "N-1"})
    qtbot.addWidget(other.dialog)
    assert other.case_number.text() == "N-1"


def test_export_report_from_the_window(qtbot, main_window, case, tmp_path, monkeypatch):
    open_case(qtbot, main_window, case)
    action = main_window.actions["ExportReport"]
    assert action.isEnabled()
    threads = []
    real = report_dialog.write_report

    def write_report(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(report_dialog, "write_report", write_report)
    opened = []
    monkeypatch.setattr(report_action, "open_folder", opened.append)

    action.trigger()
    dialog = main_window.report.dialog
    assert dialog is not None and dialog.dialog.isVisible()
    assert dialog.pdf_path() == case / "report.pdf"  # the default
    out = tmp_path / "out"
    out.mkdir()
    dialog.case_number.setText("CT-7731/25")
    dialog.examiner.setText("A. Examiner")
    dialog.notes.setPlainText("Requested by the incident team.\nSecond line.")
    dialog.sections["timeline"].setChecked(False)
    dialog.also_html.setChecked(True)
    dialog.output.setText(str(out / "court.pdf"))
    with qtbot.waitSignal(main_window.report_done, timeout=REPORT_TIMEOUT_MS) as done:
        dialog.ok_button.click()
        # written on the pool: the action waits, the status bar says so, the event loop runs on
        assert not action.isEnabled() and main_window.is_reporting()
        assert main_window.report.busy.isVisible()
        assert "Writing the report" in main_window.window.statusBar().currentMessage()
    written = done.args[0]
    assert written == [out / "court.pdf", out / "court.html"]
    assert threads and threads[0] is not threading.main_thread()
    assert action.isEnabled() and not main_window.report.busy.isVisible()
    assert str(out / "court.pdf") in main_window.window.statusBar().currentMessage()
    assert main_window.report.folder_button.isVisible() and not opened  # nothing opens by itself
    main_window.report.folder_button.click()
    assert opened == [out]

    text = subprocess.run(["pdftotext", str(out / "court.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "CT-7731/25" in text and "A. Examiner" in text
    for name in ("court.pdf.sha256", "court.html.sha256"):
        subprocess.run(["sha256sum", "-c", "--quiet", name], cwd=out, check=True)
    html = (out / "court.html").read_text(encoding="utf-8")
    assert "CT-7731/25" in html and "Requested by the incident team." in html
    action_name, detail = last_audit(case)
    assert action_name == "report written"
    assert detail["pdf"] == str(out / "court.pdf") and detail["html"] == str(out / "court.html")
    assert detail["show_credentials"] is False and "timeline" not in detail["sections"]
    assert detail["pdf_sha256"] == hashlib.sha256((out / "court.pdf").read_bytes()).hexdigest()  # logged once written


def test_an_unwritable_folder_is_a_message_not_a_crash(qtbot, main_window, case, tmp_path):
    open_case(qtbot, main_window, case)
    before = last_audit(case)
    (tmp_path / "afile").write_text("not a folder")  # fails for root too, unlike a chmod
    dialog = main_window.report.ask()
    dialog.output.setText(str(tmp_path / "afile" / "report.pdf"))
    with qtbot.waitSignal(main_window.report_done, timeout=REPORT_TIMEOUT_MS) as done:
        dialog.ok_button.click()
    assert isinstance(done.args[0], Exception)
    message = main_window.window.statusBar().currentMessage()
    assert message.startswith("Report not written") and "afile" in message and "not a folder" in message
    box = main_window.report.error_box
    assert isinstance(box, QMessageBox) and box.isVisible() and "afile" in box.informativeText()
    box.accept()
    assert main_window.actions["ExportReport"].isEnabled() and not main_window.report.busy.isVisible()
    assert last_audit(case) == before  # nothing claimed
    assert not (tmp_path / "afile").is_dir()
    QApplication.processEvents()


def test_a_report_over_the_case_is_refused_in_one_line(qtbot, main_window, case, tmp_path):
    """The dialog adds .pdf to a name without it: the case's own files and their link are refused all the same."""
    open_case(qtbot, main_window, case)
    before = last_audit(case)
    database = hashlib.sha256((case / "case.db").read_bytes()).hexdigest()
    (tmp_path / "link.pdf").symlink_to(case / "case.db")
    for output in (case / "case.db", case / "objects" / "r.pdf", tmp_path / "link.pdf"):
        dialog = main_window.report.ask()
        dialog.output.setText(str(output))
        with qtbot.waitSignal(main_window.report_done, timeout=REPORT_TIMEOUT_MS) as done:
            dialog.ok_button.click()
        assert isinstance(done.args[0], Exception)
        message = main_window.window.statusBar().currentMessage()
        assert message.startswith("Report not written: refusing to write") and "\n" not in message, message
        main_window.report.error_box.accept()
    assert last_audit(case) == before  # nothing attempted, nothing claimed
    assert hashlib.sha256((case / "case.db").read_bytes()).hexdigest() == database
    assert not (case / "objects" / "r.pdf").exists()


def test_a_report_failing_while_written_is_logged_as_failed(qtbot, main_window, case, tmp_path, monkeypatch):
    open_case(qtbot, main_window, case)

    def full_disk(case_dir, out, details, force=False):
        raise OSError(28, "No space left on device", str(out))

    monkeypatch.setattr("cybertriage.report.writing.write_pdf", full_disk)
    dialog = main_window.report.ask()
    dialog.output.setText(str(tmp_path / "report.pdf"))
    with qtbot.waitSignal(main_window.report_done, timeout=REPORT_TIMEOUT_MS):
        dialog.ok_button.click()
    assert "No space left on device" in main_window.window.statusBar().currentMessage()
    main_window.report.error_box.accept()
    action_name, detail = last_audit(case)
    assert action_name == "report failed" and "No space left" in detail["error"]


def test_a_report_while_processing_runs_says_findings_may_still_arrive(qtbot, main_window, tmp_path):
    case = tmp_path / "live"
    assert main_window.create_case(case, {"name": "Live", "number": "L-1"})
    main_window.add_evidence([DEMO_IMAGE])
    assert main_window.is_scanning()
    dialog = main_window.report.ask()  # allowed: the report reads one consistent snapshot
    assert dialog.case_number.text() == "L-1"
    with qtbot.waitSignals([main_window.report_done, main_window.scan_done], timeout=REPORT_TIMEOUT_MS):
        dialog.ok_button.click()
        assert "findings may still be arriving" in main_window.window.statusBar().currentMessage()
    assert (case / "report.pdf").is_file()
    subprocess.run(["sha256sum", "-c", "--quiet", "report.pdf.sha256"], cwd=case, check=True)
    with sqlite3.connect(case / "case.db") as conn:
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'report written'").fetchone()[0] == 1
