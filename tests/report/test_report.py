"""PDF and HTML reports of a case scanned from real evidence, read back with poppler and html.parser.

Expected values come from the case database through plain sqlite3 and from the
evidence we built, never from the report code; the PDF is read by pdftotext,
pdfinfo and pdftoppm, the HTML by Python's html.parser.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from cybertriage.report import ReportDetails, visible, write_html, write_pdf
from tests.conftest import REPO, run_cli

CASE_NUMBER = "CT-2025/0042"
RULE_SAMPLES = REPO / "tests" / "data" / "rules" / "positive"
# A name that is Paragraph markup (the '/' makes it a folder and a file on disk; its path reads as one
# string), and one whose right-to-left override would show "invoiceexe.png" if obeyed.
HOSTILE_PATH = "/<font size=40>x</font>&amp;<b>.txt"
RLO_NAME = "invoice\u202egnp.exe"
UNICODE_NAME = "Überweisung_报告_файл.txt"


@dataclass
class Report:
    case: Path
    pdf: Path
    html: Path
    text: str  # pdftotext output
    flat: str  # the same with every run of white space made one space


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Report:
    base = tmp_path_factory.mktemp("report")
    folder = base / "loose"
    (folder / "<font size=40>x<").mkdir(parents=True)
    shutil.copyfile(RULE_SAMPLES / "Ransom_Note_Generic.txt", folder / HOSTILE_PATH.lstrip("/"))  # critical
    shutil.copyfile(RULE_SAMPLES / "PowerShell_Download_Cradle.ps1", folder / RLO_NAME)  # high
    shutil.copyfile(RULE_SAMPLES / "Tor_Onion_Address_V3.txt", folder / UNICODE_NAME)  # low
    case = base / "case"
    result = run_cli("scan", REPO / "resources" / "demo" / "demo-disk.img", corpus_dir / "disk" / "dfvfs_ext2.E01",
                     folder, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    details = ReportDetails(case_number=CASE_NUMBER, examiner="Dana Ölund", agency="Test Unit",
                            notes="Seized 2025-11-24.\nSecond line.")
    out = base / "out"
    out.mkdir()
    pdf = write_pdf(case, out / "report.pdf", details)
    html = write_html(case, out / "report.html", details)
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    return Report(case, pdf, html, text, _flat(text))


def _db_rows(case: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(case / "case.db") as db:
        return db.execute(sql).fetchall()


def test_pdf_names_case_evidence_hashes_and_worst_findings(report: Report) -> None:
    assert CASE_NUMBER in report.text
    assert "Page 1 of" in report.text
    hashes = [h for (h,) in _db_rows(report.case, "SELECT sha256 FROM evidence") if h]
    assert len(hashes) == 2  # the two images; a folder has no container to hash
    for digest in hashes:
        assert digest in report.text
    titles = [t for (t,) in _db_rows(report.case, "SELECT title FROM findings WHERE severity IN ('high', 'critical')")]
    assert len(titles) >= 5
    for title in titles:
        assert _flat(visible(title)) in report.flat
    stored, computed = _db_rows(report.case, "SELECT stored_md5, computed_md5 FROM evidence WHERE format = 'ewf'")[0]
    assert stored == computed and stored in report.text and "verified" in report.text


def test_pdfinfo_reads_it(report: Report) -> None:
    info = subprocess.run(["pdfinfo", str(report.pdf)], capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))
    assert pages >= 5
    assert f"Page {pages} of {pages}" in report.text
    assert "cybertriage" in info


def test_evidence_text_is_shown_not_obeyed(report: Report) -> None:
    assert HOSTILE_PATH in report.flat
    assert "invoice\\u202egnp.exe" in report.text
    assert "\u202e" not in report.text
    assert "Überweisung" in report.text and "файл" in report.text


def test_cjk_names_keep_their_text(report: Report) -> None:
    # DejaVu has no CJK glyphs; the report sets them in a standard CJK font so the text survives.
    assert "/" + UNICODE_NAME in report.text


def test_first_page_is_not_blank(report: Report, tmp_path: Path) -> None:
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(report.pdf), str(tmp_path / "page")],
                   check=True)
    [png] = tmp_path.glob("page*.png")
    darkest, _ = Image.open(png).convert("L").getextrema()
    assert darkest < 128


def test_sha256_file_matches_sha256sum(report: Report) -> None:
    for out in (report.pdf, report.html):
        side = out.with_name(out.name + ".sha256")
        assert side.read_text() == f"{hashlib.sha256(out.read_bytes()).hexdigest()}  {out.name}\n"
        subprocess.run(["sha256sum", "--check", "--status", side.name], cwd=out.parent, check=True)


def test_chain_head_printed_and_no_appendix_for_a_small_case(report: Report) -> None:
    """The report prints the audit entry it ended with and that entry's link, as the sqlite3 CLI reads them."""
    printed = re.search(r"Last audit entry \(sequence number\)\s+(\d+)", report.text)
    assert printed, "no sequence number in the report"
    [link] = subprocess.run(["sqlite3", str(report.case / "case.db"), f"SELECT hash FROM audit_log WHERE id = {printed[1]}"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert link in report.text
    assert not report.pdf.with_name("report.findings.csv").exists()


def test_network_says_no_capture(report: Report) -> None:
    assert "No packet capture in this case" in report.flat


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.counts: dict[str, int] = {}
        self.text: list[str] = []
        self.sources: list[str] = []
        self._severity: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        found = dict(attrs)
        self.sources += [v for k, v in attrs if k in ("src", "href") and v and not v.startswith("#")]
        if tag == "tr" and "data-severity" in found:
            self._severity = found["data-severity"]
        if tag == "td" and self._severity and "data-count" in found:
            self.counts[self._severity] = int(found["data-count"])
            self._severity = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _pdf_counts(text: str) -> dict[str, int]:
    match = re.search(r"The case holds ([\d,]+) findings: ([^.]*)\.", _flat(text))
    return {severity: int(n.replace(",", "")) for n, severity in
            (part.split(" ") for part in match.group(2).split(", "))}


def test_html_parses_with_the_same_counts_and_no_external_assets(report: Report) -> None:
    page = report.html.read_text(encoding="utf-8")
    parser = _Collector()
    parser.feed(page)
    parser.close()
    expected = {s: 0 for s in ("critical", "high", "medium", "low", "info")}
    expected.update(dict(_db_rows(report.case, "SELECT severity, count(*) FROM findings GROUP BY severity")))
    assert parser.counts == expected
    assert _pdf_counts(report.text) == expected
    assert "font" not in parser.tags  # the hostile name stayed text
    assert parser.sources == []  # nothing loaded from anywhere
    text = "".join(parser.text)
    assert HOSTILE_PATH in text and "invoice\\u202egnp.exe" in text and "\u202e" not in page
    assert CASE_NUMBER in text
    for digest in [h for (h,) in _db_rows(report.case, "SELECT sha256 FROM evidence") if h]:
        assert digest in text


def test_visible_shows_controls_and_bidi() -> None:
    assert visible("a\u202eb\u2066c\u200fd\x00e\x85f\u061c") == "a\\u202eb\\u2066c\\u200fd\\u0000e\\u0085f\\u061c"
    assert visible("Ü报告файл <b>&") == "Ü报告файл <b>&"
    assert visible(None) == ""
