"""The chain of custody shows tampering: each attack of issue 24, made with the sqlite3 CLI or by editing files,
and what `cybertriage verify` says about it. Expected values come from sqlite3, sha256sum, pdftotext and pdfinfo;
the chain's links are recomputed here from the documented formula, not by the code under test."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from cybertriage.case.schema import MIGRATIONS
from tests.conftest import REPO, Images, run_cli

GENESIS = "0" * 64


def sqlite(case: Path, *statements: str) -> str:
    done = subprocess.run(["sqlite3", str(case / "case.db"), *statements], capture_output=True, text=True, check=True)
    return done.stdout


def audit_rows(case: Path) -> list[dict]:
    return json.loads(sqlite(case, "-json", "SELECT * FROM audit_log ORDER BY id") or "[]")


def sha256sum(path: Path) -> str:
    return subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]


def documented_link(previous: str, row: dict) -> str:
    """README: sha256(previous link ‖ JSON of seq, ts, user, host, action, detail with sorted keys, no spaces)."""
    content = {"seq": row["id"], "ts": row["ts"], "user": row["user"], "host": row["host"], "action": row["action"],
               "detail": row["detail"]}
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(previous.encode() + text.encode()).hexdigest()


def drop_triggers(case: Path) -> None:
    sqlite(case, "DROP TRIGGER audit_log_no_update", "DROP TRIGGER audit_log_no_delete")


@pytest.fixture(scope="module")
def base_case(disk_images: Images, corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A case with a disk image, a capture whose HTTP bodies are kept in the case's object store, and a folder
    holding a file the bundled YARA rules flag (a finding)."""
    base = tmp_path_factory.mktemp("custody")
    folder = base / "loose"
    folder.mkdir()
    shutil.copy(REPO / "tests" / "data" / "rules" / "positive" / "Ransom_Note_Generic.txt", folder)
    case = base / "case"
    result = run_cli("scan", disk_images.bare_fat, corpus_dir / "pcap" / "http_get.pcap", folder, "--case", case,
                     "--quiet")
    assert result.code == 0, result.stderr
    return case


@pytest.fixture()
def case(base_case: Path, tmp_path: Path) -> Path:
    """A copy of the base case for one attack (the evidence it names stays where it is, unchanged)."""
    return Path(shutil.copytree(base_case, tmp_path / "case"))


def test_links_follow_the_documented_formula_and_custody_log_holds_the_heads(case: Path) -> None:
    rows = audit_rows(case)
    previous = GENESIS
    for row in rows:
        assert row["hash"] == documented_link(previous, row), row
        previous = row["hash"]
    heads = [line.split() for line in (case / "custody.log").read_text().splitlines()]
    by_id = {row["id"]: row["hash"] for row in rows}
    assert heads and [int(seq) for seq, _, _ in heads] == sorted({int(seq) for seq, _, _ in heads})
    assert all(by_id[int(seq)] == link for seq, link, _ in heads)
    assert int(heads[-1][0]) == rows[-1]["id"]  # the head after the scan's last action

    assert "Chain of custody: every entry links to the one before it" in run_cli("info", "--case", case).stdout
    result = run_cli("verify", "--case", case)
    assert result.code == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1].startswith("CUSTODY    OK:")
    after = audit_rows(case)  # verify's own entry is linked too, and its head written down
    assert after[-1]["action"] == "evidence verified" and after[-1]["hash"] == documented_link(rows[-1]["hash"], after[-1])
    assert (case / "custody.log").read_text().splitlines()[-1].split()[:2] == [str(after[-1]["id"]), after[-1]["hash"]]


def test_a_deleted_entry_is_named_after_the_triggers_are_dropped(case: Path) -> None:
    drop_triggers(case)
    sqlite(case, "DELETE FROM audit_log WHERE id = 3")
    result = run_cli("verify", "--case", case)
    assert result.code == 1 and "Traceback" not in result.stderr
    custody = [line for line in result.stdout.splitlines() if line.startswith("CUSTODY ")]
    assert any("audit_log_no_delete" in line and "missing" in line for line in custody), custody
    assert any("audit entry 3 is missing" in line for line in custody), custody
    info = run_cli("info", "--case", case)
    assert info.code == 0 and "Chain of custody: " in info.stdout and "audit entry 3 is missing" in info.stdout


