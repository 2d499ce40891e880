"""Remembered state and shortcuts: column widths and splitters survive closing and reopening the window."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QSplitter

from tests.gui.test_window import open_case


def new_window(settings):
    from cybertriage.gui.main_window import MainWindow

    window = MainWindow(settings)
    window.window.show()
    return window


def test_column_widths_and_splitters_survive_close_and_reopen(qtbot, settings, demo_case):
    first = new_window(settings)
    open_case(qtbot, first, demo_case)
    first.findings.view.horizontalHeader().resizeSection(3, 333)
    first.files.view.horizontalHeader().resizeSection(0, 321)
    first.evidence.view.horizontalHeader().resizeSection(0, 277)
    first.window.resize(780, 560)  # the offscreen screen is 800×600
    first.tabs.setCurrentWidget(first.findings.view.parentWidget().parentWidget())
    splitter = first.window.findChild(QSplitter, "findingsSplitter")
    splitter.setSizes([120, sum(splitter.sizes()) - 120])
    first.window.close()
    first.dispose()
    settings.sync()

    second = new_window(settings)
    try:
        assert second.window.size().width() == 780
        assert second.evidence.view.horizontalHeader().sectionSize(0) == 277
        open_case(qtbot, second, demo_case)
        assert second.findings.view.horizontalHeader().sectionSize(3) == 333
        assert second.files.view.horizontalHeader().sectionSize(0) == 321
        second.tabs.setCurrentWidget(second.findings.view.parentWidget().parentWidget())
        assert second.window.findChild(QSplitter, "findingsSplitter").sizes()[0] == 120
    finally:
        second.dispose()


def test_shortcuts(qtbot, main_window, demo_case):
    open_case(qtbot, main_window, demo_case)
    shortcuts = {name: action.shortcut().toString() for name, action in main_window.actions.items()}
    assert {k: shortcuts[k] for k in ("NewCase", "OpenCase", "ExportReport", "Quit", "Find", "Refresh", "Tag")} == {
        "NewCase": "Ctrl+N", "OpenCase": "Ctrl+O", "ExportReport": "Ctrl+R", "Quit": "Ctrl+Q", "Find": "Ctrl+F",
        "Refresh": "F5", "Tag": "Ctrl+T"}
    main_window.window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is main_window.window, timeout=5_000)
    qtbot.keyClick(main_window.window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert main_window.tabs.currentWidget().objectName() == "findingsTab"
    assert QApplication.focusWidget() is main_window.findings.search
    with qtbot.waitSignal(main_window.refreshed, timeout=10_000):
        qtbot.keyClick(main_window.window, Qt.Key.Key_F5)


def test_folders_remembered_and_a_gone_one_skipped(settings, tmp_path):
    from pathlib import Path

    from cybertriage.gui.state import Folders

    folders = Folders(settings)
    assert folders.cases() == Path.home() / "cybertriage-cases"
    assert folders.evidence() == Path.home()
    (tmp_path / "cases" / "op-falcon").mkdir(parents=True)
    (tmp_path / "seized").mkdir()
    folders.remember_case(tmp_path / "cases" / "op-falcon")
    folders.remember_evidence(tmp_path / "seized" / "laptop.E01")
    settings.sync()
    again = Folders(type(settings)(settings.fileName(), settings.format()))
    assert (again.cases(), again.case_start(), again.evidence()) == (tmp_path / "cases", tmp_path / "cases",
                                                                      tmp_path / "seized")
    (tmp_path / "seized").rmdir()  # the USB disk is gone
    assert again.evidence() == Path.home()
