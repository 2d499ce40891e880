"""Case → Export report… (ui/report_dialog.ui), and the report it asks for, written off the main thread.

The dialog only gathers a `ReportRequest`; `write_report` does what `cybertriage
report` does (`report.writing.write_reports`): it checks every destination, writes
the PDF and, if asked, the HTML beside it, each whole with its `.sha256`, and then
logs "report written" with their sha256 in the case's audit log. It touches no
widget and opens its own connections, so the main window runs it on the thread pool.

This module imports the report package (and so reportlab): the main window loads
it only when a report is asked for.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QWidget,
)

from ..case.store import record_reading
from ..errors import DestinationRefused, UsageError
from ..report import SECTIONS, ReportDetails
from ..report.document import SECTION_TITLES
from ..report.writing import write_reports
from ..text_safety import visible_html as esc  # evidence text for Qt rich text: made visible, then escaped
from .case_window import child, named
from .forms import load_dialog

logger = logging.getLogger(__name__)
SECTION_COLUMNS = 3
CREDENTIALS_WARNING = ("Passwords, tokens and hashes seen in network traffic are printed in clear in the report "
                       "(PDF and HTML). Anyone who receives the report can read and use them. Leave this unchecked "
                       "unless the recipient needs them.")


@dataclass(frozen=True)
class ReportRequest:
    """What to write: the PDF, the HTML beside it or None, and what goes in them."""

    pdf: Path
    html: Path | None
    details: ReportDetails


def section_title(section: str) -> str:
    return SECTION_TITLES.get(section) or section.capitalize()


def write_report(case_dir: Path, request: ReportRequest, cancel: threading.Event | None = None) -> list[Path]:
    """Write the report as `cybertriage report` does, then log it in the case's audit log; returns the reports.

    The dialog has already named any report it replaces, so existing reports are replaced; the case, its
    evidence and symbolic links never are (UsageError, one line). Raises UsageError (no case, no such folder,
    a destination refused or that cannot be written) or OSError. `cancel` is accepted for `FunctionWorker`;
    a report is not interrupted.
    """
    try:
        written = write_reports(case_dir, request.pdf, request.html, request.details, force=True, origin="gui")
    except DestinationRefused:  # nothing was attempted
        raise
    except Exception as error:
        _log_failure(case_dir, request, error)
        raise
    if written.not_logged:
        logger.warning("report written but not in the audit log: %s", written.not_logged)
    return written.paths


def _log_failure(case_dir: Path, request: ReportRequest, error: Exception) -> None:
    """Say in the audit log that a report was asked for and failed, if the case can be written."""
    record_reading(case_dir, "report failed", {"pdf": str(request.pdf), "error": error_text(error)})


def error_text(error: BaseException) -> str:
    """An error as one readable sentence for the examiner."""
    if isinstance(error, UsageError):
        return str(error)
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror or error}{where}"
    return f"internal error ({type(error).__name__}: {error})"


class ReportDialog:
    """The examiner's details, the sections and the output; `request()` once accepted."""

    def __init__(self, parent: QWidget | None, case_dir: Path, info: dict[str, str] | None = None) -> None:
        info = info or {}
        self.case_dir = case_dir
        self.dialog = load_dialog("report_dialog.ui", parent)
        d = self.dialog
        name = info.get("case_name") or info.get("name") or case_dir.name
        child(d, QLabel, "caseLabel").setText(
            f"<span style='font-size:13pt; font-weight:600'>{esc(name)}</span>"
            f"<br><span style='color:#555'>{esc(str(case_dir))}</span>")
        self.case_number = child(d, QLineEdit, "caseNumber")
        self.examiner = child(d, QLineEdit, "examiner")
        self.agency = child(d, QLineEdit, "agency")
        self.notes = child(d, QPlainTextEdit, "notes")
        self.case_number.setText(info.get("case_number") or info.get("number") or "")
        self.examiner.setText(info.get("examiner") or "")
        self.agency.setText(info.get("agency") or "")

        grid = child(d, QGroupBox, "sectionsBox").layout()
        assert isinstance(grid, QGridLayout)
        self.sections: dict[str, QCheckBox] = {}
        rows = -(-len(SECTIONS) // SECTION_COLUMNS)
        previous: QWidget = self.notes
        for number, section in enumerate(SECTIONS):
            box = named(QCheckBox(section_title(section)), f"section_{section}")
            box.setChecked(True)
            grid.addWidget(box, number % rows, number // rows)  # read down the columns, in report order
            QWidget.setTabOrder(previous, box)
            previous = box
            self.sections[section] = box
        QWidget.setTabOrder(previous, child(d, QLineEdit, "output"))

        self.output = child(d, QLineEdit, "output")
        self.output_hint = child(d, QLabel, "outputHint")
        self.output_hint.setStyleSheet("color: #555")
        self.also_html = child(d, QCheckBox, "alsoHtml")
        self.show_credentials = child(d, QCheckBox, "showCredentials")
        self.show_credentials.setChecked(False)
        self.show_credentials.setToolTip(CREDENTIALS_WARNING)
        self.credentials_warning = child(d, QLabel, "credentialsWarning")
        self.credentials_warning.setStyleSheet("color: #b3261e")
        self.credentials_warning.setVisible(False)
        self.show_credentials.toggled.connect(self.credentials_warning.setVisible)
        self.error = child(d, QLabel, "errorLabel")
        self.output.setText(str(case_dir / "report.pdf"))
        self.output.textChanged.connect(self._show_output_hint)
        self.also_html.toggled.connect(self._show_output_hint)
        self._show_output_hint()
        child(d, QPushButton, "browseButton").clicked.connect(self._browse)
        self.buttons = child(d, QDialogButtonBox, "buttons")
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("&Write report")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(d.reject)

    # -- what the dialog asks for -----------------------------------------------------------------

    def pdf_path(self) -> Path | None:
        text = self.output.text().strip()
        if not text:
            return None
        path = Path(text).expanduser()
        if path.suffix.lower() != ".pdf":
            path = path.with_name(path.name + ".pdf")
        if not path.is_absolute():
            path = self.case_dir / path
        return Path(os.path.normpath(path))

    def html_path(self) -> Path | None:
        pdf = self.pdf_path()
        return pdf.with_suffix(".html") if pdf is not None and self.also_html.isChecked() else None

    def details(self) -> ReportDetails:
        def text(edit: QLineEdit) -> str | None:
            return edit.text().strip() or None

        return ReportDetails(case_number=text(self.case_number), examiner=text(self.examiner), agency=text(self.agency),
                             notes=self.notes.toPlainText().strip() or None,
                             sections=tuple(s for s in SECTIONS if self.sections[s].isChecked()),
                             show_credentials=self.show_credentials.isChecked())

    def request(self) -> ReportRequest:
        pdf = self.pdf_path()
        if pdf is None:
            raise UsageError("no output file chosen")
        return ReportRequest(pdf, self.html_path(), self.details())

    def problem(self) -> str | None:
        """Why the dialog cannot be accepted as filled in, or None. The folder itself is checked when writing."""
        pdf = self.pdf_path()
        if pdf is None:
            return "Choose where to save the PDF."
        if pdf.is_dir():
            return "That is a folder: give the PDF a file name."
        if not any(box.isChecked() for box in self.sections.values()):
            return "Choose at least one section."
        return None

    # -- reactions ----------------------------------------------------------------------------------

    def _show_output_hint(self) -> None:
        pdf = self.pdf_path()
        if pdf is None:
            self.output_hint.setText("")
            return
        written = [pdf.name, pdf.name + ".sha256"]
        html = self.html_path()
        if html is not None:
            written += [html.name, html.name + ".sha256"]
        replaced = [p.name for p in (pdf, html) if p is not None and p.exists()]
        hint = "Writes " + ", ".join(written) + f" in {pdf.parent}."
        if replaced:
            hint += f" Replaces the existing {' and '.join(replaced)}."
        self.output_hint.setText(hint)

    def _browse(self) -> None:
        start = str(self.pdf_path() or self.case_dir / "report.pdf")
        chosen, _ = QFileDialog.getSaveFileName(self.dialog, "Save the report as", start, "PDF documents (*.pdf)")
        if chosen:
            self.output.setText(chosen)

    def _accept(self) -> None:
        problem = self.problem()
        if problem:
            self.error.setText(problem)
            return
        self.error.setText("")
        self.dialog.accept()
