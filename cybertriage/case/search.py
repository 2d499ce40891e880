"""The case's content index: the text of every file, file paths, artefact records and network text, in one SQLite
FTS5 table (`content_fts`), written as the scan's rows arrive and searched by `cybertriage search` and the
application's Search tab.

Each indexed row says what it is by its rowid: the kind of source in the high bits (SOURCES) and the id of the
row it indexes (a `texts` row, a file, an artefact, an HTTP request, a DNS query, a mail) in the low ones, so a hit
leads back to its objects without a lookup table, and a row removed (an interrupted evidence item forgotten) takes
its index entry with it (triggers). Extracted text is kept once per content sha256: `texts` says how it was got
and its length, and the index holds the text itself (FTS5 keeps what it shows snippets of), so it is stored once.
Cases written before that also kept a compressed copy in `texts.text`; it is no longer read.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import UsageError
from .writes import statement_parts

SHIFT = 40  # a source's id lies in the low 40 bits of its rowid in content_fts
SOURCES = {"text": 1, "file": 2, "artefact": 3, "http": 4, "dns": 5, "mail": 6}
KIND_OF = {code: kind for kind, code in SOURCES.items()}
MAX_OBJECTS_PER_TEXT = 50  # objects listed for one content that matches (the same file copied about)
CHARS_PER_INSERT = 4_000_000  # characters of extracted text put in the index by one statement (a segment each)
# How FTS5 writes the index during a scan (bench/README.md, search.py): segments merged 16 at a time rather than 4
# (each text is rewritten about half as often), never all at once in one statement before 64 wait at one level
# (FTS5's "crisis" merge at 16 took 0.6 s at the end of a disk scan), and up to 16 MiB of tokens held before a
# segment is written. The disk benchmark's index cost 3.4 CPU-s with FTS5's defaults, 2.2-2.5 with these; a query
# reads a few more segments.
INDEX_SETTINGS = {"automerge": 16, "crisismerge": 64, "hashsize": 16 * 1024 * 1024}
TEXTS_PER_INSERT = 64  # texts one statement puts in the index, at most
RANKED = 10_000  # matches of one kind of source ordered by relevance; past that, the first ones indexed

# What each table puts in the index, as SQL over the inserted row (NEW); `table` → (source, expression).
INDEXED = {
    "files": ("file", "NEW.path"),
    "artifacts": ("artefact", "coalesce(NEW.summary, '') || ' ' || coalesce(NEW.[values], '')"),
    "http": ("http", "coalesce(NEW.host, '') || ' ' || coalesce(NEW.uri, '') || ' ' || coalesce(NEW.referrer, '')"),
    "dns": ("dns", "coalesce(NEW.query, '')"),
    "smtp": ("mail", "coalesce(NEW.subject, '') || ' ' || coalesce(NEW.mail_from, '') || ' ' || "
                     "coalesce(NEW.rcpt_to, '') || ' ' || coalesce(NEW.header_from, '') || ' ' || "
                     "coalesce(NEW.header_to, '') || ' ' || coalesce(NEW.attachments, '')"),
}


def create_index(db: Any) -> None:
    """Schema 16: `texts`, `content_fts`, the triggers that index each table's rows as the writer inserts them, and
    the rows a case already holds (its files, artefacts and network records; file text needs a new scan)."""
    tables = set(db.table_names())
    if "content_fts" in tables:  # a case taken back to an older version by hand keeps its index, and its rows
        return
    db.execute("""CREATE TABLE IF NOT EXISTS texts (sha256 TEXT PRIMARY KEY, how TEXT, chars INTEGER, text BLOB)""")
    db.execute("""CREATE VIRTUAL TABLE content_fts USING fts5(body, tokenize = 'unicode61 remove_diacritics 2')""")
    for table, (source, expression) in INDEXED.items():
        if table not in tables:
            continue
        base = SOURCES[source] << SHIFT
        db.execute(f"""CREATE TRIGGER [{table}_content_ai] AFTER INSERT ON [{table}] BEGIN
                       INSERT INTO content_fts (rowid, body) VALUES ({base} + NEW.id, {expression}); END""")
        db.execute(f"""CREATE TRIGGER [{table}_content_ad] AFTER DELETE ON [{table}] BEGIN
                       DELETE FROM content_fts WHERE rowid = {base} + OLD.id; END""")
        db.execute(f"INSERT INTO content_fts (rowid, body) SELECT {base} + id, {expression.replace('NEW.', '')} "
                   f"FROM [{table}]")


def tune_for_writing(conn: sqlite3.Connection) -> None:
    """The index's write settings (INDEX_SETTINGS) kept in the case (FTS5 stores them in content_fts_config), for
    cases made before them too; a case without an index, or one set already, is left alone."""
    try:
        kept = dict(conn.execute("SELECT k, v FROM content_fts_config").fetchall())
    except sqlite3.OperationalError:  # no content index
        return
    for name, value in INDEX_SETTINGS.items():
        if kept.get(name) != value:
            conn.execute("INSERT INTO content_fts (content_fts, rank) VALUES (?, ?)", [name, value])


def insert_texts(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    """The writer's insert of extracted text: once per sha256, its row in `texts` and its body in the index.

    The bodies go into the index several to a statement (FTS5 writes what it holds as a segment of its own at every
    statement's savepoint, so a statement per text made a segment per text, each merged again later), in groups of
    up to CHARS_PER_INSERT characters: each statement shape kept prepared holds the texts last bound to it."""
    base = SOURCES["text"] << SHIFT
    part: list[tuple[int, str]] = []
    chars = 0
    for row in rows:
        cursor = conn.execute("INSERT OR IGNORE INTO texts (sha256, how, chars) VALUES (?, ?, ?)",
                              (row["sha256"], row["how"], row["chars"]))
        if cursor.rowcount > 0 and cursor.lastrowid is not None:
            part.append((base + cursor.lastrowid, row["body"]))
            chars += len(row["body"])
            if chars >= CHARS_PER_INSERT:
                _index_bodies(conn, part)
                part, chars = [], 0
    _index_bodies(conn, part)


def _index_bodies(conn: sqlite3.Connection, bodies: list[tuple[int, str]]) -> None:
    for start, count in statement_parts(len(bodies), TEXTS_PER_INSERT):
        conn.execute("INSERT INTO content_fts (rowid, body) VALUES " + ", ".join(["(?, ?)"] * count),
                     [value for pair in bodies[start:start + count] for value in pair])


def content_text(conn: sqlite3.Connection, sha256: str) -> tuple[str, str] | None:
    """The text extracted from a content, and how it was extracted; None if none was."""
    row = conn.execute("SELECT f.body, t.how FROM texts t JOIN content_fts f ON f.rowid = ? + t.rowid "
                       "WHERE t.sha256 = ?", [SOURCES["text"] << SHIFT, sha256]).fetchone()
    return (row[0], row[1]) if row is not None else None


@dataclass(frozen=True)
class SearchHit:
    """One object the query matched: where it is, what matched (its text, its path, an artefact, a network
    record) and a snippet of the matching text with the terms marked."""

    kind: str
    path: str
    evidence: str | None
    snippet: str
    file_id: int | None = None
    sha256: str | None = None
    rank: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def search(conn: sqlite3.Connection, query: str, limit: int = 50, marks: tuple[str, str] = ("[", "]"),
           tokens: int = 16) -> list[SearchHit]:
    """The objects matching an FTS5 query (words, "phrases", OR, NOT, prefix*), best first. A query FTS5 cannot
    parse (an address, a path with dots) is searched as the phrase of its words.

    Ranking (bm25) costs time for every row it orders, and a common word matches most of a large case: so each kind
    of source (text, names, artefacts, HTTP, DNS, mail) ranks at most its first RANKED matches, in the order they
    were indexed. Below that, as for any rare term, the ranking is over every match; `count_matches` says how many
    there are, so the caller can tell the examiner when a search is too broad to have been ranked whole."""
    if not query.strip():
        raise UsageError("an empty search: give one or more words")
    query = _fts_query(conn, query)
    ranked = _ranked(conn, query, limit)
    hits: list[SearchHit] = []
    for rank, rowid in ranked:
        snippet = conn.execute(f"SELECT snippet(content_fts, 0, ?, ?, '…', {int(tokens)}) FROM content_fts "
                               f"WHERE content_fts MATCH ? AND rowid = ?", [*marks, query, rowid]).fetchone()
        hits.extend(_resolve(conn, KIND_OF.get(rowid >> SHIFT, "?"), rowid & ((1 << SHIFT) - 1),
                             snippet[0] if snippet else "", rank))
        if len(hits) >= limit:
            break
    return hits[:limit]


def count_matches(conn: sqlite3.Connection, query: str) -> int:
    """How many index rows the query matches (texts, names, records): a count, cheap even for a common word."""
    return conn.execute("SELECT count(*) FROM content_fts WHERE content_fts MATCH ?",
                        [_fts_query(conn, query)]).fetchone()[0]


def describe_hits(shown: int, matches: int) -> str:
    """What a search found, said the same way by the command line and the application."""
    text = f"{shown:,} hit{'s' if shown != 1 else ''} shown; {matches:,} index row{'s' if matches != 1 else ''} match"
    if matches > RANKED:
        text += (f" (a broad search: each kind of source was ranked within its first {RANKED:,} matches; add words "
                 "to rank all of them)")
    return text


def _fts_query(conn: sqlite3.Connection, query: str) -> str:
    """The query as FTS5 takes it: as given if FTS5 parses it, else the phrase of its words (an address, a path)."""
    try:
        conn.execute("SELECT 1 FROM content_fts WHERE content_fts MATCH ? LIMIT 1", [query]).fetchone()
    except sqlite3.OperationalError as error:
        if "fts5" not in str(error) and "syntax" not in str(error):
            raise
        return '"' + query.replace('"', '""') + '"'
    return query


def _ranked(conn: sqlite3.Connection, query: str, limit: int) -> list[tuple[float, int]]:
    """(bm25, rowid) of the best `limit` matches, each kind of source ranked over at most its first RANKED."""
    ranked: list[tuple[float, int]] = []
    for code in sorted(KIND_OF):
        low, high = code << SHIFT, (code + 1) << SHIFT
        last = conn.execute("SELECT rowid FROM content_fts WHERE content_fts MATCH ? AND rowid >= ? AND rowid < ? "
                            "LIMIT 1 OFFSET ?", [query, low, high, RANKED - 1]).fetchone()
        ranked += [(rank, rowid) for rank, rowid in conn.execute(  # tuples: rows by name (the application's) do not sort
            "SELECT bm25(content_fts), rowid FROM content_fts WHERE content_fts MATCH ? "
            "AND rowid >= ? AND rowid <= ? ORDER BY bm25(content_fts) LIMIT ?",
            [query, low, last[0] if last else high - 1, limit])]
    return sorted(ranked)[:limit]


def _resolve(conn: sqlite3.Connection, kind: str, key: int, snippet: str, rank: float) -> list[SearchHit]:
    """The objects behind one index row."""
    if kind == "text":
        rows = conn.execute(
            "SELECT f.id, f.path, e.path, f.sha256 FROM texts t JOIN files f ON f.sha256 = t.sha256 "
            "LEFT JOIN evidence e ON e.id = f.evidence_id WHERE t.rowid = ? ORDER BY f.id LIMIT ?",
            [key, MAX_OBJECTS_PER_TEXT]).fetchall()
        return [SearchHit("text", path, evidence, snippet, file_id, sha256, rank)
                for file_id, path, evidence, sha256 in rows]
    if kind == "file":
        row = conn.execute("SELECT f.id, f.path, e.path, f.sha256 FROM files f LEFT JOIN evidence e "
                           "ON e.id = f.evidence_id WHERE f.id = ?", [key]).fetchone()
        return [SearchHit("name", row[1], row[2], snippet, row[0], row[3], rank)] if row else []
    if kind == "artefact":
        row = conn.execute("SELECT a.type, a.source, e.path, a.file_id FROM artifacts a LEFT JOIN evidence e "
                           "ON e.id = a.evidence_id WHERE a.id = ?", [key]).fetchone()
        return [SearchHit(f"artefact {row[0]}", row[1], row[2], snippet, row[3], None, rank)] if row else []
    table, where = {"http": ("http", "'http ' || coalesce(host, dst) || coalesce(uri, '')"),
                    "dns": ("dns", "'dns ' || coalesce(query, '')"),
                    "mail": ("smtp", "'mail ' || coalesce(subject, '')")}.get(kind, (None, None))
    if table is None:
        return []
    row = conn.execute(f"SELECT {where}, e.path FROM [{table}] r LEFT JOIN evidence e ON e.id = r.evidence_id "
                       f"WHERE r.id = ?", [key]).fetchone()
    return [SearchHit(kind, row[0], row[1], snippet, None, None, rank)] if row else []
