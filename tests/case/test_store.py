"""The case database: schema version, WAL, full-text search, one writer."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path

import pytest

from cybertriage.case import CaseWriter, open_case
from cybertriage.case.schema import SCHEMA_VERSION
from cybertriage.case.writes import statement_parts
from cybertriage.errors import UsageError


def test_new_case_schema(tmp_path: Path) -> None:
    db = open_case(tmp_path / "case", create=True)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert {"evidence", "files", "findings", "runs", "audit_log", "ledger", "partitions"} <= set(db.table_names())
    assert [row["action"] for row in db["audit_log"].rows] == ["case created"]


def test_writer_batches_and_fts(tmp_path: Path) -> None:
    writer = CaseWriter(tmp_path)
    evidence_id = writer.call(lambda db: db["evidence"].insert({"path": "/e", "status": "added"}).last_pk)
    writer.add_rows("files", [{"evidence_id": evidence_id, "path": f"/Users/bob/file{i}.txt", "name": f"file{i}.txt"}
                              for i in range(3000)])
    writer.add_rows("files", [{"evidence_id": evidence_id, "path": "/Users/bob/Überweisung.pdf", "name": "x"}])
    writer.close()
    db = open_case(tmp_path)
    assert db["files"].count == 3001
    assert [r["path"] for r in db["files"].search("Überweisung")] == ["/Users/bob/Überweisung.pdf"]


def test_writer_sets_the_content_index_write_settings_on_older_cases_too(tmp_path: Path) -> None:
    """A case made with FTS5's default merge settings (automerge 4) is written with INDEX_SETTINGS once a scan's
    writer opens it; the texts it held are still found."""
    from cybertriage.case.search import INDEX_SETTINGS, insert_texts

    db = open_case(tmp_path, create=True)
    with db.conn:
        db.execute("INSERT INTO content_fts (content_fts, rank) VALUES ('automerge', 4)")
        insert_texts(db.conn, [{"sha256": "a" * 64, "how": "text", "chars": 8, "body": "nightjar"}])
    db.close()
    writer = CaseWriter(tmp_path)
    writer.close()
    db = open_case(tmp_path)
    kept = dict(db.execute("SELECT k, v FROM content_fts_config").fetchall())
    assert {name: kept.get(name) for name in INDEX_SETTINGS} == INDEX_SETTINGS
    assert db.execute("SELECT count(*) FROM content_fts WHERE content_fts MATCH 'nightjar'").fetchone()[0] == 1


def test_rows_of_many_statements_keep_their_order_values_and_index(tmp_path: Path) -> None:
    """A batch larger than one statement's rows (ROWS_PER_INSERT), with text, integers and nulls, reads back row for
    row through Python's sqlite3, each file's path in the content index under its id."""
    writer = CaseWriter(tmp_path)
    evidence_id = writer.call(lambda db: db["evidence"].insert({"path": "/e", "status": "added"}).last_pk)
    rows = [{"id": 10 + i, "evidence_id": evidence_id, "path": f"/docs/report {i}.txt", "name": f"report {i}.txt",
             "size": i * 1000 if i % 3 else None, "deleted": i % 2, "md5": f"{i:032x}"} for i in range(1234)]
    writer.add_rows("files", rows)
    writer.close()
    with sqlite3.connect(tmp_path / "case.db") as conn:
        stored = conn.execute("SELECT id, evidence_id, path, name, size, deleted, md5 FROM files ORDER BY rowid").fetchall()
        indexed = conn.execute("SELECT rowid, body FROM content_fts WHERE content_fts MATCH 'report' ORDER BY rowid").fetchall()
    assert stored == [tuple(row.values()) for row in rows]
    assert [(rowid & ((1 << 40) - 1), body) for rowid, body in indexed] == [(row["id"], row["path"]) for row in rows]


def test_rows_of_a_table_without_triggers_go_several_a_statement(tmp_path: Path) -> None:
    """Keyword hits (no trigger) go ROWS_PER_PLAIN_INSERT a statement, not one each (the writer hands the interpreter
    lock over around every statement), and read back row for row in order."""
    from cybertriage.case.store import ROWS_PER_PLAIN_INSERT, _insert_values

    db = open_case(tmp_path, create=True)
    evidence_id = db["evidence"].insert({"path": "/e", "status": "added"}).last_pk
    columns = ("evidence_id", "file_id", "list", "term", "offset", "length", "snippet")
    rows = [(evidence_id, i // 7, "e-mail-addresses", f"user{i}@example.org", i * 10, 19, f"… [user{i}@example.org] …")
            for i in range(1000)]
    inserts: list[str] = []
    db.conn.set_trace_callback(lambda sql: inserts.append(sql) if sql.startswith("INSERT") else None)
    with db.conn:
        _insert_values(db, "keyword_hits", columns, rows)
    db.conn.set_trace_callback(None)
    assert len(inserts) == len(list(statement_parts(len(rows), ROWS_PER_PLAIN_INSERT))) < len(rows) // 16
    stored = db.execute(f"SELECT {', '.join(f'[{c}]' for c in columns)} FROM keyword_hits ORDER BY id").fetchall()
    assert stored == rows


def test_missing_case_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        open_case(tmp_path / "nowhere")


def test_newer_schema_refused(tmp_path: Path) -> None:
    db = open_case(tmp_path, create=True)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(UsageError):
        open_case(tmp_path)


def test_version_1_case_is_migrated(tmp_path: Path) -> None:
    import sqlite_utils

    from cybertriage.case.schema import MIGRATIONS

    db = sqlite_utils.Database(tmp_path / "case.db")
    MIGRATIONS[1](db)
    db.execute("PRAGMA user_version = 1")
    db["evidence"].insert({"id": 1, "path": "/old", "status": "done"})
    db["files"].insert({"evidence_id": 1, "path": "/a.txt", "name": "a.txt"})
    db.close()
    migrated = open_case(tmp_path)
    assert migrated.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [row["score"] for row in migrated["files"].rows] == [0]


def test_indicators_of_a_version_10_case_become_rows_of_their_content(tmp_path: Path) -> None:
    """Before version 11 each file had its own indicator rows; two files with the same content now share one
    set, and a file that was never hashed (unreadable content) has none to share."""
    import sqlite_utils

    from cybertriage.case.schema import MIGRATIONS

    db = sqlite_utils.Database(tmp_path / "case.db")
    for step in range(1, 11):
        MIGRATIONS[step](db)
    db.execute("PRAGMA user_version = 10")
    db["evidence"].insert({"id": 1, "path": "/old", "status": "done"})
    db["files"].insert_all([{"id": 1, "evidence_id": 1, "path": "/a.html", "name": "a.html", "sha256": "aa"},
                            {"id": 2, "evidence_id": 1, "path": "/copy.html", "name": "copy.html", "sha256": "aa"},
                            {"id": 3, "evidence_id": 1, "path": "/bad.html", "name": "bad.html", "sha256": None}])
    db["indicators"].insert_all([{"evidence_id": 1, "file_id": file_id, "kind": "url", "value": "http://x.example/",
                                  "offset": 7} for file_id in (1, 2, 3)])
    db.close()
    migrated = open_case(tmp_path)
    assert migrated.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert [(r["sha256"], r["kind"], r["value"], r["offset"]) for r in migrated["indicators"].rows] == [
        ("aa", "url", "http://x.example/", 7)]


@pytest.mark.parametrize("total", [0, 1, 499, 500, 501, 1234, 4000])
def test_statement_parts_cover_the_rows_in_few_shapes(total: int) -> None:
    parts = list(statement_parts(total, 500))
    assert [start for start, _ in parts] == list(itertools.accumulate([0] + [count for _, count in parts[:-1]]))[:len(parts)]
    assert sum(count for _, count in parts) == total
    assert {count for _, count in parts} <= {500, 256, 128, 64, 32, 16, 8, 4, 2, 1}
    assert len([count for _, count in parts if count != 500]) <= 9  # the rest: one statement per bit of it
