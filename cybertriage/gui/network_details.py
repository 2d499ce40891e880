"""The details pane under each Network tab: the selected record as labelled rows, an HTTP exchange's request and
response headers as written, a TLS server's certificate chain as a table, and buttons that open the body an
HTTP exchange carried (in the content viewer) and the flow's whole conversation.

Reads here are single rows by primary key or on an index (the record, the carried file by its SHA-256), quick
on any case; a conversation is read on the thread pool (gui/conversation.py).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QPushButton,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..case import browse
from ..case import network_views as nv
from ..case.columns import Kind, Table
from ..formatting import exact_size
from ..text_safety import visible_html as esc
from .case_window import named
from .content import ContentViewer
from .details import grid, label, text

MASK = "••••••••"
# columns each table's details leave to a section of their own
SECTIONED = {"http": {"request_headers", "response_headers"},
             "tls": {"cert_chain_sha256", "cert_chain_subjects", "cert_chain_issuers", "cert_chain_not_before",
                     "cert_chain_not_after"}}
HIDDEN = {"id", "evidence_id", "evidence"}
# the tables whose records carried content, and the SHA-256 columns that name it: (direction, column)
CARRIES = {"http": (("response", "body_sha256"), ("request", "request_body_sha256")),
           "ftp": (("transfer", "file_sha256"),)}
OPEN_TITLES = {"http": ("Open body", "The response body (else the request body) this exchange carried, in the "
                                     "content viewer"),
               "ftp": ("Open file", "The file this command transferred, in the content viewer")}


def _list(value: Any) -> list[Any]:
    if isinstance(value, str) and value.startswith("["):
        decoded = json.loads(value)
        return decoded if isinstance(decoded, list) else []
    return value if isinstance(value, list) else []


def cell(column_kind: Kind, value: Any) -> str:
    """A stored value as its column's kind shows it: a list one item a line (numbers on one line), yes/no."""
    if column_kind is Kind.JSON_LIST:
        items = _list(value)
        if all(isinstance(item, (int, float)) for item in items):
            return esc(", ".join(map(str, items)))
        return "<br>".join(text(item) for item in items)
    if column_kind is Kind.YES_NO:
        return "" if value is None else "yes" if value else "no"
    if column_kind is Kind.SIZE:
        return esc(exact_size(value))
    return text(value)


def _title(column: Any) -> str:
    return column.title or label(column.name)


def fields_of(table: Table, row: dict[str, Any], revealed: bool = False) -> str:
    """Every column of a record the table describes, labelled, in the application's order then the rest."""
    shown = [c.name for c in table.shown]
    order = shown + [c.name for c in table.columns if c.name not in shown]
    cells = []
    skip = HIDDEN | SECTIONED.get(table.name, set())
    for name in order:
        if name in skip or name not in row or row[name] in (None, "", "[]"):
            continue
        column = table.column(name)
        value = MASK if name in table.masked and not revealed else cell(column.kind, row[name])
        cells.append(f"<tr><td valign='top'><b>{esc(_title(column))}</b></td><td>{value}</td></tr>")
    evidence = f"<tr><td><b>Evidence</b></td><td>{esc(row.get('evidence'))}</td></tr>" if row.get("evidence") else ""
    return f'<table cellspacing="0" cellpadding="3">{evidence}{"".join(cells)}</table>'


def headers_table(pairs: list[Any]) -> str:
    """Header lines as written, one labelled row each."""
    rows = [f"<tr><td valign='top'><b>{esc(pair[0])}</b></td><td>{text(pair[1])}</td></tr>"
            for pair in pairs if isinstance(pair, list) and len(pair) == 2]
    return f'<table cellspacing="0" cellpadding="2">{"".join(rows)}</table>' if rows else "<p><i>none recorded</i></p>"


def http_html(row: dict[str, Any]) -> str:
    """An HTTP exchange: its request line and headers, its status line and headers."""
    request_line = " ".join(str(part) for part in (row.get("method"), row.get("uri")) if part)
    status = " ".join(str(part) for part in (row.get("status"), row.get("reason")) if part)
    parts = [f"<h3>{esc(request_line or 'HTTP exchange')} · {esc(row.get('host') or row.get('dst'))}</h3>",
             f"<h4>Request headers</h4><p><code>{esc(request_line)}</code></p>",
             headers_table(_list(row.get("request_headers")))]
    if status or row.get("response_headers"):  # the version stored is the response's (as Zeek logs it)
        parts += [f"<h4>Response headers</h4><p><code>HTTP/{esc(row.get('version') or '?')} {esc(status)}</code></p>",
                  headers_table(_list(row.get("response_headers")))]
    return "".join(parts)


def chain_html(row: dict[str, Any]) -> str:
    """A TLS server's certificate chain, leaf first: subject, issuer, validity and SHA-256 of each."""
    fingerprints = _list(row.get("cert_chain_sha256"))
    if not fingerprints:
        return "<h4>Certificate chain</h4><p><i>None seen (TLS 1.3 encrypts it, or the handshake was cut).</i></p>"
    subjects, issuers = _list(row.get("cert_chain_subjects")), _list(row.get("cert_chain_issuers"))
    starts, ends = _list(row.get("cert_chain_not_before")), _list(row.get("cert_chain_not_after"))

    def at(values: list[Any], number: int) -> Any:
        return values[number] if number < len(values) else None

    rows = [[esc(number + 1), text(at(subjects, number)), text(at(issuers, number)), esc(at(starts, number)),
             esc(at(ends, number)), f"<code>{esc(fingerprint)}</code>"] for number, fingerprint in enumerate(fingerprints)]
    return (f"<h4>Certificate chain ({len(fingerprints)})</h4>"
            + grid(["#", "subject", "issuer", "valid from", "valid until", "SHA-256"], rows))