def test_the_last_entry_deleted_is_caught_by_custody_log(case: Path) -> None:
    last = audit_rows(case)[-1]
    drop_triggers(case)
    sqlite(case, f"DELETE FROM audit_log WHERE id = {last['id']}")
    result = run_cli("verify", "--case", case)
    assert result.code == 1
    assert f"audit entry {last['id']} is missing: custody.log line" in result.stdout, result.stdout


def test_a_changed_entry_is_named(case: Path) -> None:
    drop_triggers(case)
    sqlite(case, "UPDATE audit_log SET user = 'someone else' WHERE id = 2")
    result = run_cli("verify", "--case", case)
    assert result.code == 1
    assert "audit entry 2 (" in result.stdout and "does not follow from entry 1" in result.stdout, result.stdout


def test_a_chain_rewritten_from_the_start_still_disagrees_with_custody_log(case: Path) -> None:
    """Whoever can write the database can link a whole new chain; the heads written down before cannot follow."""
    rows = audit_rows(case)
    drop_triggers(case)
    sqlite(case, "DELETE FROM audit_log WHERE id = 2")
    previous, seq, statements = GENESIS, 0, []
    for row in rows:
        if row["id"] == 2:
            continue
        seq += 1
        previous = documented_link(previous, {**row, "id": seq})
        statements.append(f"UPDATE audit_log SET id = {seq}, hash = '{previous}' WHERE id = {row['id']}")
    sqlite(case, *statements)
    rewritten = audit_rows(case)
    assert [r["hash"] for r in rewritten][-1] == previous  # the new chain is whole
    result = run_cli("verify", "--case", case)
    assert result.code == 1
    assert re.search(r"audit entry \d+ has link [0-9a-f]{64}, but custody.log line \d+ recorded", result.stdout), \
        result.stdout


def test_a_missing_custody_log_is_reported_not_remade(case: Path) -> None:
    (case / "custody.log").unlink()
    assert run_cli("tag", "--case", case, "--file", "1", "--tag", "t").code == 0
    assert not (case / "custody.log").exists()
    result = run_cli("verify", "--case", case)
    assert result.code == 1 and "custody.log is missing" in result.stdout, result.stdout


def test_evidence_and_its_recorded_sha256_changed_together(disk_images: Images, tmp_path: Path) -> None:
    image = Path(shutil.copy(disk_images.bare_fat, tmp_path / "image.raw"))
    original = sha256sum(image)
    case = tmp_path / "case"
    assert run_cli("scan", image, "--case", case, "--quiet").code == 0
    with open(image, "r+b") as handle:  # one byte in the middle, and the case's sha256 set to match
        handle.seek(image.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    changed = sha256sum(image)
    sqlite(case, f"UPDATE evidence SET sha256 = '{changed}'")
    result = run_cli("verify", "--case", case)
    assert result.code == 1, result.stdout
    [line] = [line for line in result.stdout.splitlines() if line.startswith("CUSTODY ")]
    assert f"the case records sha256 {changed}" in line and f"('evidence hashed') holds {original}" in line, line


def test_a_modified_carried_object(case: Path) -> None:
    stored = sorted(p for p in (case / "objects").rglob("*") if p.is_file())
    assert stored, "the capture's HTTP bodies should be in the object store"
    target = stored[0]
    target.chmod(0o644)
    with open(target, "ab") as handle:
        handle.write(b"<!-- planted -->")
    now = sha256sum(target)
    result = run_cli("verify", "--case", case)
    assert result.code == 1
    assert f"carried object {target.relative_to(case)}: its content now hashes to {now}" in result.stdout, result.stdout


def _seal_printed(pdf: Path) -> tuple[str, str, str]:
    text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True)
                    .stdout.split())
    found = re.search(r"Last audit entry \(sequence number\) (\d+) Its chain link \(SHA-256\) ([0-9a-f]{64}) "
                      r"Content digest \(SHA-256\) ([0-9a-f]{64})", text)
    assert found, text[-3000:]
    return found[1], found[2], found[3]


