"""The details panes as an examiner reads them: labelled tables, never JSON, never `\\u000a`; a PE's sections as
readpe and objdump print them, a correlation's detail as the sqlite3 CLI reads it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from PySide6.QtGui import QTextCursor, QTextTable
from PySide6.QtWidgets import QTextBrowser

from cybertriage.case import browse
from cybertriage.gui import details
from tests.conftest import REPO, run_cli

PE = "TLSCallback_x86.exe"


def tables(browser: QTextBrowser) -> list[list[list[str]]]:
    """Every table of a rich-text pane (nested ones too) as rows of cell texts, in document order."""
    found: list[list[list[str]]] = []

    def walk(frame) -> None:
        for child in frame.childFrames():
            if isinstance(child, QTextTable):
                rows = []
                for r in range(child.rows()):
                    cells = []
                    for c in range(child.columns()):
                        cell = child.cellAt(r, c)
                        cursor = cell.firstCursorPosition()
                        cursor.setPosition(cell.lastCursorPosition().position(), QTextCursor.MoveMode.KeepAnchor)
                        cells.append(cursor.selectedText().replace("\u2029", "\n").replace("\u2028", "\n"))
                    rows.append(cells)
                found.append(rows)
            walk(child)

    walk(browser.document().rootFrame())
    return found


def shown(html: str) -> QTextBrowser:
    browser = QTextBrowser()
    browser.setHtml(html)
    return browser


def assert_readable(browser: QTextBrowser) -> None:
    """No JSON punctuation and no escaped line break reaches the screen."""
    plain = browser.toPlainText()
    assert "\\u000a" not in plain and "\\n" not in plain
    assert not re.search(r'[{}]|"\w+":|\[\{', plain), plain


@pytest.fixture(scope="module")
def pe_case(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    case = tmp_path_factory.mktemp("pe_details") / "case"
    result = run_cli("scan", corpus_dir / "pe" / PE, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    return case


@pytest.fixture(scope="module")
def linked_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo disk and the demo capture: the download on the disk is correlated with the HTTP exchange."""
    case = tmp_path_factory.mktemp("correlated") / "case"
    demo = REPO / "resources" / "demo"
    result = run_cli("scan", demo / "demo-disk.img", demo / "demo-capture.pcap", "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    return case


def readpe_sections(path: Path) -> list[dict[str, int]]:
    out = subprocess.run(["readpe", "-S", str(path)], check=True, capture_output=True, text=True).stdout
    sections = []
    for block in out.split("Section\n")[1:]:
        fields = dict(re.findall(r"^\s+([A-Za-z ]+):\s+(\S+)", block, re.M))
        sections.append({key: int(fields[key], 0) for key in ("Virtual Size", "Virtual Address", "Size Of Raw Data",
                                                              "Pointer To Raw Data", "Characteristics")})
    return sections


def objdump_sections(path: Path) -> list[tuple[str, int]]:
    """Each section's name and VMA (image base + RVA) as objdump prints them."""
    out = subprocess.run(["objdump", "-h", str(path)], check=True, capture_output=True, text=True).stdout
    return [(name, int(vma, 16)) for name, vma in re.findall(r"^\s+\d+\s+(\S+)\s+[0-9a-f]{8}\s+([0-9a-f]{8})",
                                                             out, re.M)]


def test_a_pe_shows_its_sections_as_readpe_and_objdump_read_them(qtbot, pe_case, corpus_dir):
    conn = browse.connect(pe_case)
    file_id = conn.execute("SELECT id FROM files WHERE pe IS NOT NULL").fetchone()[0]
    browser = shown(details.file_html(browse.file_row(conn, file_id)))
    assert_readable(browser)
    path = corpus_dir / "pe" / PE
    expected = readpe_sections(path)
    dumped = objdump_sections(path)
    assert len(expected) == len(dumped) > 3
    section_table = next(t for t in tables(browser) if t[0][:3] == ["Name", "Virtual address", "Virtual size"])
    header, *rows = section_table
    assert [row[0] for row in rows] == [name for name, _ in dumped]
    column = {title: header.index(title) for title in header}
    base = int(json.loads(conn.execute("SELECT pe FROM files WHERE id = ?", [file_id]).fetchone()[0])["image_base"], 16)
    for row, section, (_, vma) in zip(rows, expected, dumped, strict=True):
        assert int(row[column["Virtual address"]], 16) == section["Virtual Address"] == vma - base
        assert int(row[column["Virtual size"]]) == section["Virtual Size"]
        assert int(row[column["Raw size"]]) == section["Size Of Raw Data"]
        assert int(row[column["Raw offset"]]) == section["Pointer To Raw Data"]
        assert int(row[column["Characteristics"]], 16) == section["Characteristics"]
    imports = next(t for t in tables(browser) if t[0] == ["Library", "Functions"])
    objdump = subprocess.run(["objdump", "-p", str(path)], check=True, capture_output=True, text=True).stdout
    dlls = re.findall(r"^\s+DLL Name: (\S+)", objdump, re.M)
    assert sorted(row[0].lower() for row in imports[1:]) == sorted(dll.lower() for dll in dlls)


def test_a_correlation_detail_is_labelled_rows(qtbot, linked_case):
    conn = browse.connect(linked_case)
    finding_id = conn.execute("SELECT id FROM findings WHERE analyzer = 'correlation' AND rule = 'arrived-over-network' "
                              "ORDER BY id LIMIT 1").fetchone()[0]
    out = subprocess.run(["sqlite3", "-readonly", str(linked_case / "case.db"),
                          f"SELECT json_extract(detail, '$.url'), json_extract(detail, '$.server'), "
                          f"json_extract(detail, '$.dns.query') FROM findings WHERE id = {finding_id}"],
                         check=True, capture_output=True, text=True).stdout.strip().split("|")
    url, server, query = out
    browser = shown(details.finding_html(browse.finding_row(conn, finding_id), None, None))
    assert_readable(browser)
    rows = {row[0]: row[1] for table in tables(browser) for row in table if len(row) == 2}
    assert rows["URL"] == url and rows["Server"] == server
    assert query and rows["Query"] == query  # the DNS lookup, a table of its own inside the detail


def test_line_breaks_in_evidence_text_are_breaks_and_other_controls_stay_visible():
    html = details.value_html({"description": "first line\nsecond line", "name": "evil\u202etxt.exe",
                               "nested": {"inner": [1, 2]}, "rows": [{"a": 1, "b": "x"}, {"a": 2}]})
    browser = shown(html)
    plain = browser.toPlainText()
    assert "first line\nsecond line" in plain.replace("\u2028", "\n")
    assert "\\u202e" in plain and "\u202e" not in plain  # a bidi override is shown, not obeyed
    assert_readable(browser)
    grid = next(t for t in tables(browser) if t[0] == ["A", "B"])
    assert grid[1:] == [["1", "x"], ["2", ""]]


def test_an_evidence_item_shows_its_segments_and_hashes_as_rows(demo_case):
    conn = browse.connect(demo_case)
    item = dict(conn.execute("SELECT * FROM evidence ORDER BY id LIMIT 1").fetchone())
    browser = shown(details.evidence_html(item))
    assert_readable(browser)
    rows = {row[0]: row[1] for table in tables(browser) for row in table}
    segments = json.loads(subprocess.run(["sqlite3", "-readonly", str(demo_case / "case.db"),
                                          "SELECT segments FROM evidence ORDER BY id LIMIT 1"],
                                         check=True, capture_output=True, text=True).stdout)
    assert rows["Segments"].split("\n") == segments
    assert rows["SHA-256"] == item["sha256"]


def test_no_view_dumps_json_on_screen():
    gui = Path(details.__file__).parent
    offenders = [path.name for path in gui.glob("*.py") if "json.dumps" in path.read_text()]
    assert offenders == []


def test_an_artefacts_multi_line_field_keeps_its_line_breaks():
    from cybertriage.gui.artefacts_view import _field_html

    browser = shown(_field_html({"message": "An account was logged on.\r\n\r\nSubject:\tS-1-5-18"}))
    plain = browser.toPlainText().replace("\u2028", "\n")
    assert "An account was logged on.\n\nSubject:" in plain and "\\u000" not in plain
    assert "\\u000a" not in shown(_field_html("line one\nline two")).toPlainText()
