"""The demo's Windows computer in the application (offscreen): the System tab names the computer as the SYSTEM hive
does (reglookup on the hive icat reads from the image), the Artefacts tab lists the case's rows and narrows them to a
type, with as many rows of each type as the sqlite3 CLI counts in the case; a selected artefact's fields read as
text (the download's as the sqlite3 CLI reads them); a case without Windows artefacts says so in both tabs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.demo.conftest import CAPTURE, WindowsDemo
from tests.demo.test_demo_windows import HISTORY, SYSTEM, reglookup, sqlite3, subkeys

pytestmark = [pytest.mark.qt_log_level_fail("WARNING"),
              pytest.mark.qt_log_ignore(r"This plugin does not support propagateSizeHints\(\)")]


@pytest.fixture
def window(qtbot, qapp, tmp_path: Path):
    from PySide6.QtCore import QSettings

    from cybertriage.gui.main_window import MainWindow

    main = MainWindow(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    main.window.show()
    yield main
    main.dispose()


def opened(qtbot, window, demo: WindowsDemo):
    with qtbot.waitSignal(window.refreshed, timeout=20_000):
        assert window.open_case(demo.case)
    return window


def test_system_tab_names_the_computer(qtbot, window, windows_demo: WindowsDemo, tmp_path: Path) -> None:
    hive = windows_demo.extract(SYSTEM, tmp_path / "SYSTEM")
    name = reglookup(hive, "/ControlSet001/Control/ComputerName/ComputerName")["ComputerName"]
    opened(qtbot, window, windows_demo)
    text = window.system.widget.toPlainText()
    assert name in text and "Alice Example" in text
    usbstor = "/ControlSet001/Enum/USBSTOR"
    serials = {instance.split("&")[0] for device in subkeys(hive, usbstor) for instance in subkeys(hive, f"{usbstor}/{device}")}
    assert serials and all(serial in text for serial in serials)  # the USB sticks' serial numbers
    assert "User accounts" in text and "Storage devices" in text


def test_artefacts_tab_filters_by_type(qtbot, window, windows_demo: WindowsDemo) -> None:
    opened(qtbot, window, windows_demo)
    view = window.artefacts
    counts = dict((kind, int(n)) for kind, n in sqlite3(windows_demo.case / "case.db",
                                                       "SELECT type, count(*) FROM artifacts GROUP BY type"))
    assert view.model is not None and view.model.rowCount() > 0
    for kind in ("prefetch", "browser.download", "registry.run", "registry.usb", "task"):
        index = view.type_box.findData(kind)
        assert index >= 0, kind
        view.type_box.setCurrentIndex(index)
        qtbot.waitUntil(lambda kind=kind: view.model.rowCount() == counts[kind], timeout=5_000)
        assert {view.model.record(row)["type"] for row in range(view.model.rowCount())} == {kind}
    registry = view.type_box.findData("registry")
    view.type_box.setCurrentIndex(registry)
    registry_rows = sum(n for kind, n in counts.items() if kind.startswith("registry."))
    qtbot.waitUntil(lambda: view.model.rowCount() == registry_rows, timeout=5_000)
    view.view.selectRow(0)
    qtbot.waitUntil(lambda: view.file_button.isEnabled(), timeout=5_000)
    assert view.model.record(0)["type"].startswith("registry.")


def test_an_artefact_s_fields_read_as_text(qtbot, window, windows_demo: WindowsDemo, tmp_path: Path) -> None:
    """The download's fields beside the table: its URL chain one URL a line, no JSON punctuation or escapes."""
    history = windows_demo.extract(HISTORY, tmp_path / "History")
    [(url, target)] = sqlite3(history, "SELECT c.url, d.target_path FROM downloads d JOIN downloads_url_chains c "
                                       "ON c.id = d.id")
    opened(qtbot, window, windows_demo)
    view = window.artefacts
    view.type_box.setCurrentIndex(view.type_box.findData("browser.download"))
    qtbot.waitUntil(lambda: view.model.rowCount() == 1, timeout=5_000)
    view.view.selectRow(0)
    qtbot.waitUntil(lambda: view.file_button.isEnabled(), timeout=5_000)
    lines = view.details.toPlainText().splitlines()
    assert lines[lines.index("url_chain") + 1] == url  # Qt's plain text puts each table cell on a line
    assert any(target in line for line in lines)
    assert not any("\\u000a" in line or '["' in line for line in lines)


def test_a_case_without_windows_says_so(qtbot, window, tmp_path: Path) -> None:
    case = tmp_path / "case"
    result = run_cli("scan", CAPTURE, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    with qtbot.waitSignal(window.refreshed, timeout=20_000):
        assert window.open_case(case)
    assert "No Windows registry in this case" in window.system.widget.toPlainText()
    assert "No artefacts in this case" in window.artefacts.details.toPlainText()
    assert not window.artefacts.type_box.isEnabled()
