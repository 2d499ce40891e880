"""The content viewer and File → Export selected files, in the main window.

Bytes are checked against Sleuth Kit's icat, matches against the yara CLI, exported files against
icat's sha256; a sparse 4 GiB loose file shows its first rows at once and in bounded memory."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, QPoint, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QWidget

from cybertriage.assets import asset_dir
from cybertriage.case import browse
from cybertriage.gui.content import CACHED_PAGES, CURRENT_MATCH, MATCH, parse_offset
from tests import images
from tests.conftest import run_cli
from tests.gui.conftest import DEMO_IMAGE, count
from tests.gui.test_window import open_case

NOTE = "/home/alex/Desktop/README_RESTORE_FILES.txt"
VOLUMES = {"/Pictures/holiday.jpg": 1048576, "/Downloads/eicar.com": 1048576, NOTE: 4194304}


def icat(case: Path, path: str) -> bytes:
    inode = count(case, "SELECT inode FROM files WHERE path = ?", path)
    return subprocess.run(["icat", "-o", str(VOLUMES[path] // 512), str(DEMO_IMAGE), inode], capture_output=True,
                          check=True).stdout


def hex_row(data: bytes, start: int) -> str:
    """A row of the classic dump, made here from icat's bytes."""
    chunk = data[start : start + 16]
    hexes = " ".join(f"{b:02x}" for b in chunk[:8]) + "  " + " ".join(f"{b:02x}" for b in chunk[8:])
    return f"{start:08x}  {hexes:<48}  " + "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)


def show(qtbot, window, case: Path, path: str):
    open_case(qtbot, window, case)
    window.show_file(count(case, "SELECT id FROM files WHERE path = ?", path))
    viewer = window.files.content_viewer
    qtbot.waitUntil(lambda: viewer.hex.row_text(0) is not None, timeout=10_000)
    return viewer


