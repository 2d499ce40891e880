"""The application's processing option for carving (issue 19 item 5): a checkbox beside the buttons that add
evidence, ticked by default, whose state the next scan follows (the case's ledger says whether each
volume's unallocated space was carved)."""

from __future__ import annotations

import sqlite3

import pytest

from tests.gui.conftest import DEMO_IMAGE, scan_in_window


@pytest.mark.parametrize("carve", [True, False])
def test_the_carving_checkbox_decides_the_scan(qtbot, main_window, tmp_path, carve):
    from PySide6.QtWidgets import QCheckBox

    box = main_window.window.findChild(QCheckBox, "carveCheck")
    assert box is not None and box.isChecked()  # on by default in the application
    box.setChecked(carve)
    case = tmp_path / "case"
    scan_in_window(qtbot, main_window, case, [DEMO_IMAGE], "carving")
    with sqlite3.connect(case / "case.db") as db:
        carved = db.execute("SELECT attempted FROM ledger WHERE stage = 'carving'").fetchall()
        volumes = db.execute("SELECT count(*) FROM partitions WHERE filesystem IS NOT NULL").fetchone()[0]
    assert volumes == 2 and carved == ([(volumes,)] if carve else [])  # the demo disk's FAT16 and ext4 volumes
