"""A case with packet captures: the Network tab lists their flows and protocol records, the Files tab carried HTTP bodies."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, Qt

from cybertriage.case import browse
from cybertriage.case.objects import read_object
from cybertriage.gui.models import FolderFilesModel, FolderTreeModel
from cybertriage.gui.network import MASK, TABLES, TABLES_BY_NAME, RecordsModel
from tests.conftest import run_cli
from tests.gui.conftest import count
from tests.gui.test_window import open_case

CAPTURES = ("http_get", "ftp_ipv4", "smtp", "tls_tls1.2", "dns_tkey", "wikipedia")  # every network table gets rows


@pytest.fixture(scope="session")
def capture_case(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    case = tmp_path_factory.mktemp("capture") / "case"
    result = run_cli("scan", *(corpus_dir / "pcap" / f"{name}.pcap" for name in CAPTURES), "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    return case


@pytest.mark.parametrize("table", [t.name for t in TABLES])
def test_each_network_table_model_counts_every_row(qtmodeltester, capture_case, table):
    conn = browse.connect(capture_case)
    model = RecordsModel(conn, TABLES_BY_NAME[table])
    qtmodeltester.check(model)
    assert model.rowCount() == count(capture_case, f"SELECT count(*) FROM [{table}]") > 0
    second = model.names[1]
    assert model.data(model.index(0, 1)) == str(count(capture_case, f"SELECT [{second}] FROM [{table}] ORDER BY id LIMIT 1"))
    evidence = model.names.index("evidence_id")
    first_path = count(capture_case, f"SELECT e.path FROM [{table}] t JOIN evidence e ON e.id = t.evidence_id ORDER BY t.id LIMIT 1")
    assert model.data(model.index(0, evidence)) == Path(first_path).name


def test_sorting_a_network_table_is_the_sql_order(capture_case):
    conn = browse.connect(capture_case)
    model = RecordsModel(conn, TABLES_BY_NAME["dns"])
    column = model.names.index("query")
    model.sort(column, Qt.SortOrder.DescendingOrder)
    shown = [model.data(model.index(row, column)) for row in range(model.rowCount())]
    with sqlite3.connect(capture_case / "case.db") as db:
        expected = [r[0] or "" for r in db.execute("SELECT query FROM dns ORDER BY query DESC, id DESC")]
    assert shown == expected


def test_network_tabs_show_the_captures(qtbot, main_window, capture_case):
    open_case(qtbot, main_window, capture_case)
    flows = count(capture_case, "SELECT count(*) FROM flows")
    assert main_window.network.label.text().startswith(f"{flows:,} flows")
    network = main_window.network
    assert not network.tabs.isHidden()
    for table in TABLES:
        assert network.models[table.name].rowCount() == count(capture_case, f"SELECT count(*) FROM [{table.name}]")
        assert network.views[table.name].model() is network.models[table.name]


def test_credentials_are_masked_until_shown_and_showing_them_is_audited(qtbot, main_window, capture_case):
    open_case(qtbot, main_window, capture_case)
    model = main_window.network.models["credentials"]
    column = model.names.index("password")
    passwords = [r[0] for r in sqlite3.connect(capture_case / "case.db").execute(
        "SELECT password FROM credentials ORDER BY id")]
    assert passwords and all(model.data(model.index(row, column)) == MASK for row in range(model.rowCount()))
    before = count(capture_case, "SELECT count(*) FROM audit_log WHERE action = 'credentials shown'")
    with qtbot.waitSignal(main_window.network.revealed_changed, timeout=10_000) as shown:
        main_window.network.reveal_box.setChecked(True)
    assert shown.args == [True]
    assert count(capture_case, "SELECT count(*) FROM audit_log WHERE action = 'credentials shown'") == before + 1
    assert [model.data(model.index(row, column)) for row in range(model.rowCount())] == passwords
    main_window.network.reveal_box.setChecked(False)
    assert model.data(model.index(0, column)) == MASK


def test_demo_case_has_no_capture(qtbot, main_window, demo_case):
    open_case(qtbot, main_window, demo_case)
    assert "No packet capture" in main_window.network.label.text()
    assert main_window.network.tabs.isHidden()


def test_carried_http_bodies_are_files_of_the_capture(qtmodeltester, capture_case):
    conn = browse.connect(capture_case)
    tree = FolderTreeModel(conn)
    evidence = tree.index(0, 0)
    tree.fetchMore(evidence)
    assert tree.data(tree.index(0, 0, evidence)) == "http"  # a folder made of the paths, with no row of its own
    qtmodeltester.check(tree)
    body = count(capture_case, "SELECT id FROM files WHERE origin LIKE 'HTTP GET%' ORDER BY id LIMIT 1")
    row = browse.file_row(conn, body)
    folder = row["path"].rsplit("/", 1)[0]
    files = FolderFilesModel(conn)
    files.show_folder(row["evidence_id"], 0, folder)
    files.fetchMore(QModelIndex())
    assert body in [r["id"] for r in files.rows]
    data = read_object(capture_case, body, 0, row["size"])
    assert hashlib.sha256(data).hexdigest() == row["sha256"]


def test_new_rows_are_read_for_the_table_on_screen_and_the_others_when_shown(qtbot, main_window, capture_case):
    open_case(qtbot, main_window, capture_case)
    network = main_window.network
    dns = count(capture_case, "SELECT count(*) FROM dns")
    counts = {t.name: count(capture_case, f"SELECT count(*) FROM [{t.name}]") for t in TABLES}
    network.models["dns"]._ids.pop()  # as if the last DNS record had arrived after the model read the table
    network.models["http"]._ids.pop()
    network.tabs.setCurrentIndex(0)  # flows on screen
    network.show_counts(counts)
    assert network.models["dns"].rowCount() == dns - 1 and network.stale == {"dns", "http"}
    network.tabs.setCurrentIndex([t.name for t in TABLES].index("dns"))
    assert network.models["dns"].rowCount() == dns and network.stale == {"http"}


def _sqlite(case: Path, query: str) -> list[tuple[str, ...]]:
    """Rows as the sqlite3 command-line shell prints them (tab-separated), not through the package."""
    out = subprocess.run(["sqlite3", "-readonly", "-separator", "\t", str(case / "case.db"), query],
                         check=True, capture_output=True, text=True).stdout
    return [tuple(line.split("\t")) for line in out.splitlines()]


@pytest.mark.parametrize(("table", "column"), [("hosts", "names"), ("hosts", "open_ports"), ("dns", "answers"),
                                               ("smtp", "rcpt_to")])
def test_a_list_column_shows_its_items_joined(capture_case, table, column):
    conn = browse.connect(capture_case)
    model = RecordsModel(conn, TABLES_BY_NAME[table])
    number = model.names.index(column)
    expected = dict(_sqlite(capture_case, f"SELECT t.id, coalesce(group_concat(j.value, ', '), '') FROM [{table}] t "
                                          f"LEFT JOIN json_each(t.[{column}]) j GROUP BY t.id"))
    shown = {str(model.data(model.index(row, 0), Qt.ItemDataRole.UserRole)): model.data(model.index(row, number))
             for row in range(model.rowCount())}
    assert shown == expected
    assert any(shown.values())


def test_yes_no_and_evidence_columns_are_words(capture_case):
    conn = browse.connect(capture_case)
    model = RecordsModel(conn, TABLES_BY_NAME["credentials"])
    accepted, evidence = model.names.index("accepted"), model.names.index("evidence_id")
    stored = _sqlite(capture_case, "SELECT CASE c.accepted WHEN 1 THEN 'yes' WHEN 0 THEN 'no' ELSE '' END, e.path "
                                   "FROM credentials c JOIN evidence e ON e.id = c.evidence_id ORDER BY c.id")
    assert stored
    for row, (word, path) in enumerate(stored):
        assert model.data(model.index(row, accepted)) == word
        assert model.data(model.index(row, accepted), Qt.ItemDataRole.TextAlignmentRole) is None
        assert model.data(model.index(row, evidence)) == Path(path).name
    assert [model.headerData(n, Qt.Orientation.Horizontal) for n in range(model.columnCount())] == [
        "Time", "Source", "Port", "Destination", "Port", "Protocol", "User name", "Password", "Where", "Accepted",
        "Flow", "Evidence"]
