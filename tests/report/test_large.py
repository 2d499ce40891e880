"""Reports of synthetic cases: 100,000 findings stay a bounded PDF with a CSV appendix; network tables
and credentials; a case that a scan never touched."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import subprocess
import time
from pathlib import Path

from cybertriage.case import open_case
from cybertriage.report import ReportDetails, write_html, write_pdf
from cybertriage.severity import SEVERITY_RANK

FINDINGS = 100_000
FILES = 2_000


def _pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True, check=True).stdout


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.M).group(1))


def test_hundred_thousand_findings(tmp_path: Path) -> None:
    case = tmp_path / "case"
    db = open_case(case, create=True)
    evidence = db["evidence"].insert({"path": "/evidence/big.img", "kind": "disk", "format": "raw", "size": 1 << 30,
                                      "sha256": "ab" * 32, "status": "done", "verified": "not applicable"}).last_pk
    severities = list(SEVERITY_RANK)
    detail = json.dumps({"namespace": "rules/x.yar", "meta": {"description": "d"},
                         "strings": [{"identifier": "$a", "offset": 7, "data": "evil"}]})
    with db.conn:
        db["files"].insert_all(({"id": i, "evidence_id": evidence, "path": f"/Users/bob/file{i}.exe", "name": f"file{i}.exe",
                                 "kind": "file", "deleted": 0, "size": i, "sha256": f"{i:064x}",
                                 "mtime": f"2024-03-01T{i % 24:02d}:{i % 60:02d}:00Z"} for i in range(1, FILES + 1)),
                               batch_size=2000)
        rows = ({"evidence_id": evidence, "object_kind": "file", "object_id": 1 + i % FILES, "object": f"/Users/bob/file{i}.exe",
                 "analyzer": "yara", "rule": "Rule", "severity": severities[i % 5], "severity_rank": i % 5,
                 "title": f"Finding number {i}", "detail": detail} for i in range(FINDINGS - 1))
        db["findings"].insert_all(rows, batch_size=5000)
        db["findings"].insert({"evidence_id": evidence, "object_kind": "file", "object_id": 1, "object": "=cmd|' /C calc'!A0",
                               "analyzer": "yara", "rule": "Rule", "severity": "critical", "severity_rank": 4,
                               "title": "=HYPERLINK(\"http://example.invalid\")", "detail": detail})
    db.close()
    out = tmp_path / "out" / "big.pdf"
    out.parent.mkdir()
    started = time.monotonic()
    write_pdf(case, out, ReportDetails(case_number="BIG-1"))
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"report of {FINDINGS} findings took {elapsed:.1f} s"

    appendix = out.with_name("big.findings.csv")
    with open(appendix, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == FINDINGS
    assert [r["severity"] for r in rows[:3]] == ["critical"] * 3  # worst first
    planted = [r for r in rows if r["object"].startswith("'=")]
    assert len(planted) == 1 and planted[0]["title"].startswith("'=HYPERLINK")  # no formulas for spreadsheets

    text = _pdf_text(out)
    flat = " ".join(text.split())
    assert "big.findings.csv" in flat
    assert hashlib.sha256(appendix.read_bytes()).hexdigest() in text
    assert "The 500 worst are shown here" in flat
    assert f"The case holds {FINDINGS:,} findings: 20,000 critical, 20,000 high" in flat
    assert _pages(out) < 400


def test_network_lists_bounded_escaped_and_masked_credentials(tmp_path: Path) -> None:
    case = tmp_path / "case"
    db = open_case(case, create=True)
    db["flows"].insert({"src": "10.0.0.5", "sport": 51515, "dst": "203.0.113.9", "dport": 21, "proto": "tcp",
                        "packets": 12, "bytes": 3456, "app": "ftp", "first_seen": "2024-03-01T10:00:00Z",
                        "last_seen": "2024-03-01T10:00:09Z"})
    db["flows"].insert_all({"src": f"10.1.{i // 250}.{i % 250}", "dst": "198.51.100.1", "packets": 1, "bytes": i}
                           for i in range(60))
    db["dns"].insert({"ts": "2024-03-01T10:00:00Z", "src": "10.0.0.5", "dst": "10.0.0.1", "query": "evil.example",
                      "qtype": "A", "answers": json.dumps(["203.0.113.9"]), "rcode": "NOERROR"})
    db["dns"].insert({"ts": "2024-03-01T10:00:02Z", "query": "<b>x</b>\u202egnp.example", "qtype": "A"})
    # The credentials table is not in the schema yet; a capture analysis may add it with these columns.
    db["credentials"].insert({"ts": "2024-03-01T10:00:01Z", "src": "10.0.0.5", "dst": "203.0.113.9", "protocol": "ftp",
                              "username": "alice", "password": "hunter2-secret", "where": "USER/PASS on 203.0.113.9:21"})
    db.close()
    out = tmp_path / "r.pdf"
    write_pdf(case, out)
    text = " ".join(_pdf_text(out).split())
    assert "No packet capture" not in text
    assert "evil.example" in text and "alice" in text and "203.0.113.9" in text and "USER/PASS" in text
    assert "hunter2-secret" not in text and "password masked" in text
    assert "61 pairs of endpoints; the first 25 shown" in text
    assert "<b>x</b>\\u202egnp.example" in text and "\u202e" not in text
    assert "Windows executables (PE)" not in text  # no PE details: no PE section
    shown = tmp_path / "shown.html"
    write_html(case, shown, ReportDetails(show_credentials=True))
    page = shown.read_text(encoding="utf-8")
    assert "hunter2-secret" in page and "USER/PASS" in page
    assert "&lt;b&gt;x&lt;/b&gt;\\u202egnp.example" in page and "<b>x" not in page
    assert "61 pairs of endpoints; the first 25 shown" in page
    masked = tmp_path / "masked.html"
    write_html(case, masked)
    assert "hunter2-secret" not in masked.read_text(encoding="utf-8")


def test_empty_case_and_chosen_sections(tmp_path: Path) -> None:
    db = open_case(tmp_path / "case", create=True)
    db["case_info"].insert_all([{"key": "case_name", "value": "Operation Nothing"}, {"key": "case_number", "value": "N-7"}])
    db.close()
    out = write_pdf(tmp_path / "case", tmp_path / "empty.pdf", ReportDetails(sections=("evidence", "integrity")))
    text = " ".join(_pdf_text(out).split())
    assert "Operation Nothing" in text and "Case N-7" in text and "The case holds no evidence." in text
    assert "Methodology" not in text and "Integrity" in text and "Page 1 of 2" in text
    out = write_pdf(tmp_path / "case", tmp_path / "named.pdf", ReportDetails(case_name="Given", case_number="G-1"))
    text = " ".join(_pdf_text(out).split())
    assert "Given" in text and "G-1" in text and "Operation Nothing" not in text
