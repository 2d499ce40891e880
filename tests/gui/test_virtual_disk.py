"""A virtual disk added in the application is scanned as its raw image is: the demo disk converted to QCOW2 by
`qemu-img` gives the files the command line finds in the raw demo disk, with the same sha256."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from tests.conftest import run_cli
from tests.gui.conftest import DEMO_IMAGE, scan_in_window


def _files(case: Path) -> set[tuple]:
    with sqlite3.connect(case / "case.db") as db:
        return set(db.execute("SELECT partition_offset, path, inode, size, sha256 FROM files WHERE path NOT LIKE '%!%'"))


def test_qcow2_added_in_the_application_lists_the_raw_disks_files(qtbot, main_window, tmp_path: Path) -> None:
    qcow = tmp_path / "demo-disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(DEMO_IMAGE), str(qcow)], check=True, capture_output=True)
    raw_case = tmp_path / "raw-case"
    assert run_cli("scan", DEMO_IMAGE, "--case", raw_case, "--quiet").code in (0, 1)
    case = tmp_path / "case"
    outcomes = scan_in_window(qtbot, main_window, case, [qcow], "virtual disk")
    assert [o.status for o in outcomes] == ["done"]
    with sqlite3.connect(case / "case.db") as db:
        assert db.execute("SELECT format FROM evidence").fetchone()[0] == "qcow2"
    ours = _files(case)
    assert len(ours) > 10
    assert ours == _files(raw_case)