def test_a_report_stays_verifiable_after_reads_and_tags_until_a_finding_changes(case: Path, tmp_path: Path) -> None:
    pdf, page = tmp_path / "report.pdf", tmp_path / "report.html"
    assert run_cli("report", "--case", case, "--pdf", pdf, "--html", page).code == 0
    seq, head, digest = _seal_printed(pdf)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert f"cybertriage-custody seq={seq} head={head} digest={digest} tables=evidence:" in info  # what verify reads
    assert sqlite(case, f"SELECT hash FROM audit_log WHERE id = {seq}").strip() == head

    assert run_cli("export", "--case", case, "--what", "findings").code == 0
    assert run_cli("tag", "--case", case, "--file", "1", "--tag", "exhibit-1", "--note", "later").code == 0
    assert run_cli("verify", "--case", case).code == 0
    for report in (pdf, page):
        result = run_cli("verify", "--case", case, "--report", report)
        assert result.code == 0, result.stdout + result.stderr
        assert f"describes the case: the case's content is as at audit entry {seq} (digest {digest})" in result.stdout

    assert sqlite(case, "SELECT count(*) FROM findings").strip() != "0"
    sqlite(case, "UPDATE findings SET severity = 'info' WHERE id = (SELECT min(id) FROM findings)")
    result = run_cli("verify", "--case", case, "--report", pdf)
    assert result.code == 1
    assert "NO LONGER describes the case: the case's content has changed in findings since audit entry" in result.stdout


def test_a_report_of_a_tampered_case_says_so(case: Path, tmp_path: Path) -> None:
    pdf, page = tmp_path / "report.pdf", tmp_path / "report.html"
    assert run_cli("report", "--case", case, "--pdf", pdf, "--html", page).code == 0
    text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split())
    assert "each of the" in text and "audit entries links to the one before it" in text

    drop_triggers(case)
    sqlite(case, "DELETE FROM audit_log WHERE id = 4")
    assert run_cli("report", "--case", case, "--pdf", pdf, "--html", page, "--force").code == 0
    text = " ".join(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout.split())
    assert "Chain of custody DOES NOT CHECK OUT" in text and "audit entry 4 is missing" in text, text[-3000:]
    assert "audit entry 4 is missing" in page.read_text()


def test_a_file_that_is_not_a_report_is_a_usage_error(case: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pdf"
    other.write_bytes(b"%PDF-1.4\n%nothing here\n")
    result = run_cli("verify", "--case", case, "--report", other)
    assert result.code == 2 and "carries no cybertriage custody seal" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_an_old_case_is_linked_when_upgraded(case: Path) -> None:
    """A case from before the chain (the schema before 13, no link column, no custody.log) gets its entries linked
    in order."""
    drop_triggers(case)
    sqlite(case, "ALTER TABLE audit_log DROP COLUMN hash", f"PRAGMA user_version = {max(v for v in MIGRATIONS if v < 13)}")
    sqlite(case, *[f"CREATE TRIGGER audit_log_no_{s.lower()} BEFORE {s} ON audit_log "
                   f"BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: {s} refused'); END" for s in ("UPDATE", "DELETE")])
    (case / "custody.log").unlink()
    before = len(audit_rows(case))
    assert run_cli("tag", "--case", case, "--file", "1", "--tag", "after-upgrade").code == 0
    rows = audit_rows(case)
    previous = GENESIS
    for row in rows:
        assert row["hash"] == documented_link(previous, row)
        previous = row["hash"]
    heads = (case / "custody.log").read_text().splitlines()
    assert heads[0].split()[0] == str(before) and heads[-1].split()[:2] == [str(rows[-1]["id"]), rows[-1]["hash"]]
    assert run_cli("verify", "--case", case).code == 0


def test_the_upgrade_that_adds_the_artifacts_table_leaves_the_content_digest_as_it_was(case: Path) -> None:
    """A report sealed by a cybertriage before schema 14 hashed no artifacts table; the upgrade makes it, empty, and
    the digest must stay what that report printed (as a column a later schema adds is left out while NULL)."""
    import sqlite_utils

    from cybertriage.case.custody import content_digest

    def digest() -> str:
        db = sqlite_utils.Database(case / "case.db")
        try:
            return content_digest(db).total
        finally:
            db.close()

    upgraded = digest()
    assert sqlite(case, "SELECT count(*) FROM artifacts").strip() == "0"
    sqlite(case, "DROP TABLE artifacts")  # the case as schema 13 had it
    assert digest() == upgraded
