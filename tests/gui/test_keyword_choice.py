"""The application's keyword lists (`scan --keywords FILE` in the GUI): a list chosen with the button is read at once
(a bad line is refused with its number), remembered, and searched in the next scan. The evidence is a UTF-16 text
file whose terms the test counts itself; the hits are read back with the sqlite3 command-line tool."""

from __future__ import annotations

import subprocess
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from tests.gui.conftest import scan_in_window

TEXT = "Parcel for Vasquez at pier 7.\nVasquez pays on delivery.\n"


def test_a_chosen_list_is_remembered_and_searched_in_the_next_scan(qtbot, main_window, settings, tmp_path: Path,
                                                                   monkeypatch) -> None:
    terms = tmp_path / "complaint-names.txt"
    terms.write_text("vasquez\npier 7\n", encoding="utf-8")
    bad = tmp_path / "bad.txt"
    bad.write_text("re:(unclosed\n", encoding="utf-8")
    warnings: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    choice = main_window.evidence.keyword_lists
    assert choice.button.text() == "Keyword lists"

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *args: ([str(bad)], ""))
    choice.choose()
    assert choice.files == [] and len(warnings) == 1 and "line 1" in warnings[0]

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *args: ([str(terms)], ""))
    choice.choose()
    assert choice.button.text() == "Keyword lists (1)"
    settings.sync()
    assert str(terms) in (tmp_path / "settings.ini").read_text()

    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "note.txt").write_bytes(TEXT.encode("utf-16"))
    scan_in_window(qtbot, main_window, tmp_path / "case", [evidence], "keywords")
    rows = subprocess.run(["sqlite3", str(tmp_path / "case" / "case.db"),
                           "SELECT term, count(*) FROM keyword_hits WHERE list = 'complaint-names' GROUP BY term "
                           "ORDER BY term"], capture_output=True, text=True, check=True).stdout.splitlines()
    assert rows == [f"pier 7|{TEXT.lower().count('pier 7')}", f"vasquez|{TEXT.lower().count('vasquez')}"]
