"""Follow conversation: one flow's DNS lookups, HTTP exchanges, TLS handshakes, mail, FTP commands and the files
it carried, in one window, read on the thread pool (a large capture's DNS table is searched for the lookups
that named the flow's server)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..case import network_views as nv
from ..formatting import human_size
from ..text_safety import visible
from ..text_safety import visible_html as esc
from .case_window import named
from .details import grid
from .network_details import cell
from .workers import FunctionWorker

# what each record table shows of its rows in a conversation: (column, title)
SUMMARY: dict[str, tuple[tuple[str, str], ...]] = {
    "dns": (("ts", "time (UTC)"), ("query", "query"), ("qtype", "type"), ("answers", "answers"), ("rcode", "result")),
    "http": (("ts", "time (UTC)"), ("method", "method"), ("host", "host"), ("uri", "URI"), ("status", "status"),
             ("content_type", "content type"), ("body_size", "body")),
    "tls": (("ts", "time (UTC)"), ("sni", "server name"), ("version", "version"), ("cipher", "cipher"),
            ("cert_subject", "certificate subject"), ("ja3", "JA3")),
    "smtp": (("ts", "time (UTC)"), ("mail_from", "from"), ("rcpt_to", "to"), ("subject", "subject"),
             ("attachments", "attachments")),
    "ftp": (("ts", "time (UTC)"), ("user", "user"), ("command", "command"), ("arg", "argument"),
            ("reply_code", "reply"), ("reply_msg", "reply text")),
    "credentials": (("ts", "time (UTC)"), ("protocol", "protocol"), ("username", "user name"), ("where", "where"),
                    ("accepted", "accepted")),  # the password stays in the Credentials tab, masked and audited
}
TITLES = {"dns": "DNS on this flow", "http": "HTTP", "tls": "TLS", "smtp": "Mail (SMTP)", "ftp": "FTP",
          "credentials": "Credentials"}
FILE_COLUMNS = (("path", "Path"), ("size", "Size"), ("mime", "Type"), ("sha256", "SHA-256"))


def _records(name: str, rows: list[dict[str, Any]]) -> str:
    columns = SUMMARY[name]
    table = nv.TABLES[name]
    return grid([title for _, title in columns],
                [[cell(table.column(key).kind, row.get(key)) for key, _ in columns] for row in rows])


def conversation_html(talk: nv.Conversation) -> str:
    """The flow, then the lookups naming its server, then each kind of record on it."""
    flow = talk.flow
    if flow is None:
        return "<p>This flow is not in the case.</p>"
    parts = [f"<h3>{esc(flow['proto'])} {esc(flow['src'])}:{esc(flow['sport'])} → {esc(flow['dst'])}:"
             f"{esc(flow['dport'])} ({esc(flow['app'] or 'unrecognised')})</h3>",
             f"<p>{esc(flow['first_seen'])} to {esc(flow['last_seen'])} · {esc(flow['packets'])} packets · "
             f"{esc(flow['bytes'])} bytes · state {esc(flow['state'])} · capture {esc(Path(flow['evidence']).name)}</p>"]
    if talk.lookups:
        parts.append(f"<h4>DNS lookups naming {esc(flow['dst'])} ({len(talk.lookups)})</h4>"
                     + _records("dns", talk.lookups))
    else:
        parts.append(f"<h4>DNS lookups naming {esc(flow['dst'])}</h4><p><i>none in this capture</i></p>")
    for name in nv.CONVERSATION_TABLES:
        rows = talk.records.get(name)
        if rows:
            parts.append(f"<h4>{TITLES[name]} ({len(rows)})</h4>" + _records(name, rows))
    return "".join(parts)


class ConversationDialog(QDialog):
    """One flow's conversation; its files open in the content viewer (double-click or Open)."""

    def __init__(self, case_dir: Path, evidence_id: int, flow_id: int, open_object: Callable[[int], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("conversationDialog")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.setWindowTitle(f"Conversation: flow {flow_id}")
        self.open_object = open_object
        self.talk: nv.Conversation | None = None
        self.browser = named(QTextBrowser(), "conversationText")
        self.browser.setHtml("<p>Reading the conversation…</p>")
        self.files = named(QTableWidget(0, len(FILE_COLUMNS)), "conversationFiles")
        self.files.setHorizontalHeaderLabels([title for _, title in FILE_COLUMNS])
        self.files.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.files.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.files.verticalHeader().hide()
        self.files.horizontalHeader().setStretchLastSection(True)
        self.files.setColumnWidth(0, 380)
        self.files.doubleClicked.connect(lambda index: self._open(index.row()))
        self.open_button = named(QPushButton("Open file"), "conversationOpenFile")
        self.open_button.clicked.connect(lambda: self._open(self.files.currentRow()))
        self.status = named(QLabel(""), "conversationStatus")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.browser)
        split.addWidget(self.files)
        split.setSizes([420, 160])
        bar = QHBoxLayout()
        bar.addWidget(self.status, 1)
        bar.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        layout.addLayout(bar)
        self.resize(1000, 650)
        self.worker = FunctionWorker(nv.conversation_of_case, case_dir, evidence_id, flow_id)
        self.worker.signals.finished.connect(self.show_conversation)
        self.worker.signals.errored.connect(self.show_error)
        self.worker.start()

    def show_error(self, error: Exception) -> None:
        self.browser.setHtml(f"<p>The conversation could not be read: {esc(error)}</p>")

    def show_conversation(self, talk: nv.Conversation) -> None:
        self.talk = talk
        self.browser.setHtml(conversation_html(talk))
        self.files.setRowCount(len(talk.files))
        for number, row in enumerate(talk.files):
            for column, (key, _) in enumerate(FILE_COLUMNS):
                value = human_size(row[key]) if key == "size" and row[key] is not None else visible(row[key])
                item = QTableWidgetItem(value)
                item.setData(Qt.ItemDataRole.UserRole, row["id"])
                self.files.setItem(number, column, item)
        self.open_button.setEnabled(bool(talk.files))
        self.status.setText(f"Files this flow carried: {len(talk.files)}")

    def _open(self, number: int) -> None:
        if self.talk is not None and 0 <= number < len(self.talk.files):
            self.open_object(self.talk.files[number]["id"])
