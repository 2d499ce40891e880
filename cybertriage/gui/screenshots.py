"""`python -m cybertriage.gui.screenshots CASE_DIR OUT_DIR`: a PNG of each main view, for the README.

`make screenshots` runs this under xvfb-run on the demo case with corpus captures
added, so every view has rows. The window is grabbed as the examiner would see it
(window size fixed, remembered state ignored); dialogs are grabbed on their own.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings
from PySide6.QtWidgets import QApplication, QWidget

from .case_session import write_case_info
from .case_window import child
from .forms import icon, style_sheet
from .main_window import MainWindow

SIZE = (1440, 900)
# case details for a case that has none (the demo case is made by `cybertriage scan`, which sets none)
DETAILS = {"name": "Demo laptop", "number": "DEMO-0001", "examiner": "J. Smith", "agency": "Example Police Cyber Crime Unit"}


def settle(app: QApplication, ms: int = 400, until: Callable[[], bool] | None = None, timeout: float = 30.0) -> None:
    """Let the event loop run: for `ms`, and then until `until()` holds (workers report through it)."""
    end = time.monotonic() + ms / 1000
    limit = time.monotonic() + timeout
    loop = QEventLoop()  # not QApplication.processEvents: PySide6 6.12 drops a reference to None on every call
    while time.monotonic() < end or (until is not None and not until() and time.monotonic() < limit):
        loop.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)


def save(widget: QWidget, path: Path) -> None:
    if not widget.grab().save(str(path)):
        raise SystemExit(f"cannot write {path}")
    print(f"wrote {path}")


def tab(window: MainWindow, name: str) -> None:
    window.tabs.setCurrentWidget(child(window.window, QWidget, name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cybertriage.gui.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("case", type=Path, help="case folder (the demo case with captures added)")
    parser.add_argument("out", type=Path, help="folder for the PNG files")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    QCoreApplication.setOrganizationName("cybertriage-screenshots")
    running = QApplication.instance()  # typed as the core application; in a window test it is the QApplication
    app = running if isinstance(running, QApplication) else QApplication(sys.argv[:1])
    app.setWindowIcon(icon("app"))
    app.setStyleSheet(style_sheet())
    with tempfile.TemporaryDirectory(prefix="cybertriage-screenshots-") as temporary:
        window = MainWindow(QSettings(str(Path(temporary) / "settings.ini"), QSettings.Format.IniFormat))
        window.window.resize(*SIZE)
        window.window.show()
        if not window.open_case(args.case):
            print(f"cannot open {args.case}", file=sys.stderr)
            return 1
        if not window.info.get("name"):
            write_case_info(args.case, DETAILS)
            window.session.load_info()
        settle(app, 800, lambda: window.findings.model is not None and window.findings.model.rowCount() > 0)
        shots(app, window, args.out)
        window.window.close()
        window.dispose()
    return 0


def shots(app: QApplication, window: MainWindow, out: Path) -> None:
    main = window.window
    tab(window, "dashboardTab")
    settle(app)
    save(main, out / "dashboard.png")

    tab(window, "evidenceTab")
    settle(app)
    save(main, out / "evidence.png")

    tab(window, "findingsTab")
    window.findings.view.selectRow(0)
    # the first finding of the demo case: the Windows computer's OneDrive.exe, a download cradle its prefetch says ran
    tag(app, window, out / "tag-dialog.png", "executed", "A PowerShell download cradle under OneDrive's name that ran "
        "twice (prefetch); ask who uses the 'test' profile.")
    settle(app)
    save(main, out / "findings.png")
    first = window.findings.model.finding(0) if window.findings.model is not None else None

    if first is not None and first["object_kind"] == "file":
        window.show_file(first["object_id"])
        window.files.detail_tabs.setCurrentIndex(0)
        tag(app, window, None, "exhibit 1", None)
        settle(app)
        save(main, out / "files.png")
        tabs = window.files.detail_tabs
        titles = [tabs.tabText(n).replace("&", "") for n in range(tabs.count())]
        tabs.setCurrentIndex(next((n for n, t in enumerate(titles) if t in ("Hex", "Content")), 1))
        settle(app, 1000)  # the bytes are read on the pool
        save(main, out / "content.png")

    tab(window, "networkTab")
    for name, file in (("flows", "network.png"), ("http", "network-http.png"), ("tls", "network-tls.png"),
                       ("dns", "network-dns.png"), ("credentials", "network-credentials.png")):
        window.network.show_table(name)
        if name in ("http", "tls"):  # the details pane: an exchange's headers, a server's certificate chain
            window.network.views[name].selectRow(0)
        settle(app)
        save(main, out / file)

    timeline = window.window.findChild(QWidget, "timelineTab")
    if timeline is not None:
        window.tabs.setCurrentWidget(timeline)
        settle(app, 1200)
        save(main, out / "timeline.png")

    tab(window, "systemTab")
    settle(app)
    save(main, out / "system.png")

    artefacts(app, window, out / "artefacts.png")

    report = window.report.ask()
    if report is not None:
        settle(app)
        save(report.dialog, out / "report-dialog.png")
        report.dialog.reject()


def artefacts(app: QApplication, window: MainWindow, shot: Path) -> None:
    """The Artefacts tab narrowed to the browser's records, the download selected: visit → download → file."""
    tab(window, "artefactsTab")
    view = window.artefacts
    family = view.type_box.findData("browser")
    if family >= 0:
        view.type_box.setCurrentIndex(family)
    settle(app)
    model = view.model
    if model is not None:
        rows = [row for row in range(model.rowCount()) if (record := model.record(row)) is not None
                and record["type"] == "browser.download"]
        view.view.selectRow(rows[0] if rows else 0)
    settle(app)
    save(window.window, shot)


def tag(app: QApplication, window: MainWindow, shot: Path | None, text: str, note: str | None) -> None:
    """Tag what is selected through the tag dialog, as the examiner would (the case is a copy made for this)."""
    dialog = window.tagging.tag_current()
    if dialog is None:
        return
    dialog.tag.setEditText(text)
    if note:
        dialog.note.setPlainText(note)
    settle(app)
    if shot is not None:
        save(dialog.dialog, shot)
    done: list[object] = []
    window.tagging.tagged.connect(lambda *args: done.append(args))
    window.tagging.failed.connect(lambda *args: done.append(args))
    dialog.dialog.accept()
    settle(app, 100, lambda: bool(done))


if __name__ == "__main__":
    sys.exit(main())
