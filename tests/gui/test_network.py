"""A case with packet captures: the Network tab lists their flows and protocol records, the Files tab carried HTTP bodies."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest
from PySide6.QtCore import QModelIndex, QPoint, Qt
from PySide6.QtTest import QTest

from cybertriage.case import browse
from cybertriage.case.objects import read_object
from cybertriage.gui.conversation import ConversationDialog
from cybertriage.gui.models import FolderFilesModel, FolderTreeModel
from cybertriage.gui.network import MASK, TABLES, TABLES_BY_NAME, RecordsModel
from cybertriage.gui.network_details import ObjectDialog
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


def open_capture_case(qtbot, window, case: Path) -> None:
    """Open the case and wait for the network tables' rows, read on the pool."""
    open_case(qtbot, window, case)
    qtbot.waitUntil(lambda: bool(window.network.models) and not window.network._readers, timeout=10_000)


def test_network_tabs_show_the_captures(qtbot, main_window, capture_case):
    open_capture_case(qtbot, main_window, capture_case)
    flows = count(capture_case, "SELECT count(*) FROM flows")
    assert main_window.network.label.text().startswith(f"{flows:,} flows")
    network = main_window.network
    assert not network.tabs.isHidden()
    for table in TABLES:
        assert network.models[table.name].rowCount() == count(capture_case, f"SELECT count(*) FROM [{table.name}]")
        assert network.views[table.name].model() is network.models[table.name]


def test_credentials_are_masked_until_shown_and_showing_them_is_audited(qtbot, main_window, capture_case):
    open_capture_case(qtbot, main_window, capture_case)
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
    open_capture_case(qtbot, main_window, capture_case)
    network = main_window.network
    dns = count(capture_case, "SELECT count(*) FROM dns")
    counts = {t.name: count(capture_case, f"SELECT count(*) FROM [{t.name}]") for t in TABLES}
    network.models["dns"]._ids.pop()  # as if the last DNS record had arrived after the model read the table
    network.models["http"]._ids.pop()
    network.tabs.setCurrentIndex(0)  # flows on screen
    network.show_counts(counts)
    assert network.models["dns"].rowCount() == dns - 1 and network.stale == {"dns", "http"}
    network.tabs.setCurrentIndex([t.name for t in TABLES].index("dns"))
    assert network.stale == {"http"}
    qtbot.waitUntil(lambda: network.models["dns"].rowCount() == dns, timeout=10_000)  # read on the pool


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


# -- filters, details and conversations, as an examiner uses them ----------------------------------------------


def tshark(capture: Path, *args: str) -> list[str]:
    out = subprocess.run(["tshark", "-n", "-r", str(capture), *args], check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def show_tab(network, name: str) -> None:
    network.tabs.setCurrentIndex([t.name for t in TABLES].index(name))


def type_filter(qtbot, network, name: str, text: str) -> None:
    """Type a filter as the examiner does, press Enter, and wait for the rows read on the pool."""
    line = network.filters[name]
    line.clear()
    QTest.keyClicks(line, text)
    QTest.keyClick(line, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: name not in network._readers and network.models[name].filter_text == text.strip(),
                    timeout=10_000)


def click_row(qtbot, network, name: str, row: int) -> None:
    view = network.views[name]
    rect = view.visualRect(view.model().index(row, 0))
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def double_click(view, row: int) -> None:
    """A double-click as Qt delivers it: a click, then the double-click event on the same place."""
    where = view.visualRect(view.model().index(row, 1)).center()
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)
    QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, pos=where)


def captures(corpus_dir: Path) -> list[Path]:
    return [corpus_dir / "pcap" / f"{name}.pcap" for name in CAPTURES]


