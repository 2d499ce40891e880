"""Tags written into a case by someone else since the application last looked: several examiners may open one case
(kept in PostgreSQL, or one case.db), and each must see the others' tags within seconds.

The audit log is what is asked: every tag is written with its entry ("tag added", by user@host), its ids only grow,
and the hash chain makes its entries one at a time, so an entry never appears behind a later one already seen.
Its last id answers the question cheaply every few seconds; only when it moved are the new entries read.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .browse import connect, object_tags


@dataclass(frozen=True)
class TagAdded:
    """One tag from the audit log, with the object's tags as the tables now show them."""

    tag_id: int | None  # None in the entries of cases tagged before the log named it
    object_kind: str  # file | finding
    object_id: int
    tag: str
    by: str  # user@host of the audit log entry
    tags: str | None  # the object's tags now, comma-separated
    notes: str | None  # the same with their notes


@dataclass(frozen=True)
class TagNews:
    """The audit log's last entry when asked, and the tags added after the entry given."""

    last_entry: int
    added: list[TagAdded] = field(default_factory=list)


def last_entry_of(conn: sqlite3.Connection) -> int:
    """The id of the audit log's last entry (0 for an empty log): what a window has seen when it opens a case."""
    return conn.execute("SELECT max(id) FROM audit_log").fetchone()[0] or 0


def tags_added_since(conn: sqlite3.Connection, last_entry: int | None) -> TagNews:
    """The tags whose audit log entries come after `last_entry` (None: only where the log ends now)."""
    last = last_entry_of(conn)
    if last_entry is None or last <= last_entry:
        return TagNews(last)
    added = []
    for user, host, detail in conn.execute(
            "SELECT \"user\", host, detail FROM audit_log WHERE id > ? AND id <= ? AND action = 'tag added' "
            "ORDER BY id", [last_entry, last]).fetchall():
        tag = json.loads(detail)
        kind, object_id = tag["object_kind"], tag["object_id"]
        added.append(TagAdded(tag.get("tag_id"), kind, object_id, tag["tag"], f"{user}@{host}",
                              *object_tags(conn, kind, object_id)))
    return TagNews(last, added)


def tags_added_to_case(case_dir: Path, last_entry: int | None, *, cancel: threading.Event | None = None) -> TagNews:
    """`tags_added_since` on a connection of the calling thread's own (for a pool worker)."""
    conn = connect(case_dir)
    try:
        return tags_added_since(conn, last_entry)
    finally:
        conn.close()
