"""Keyword hits end to end: `scan --keywords` over a folder with a UTF-8 text file, a UTF-16 text file and a DOCX
written by python-docx, then `export --what keyword-hits` and the report's Keyword hits section.

Expected counts come from grep: `grep -o -i TERM | wc -l` over the plain text, and over the UTF-16 file converted by
iconv; the DOCX's text is the test's own (what it wrote with python-docx, compressed in the file, where a raw grep
finds nothing). Offsets are checked against the text the scan searched.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import docx
import pytest

from cybertriage.report import ReportDetails, collect
from cybertriage.report.document import Heading, Table, build_document
from tests.conftest import run_cli

PLAIN = ("Meeting at the docks on Friday. The ledger stays with Zoë.\n"
         "Transfer to GB29 NWBK 6016 1331 9268 19, card 4111 1111 1111 1111 (and 4111 1111 1111 1112, a typo).\n"
         "Second MEETING moved; bring the Ledger and the LEDGER copy.\n")
WIDE = "Rapport: meeting confirmed, ledger burned. Contact zoe@example.org\n"
DOCUMENT = ["Minutes of the meeting", "The ledger was moved to the safe house.", "Card on file: 5555 5555 5555 4444."]
TERMS = ["meeting", "ledger", "safe house"]


def _grep_count(term: str, path: Path, encoding: str | None = None) -> int:
    """How many times grep finds the term (any case) in the file, through iconv when it is not UTF-8."""
    source = subprocess.run(["iconv", "-f", encoding, "-t", "UTF-8", str(path)], capture_output=True, check=True).stdout \
        if encoding else path.read_bytes()
    found = subprocess.run(["grep", "-o", "-i", "-F", term], input=source, capture_output=True).stdout
    return len(found.splitlines())


@pytest.fixture(scope="module")
def keyword_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if not shutil.which("iconv"):
        pytest.skip("iconv is not installed")
    root = tmp_path_factory.mktemp("keywords")
    evidence = root / "evidence"
    evidence.mkdir()
    (evidence / "notes.txt").write_text(PLAIN, encoding="utf-8")
    (evidence / "rapport.txt").write_bytes(WIDE.encode("utf-16"))  # with its byte-order mark
    document = docx.Document()
    for paragraph in DOCUMENT:
        document.add_paragraph(paragraph)
    document.save(str(evidence / "minutes.docx"))
    terms = root / "suspects.txt"
    terms.write_text("# the complaint's words\n" + "\n".join(TERMS) + "\n~zoe\nre:friday|saturday\n", encoding="utf-8")
    case = root / "case"
    result = run_cli("scan", evidence, "--case", case, "--keywords", terms, "--no-yara", "--quiet")
    assert result.code == 0, result.stderr
    return case, evidence


def _export(case: Path) -> list[dict]:
    result = run_cli("export", "--case", case, "--what", "keyword-hits")
    assert result.code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_literal_hits_counted_as_grep_counts_them(keyword_case: tuple[Path, Path]) -> None:
    case, evidence = keyword_case
    hits = _export(case)
    counted: dict[tuple[str, str], int] = {}
    for hit in hits:
        counted[(hit["path"], hit["term"])] = counted.get((hit["path"], hit["term"]), 0) + 1
    for term in TERMS:
        assert counted.get(("/notes.txt", term), 0) == _grep_count(term, evidence / "notes.txt"), term
        assert counted.get(("/rapport.txt", term), 0) == _grep_count(term, evidence / "rapport.txt", "UTF-16"), term
        in_document = sum(paragraph.lower().count(term) for paragraph in DOCUMENT)
        assert counted.get(("/minutes.docx", term), 0) == in_document, term
        assert _grep_count(term, evidence / "minutes.docx") == 0  # only compressed there: a raw grep misses it
    assert counted[("/notes.txt", "~zoe")] == 1 and counted[("/rapport.txt", "~zoe")] == 1
    assert counted[("/notes.txt", "re:friday|saturday")] == 1


def test_offsets_point_at_the_terms(keyword_case: tuple[Path, Path]) -> None:
    case, _ = keyword_case
    texts = {"/notes.txt": PLAIN, "/rapport.txt": WIDE}
    for hit in _export(case):
        if hit["path"] in texts and hit["list"] == "suspects" and not hit["term"].startswith(("~", "re:")):
            text = texts[hit["path"]]
            assert text[hit["offset"]:hit["offset"] + hit["length"]].lower() == hit["term"]
            assert f"[{text[hit['offset']:hit['offset'] + hit['length']]}]" in hit["snippet"]


def test_built_in_lists_find_only_valid_numbers(keyword_case: tuple[Path, Path]) -> None:
    case, _ = keyword_case
    found = {(hit["list"], hit["term"], hit["path"]) for hit in _export(case) if hit["list"] != "suspects"}
    assert ("card-numbers", "4111111111111111", "/notes.txt") in found
    assert ("card-numbers", "5555555555554444", "/minutes.docx") in found
    assert ("ibans", "GB29NWBK60161331926819", "/notes.txt") in found
    assert ("e-mail-addresses", "zoe@example.org", "/rapport.txt") in found
    assert not [row for row in found if row[1] == "4111111111111112"]


def test_findings_one_per_list_and_object(keyword_case: tuple[Path, Path]) -> None:
    case, _ = keyword_case
    result = run_cli("export", "--case", case, "--what", "findings")
    findings = [json.loads(line) for line in result.stdout.splitlines()]
    ours = [f for f in findings if f["analyzer"] == "keyword" and f["rule"] == "suspects"]
    assert sorted(f["object"] for f in ours) == ["/minutes.docx", "/notes.txt", "/rapport.txt"]
    notes = next(f for f in ours if f["object"] == "/notes.txt")
    detail = notes["detail"] if isinstance(notes["detail"], dict) else json.loads(notes["detail"])
    assert detail["hits"]["ledger"]["count"] == 3 and len(detail["hits"]["ledger"]["snippets"]) == 3
    assert notes["severity"] == "medium"


def test_the_scan_leaves_hits_indexed_by_list_and_term(keyword_case: tuple[Path, Path]) -> None:
    """The scan drops the index the Keyword Hits view groups by while it inserts, and sorts it at its end."""
    db = sqlite3.connect(keyword_case[0] / "case.db")
    plan = " ".join(row[3] for row in db.execute(
        "EXPLAIN QUERY PLAN SELECT list, term, count(*) FROM keyword_hits GROUP BY list, term ORDER BY list, term"))
    assert "idx_keyword_hits_list_term" in plan


def test_report_has_the_keyword_hits_section(keyword_case: tuple[Path, Path]) -> None:
    case, _ = keyword_case
    document = build_document(collect(case, ReportDetails(sections=("keywords",))))
    [section] = document.sections
    assert section.title == "Keyword hits"
    headings = [block.text for block in section.blocks if isinstance(block, Heading)]
    assert any(text.startswith("suspects: 5 terms") for text in headings), headings
    rows = [row for block in section.blocks if isinstance(block, Table) for row in block.rows]
    assert any(row[0] == "ledger" for row in rows)


@pytest.mark.parametrize(("content", "message"), [
    (b"meeting\n\xff\xfeledger\n", "line 2: not UTF-8 text"),
    (b"meeting\nre:(a|aa)+$\n", "line 2: the regular expression backtracks catastrophically"),
])
def test_bad_keyword_files_are_usage_errors(tmp_path: Path, content: bytes, message: str) -> None:
    terms = tmp_path / "terms.txt"
    terms.write_bytes(content)
    (tmp_path / "evidence").mkdir()
    result = run_cli("scan", tmp_path / "evidence", "--case", tmp_path / "case", "--keywords", terms, "--quiet")
    assert result.code == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "case").exists()


def test_random_looking_bytes_are_not_searched_raw(tmp_path: Path) -> None:
    """A term planted in bytes that look random at their start, middle and end (compressed or encrypted: the text
    analyzer keeps no strings of them) is not a keyword hit; the same term in a binary of no known format that does not
    look random is."""
    import random

    evidence = tmp_path / "evidence"
    evidence.mkdir()
    planted = b" ledger "
    noise = bytearray(random.Random(7).randbytes(256 * 1024))
    noise[64 * 1024:64 * 1024 + len(planted)] = planted  # between the samples the randomness is judged on
    (evidence / "noise.bin").write_bytes(bytes(noise))
    structured = bytearray(256 * 1024)  # zeros
    structured[64 * 1024:64 * 1024 + len(planted)] = planted
    (evidence / "blob.bin").write_bytes(bytes(structured))
    terms = tmp_path / "terms.txt"
    terms.write_text("ledger\n", encoding="utf-8")
    case = tmp_path / "case"
    result = run_cli("scan", evidence, "--case", case, "--keywords", terms, "--builtin-keywords", "none", "--no-yara",
                     "--quiet")
    assert result.code == 0, result.stderr
    assert [(Path(hit["path"]).name, hit["term"]) for hit in _export(case)] == [("blob.bin", "ledger")]
