"""`cybertriage-gui [CASE_DIR]`: the desktop application.

`--self-test` opens the main window on the case given (or a fresh case in a
temporary folder), lets the event loop run briefly, and exits 0: a smoke test
for installs and CI. `--screenshot PNG` saves the window after loading, for
documentation and for looking at the window without a display.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtWidgets import QApplication

from .. import __version__
from ..case import open_case
from .forms import icon, style_sheet
from .main_window import MainWindow

TABS = ("dashboard", "evidence", "findings", "files", "network", "timeline")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cybertriage-gui", description="cybertriage desktop application")
    parser.add_argument("case", nargs="?", type=Path, metavar="CASE_DIR", help="case folder to open")
    parser.add_argument("--self-test", action="store_true",
                        help="open the window (on CASE_DIR or a fresh temporary case), run briefly, exit 0")
    parser.add_argument("--screenshot", type=Path, metavar="PNG", help=argparse.SUPPRESS)
    parser.add_argument("--tab", choices=TABS, help=argparse.SUPPRESS)
    parser.add_argument("--select-finding", type=int, metavar="ROW", help=argparse.SUPPRESS)
    parser.add_argument("--show-file", type=int, metavar="FILE_ID", help=argparse.SUPPRESS)
    parser.add_argument("--add", type=Path, action="append", default=[], metavar="EVIDENCE", help=argparse.SUPPRESS)
    parser.add_argument("--detail-tab", type=int, default=0, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--wait", type=int, default=1500, metavar="MS", help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"cybertriage {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    QCoreApplication.setOrganizationName("cybertriage")
    QCoreApplication.setApplicationName("cybertriage")
    running = QApplication.instance()  # typed as the core application; in a window test it is the QApplication
    app = running if isinstance(running, QApplication) else QApplication(sys.argv[:1])
    app.setWindowIcon(icon("app"))
    app.setStyleSheet(style_sheet())

    temporary = None
    case = args.case
    if args.self_test and case is None:
        temporary = tempfile.TemporaryDirectory(prefix="cybertriage-selftest-")
        case = Path(temporary.name) / "case"
        open_case(case, create=True).close()
    window = MainWindow()
    try:
        return _run(app, window, args, case)
    finally:  # models, connections and the window go before the QApplication does, on every way out
        window.dispose()
        if temporary is not None:
            temporary.cleanup()


def _run(app: QApplication, window: MainWindow, args: argparse.Namespace, case: Path | None) -> int:
    if case is not None and not window.open_case(case) and args.self_test:
        print(f"cybertriage-gui: self-test: cannot open {case}", file=sys.stderr)
        return 1
    if args.tab:
        window.tabs.setCurrentIndex(TABS.index(args.tab))
    if args.select_finding is not None:
        window.findings.view.selectRow(args.select_finding)
    if args.show_file is not None:
        window.show_file(args.show_file)
    window.files.detail_tabs.setCurrentIndex(args.detail_tab)
    window.window.show()
    if args.add:
        window.add_evidence(args.add)

    code = 0
    if args.self_test or args.screenshot:
        def finish() -> None:
            nonlocal code
            if args.screenshot:
                if not window.window.grab().save(str(args.screenshot)):
                    print(f"cybertriage-gui: cannot save {args.screenshot}", file=sys.stderr)
                    code = 1
            window.window.close()
            app.quit()

        QTimer.singleShot(args.wait, finish)
    result = app.exec()
    return code or result


if __name__ == "__main__":
    sys.exit(main())
