"""A case with a packet capture: the Network tab lists its flows, the Files tab its carried HTTP bodies."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex

from cybertriage.case.objects import read_object
from cybertriage.gui import casedb
from cybertriage.gui.main_window import FLOW_COLUMNS
from cybertriage.gui.models import FolderFilesModel, FolderTreeModel, TableRowsModel
from tests.conftest import run_cli
from tests.gui.conftest import count
from tests.gui.test_window import open_case


@pytest.fixture(scope="session")
def capture_case(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    case = tmp_path_factory.mktemp("capture") / "case"
    result = run_cli("scan", corpus_dir / "pcap" / "http_get.pcap", "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    return case


def test_flows_model_counts_every_flow(qtmodeltester, capture_case):
    conn = casedb.connect(capture_case)
    model = TableRowsModel(conn, "flows", FLOW_COLUMNS)
    qtmodeltester.check(model)
    assert model.rowCount() == count(capture_case, "SELECT count(*) FROM flows") > 0
    assert model.data(model.index(0, 5)) == count(capture_case, "SELECT src FROM flows ORDER BY id LIMIT 1")


def test_network_tab_shows_the_capture(qtbot, main_window, capture_case):
    open_case(qtbot, main_window, capture_case)
    flows = count(capture_case, "SELECT count(*) FROM flows")
    assert main_window.network_label.text().startswith(f"{flows:,} flows")
    assert main_window.flows_model.rowCount() == flows


def test_demo_case_has_no_capture(qtbot, main_window, demo_case):
    open_case(qtbot, main_window, demo_case)
    assert "No packet capture" in main_window.network_label.text()
    assert main_window.flows_view.isHidden()


def test_carried_http_bodies_are_files_of_the_capture(qtmodeltester, capture_case):
    conn = casedb.connect(capture_case)
    tree = FolderTreeModel(conn)
    evidence = tree.index(0, 0)
    tree.fetchMore(evidence)
    assert tree.data(tree.index(0, 0, evidence)) == "http"  # a folder made of the paths, with no row of its own
    qtmodeltester.check(tree)
    body = count(capture_case, "SELECT id FROM files WHERE origin LIKE 'HTTP GET%' ORDER BY id LIMIT 1")
    row = casedb.file_row(conn, body)
    folder = row["path"].rsplit("/", 1)[0]
    files = FolderFilesModel(conn)
    files.show_folder(row["evidence_id"], 0, folder)
    files.fetchMore(QModelIndex())
    assert body in [r["id"] for r in files.rows]
    data = read_object(capture_case, body, 0, row["size"])
    assert hashlib.sha256(data).hexdigest() == row["sha256"]
