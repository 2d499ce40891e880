"""What the application's Network tabs ask beyond paging: which rows a typed filter keeps, one record whole,
the objects a record carried, and one flow's conversation (its DNS lookups, HTTP, TLS, mail, FTP and files).

A filter is plain words an examiner types: every word must match (AND). A word is an IP address (either end of
the record), `:443` or `port:443` (either port), `host:example.com` or `name:` (the names the record holds:
Host header, server name, DNS query, certificate subject, a host's names), `uri:/login`, `ip:10.0.0.1`, or any
other text, which matches the tab's text columns (case ignored). Each becomes a WHERE clause over the table,
so only the ids of the matching rows are read, never the rows themselves.
"""

from __future__ import annotations

import ipaddress
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import columns
from .browse import connect, has_table
from .columns import Kind, Table

# the columns of each table that hold names (what `host:` and `name:` match)
NAME_COLUMNS: dict[str, tuple[str, ...]] = {
    "dns": ("query", "answers"), "http": ("host",), "tls": ("sni", "cert_subject", "cert_san_dns"),
    "smtp": ("helo", "mail_from", "rcpt_to"), "ftp": ("url",), "credentials": ("where",),
    "hosts": ("names", "dns_names", "http_hosts", "tls_names"),
}
URI_COLUMNS: dict[str, tuple[str, ...]] = {"http": ("uri", "referrer"), "ftp": ("arg", "url"), "credentials": ("where",)}
PREFIXES = ("host", "name", "ip", "port", "uri")


class FilterError(ValueError):
    """A filter word that cannot mean anything (a port that is not a number): said to the examiner as typed."""


def _text_columns(table: Table) -> list[str]:
    """The columns free text is looked for in: every column of text the tab shows."""
    return [column.name for column in table.shown if column.kind in (Kind.TEXT, Kind.JSON_LIST, Kind.TIME)
            and column.name not in table.masked]


def _contains(names: tuple[str, ...] | list[str], value: str) -> tuple[str, list[Any]]:
    if not names:
        return "0", []
    return "(" + " OR ".join(f"instr(lower([{name}]), ?) > 0" for name in names) + ")", [value.lower()] * len(names)


def _address(table: Table, value: str) -> tuple[str, list[Any]]:
    if table.name == "hosts":
        return "address = ?", [value]
    return "(src = ? OR dst = ?)", [value, value]


def _port(table: Table, value: str) -> tuple[str, list[Any]]:
    if not value.isdigit():
        raise FilterError(f"a port is a number: {value!r}")
    if table.name == "hosts":
        return ("EXISTS (SELECT 1 FROM json_each(open_ports) p "  # "tcp/443"
                "WHERE substr(p.value, instr(p.value, '/') + 1) = ?)"), [str(int(value))]
    return "(sport = ? OR dport = ?)", [int(value), int(value)]


def _names(table: Table, value: str) -> tuple[str, list[Any]]:
    if table.name == "flows":  # a flow holds addresses only: the hosts those names were seen for, read once
        hosts = "(SELECT evidence_id, address FROM hosts WHERE instr(lower(names), ?) > 0)"
        return f"((evidence_id, src) IN {hosts} OR (evidence_id, dst) IN {hosts})", [value.lower(), value.lower()]
    return _contains(NAME_COLUMNS.get(table.name, ()), value)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _word(table: Table, word: str) -> tuple[str, list[Any]]:
    """One typed word as a clause over the table."""
    prefix, sep, value = word.partition(":")
    if sep and prefix.lower() in PREFIXES and value:
        kind = prefix.lower()
        if kind in ("host", "name"):
            return _names(table, value)
        if kind == "ip":
            return _address(table, value)
        if kind == "port":
            return _port(table, value)
        return _contains(URI_COLUMNS.get(table.name, ()), value)
    if word.startswith(":") and word[1:].isdigit():
        return _port(table, word[1:])
    if _is_address(word):
        return _address(table, word)
    return _contains(_text_columns(table), word)


def filter_clause(table: Table, text: str) -> tuple[str, list[Any]]:
    """The WHERE clause (without WHERE; '1' for no filter) keeping the rows every typed word matches."""
    clauses, parameters = [], []
    for word in text.split():
        clause, values = _word(table, word)
        clauses.append(clause)
        parameters += values
    return (" AND ".join(clauses) or "1"), parameters