def test_typing_a_filter_narrows_each_tab_to_what_tshark_finds(qtbot, main_window, capture_case, corpus_dir):
    open_capture_case(qtbot, main_window, capture_case)
    network = main_window.network
    show_tab(network, "http")
    type_filter(qtbot, network, "http", "host:upload.wikimedia.org")
    expected = sum(len(tshark(c, "-Y", 'http.request && http.host == "upload.wikimedia.org"', "-T", "fields",
                              "-e", "frame.number")) for c in captures(corpus_dir))
    model = network.models["http"]
    assert expected > 1 and model.rowCount() == expected
    host = model.names.index("host")
    assert {model.data(model.index(row, host)) for row in range(model.rowCount())} == {"upload.wikimedia.org"}
    total = count(capture_case, "SELECT count(*) FROM http")
    assert network.counts["http"].text() == f"{expected:,} of {total:,}"
    show_tab(network, "flows")
    type_filter(qtbot, network, "flows", ":443")
    streams = sum(len(set(tshark(c, "-Y", "tcp.port == 443", "-T", "fields", "-e", "tcp.stream")))
                  for c in captures(corpus_dir))
    assert streams > 0 and network.models["flows"].rowCount() == streams
    type_filter(qtbot, network, "flows", "")
    assert network.models["flows"].rowCount() == count(capture_case, "SELECT count(*) FROM flows")
    type_filter(qtbot, network, "flows", "port:https")
    assert "a port is a number" in network.counts["flows"].text()


def test_the_http_details_show_the_headers_tshark_reads_and_open_the_body(qtbot, main_window, capture_case,
                                                                        corpus_dir):
    from tests.gui.test_details import tables

    open_capture_case(qtbot, main_window, capture_case)
    network = main_window.network
    show_tab(network, "http")
    type_filter(qtbot, network, "http", "host:bro.org")
    click_row(qtbot, network, "http", 0)
    pane = network.details["http"]
    capture = corpus_dir / "pcap" / "http_get.pcap"
    for field, shown_tables in (("http.request.line", 0), ("http.response.line", 1)):
        layers = json.loads(subprocess.run(["tshark", "-r", str(capture), "-Y", field.rsplit(".", 1)[0].replace(
            ".line", ""), "-T", "json", "-e", field], check=True, capture_output=True, text=True).stdout)
        lines = [line.rstrip("\r\n") for line in layers[0]["_source"]["layers"][field]]
        headers = tables(pane.browser)[shown_tables]
        assert [f"{name}: {value}" for name, value in headers] == lines
    assert pane.body_button.isEnabled()
    body = count(capture_case, "SELECT id FROM files WHERE sha256 = (SELECT body_sha256 FROM http WHERE host = 'bro.org')")
    QTest.mouseClick(pane.body_button, Qt.MouseButton.LeftButton)
    assert shown_in_files(qtbot, main_window) == body  # the body is a file of the case, selected in the Files tab
    exported = subprocess.run(["tshark", "-r", str(capture), "-q", "--export-objects", f"http,{capture_case.parent}/objects"],
                              check=True, capture_output=True)
    assert exported.returncode == 0
    sha = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (capture_case.parent / "objects").iterdir()}
    assert count(capture_case, f"SELECT sha256 FROM files WHERE id = {body}") in sha  # the bytes tshark exports
    show_tab(network, "http")
    main_window.show_tab("networkTab")
    double_click(network.views["http"], 0)
    assert shown_in_files(qtbot, main_window) == body  # a double-click opens the body too
    network.show_file = None  # without the window's Files tab (a network view on its own): a viewer of its own
    QTest.mouseClick(pane.body_button, Qt.MouseButton.LeftButton)
    dialog = main_window.window.findChild(ObjectDialog, "objectDialog")
    assert dialog is not None and dialog.viewer.row["id"] == body
    dialog.close()


def shown_in_files(qtbot, main_window) -> int:
    """The id of the file selected in the Files tab, once the tab is shown."""
    files = main_window.files
    qtbot.waitUntil(lambda: main_window.tabs.currentWidget().objectName() == "filesTab"
                    and files.view.currentIndex().isValid(), timeout=10_000)
    return files.model.rows[files.view.currentIndex().row()]["id"]


