"""Archives beyond zip in the application: a folder holding a .tar.gz (made by GNU tar) and a .7z (p7zip), added
and scanned in the window, gives the EICAR finding of each member, and the content viewer shows a member's bytes
read back through its archive (the .tar.gz inside the .7z: two streams re-read)."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from tests.gui.conftest import count, scan_in_window
from tests.images import EICAR


def test_archives_scanned_in_the_application_show_their_members(qtbot, main_window, tmp_path: Path) -> None:
    packing, evidence = tmp_path / "packing", tmp_path / "evidence"
    packing.mkdir()
    evidence.mkdir()
    (packing / "eicar.com").write_bytes(EICAR)
    subprocess.run(["tar", "-czf", "inner.tar.gz", "eicar.com"], cwd=packing, check=True)
    subprocess.run(["7z", "a", "-bso0", str(evidence / "outer.7z"), "inner.tar.gz"], cwd=packing, check=True)
    subprocess.run(["tar", "-czf", str(evidence / "pack.tar.gz"), "eicar.com"], cwd=packing, check=True)
    case = tmp_path / "case"
    scan_in_window(qtbot, main_window, case, [evidence], "archives")
    qtbot.waitUntil(lambda: main_window.findings.model is not None and main_window.findings.model.rowCount() >= 2,
                    timeout=10_000)
    with sqlite3.connect(case / "case.db") as db:
        eicar = {path for (path,) in db.execute("SELECT object FROM findings WHERE rule = 'EICAR_Test_File'")}
    assert eicar == {"/pack.tar.gz!eicar.com", "/outer.7z!inner.tar.gz!eicar.com"}
    file_id = count(case, "SELECT id FROM files WHERE path = '/outer.7z!inner.tar.gz!eicar.com'")
    main_window.show_file(file_id)
    assert main_window.tabs.currentWidget().objectName() == "filesTab"
    qtbot.waitUntil(lambda: "EICAR-STANDARD-ANTIVIRUS-TEST-FILE" in main_window.files.content_viewer.text.edit.toPlainText(),
                    timeout=10_000)