def filtered_ids(conn: sqlite3.Connection, table: Table, text: str, column: str = "id",
                 descending: bool = False) -> list[int]:
    """The ids of a network table's rows the filter keeps, ordered by one of its columns (then by id, the same
    way): what a tab lists, a few bytes a row."""
    if column not in {c.name for c in table.columns} | {"id"}:
        raise FilterError(f"{table.name} has no column {column!r}")
    where, parameters = filter_clause(table, text)
    direction = "DESC" if descending else "ASC"
    return [row[0] for row in conn.execute(
        f"SELECT id FROM [{table.name}] WHERE {where} ORDER BY [{column}] {direction}, id {direction}", parameters)]


def filtered_ids_of_case(case_dir: Path, table_name: str, text: str, column: str, descending: bool, *,
                         cancel: Any = None) -> list[int]:
    """`filtered_ids` on a connection of the calling thread's own (for a pool worker)."""
    conn = connect(case_dir)
    conn.row_factory = None  # plain tuples: a million ids come a third faster, holding the GIL less
    try:
        return filtered_ids(conn, TABLES[table_name], text, column, descending)
    finally:
        conn.close()


TABLES: dict[str, Table] = {table.name: table for table in columns.NETWORK}


def record(conn: sqlite3.Connection, table_name: str, record_id: int) -> dict[str, Any] | None:
    """One network record whole, with its evidence's path."""
    rows = _rows(conn.execute(f"SELECT t.*, e.path AS evidence FROM [{TABLES[table_name].name}] t "
                              "JOIN evidence e ON e.id = t.evidence_id WHERE t.id = ?", [record_id]))
    return rows[0] if rows else None


OBJECT_COLUMNS = "id, path, name, size, mime, sha256, origin, flow_id, evidence_id"


def _rows(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor]


def carried_objects(conn: sqlite3.Connection, evidence_id: int, flow_id: int, sha256: str | None) -> list[dict[str, Any]]:
    """The files a record's body became (found by the body's SHA-256, on its index, in the record's flow)."""
    if not sha256:
        return []
    return _rows(conn.execute(f"SELECT {OBJECT_COLUMNS} FROM files WHERE sha256 = ? AND evidence_id = ? AND flow_id = ? "
                              "ORDER BY id", [sha256, evidence_id, flow_id]))


@dataclass
class Conversation:
    """Everything a capture recorded about one flow: the flow, the DNS lookups that named its ends, and the
    records and files it carried."""

    flow: dict[str, Any] | None
    lookups: list[dict[str, Any]] = field(default_factory=list)  # DNS answers naming the flow's responder
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # table → its rows on the flow, in time
    files: list[dict[str, Any]] = field(default_factory=list)


CONVERSATION_TABLES = ("dns", "http", "tls", "smtp", "ftp", "credentials")
LOOKUPS = 20  # the latest lookups naming the address before the flow ended: enough to see which name it was


def conversation(conn: sqlite3.Connection, evidence_id: int, flow_id: int) -> Conversation:
    """One flow's conversation (the capture's flow ids are unique within one evidence item)."""
    flows = _rows(conn.execute("SELECT f.*, e.path AS evidence FROM flows f JOIN evidence e ON e.id = f.evidence_id "
                               "WHERE f.evidence_id = ? AND f.flow_id = ?", [evidence_id, flow_id]))
    flow = flows[0] if flows else None
    talk = Conversation(flow)
    for name in CONVERSATION_TABLES:
        if has_table(conn, name):  # the (evidence_id, flow_id) index of each record table
            rows = _rows(conn.execute(f"SELECT * FROM [{name}] WHERE evidence_id = ? AND flow_id = ? ORDER BY ts, id",
                                      [evidence_id, flow_id]))
            if rows:
                talk.records[name] = rows
    if flow is not None:
        talk.lookups = _rows(conn.execute(
            """SELECT * FROM dns d WHERE d.evidence_id = ? AND d.ts <= ?
               AND EXISTS (SELECT 1 FROM json_each(d.answers) a WHERE a.value = ?)
               ORDER BY d.ts DESC, d.id DESC LIMIT ?""",
            [evidence_id, flow["last_seen"] or flow["first_seen"], flow["dst"], LOOKUPS]))
        talk.lookups.reverse()
    talk.files = _rows(conn.execute(f"SELECT {OBJECT_COLUMNS} FROM files WHERE evidence_id = ? AND flow_id = ? "
                                    "ORDER BY path, id", [evidence_id, flow_id]))
    return talk


def conversation_of_case(case_dir: Path, evidence_id: int, flow_id: int, *, cancel: Any = None) -> Conversation:
    """`conversation` on a connection of the calling thread's own (for a pool worker)."""
    conn = connect(case_dir)
    try:
        return conversation(conn, evidence_id, flow_id)
    finally:
        conn.close()