def test_the_tls_details_show_the_certificate_chain_openssl_reads(qtbot, main_window, capture_case, corpus_dir):
    from tests.case.test_network_views import _openssl, _openssl_time
    from tests.gui.test_details import tables

    open_capture_case(qtbot, main_window, capture_case)
    network = main_window.network
    show_tab(network, "tls")
    capture = corpus_dir / "pcap" / "tls_tls1.2.pcap"
    chain = [_openssl(der) for der in tshark(capture, "-Y", "tls.handshake.certificate", "-T", "fields",
                                             "-e", "tls.handshake.certificate")[0].split(",")]
    leaf = chain[0]["subject"].split(",")[0].removeprefix("CN=")
    type_filter(qtbot, network, "tls", leaf)
    assert network.models["tls"].rowCount() >= 1
    click_row(qtbot, network, "tls", 0)
    shown = next(t for t in tables(network.details["tls"].browser) if t[0][:2] == ["#", "Subject"])
    assert [row[1] for row in shown[1:]] == [c["subject"] for c in chain]
    assert [row[2] for row in shown[1:]] == [c["issuer"] for c in chain]
    assert [row[3] for row in shown[1:]] == [_openssl_time(c["notBefore"]) for c in chain]
    assert [row[4] for row in shown[1:]] == [_openssl_time(c["notAfter"]) for c in chain]
    assert [row[5] for row in shown[1:]] == [c["sha256 Fingerprint"].replace(":", "").lower() for c in chain]


def test_follow_conversation_shows_the_flows_records_and_files(qtbot, main_window, capture_case):
    open_capture_case(qtbot, main_window, capture_case)
    network = main_window.network
    show_tab(network, "smtp")
    click_row(qtbot, network, "smtp", 0)
    pane = network.details["smtp"]
    assert pane.follow_button.isEnabled()
    double_click(network.views["smtp"], 0)
    dialog = main_window.window.findChild(ConversationDialog, "conversationDialog")
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.talk is not None, timeout=10_000)
    evidence_id, flow_id = pane.flow()
    where = f"evidence_id = {evidence_id} AND flow_id = {flow_id}"
    files = _sqlite(capture_case, f"SELECT path FROM files WHERE {where} ORDER BY path, id")
    assert files and [dialog.files.item(r, 0).text() for r in range(dialog.files.rowCount())] == [f[0] for f in files]
    subjects = _sqlite(capture_case, f"SELECT subject FROM smtp WHERE {where}")
    text = dialog.browser.toPlainText()
    assert all(subject[0] in text for subject in subjects) and "Mail (SMTP)" in text
    lookups = _sqlite(capture_case, f"""SELECT query FROM dns d WHERE evidence_id = {evidence_id} AND EXISTS (SELECT 1
                      FROM json_each(d.answers) a WHERE a.value = (SELECT dst FROM flows WHERE {where}))""")
    assert lookups and all(query[0] in text for query in lookups)
    dialog.files.selectRow(0)
    QTest.mouseClick(dialog.open_button, Qt.MouseButton.LeftButton)
    shown = shown_in_files(qtbot, main_window)
    assert count(capture_case, f"SELECT path FROM files WHERE id = {shown}") == files[0][0]
    dialog.close()


def test_credentials_details_stay_masked_until_shown(qtbot, main_window, capture_case):
    open_capture_case(qtbot, main_window, capture_case)
    network = main_window.network
    show_tab(network, "credentials")
    click_row(qtbot, network, "credentials", 0)
    from tests.gui.test_details import tables

    def shown() -> str:
        return {row[0]: row[1] for table in tables(network.details["credentials"].browser) for row in table}["Password"]

    password = _sqlite(capture_case, "SELECT password FROM credentials ORDER BY id LIMIT 1")[0][0]
    assert password and shown() == MASK
    with qtbot.waitSignal(network.revealed_changed, timeout=10_000):
        network.reveal_box.setChecked(True)
    assert shown() == password
    network.reveal_box.setChecked(False)
    assert shown() == MASK


def test_screenshot_of_the_http_tab_with_a_filter_and_details(qtbot, main_window, capture_case, tmp_path):
    open_capture_case(qtbot, main_window, capture_case)
    network = main_window.network
    main_window.show_tab("networkTab")
    show_tab(network, "http")
    type_filter(qtbot, network, "http", "wikipedia")
    click_row(qtbot, network, "http", 0)
    picture = main_window.window.grab()
    assert not picture.isNull() and picture.save(str(tmp_path / "network.png"))
    picture.save("/tmp/h4_network_http.png")


