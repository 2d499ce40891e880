"""The application's processing option for carving (issue 19 item 5): a checkbox beside the buttons that add
evidence, ticked by default, whose state the next scan follows (the case's ledger says whether each
volume's unallocated space was carved)."""

from __future__ import annotations

import sqlite3

import pytest

from tests.gui.conftest import DEMO_IMAGE

SCAN_TIMEOUT_MS = 120_000


@pytest.mark.parametrize("carve", [True, False])
def test_the_carving_checkbox_decides_the_scan(qtbot, main_window, tmp_path, carve):
    from PySide6.QtWidgets import QCheckBox

    box = main_window.window.findChild(QCheckBox, "carveCheck")
    assert box is not None and box.isChecked()  # on by default in the application
    box.setChecked(carve)
    case = tmp_path / "case"
    main_window.create_case(case, {"name": "carving"})
    main_window.add_evidence([DEMO_IMAGE])
    worker = main_window.evidence.worker
    assert worker is not None
    with qtbot.waitSignals([worker.signals.finished, main_window.scan_done], order="strict", timeout=SCAN_TIMEOUT_MS):
        pass
    with sqlite3.connect(case / "case.db") as db:
        carved = db.execute("SELECT attempted FROM ledger WHERE stage = 'carving'").fetchall()
        volumes = db.execute("SELECT count(*) FROM partitions WHERE filesystem IS NOT NULL").fetchone()[0]
    assert volumes == 2 and carved == ([(volumes,)] if carve else [])  # the demo disk's FAT16 and ext4 volumes
