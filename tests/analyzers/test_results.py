"""The analyzers' typed results land in the case: every column they fill exists in a case the command line
made, and an object with no result has the columns' empty values, read back with the sqlite3 CLI and
compared with sha256sum, md5sum, sha1sum and file(1)."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from cybertriage.analyzers.results import Result, empty_file_columns
from tests.conftest import run_cli


def _sqlite(db: Path, sql: str) -> list[list[str]]:
    done = subprocess.run(["sqlite3", "-separator", "\t", str(db), sql], capture_output=True, text=True, check=True)
    return [line.split("\t") for line in done.stdout.splitlines()]


def _tool(*command: str | Path) -> str:
    return subprocess.run([str(c) for c in command], capture_output=True, text=True, check=True).stdout


def test_results_fill_the_case_columns(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    (evidence / "folder").mkdir(parents=True)
    note = evidence / "note.txt"
    note.write_text("see http://203.0.113.9/a.ps1 and https://example.org/\n")
    large = evidence / "large.bin"  # past hashing.MD5_APART_FROM: its MD5 on a thread of its own
    large.write_bytes(bytes(range(256)) * (40 * 1024 * 3 + 7))
    # An archive's member past the in-memory limit (1 MiB here): hashed as it is inflated.
    member = tmp_path / "member.bin"
    member.write_bytes(random.Random(19).randbytes(3 * 1024 * 1024 + 7))
    subprocess.run(["tar", "-czf", evidence / "pack.tar.gz", member.name], cwd=tmp_path, check=True)
    case = tmp_path / "case"
    result = run_cli("scan", evidence, "--case", case, "--no-yara", "--yara-max-size", "1", "--quiet")
    assert result.code == 0, result.stderr

    db = case / "case.db"
    columns = {row[1] for row in _sqlite(db, "PRAGMA table_info(files)")}
    assert Result.kinds and set(empty_file_columns()) <= columns

    md5, sha1, sha256, mime, mismatch = _sqlite(
        db, "SELECT md5, sha1, sha256, mime, ext_mismatch FROM files WHERE name = 'note.txt'")[0]
    assert md5 == _tool("md5sum", note).split()[0] and sha1 == _tool("sha1sum", note).split()[0]
    assert sha256 == _tool("sha256sum", note).split()[0]
    for name, loose in (("large.bin", large), ("member.bin", member)):
        assert _sqlite(db, f"SELECT md5, sha1, sha256 FROM files WHERE name = '{name}'") == \
            [[_tool(tool, loose).split()[0] for tool in ("md5sum", "sha1sum", "sha256sum")]]
    assert mime == _tool("file", "--brief", "--mime-type", note).strip() and mismatch == "0"
    # A folder has no content: none of the results, so the empty values (NULL, and 0 for ext_mismatch).
    assert _sqlite(db, "SELECT md5, sha256, mime, ext_mismatch, pe, known FROM files WHERE name = 'folder'") == \
        [["", "", "", "0", "", ""]]
    # Indicators are facts of the content, stored under its sha256.
    urls = {row[0] for row in _sqlite(db, f"SELECT value FROM indicators WHERE sha256 = '{sha256}' AND kind = 'url'")}
    assert urls == {"http://203.0.113.9/a.ps1", "https://example.org/"}
