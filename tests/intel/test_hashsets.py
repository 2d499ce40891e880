"""Known-file hash sets: an NSRL RDS v3 fixture marks exactly the files whose content it lists,
a known-bad list makes exactly its files critical findings; expected sets from icat + sha256sum."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from tests.conftest import run_cli
from tests.intel.conftest import KNOWN_BAD_PATHS, RDS_PATHS, IntelCase, build_rds


def _disk_files(intel_case: IntelCase) -> list[dict]:
    return [f for f in intel_case.files if f["evidence"] == str(intel_case.image.resolve())]


def test_imports_report_rows_and_skipped_lines(intel_case: IntelCase) -> None:
    rds, bad = intel_case.imports["rds"], intel_case.imports["bad"]
    assert rds.code == 0, rds.stderr
    assert f"{len(RDS_PATHS) + 1} entries" in rds.stdout and "nsrl-rds-v3" in rds.stdout
    assert bad.code == 0, bad.stderr
    assert "2 entries" in bad.stdout and "1 lines skipped" in bad.stdout and "line 4" in bad.stderr
    listing = run_cli("hashset", "list", "--intel-db", intel_case.intel_db)
    assert listing.code == 0, listing.stderr
    sha256 = subprocess.run(["sha256sum", str(intel_case.rds)], capture_output=True, text=True).stdout.split()[0]
    assert f"nsrl-fixture: known good, {len(RDS_PATHS) + 1} hashes, nsrl-rds-v3, 2026.09.1 modern" in listing.stdout
    assert f"sha256 {sha256}" in listing.stdout
    assert "bad-fixture: known bad, 2 hashes, list" in listing.stdout


def test_rds_marks_exactly_the_files_it_lists(intel_case: IntelCase) -> None:
    assert intel_case.scan.code == 0, intel_case.scan.stderr
    listed = {r.sha256 for r in intel_case.references if r.path in RDS_PATHS}
    expected = {(r.offset, r.path) for r in intel_case.references if r.sha256 in listed}
    assert len(expected) >= len(RDS_PATHS)
    files = _disk_files(intel_case)
    marked = {(f["partition_offset"], f["path"]) for f in files if f["known"] == "good"}
    assert marked == expected
    assert {f["known_set"] for f in files if f["known"] == "good"} == {"nsrl-fixture"}
    assert all(f["known"] in (None, "good", "bad") for f in intel_case.files)


def test_known_bad_list_gives_one_critical_finding_per_listed_file(intel_case: IntelCase) -> None:
    listed = {r.md5 for r in intel_case.references if r.path in KNOWN_BAD_PATHS}
    expected = {(r.offset, r.path) for r in intel_case.references if r.md5 in listed}
    files = {f["id"]: f for f in _disk_files(intel_case)}
    findings = [f for f in intel_case.findings if f["analyzer"] == "hashset"]
    assert {(files[f["object_id"]]["partition_offset"], f["object"]) for f in findings} == expected
    assert len(findings) == len(expected)
    for finding in findings:
        assert finding["severity"] == "critical" and finding["rule"] == "bad-fixture"
        assert "EICAR-Test-File" in finding["title"] and "bad-fixture" in finding["title"]
        assert finding["detail"]["hash"] == "md5" and finding["detail"]["value"] in listed
        assert files[finding["object_id"]]["known"] == "bad"


def test_sets_in_use_are_recorded_in_the_run(intel_case: IntelCase) -> None:
    db = sqlite3.connect(intel_case.case / "case.db")
    options = json.loads(db.execute("SELECT options FROM runs ORDER BY id DESC").fetchone()[0])
    db.close()
    sets = {s["name"]: s for s in options["hash_sets"]}
    sha256 = subprocess.run(["sha256sum", str(intel_case.rds)], capture_output=True, text=True).stdout.split()[0]
    assert sets["nsrl-fixture"]["source_sha256"] == sha256 and sets["nsrl-fixture"]["rows"] == len(RDS_PATHS) + 1
    assert sets["bad-fixture"]["known"] == "bad" and "hashset" in options["analyzers"]
    assert {lst["name"] for lst in options["ioc_lists"]} == {"feed-csv", "feed-stix"}


def test_report_leaves_known_good_files_out_and_says_so(intel_case: IntelCase, tmp_path: Path) -> None:
    hidden = sum(1 for f in intel_case.files if f["known"] == "good")
    shown_pdf, full_pdf = tmp_path / "shown.pdf", tmp_path / "full.pdf"
    assert run_cli("report", "--case", intel_case.case, "--pdf", shown_pdf).code == 0
    assert run_cli("report", "--case", intel_case.case, "--pdf", full_pdf, "--show-known-good").code == 0

    def text(pdf: Path) -> str:
        return " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout.split())

    shown, full = text(shown_pdf), text(full_pdf)
    assert f"{hidden} known-good files (in a known-good hash set such as the NSRL) left out" in shown
    assert "known-good" not in full
    # holiday.jpg (a PE under a .jpg name: extension-mismatch and PE findings) is in the RDS fixture
    assert "holiday.jpg" not in shown and "holiday.jpg" in full
    assert "nsrl-fixture: known good" in shown and "feed-stix: stix2.1" in shown


def test_import_streams_a_large_rds_into_indexed_tables(tmp_path: Path) -> None:
    """50,000+ rows in several batches; every hash column indexed; re-import under the same name replaces."""
    rows = [(f"f{i}", "bin", f"{i:032x}", f"{i:040x}", f"{i:064x}", i) for i in range(60_123)]
    rds = build_rds(tmp_path / "big.db", rows)
    intel_db = tmp_path / "intel.db"
    for _ in range(2):
        done = run_cli("hashset", "import", rds, "--intel-db", intel_db)
        assert done.code == 0, done.stderr
    db = sqlite3.connect(intel_db)
    (set_id, count), = db.execute("SELECT id, rows FROM hash_sets WHERE name = 'big'").fetchall()
    table = f"hashset_{set_id}"
    assert count == 60_123 == db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    assert db.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name LIKE 'hashset_%'").fetchone() == (1,)
    indexed = {row[0] for row in db.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", [table])}
    assert {"md5", "sha1", "sha256"} == {c for c in ("md5", "sha1", "sha256") if any(f"({c})" in s for s in indexed)}
    plan = " ".join(str(r) for r in db.execute(f"EXPLAIN QUERY PLAN SELECT name FROM {table} WHERE sha1 = ?", ["ab" * 20]))
    assert "USING INDEX" in plan
    assert db.execute(f"SELECT name FROM {table} WHERE sha256 = ?", [f"{77:064x}"]).fetchone() == ("f77.bin",)


def test_bad_input_is_one_line_of_error(tmp_path: Path) -> None:
    intel_db = tmp_path / "intel.db"
    not_rds = tmp_path / "other.db"
    sqlite3.connect(not_rds).executescript("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
    empty = tmp_path / "empty.txt"
    empty.write_text("no hashes here\n")
    for source, words in ((not_rds, "not an NSRL RDS v3"), (empty, "no hashes found"),
                          (tmp_path / "missing.txt", "not found")):
        done = run_cli("hashset", "import", source, "--intel-db", intel_db)
        assert done.code == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert run_cli("scan", tmp_path, "--case", tmp_path / "case", "--intel-db", intel_db,
                   "--hashset", "no-such-set").code == 2


def test_reference_helper_sees_deleted_files(intel_case: IntelCase) -> None:
    """The expected sets above include a deleted file: icat reads it, and the RDS lists it."""
    deleted = [r for r in intel_case.references if r.deleted and r.path in RDS_PATHS]
    assert deleted


def test_list_formats(tmp_path: Path) -> None:
    """md5sum output, a CSV with hash-kind columns, a tab-separated list with a generic hash column."""
    from cybertriage.intel import import_hash_set

    md5, sha1, sha256 = "44D88612FEA8A8F36DE82E1278ABB02F", "3395856ce81f2b7382dee72602f798b642f14140", "c" * 64
    sources = {
        "sums.txt": f"{md5.lower()}  eicar.com\n{sha256} *binary name.exe\n",
        "kinds.csv": f"MD5;SHA-1;Name\n{md5};{sha1};EICAR\n;;empty row\nzz;;bad\n",
        "generic.tsv": f"hash\tdescription\n{sha1}\tone\n{sha256}\ttwo\n",
    }
    expected = {
        "sums": {(md5.lower(), None, None, "eicar.com"), (None, None, sha256, "binary name.exe")},
        "kinds": {(md5.lower(), sha1, None, "EICAR")},
        "generic": {(None, sha1, None, "one"), (None, None, sha256, "two")},
    }
    skipped = {"sums": 0, "kinds": 2, "generic": 0}
    intel_db = tmp_path / "intel.db"
    for name, text in sources.items():
        (tmp_path / name).write_text(text)
        report = import_hash_set(intel_db, tmp_path / name)
        assert report.skipped == skipped[report.name], report.problems
        db = sqlite3.connect(intel_db)
        set_id = db.execute("SELECT id FROM hash_sets WHERE name = ? AND known = 'bad'", [report.name]).fetchone()[0]
        assert set(db.execute(f"SELECT md5, sha1, sha256, name FROM hashset_{set_id}")) == expected[report.name]
        db.close()
