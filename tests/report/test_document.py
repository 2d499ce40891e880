"""The report's document model: built once from a case, rendered by the PDF and HTML writers.

The demo laptop's disk and capture are scanned by the command line; the PDF is read back with
pdftotext and the HTML with html.parser, so what is checked is what an examiner would read.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cybertriage.report import SECTIONS, ReportDetails, collect, write_html, write_pdf
from cybertriage.report.document import METHOD, Heading, KeyValue, Paragraph, Table, build_document
from tests.conftest import REPO, run_cli

DEMO = REPO / "resources" / "demo"


@dataclass
class Rendered:
    case: Path
    pdf_text: str  # pdftotext output, white space made single spaces
    pdf_lines: list[str]  # pdftotext -layout output: a table's row on one line
    html: "_Page"


class _Page(HTMLParser):
    """The page's visible text, its section ids in order, and each top-level table's header row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.sections: list[str] = []
        self.headers: list[list[str]] = []
        self._skip = 0
        self._depth = 0
        self._in_th = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("style", "script"):
            self._skip += 1
        elif tag == "section":
            self.sections.append(found.get("id") or "")
        elif tag == "table":
            self._depth += 1
            if self._depth == 1:
                self.headers.append([])
        elif tag == "th" and self._depth == 1:
            self._in_th = True
            self.headers[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip -= 1
        elif tag == "table":
            self._depth -= 1
        elif tag == "th":
            self._in_th = False

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)
        if self._in_th:
            self.headers[-1][-1] += data

    @property
    def flat(self) -> str:
        return " ".join("".join(self.text).split())


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    base = tmp_path_factory.mktemp("document")
    case = base / "case"
    result = run_cli("scan", DEMO / "demo-disk.img", DEMO / "demo-capture.pcap", "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    pdf = write_pdf(case, base / "report.pdf")
    html = write_html(case, base / "report.html")
    text, layout = (subprocess.run(["pdftotext", *options, "-enc", "UTF-8", str(pdf), "-"], capture_output=True,
                                   text=True, check=True).stdout for options in ([], ["-layout"]))
    page = _Page()
    page.feed(html.read_text(encoding="utf-8"))
    return Rendered(case, " ".join(text.split()), layout.splitlines(), page)


def test_sections_follow_the_report_order_and_the_examiners_choice(rendered: Rendered) -> None:
    chosen = ("integrity", "summary", "evidence")  # asked for out of order
    document = build_document(collect(rendered.case, ReportDetails(sections=chosen)))
    assert [s.name for s in document.sections] == ["evidence", "summary", "integrity"]
    everything = build_document(collect(rendered.case, ReportDetails()))
    with sqlite3.connect(rendered.case / "case.db") as db:
        present = {"pe": db.execute("SELECT count(*) FROM files WHERE pe IS NOT NULL").fetchone()[0],
                   "artefacts": db.execute("SELECT count(*) FROM artifacts").fetchone()[0],
                   "system": db.execute("SELECT count(*) FROM artifacts WHERE type = 'registry.system'").fetchone()[0]}
    assert [s.name for s in everything.sections] == [s for s in SECTIONS if present.get(s, True)]
    assert rendered.html.sections == [s.name for s in everything.sections]


def test_the_methodology_is_written_once_and_both_reports_print_it_once(rendered: Rendered) -> None:
    sources = "".join(path.read_text(encoding="utf-8") for path in (REPO / "cybertriage" / "report").glob("*.py"))
    assert sources.count("Disk images were read through Sleuth Kit") == 1  # in document.py only
    sentence = " ".join(METHOD.split(". ")[2].split())
    assert rendered.pdf_text.count(sentence) == 1
    assert rendered.html.flat.count(sentence) == 1


def test_every_table_of_the_document_is_a_table_of_the_page(rendered: Rendered) -> None:
    document = build_document(collect(rendered.case, ReportDetails()))
    tables = [block.columns for section in document.sections for block in section.blocks if isinstance(block, Table)]
    assert len(tables) >= 6
    for columns in tables:
        assert columns in rendered.html.headers
    for columns in tables:  # the PDF prints each header row, its cells in order on one line
        header = re.compile(r"\s+".join(map(re.escape, columns)))
        assert any(header.search(line) for line in rendered.pdf_lines), columns


def test_the_model_holds_text_as_it_is_and_the_renderers_escape_it(tmp_path: Path) -> None:
    folder = tmp_path / "loose"
    folder.mkdir()
    (folder / "note.txt").write_text("nothing to see\n")
    case = tmp_path / "case"
    assert run_cli("scan", folder, "--case", case, "--quiet").code == 0
    details = ReportDetails(notes="<i>first</i>\nsecond", sections=("evidence",))
    document = build_document(collect(case, details))
    notes = [b for b in document.cover if isinstance(b, Paragraph) and b.text.startswith("<i>")]
    assert [n.text for n in notes] == ["<i>first</i>\nsecond"]
    assert any(isinstance(b, Heading) and b.text == "Notes" for b in document.cover)
    titles = [b.title for b in document.sections[0].blocks if isinstance(b, KeyValue)]
    assert titles == ["Evidence 1: loose"]
    page = _Page()
    page.feed(write_html(case, tmp_path / "r.html", details).read_text(encoding="utf-8"))
    assert "<i>first</i>second" in page.flat  # shown as text, not obeyed as markup; a line break between
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(write_pdf(case, tmp_path / "r.pdf", details)), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert "<i>first</i>" in text and "second" in text