def record_html(table: Table, row: dict[str, Any], objects: list[dict[str, Any]], revealed: bool = False) -> str:
    """The details of one record of a network table."""
    parts = [http_html(row) if table.name == "http" else f"<h3>{esc(table.title)} record</h3>"]
    if objects:
        parts.append("<h4>Carried objects</h4>" + grid(["direction", "path", "size", "type", "SHA-256"], [
            [esc(o["direction"]), esc(o["path"]), esc(exact_size(o["size"])), esc(o["mime"]),
             f"<code>{esc(o['sha256'])}</code>"] for o in objects]))
    if table.name == "http":
        parts.append("<h4>Record</h4>")
    if table.name == "tls":  # the chain first: what the examiner opens a handshake for
        parts += [chain_html(row), "<h4>Handshake</h4>"]
    parts.append(fields_of(table, row, revealed))
    return "".join(parts)


class RecordDetails(QWidget):
    """The details pane: the record's text, and Follow conversation / Open body buttons."""

    def __init__(self, table: Table, open_object: Callable[[int], None],
                 follow: Callable[[int, int], None], show_flows: Callable[[str], None]) -> None:
        super().__init__()
        self.table = table
        self.open_object, self.follow, self.show_flows = open_object, follow, show_flows
        self.row: dict[str, Any] | None = None
        self.objects: list[dict[str, Any]] = []
        self.browser = named(QTextBrowser(), f"{table.name}Details")
        self.browser.setOpenLinks(False)
        self.follow_button = named(QPushButton("Follow conversation"), f"{table.name}FollowConversation")
        self.follow_button.setToolTip("This flow's DNS lookups, HTTP, TLS, mail, FTP and files together")
        if table.name == "hosts":  # a host has many flows: the Flows tab lists them
            self.follow_button.setText("Show its flows")
            self.follow_button.setToolTip("The Flows tab, filtered on this address")
        title, tip = OPEN_TITLES.get(table.name, ("Open body", ""))
        self.body_button = named(QPushButton(title), f"{table.name}OpenBody")
        self.body_button.setToolTip(tip)
        self.follow_button.clicked.connect(self._follow)
        self.body_button.clicked.connect(self._open_body)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.follow_button)
        if table.name in CARRIES:
            bar.addWidget(self.body_button)
        else:
            self.body_button.hide()
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.browser)
        self.show_record(None, None)

    def show_record(self, conn: sqlite3.Connection | None, record_id: int | None, revealed: bool = False) -> None:
        """Show one record of the table (None: nothing selected)."""
        self.row = nv.record(conn, self.table.name, record_id) if conn is not None and record_id is not None else None
        self.objects = []
        if self.row is None or conn is None:
            self.browser.setHtml("<p style='color:#666'>Select a row to see its details.</p>")
        else:
            for direction, column in CARRIES.get(self.table.name, ()):
                for found in nv.carried_objects(conn, self.row["evidence_id"], self.row["flow_id"], self.row[column]):
                    self.objects.append({**found, "direction": direction})
            self.browser.setHtml(record_html(self.table, self.row, self.objects, revealed))
        self.follow_button.setEnabled(self.row is not None and (self.flow() is not None or self.table.name == "hosts"))
        self.body_button.setEnabled(bool(self.objects))

    def flow(self) -> tuple[int, int] | None:
        """The (evidence id, flow id) of the record shown: its conversation's key."""
        if self.row is None or self.row.get("flow_id") is None or self.table.name == "hosts":
            return None
        return self.row["evidence_id"], self.row["flow_id"]

    def _follow(self) -> None:
        key = self.flow()
        if key is not None:
            self.follow(*key)
        elif self.row is not None and self.table.name == "hosts":
            self.show_flows(self.row["address"])

    def _open_body(self) -> None:
        if self.objects:
            self.open_object(self.objects[0]["id"])


class ObjectDialog(QDialog):
    """One carried object in the content viewer (hex, text and media), on the case's read-only connection."""

    def __init__(self, case_dir: Path, conn: sqlite3.Connection, file_id: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("objectDialog")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        row = browse.file_row(conn, file_id)
        self.setWindowTitle(f"Object: {row['path'] if row else file_id}")
        self.tabs = named(QTabWidget(), "objectTabs")
        self.hex_tab, self.text_tab = QWidget(), QWidget()
        for tab in (self.hex_tab, self.text_tab):
            QVBoxLayout(tab).setContentsMargins(0, 0, 0, 0)
        self.tabs.addTab(self.hex_tab, "Hex")
        self.tabs.addTab(self.text_tab, "Text")
        self.viewer = ContentViewer(self.hex_tab, self.text_tab, self.tabs)
        self.viewer.set_case(case_dir, conn)
        self.viewer.show_file(row)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        self.resize(900, 600)
        self.finished.connect(lambda _: self.viewer.set_case(None, None))
