"""The Files tab's questions (case/files_query.py) over a case whose rows the test writes itself: what a folder
holds and in which order, what each filter keeps, and that the sorts and filters the targets name read an index."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from cybertriage.case import browse, open_case
from cybertriage.case.browse import files_by_id, read_files
from cybertriage.case.files_query import (
    FileFilter,
    FileQuery,
    cancellable,
    file_ids,
    glob_suffix,
    hash_columns,
    parse_size,
    parse_time,
)
from cybertriage.errors import Cancelled, UsageError

VOLUME = 1048576
# id, path, size, deleted, md5, mtime, known
ROWS = [
    (1, "/Users", None, 0, None, "2024-01-01T00:00:00Z", None),
    (2, "/Users/alex", None, 0, None, "2024-01-01T00:00:00Z", None),
    (3, "/Users/alex/Run.PS1", 300, 0, "a1" * 16, "2024-02-29T23:59:59Z", None),
    (4, "/Users/alex/notes.ps1.txt", 300, 0, "b2" * 16, "2024-03-01T00:00:00Z", None),
    (5, "/Users/alex/ps1", 100, 1, "c3" * 16, "2024-03-01T10:00:00.5Z", None),
    (6, "/Users/alex/.ps1", 5000, 0, "a1b2" + "0" * 28, "2023-12-31T23:59:59Z", None),
    (7, "/Users/alex/report.txt:hidden.ps1", 20, 0, "d4" * 16, "2024-06-01T12:00:00Z", None),
    (8, "/Users/alex/tools.zip", 10_240, 0, "e5" * 16, "2024-06-01T12:00:00Z", None),
    (9, "/Users/alex/tools.zip!dropper.ps1", 2048, 1, "f6" * 16, "2024-06-01T12:00:00Z", None),
    (10, "/Users/alex/tools.zip!inner/deep.ps1", 10, 0, "07" * 16, "2024-06-01T12:00:00Z", None),
    (11, "/Users/alex/Temp/a.exe", 5 * 1024**2, 0, "18" * 16, "2024-06-02T00:00:00Z", None),
    (12, "/Users/alexander/b.exe", 300, 0, "29" * 16, "2024-06-02T00:00:00Z", None),
    (13, "/Windows/notepad.exe", 200_000, 0, "3a" * 16, "2020-01-01T00:00:00Z", "good"),
]


@pytest.fixture
def case(tmp_path: Path) -> Path:
    db = open_case(tmp_path / "case", create=True)
    with db.conn:
        db.execute("INSERT INTO evidence (id, path, kind) VALUES (1, '/evidence/disk.img', 'disk'), "
                   "(2, '/evidence/usb.img', 'disk')")
        for file_id, path, size, deleted, md5, mtime, known in ROWS:
            name = path.rsplit("/", 1)[1].rsplit("!", 1)[-1]
            db.execute("INSERT INTO files (id, evidence_id, partition_offset, path, name, kind, deleted, size, md5, "
                       "sha1, sha256, mtime, known) VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [file_id, VOLUME, path, name, "directory" if size is None else "file", deleted, size, md5,
                        md5 and md5[::-1] + "ffffffff", md5 and (md5 * 2)[::-1], mtime, known])
        db.execute("INSERT INTO files (id, evidence_id, partition_offset, path, name, kind, size) "
                   "VALUES (14, 2, 0, '/Users/alex/copy.PS1', 'copy.PS1', 'file', 300)")
        db.execute("INSERT INTO tags (object_kind, object_id, tag, created_at) VALUES ('file', 11, 'exhibit', '2026')")
    db.close()
    return tmp_path / "case"


@pytest.fixture
def conn(case: Path):
    connection = browse.connect(case)
    yield connection
    connection.close()


def ids(conn: sqlite3.Connection, query: FileQuery) -> list[int]:
    return file_ids(conn, query)


def matching(conn: sqlite3.Connection, **parts) -> set[int]:
    return set(file_ids(conn, FileQuery(FileFilter(**parts), hide_known_good=False)))


def plan(conn: sqlite3.Connection, query: FileQuery) -> str:
    where, params = query.where()
    return " ".join(row[3] for row in conn.execute(
        f"EXPLAIN QUERY PLAN SELECT id FROM files WHERE {where} ORDER BY {query.order()}", params))


FOLDER = {"evidence_id": 1, "partition_offset": VOLUME, "folder": "/Users/alex"}


def test_a_folder_holds_its_direct_entries_and_archive_members_and_sorts_by_size_both_ways(conn):
    # the archive's member beside it; tools.zip!inner/deep.ps1 and Temp/a.exe lie in folders below; ties by id
    assert ids(conn, FileQuery(**FOLDER, sort="size")) == [7, 5, 3, 4, 9, 6, 8]
    assert ids(conn, FileQuery(**FOLDER, sort="size", descending=True)) == [8, 6, 9, 4, 3, 5, 7]
    assert ids(conn, FileQuery(**{**FOLDER, "folder": "/"}, sort="size")) == [1]
    assert ids(conn, FileQuery(**{**FOLDER, "folder": "/Windows"}, sort="size")) == []  # known-good, hidden
    assert ids(conn, FileQuery(**{**FOLDER, "folder": "/Windows"}, sort="size", hide_known_good=False)) == [13]
    assert "files_folder_size" in plan(conn, FileQuery(**FOLDER, sort="size", descending=True))


def test_every_column_sorts_and_names_sort_in_any_case(conn):
    names = [files_by_id(conn, [i])[i]["name"] for i in ids(conn, FileQuery(**FOLDER, sort="name"))]
    assert names == sorted(names, key=str.lower) and names[0] == ".ps1"
    for column in ("path", "mime", "ext_mismatch", "score", "mtime", "md5", "sha1", "sha256", "tags", "evidence_id"):
        assert sorted(ids(conn, FileQuery(**FOLDER, sort=column))) == [3, 4, 5, 6, 7, 8, 9]
    assert ids(conn, FileQuery(**FOLDER, sort="mtime")) == [6, 3, 4, 5, 7, 8, 9]


def test_a_name_glob_matches_in_any_case_on_the_suffix_index(conn):
    assert matching(conn, name="*.ps1") == {3, 6, 7, 9, 10, 14}  # not notes.ps1.txt, not a file named ps1
    assert matching(conn, name="*.PS1") == {3, 6, 7, 9, 10, 14}
    assert matching(conn, name="run.*") == {3}
    assert matching(conn, name="*/temp/*.exe") == {11}  # with a '/': the whole path
    assert matching(conn, name="[nr]*") == {3, 4, 7, 13}
    assert "files_suffix" in plan(conn, FileQuery(FileFilter(name="*.ps1")))
    assert glob_suffix("*.tar.gz") == "gz" and glob_suffix("*.ps?") is None and glob_suffix("*") is None


def test_extensions_path_prefix_and_scope(conn):
    assert matching(conn, extensions=("EXE", ".zip")) == {8, 11, 12, 13}
    assert matching(conn, path="/Users/alex/") == {3, 4, 5, 6, 7, 8, 9, 10, 11, 14}
    assert matching(conn, path="/Users/alex") == {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14}  # as written: alexander too
    below = FileQuery(FileFilter(name="*.ps1"), evidence_id=1, partition_offset=VOLUME, folder="/Users/alex", below=True)
    assert set(ids(conn, below)) == {3, 6, 7, 9, 10}  # not the other evidence's copy
    assert set(ids(conn, FileQuery(FileFilter(name="*.ps1"), evidence_id=2))) == {14}


def test_a_hash_prefix_is_looked_for_in_the_columns_its_length_allows(conn):
    assert hash_columns("a1b2") == ("md5", "sha1", "sha256")
    assert hash_columns("a" * 33) == ("sha1", "sha256") and hash_columns("a" * 41) == ("sha256",)
    assert matching(conn, hash="A1") == {3, 6}  # both MD5s start a1
    assert matching(conn, hash="a1b2") == {6}
    assert matching(conn, hash="a1" * 16) == {3}  # a whole MD5
    sha1 = ("d4" * 16)[::-1] + "ffffffff"
    assert matching(conn, hash=sha1) == {7}  # 40 digits: a SHA-1 (or a SHA-256's start)
    sha256 = (("e5" * 16) * 2)[::-1]
    assert matching(conn, hash=sha256) == {8}
    assert "idx_files_sha256" in plan(conn, FileQuery(FileFilter(hash=sha256)))
    for bad in ("xyz", "a" * 65):
        with pytest.raises(UsageError):
            matching(conn, hash=bad)


def test_size_and_time_ranges_include_both_ends(conn):
    assert matching(conn, min_size=parse_size("2k"), max_size=parse_size("10K")) == {6, 8, 9}
    assert matching(conn, min_size=parse_size("5M")) == {11}
    assert "files_size" in plan(conn, FileQuery(FileFilter(min_size=5 * 1024**2)))
    assert matching(conn, modified_from=parse_time("2024-02-29"), modified_to=parse_time("2024-03-01")) == {3, 4, 5}
    assert matching(conn, modified_to=parse_time("2024-02-29T23:59")) == {1, 2, 3, 6, 13}
    assert matching(conn, modified_from=parse_time("2024-06-02 00:00:00Z")) == {11, 12}


def test_deleted_tagged_and_known_good(conn):
    assert matching(conn, deleted=True) == {5, 9}
    assert matching(conn, tagged=True) == {11}
    assert matching(conn, tagged=True, deleted=True) == set()
    assert set(ids(conn, FileQuery(FileFilter(extensions=("exe",))))) == {11, 12}  # notepad.exe is known-good
    assert "files_deleted" in plan(conn, FileQuery(FileFilter(deleted=True)))


@pytest.mark.parametrize(("typed", "size"), [("2048", 2048), ("10k", 10_240), ("5M", 5 * 1024**2),
                                             ("1.5 GiB", 1536 * 1024**2), ("1,024", 1024), ("", None)])
def test_sizes_are_read_in_binary_units(typed, size):
    assert parse_size(typed) == size


@pytest.mark.parametrize("typed", ["10q", "k", "-5", "1e9"])
def test_a_size_that_is_not_one_is_refused(typed):
    with pytest.raises(UsageError, match="not a size"):
        parse_size(typed)


def test_times_are_read_as_utc_dates():
    assert parse_time("2024-03-01") == "2024-03-01"
    assert parse_time("2024-03-01 14:30") == "2024-03-01T14:30"
    assert parse_time("") is None
    for bad in ("yesterday", "01/03/2024", "2024-3-1"):
        with pytest.raises(UsageError, match="not a UTC date"):
            parse_time(bad)


def test_read_files_hands_over_the_first_page_then_the_whole_order(case):
    heads = []
    answer = read_files(case, FileQuery(**FOLDER, sort="size"), first=heads.append, page=3)
    assert [head.ids for head in heads] == [[7, 5, 3]] and set(heads[0].rows) == {7, 5, 3}
    assert answer.complete and answer.ids == [7, 5, 3, 4, 9, 6, 8]

    cancel = threading.Event()  # the examiner asked for something else: the read stops between its statements
    cancel.set()
    with pytest.raises(Cancelled):
        read_files(case, FileQuery(FileFilter(name="*"), hide_known_good=False), cancel=cancel)


def test_a_long_statement_is_interrupted_when_cancelled(case):
    cancel = threading.Event()
    conn = browse.connect(case)
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    try:
        with pytest.raises(Cancelled), cancellable(conn, cancel):  # a statement that would run for minutes
            conn.execute("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n").fetchone()
    finally:
        timer.cancel()
        conn.close()


def test_an_older_case_gets_the_indexes_when_opened(case):
    with sqlite3.connect(case / "case.db") as db:
        for name in ("files_folder_size", "files_suffix", "files_size", "files_deleted"):
            db.execute(f"DROP INDEX {name}")
        db.execute("PRAGMA user_version = 18")
    open_case(case).close()
    with sqlite3.connect(case / "case.db") as db:
        names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert db.execute("PRAGMA user_version").fetchone()[0] >= 19
    assert {"files_folder_size", "files_suffix", "files_size", "files_deleted"} <= names


def test_the_head_of_the_findings_by_score_is_read_from_the_files_score_index(case):
    """The findings' descending score head (read from the files' score index down) is the head of their whole order,
    ties and findings without a file included; the sorts the findings table offers are the same either way."""
    db = open_case(case)
    with db.conn:
        for file_id, score in ((3, 90), (4, 90), (5, 10), (6, 0), (7, 60)):
            db.execute("UPDATE files SET score = ? WHERE id = ?", [score, file_id])
        findings = [("file", 3, "high", 3), ("file", 4, "low", 1), ("file", 4, "critical", 4), ("file", 5, "high", 3),
                    ("file", 6, "info", 0), ("flow", 1, "high", 3), ("file", 7, "medium", 2), ("file", 3, "medium", 2)]
        for number, (kind, object_id, severity, rank) in enumerate(findings, 1):
            db.execute("INSERT INTO findings (id, evidence_id, object_kind, object_id, analyzer, rule, severity, "
                       "severity_rank, title) VALUES (?, 1, ?, ?, 'yara', 'r', ?, ?, ?)",
                       [number, kind, object_id, severity, rank, f"finding {number}"])
    db.close()
    conn = browse.connect(case)
    try:
        query = browse.FindingQuery(sort="score", descending=True)
        whole = browse.finding_ids(conn, query)
        assert whole == [3, 1, 8, 2, 7, 4, 5, 6]  # score 90 (severity, then id), 60, 10, 0, then the flow's
        for limit in (1, 3, 7, 8, 20):
            assert browse.first_findings(conn, query, limit).ids == whole[:limit]
        head = browse.first_findings_of_case(case, query, 3)
        assert head.ids == whole[:3] and head.matching == 8
    finally:
        conn.close()