def test_hex_rows_are_the_bytes_icat_reads(qtbot, main_window, demo_case):
    viewer = show(qtbot, main_window, demo_case, "/Pictures/holiday.jpg")
    data = icat(demo_case, "/Pictures/holiday.jpg")
    assert viewer.content.size == len(data)
    for offset in (0, 0x43, len(data) // 2 + 5, len(data) - 1):
        assert viewer.go_to(offset)
        qtbot.waitUntil(lambda o=offset: viewer.hex.row_text(o) is not None, timeout=10_000)
        assert viewer.hex.row_text(offset) == hex_row(data, offset - offset % 16)
        top = viewer.hex.top_offset()
        assert top <= offset < top + viewer.hex.visible_rows() * 16  # scrolled into sight
        assert f"offset {offset:#x} ({offset:,})" in viewer.labels[0].text()
    assert not viewer.go_to(len(data))  # one past the end
    assert "beyond the end" in viewer.labels[0].text()
    viewer.go_to(0)
    hex_view = viewer.hex
    row_y = 2 * hex_view._line_height() + 3
    qtbot.mouseClick(hex_view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(hex_view._byte_x(5) + 2, row_y))
    assert hex_view.cursor_offset == 2 * 16 + 5  # a click on a byte puts the cursor on it


def test_matches_are_the_yara_cli_matches_and_highlighted(qtbot, main_window, demo_case, tmp_path):
    viewer = show(qtbot, main_window, demo_case, NOTE)
    note = tmp_path / "note.txt"
    note.write_bytes(icat(demo_case, NOTE))
    rules = sorted(map(str, asset_dir("rules").rglob("*.yar")))
    cli = subprocess.run(["yara", "-s", "-w", *rules, str(note)], capture_output=True, text=True, check=True).stdout
    expected = {}  # (rule, offset, identifier) -> matched text
    for line in cli.splitlines():
        if not line.startswith("0x"):
            rule = line.split()[0]
            continue
        offset, identifier, text = line.split(":", 2)
        expected[(rule, int(offset, 16), identifier)] = text[1:]
    shown = {(m.rule, m.start, m.identifier): m.length for m in viewer.matches}
    assert shown and set(shown) <= set(expected)  # the case keeps the first 10 strings of each rule
    assert all(length == len(expected[key]) for key, length in shown.items())
    image = viewer.hex.viewport().grab().toImage()
    colors = {image.pixelColor(x, y).name() for x in range(0, image.width(), 3) for y in range(0, image.height(), 3)}
    assert MATCH.name() in colors and CURRENT_MATCH.name() not in colors  # no current match before F3


def test_f3_walks_the_matches_in_both_views(qtbot, main_window, demo_case):
    viewer = show(qtbot, main_window, demo_case, NOTE)
    data = icat(demo_case, NOTE)
    viewer.hex.setFocus()
    starts = []
    for _ in range(3):
        qtbot.keyClick(viewer.hex, Qt.Key.Key_F3)
        match = viewer.hex.current
        starts.append(match.start)
        assert viewer.text.current == match and viewer.hex.cursor_offset == match.start
        qtbot.waitUntil(lambda: bool(viewer.text.edit.extraSelections()), timeout=10_000)
        selections = viewer.text.edit.extraSelections()
        on_top = selections[-1].cursor.selectedText()
        assert on_top == data[match.start : match.end].decode()
    assert starts == sorted(starts) == [m.start for m in viewer.matches[:3]]
    qtbot.keyClick(viewer.hex, Qt.Key.Key_F3, Qt.KeyboardModifier.ShiftModifier)
    assert viewer.hex.current == viewer.matches[1]
    image = viewer.hex.viewport().grab().toImage()
    assert any(image.pixelColor(x, y) == CURRENT_MATCH for x in range(0, image.width(), 2) for y in range(0, 60, 2))


def test_ctrl_g_goes_to_the_offset_typed(qtbot, main_window, demo_case, monkeypatch):
    viewer = show(qtbot, main_window, demo_case, "/Pictures/holiday.jpg")
    data = icat(demo_case, "/Pictures/holiday.jpg")
    monkeypatch.setattr("cybertriage.gui.content.QInputDialog.getText", lambda *a, **k: ("0x1f0", True))
    viewer.hex.setFocus()
    qtbot.keyClick(viewer.hex, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert viewer.hex.cursor_offset == 0x1F0
    qtbot.waitUntil(lambda: viewer.text.range_label.text().startswith("bytes 0x0–"), timeout=10_000)
    monkeypatch.setattr("cybertriage.gui.content.QInputDialog.getText", lambda *a, **k: (str(len(data) - 3), True))
    main_window.files.detail_tabs.setCurrentIndex(2)  # the Text tab
    viewer.text.edit.setFocus()
    qtbot.keyClick(viewer.text.edit, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert viewer.hex.cursor_offset == len(data) - 3
    assert viewer.hex.row_text(len(data) - 3) == hex_row(data, (len(data) - 3) // 16 * 16)


def test_offsets_as_examiners_type_them():
    assert [parse_offset(t) for t in ("0x1F0", "1f0h", "1f0", "496", " 4_096 ", "0x", "ten")] == [
        496, 496, 496, 496, 4096, None, None]


def test_a_4_gib_file_opens_at_once_in_bounded_memory(qtbot, main_window, tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    big = evidence / "big.bin"
    big.write_bytes(b"start of a big file")
    case = tmp_path / "case"
    assert run_cli("scan", evidence, "--case", case, "--quiet", "--no-yara").code == 0
    marks = {0: b"start of a big file", (3 << 30) + 5: b"MARK-3-GIB", (4 << 30) - 10: b"LAST BYTES"}
    with open(big, "r+b") as handle:  # grown sparse after the scan: hashing 4 GiB is not what is tested here
        handle.truncate(4 << 30)
        for offset, text in marks.items():
            handle.seek(offset)
            handle.write(text)
    open_case(qtbot, main_window, case)
    row = browse.file_row(main_window.conn, count(case, "SELECT id FROM files WHERE path = '/big.bin'"))
    row["size"] = big.stat().st_size
    viewer = main_window.files.content_viewer
    main_window.files.detail_tabs.setCurrentIndex(1)
    rss = _rss()
    started = time.perf_counter()
    viewer.show_file(row)
    viewer.hex.viewport().repaint()
    qtbot.waitUntil(lambda: viewer.hex.row_text(0) is not None, timeout=5_000)
    viewer.hex.viewport().repaint()
    first_rows = time.perf_counter() - started
    assert first_rows < 1.0, first_rows
    for offset, text in marks.items():
        assert viewer.go_to(offset)
        qtbot.waitUntil(lambda o=offset: viewer.hex.row_text(o) is not None, timeout=5_000)
        row_start = offset - offset % 16
        shown = bytes.fromhex(viewer.hex.row_text(offset).split("  ", 1)[1][:49].replace("  ", " "))
        assert shown[offset - row_start :].startswith(text[: 16 - (offset - row_start)])
    for step in range(64):  # paging about the whole file
        viewer.go_to(step * (1 << 26))
        qtbot.waitUntil(lambda s=step: viewer.hex.row_text(s * (1 << 26)) is not None, timeout=5_000)
    assert len(viewer.content._cache) <= CACHED_PAGES
    assert _rss() - rss < 64 * 1024 * 1024
    assert viewer.hex.verticalScrollBar().maximum() > (4 << 30) // 16 - 100


def _rss() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _select(view, rows: list[int]) -> None:
    selection = view.selectionModel()
    selection.clearSelection()
    for row in rows:
        flags = QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows
        selection.select(view.model().index(row, 0), flags)


@pytest.mark.parametrize("tab", ["filesTab", "findingsTab"])
def test_export_selected_files_from_the_window(qtbot, main_window, demo_case, tmp_path, monkeypatch, tab):
    shutil.copytree(demo_case, tmp_path / "case")  # the export is audited: the shared demo case stays as it was
    demo_case = tmp_path / "case"
    open_case(qtbot, main_window, demo_case)
    assert main_window.actions["ExportFiles"].shortcut() == QKeySequence("Ctrl+E")
    if tab == "filesTab":
        main_window.show_file(count(demo_case, "SELECT id FROM files WHERE path = '/Pictures/holiday.jpg'"))
        model = main_window.files.model
        wanted = [r for r, row in enumerate(model.rows) if row.get("kind") == "file"]
        _select(main_window.files.view, wanted)
        paths = {"/Pictures/" + model.rows[r]["name"] for r in wanted}
        assert len(paths) >= 2
    else:
        main_window.tabs.setCurrentWidget(main_window.window.findChild(QWidget, tab))
        model = main_window.findings.model
        wanted = [r for r in range(model.rowCount()) if model.finding(r)["rule"] in ("EICAR_Test_File", "Ransom_Note_Generic")]
        _select(main_window.findings.view, wanted)
        paths = {"/Downloads/eicar.com", NOTE}
    destination = tmp_path / "exported"
    monkeypatch.setattr("cybertriage.gui.export_files.QFileDialog.getExistingDirectory", lambda *a, **k: str(destination))
    with qtbot.waitSignal(main_window.file_export.done, timeout=30_000) as done:
        main_window.actions["ExportFiles"].trigger()
    export = done.args[0]
    assert {f.case_path for f in export.files} == paths
    for item in export.files:
        assert item.verified == "verified"
        offset = 4194304 if item.case_path.startswith("/home") else 1048576
        inode = count(demo_case, "SELECT inode FROM files WHERE id = ?", item.file_id)
        assert hashlib.sha256((destination / item.exported_name).read_bytes()).hexdigest() == \
            images.icat_sha256(DEMO_IMAGE, offset, inode)
    box = main_window.file_export.result_box
    assert box.text().startswith(f"{len(paths)} of {len(paths)} files exported")
    assert export.manifest.is_file()
    assert count(demo_case, "SELECT count(*) FROM audit_log WHERE action = 'files exported' AND detail LIKE ?",
                 f"%{destination}%") == 1
    box.done(0)


def test_export_into_the_case_folder_is_refused_in_one_line(qtbot, main_window, demo_case, tmp_path, monkeypatch):
    """The output guard holds for the application too: the case's object store is not a destination."""
    shutil.copytree(demo_case, tmp_path / "case")
    case = tmp_path / "case"
    open_case(qtbot, main_window, case)
    main_window.show_file(count(case, "SELECT id FROM files WHERE path = '/Pictures/holiday.jpg'"))
    model = main_window.files.model
    _select(main_window.files.view, [r for r, row in enumerate(model.rows) if row.get("kind") == "file"][:1])
    destination = case / "objects" / "exported"
    monkeypatch.setattr("cybertriage.gui.export_files.QFileDialog.getExistingDirectory", lambda *a, **k: str(destination))
    with qtbot.waitSignal(main_window.file_export.done, timeout=30_000) as done:
        main_window.actions["ExportFiles"].trigger()
    assert isinstance(done.args[0], Exception)
    box = main_window.file_export.result_box
    assert box.text() == "The files were not exported."
    assert box.informativeText().startswith("refusing to write into") and "\n" not in box.informativeText()
    assert not destination.exists()
    box.done(0)
