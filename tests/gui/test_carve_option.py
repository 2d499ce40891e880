"""The application's processing option for carving (issue 19 item 5): a checkbox beside the buttons that add
evidence, ticked by default, whose state the next scan follows (the case's ledger says whether each
volume's unallocated space was carved); and beside it "Carve file slack", off by default and independent of it."""

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
        slack = db.execute("SELECT count(*) FROM ledger WHERE stage = 'slack carving'").fetchone()[0]
    assert volumes == 2 and carved == ([(volumes,)] if carve else [])  # the demo disk's FAT16 and ext4 volumes
    assert slack == 0  # the slack box is off by default


def test_the_slack_checkbox_carves_file_slack_alone(qtbot, main_window, tmp_path):
    from PySide6.QtWidgets import QCheckBox

    unallocated = main_window.window.findChild(QCheckBox, "carveCheck")
    slack = main_window.window.findChild(QCheckBox, "carveSlackCheck")
    assert slack is not None and slack.text() == "Carve file slack" and not slack.isChecked()
    unallocated.setChecked(False)
    slack.setChecked(True)
    case = tmp_path / "case"
    scan_in_window(qtbot, main_window, case, [DEMO_IMAGE], "slack")
    with sqlite3.connect(case / "case.db") as db:
        stages = dict(db.execute("SELECT stage, attempted FROM ledger WHERE stage LIKE '%carving'").fetchall())
        volumes = db.execute("SELECT count(*) FROM partitions WHERE filesystem IS NOT NULL").fetchone()[0]
        outside = db.execute("SELECT count(*) FROM files WHERE path LIKE '$Carved/%' "
                             "AND path NOT LIKE '$Carved/slack/%'").fetchone()[0]
    assert stages == {"slack carving": volumes} and outside == 0