def test_an_ftp_retrieval_opens_the_file_it_carried(qtbot, main_window, capture_case, corpus_dir):
    open_capture_case(qtbot, main_window, capture_case)
    network = main_window.network
    show_tab(network, "ftp")
    type_filter(qtbot, network, "ftp", "RETR")
    retrievals = tshark(corpus_dir / "pcap" / "ftp_ipv4.pcap", "-Y", 'ftp.request.command == "RETR"', "-T", "fields",
                        "-e", "ftp.request.arg")
    model = network.models["ftp"]
    assert retrievals and model.rowCount() == len(retrievals)
    click_row(qtbot, network, "ftp", 0)
    pane = network.details["ftp"]
    assert pane.body_button.text() == "Open file" and pane.body_button.isEnabled()
    digest = _sqlite(capture_case, f"SELECT file_sha256 FROM ftp WHERE id = {pane.row['id']}")[0][0]
    QTest.mouseClick(pane.body_button, Qt.MouseButton.LeftButton)
    assert count(capture_case, f"SELECT sha256 FROM files WHERE id = {shown_in_files(qtbot, main_window)}") == digest


def test_a_hosts_flows_are_a_click_away(qtbot, main_window, capture_case, corpus_dir):
    open_capture_case(qtbot, main_window, capture_case)
    network = main_window.network
    show_tab(network, "hosts")
    type_filter(qtbot, network, "hosts", "192.150.187.43")
    assert network.models["hosts"].rowCount() == 1
    double_click(network.views["hosts"], 0)
    assert network.tabs.currentIndex() == [t.name for t in TABLES].index("flows")
    qtbot.waitUntil(lambda: "flows" not in network._readers and bool(network.models["flows"].filter_text),
                    timeout=10_000)
    streams = set(tshark(corpus_dir / "pcap" / "http_get.pcap", "-Y", "ip.addr == 192.150.187.43", "-T", "fields",
                         "-e", "tcp.stream"))
    assert streams and network.models["flows"].rowCount() == len(streams)
    assert network.filters["flows"].text() == "192.150.187.43"


def test_a_case_scanned_before_schema_18_shows_what_it_kept(capture_case):
    """Headers and issuers were not kept before schema 18: the pane says so and shows the subjects and fingerprints."""
    from cybertriage.gui.network_details import chain_html, http_html
    from tests.gui.test_details import shown, tables

    [(subjects, fingerprints)] = _sqlite(capture_case, "SELECT cert_chain_subjects, cert_chain_sha256 FROM tls "
                                                       "WHERE cert_chain_sha256 != '[]' ORDER BY id LIMIT 1")
    old = {"cert_chain_subjects": subjects, "cert_chain_sha256": fingerprints}
    [chain] = [t for t in tables(shown(chain_html(old))) if t[0][:2] == ["#", "Subject"]]
    assert [row[1] for row in chain[1:]] == json.loads(subjects)
    assert [row[5] for row in chain[1:]] == json.loads(fingerprints)
    assert all(row[2] == row[3] == row[4] == "" for row in chain[1:])
    assert "none recorded" in shown(http_html({"method": "GET", "uri": "/", "status": 200})).toPlainText()


def test_a_filtered_tab_sorts_by_a_clicked_header(qtbot, main_window, capture_case):
    open_capture_case(qtbot, main_window, capture_case)
    network = main_window.network
    show_tab(network, "http")
    type_filter(qtbot, network, "http", "208.80.152.3")
    model, view = network.models["http"], network.views["http"]
    column = model.names.index("uri")
    header = view.horizontalHeader()
    where = QPoint(header.sectionViewportPosition(column) + header.sectionSize(column) // 2, header.height() // 2)
    expected = [row[0] for row in _sqlite(capture_case, "SELECT uri FROM http WHERE src = '208.80.152.3' OR "
                                                        "dst = '208.80.152.3' ORDER BY uri, id")]
    assert len(expected) > 1
    for order in (expected, expected[::-1]):  # a first click sorts ascending, a second descending
        QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=where)
        qtbot.waitUntil(lambda: "http" not in network._readers, timeout=10_000)
        qtbot.waitUntil(lambda order=order: [model.data(model.index(r, column)) for r in range(model.rowCount())]
                        == order, timeout=10_000)
