"""The Artefacts tab and the System tab: what the Windows computer's own records say.

Artefacts (registry keys, event log records, prefetch, shortcuts, jump lists, the Recycle Bin, scheduled tasks,
browser history) are one paged, sortable table, filtered by type and by text; the selected row's parsed fields are
shown beside it, with its source file and its moment on the timeline a click away. The System tab is the computer's
profile as its registry tells it: name, operating system, owner, time zone (recorded, never applied: every time on
screen is UTC), last shutdown, network interfaces, user accounts and storage devices.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..case import browse, columns
from ..case.host_profile import HostProfile, device_name
from ..formatting import utc_iso
from ..text_safety import visible_html as esc
from .case_window import named
from .details import text as rich_text
from .network import RecordsModel

ARTEFACTS = columns.ARTIFACTS
# the summary takes the width the others leave; a path keeps its start and its file name
SUMMARY, SOURCE = ARTEFACTS.shown_names.index("summary"), ARTEFACTS.shown_names.index("source")
NO_ARTEFACTS = ("<p style='font-size:13pt'>No artefacts in this case.</p><p>Registry hives, event logs, prefetch "
                "files, shortcuts and jump lists, Recycle Bin records, scheduled tasks and browser histories are read "
                "as the evidence is examined, on disk images and in folders, and appear here.</p>")
CHOOSE = "<p>Select an artefact to see every field its parser read.</p>"
MAX_LIST_SHOWN = 50  # items of a list field shown before "… and N more" (prefetch lists hundreds of loaded files)
AROUND = timedelta(minutes=30)  # the timeline range "Show in timeline" opens around an artefact's time


class ArtefactsModel(RecordsModel):
    """The artefacts table, paged and sorted in SQL like a network table, narrowed to a type and a text."""

    def __init__(self, conn: sqlite3.Connection, parent: Any = None) -> None:
        self.kind: str | None = None
        self.text = ""
        super().__init__(conn, ARTEFACTS, parent)

    def _read_ids(self) -> list[int]:
        column, descending = self.order
        return browse.artifact_ids(self.conn, self.kind, self.text, column, descending)

    def narrow(self, kind: str | None, text: str) -> None:
        self.kind, self.text = kind, text
        self.refresh()


class ArtefactsView(QObject):
    """The Artefacts tab: type and text filters, the table, and the selected artefact's fields."""

    def __init__(self, show_file: Callable[[int], None], show_time: Callable[[str, str], None]) -> None:
        super().__init__()
        self.show_file, self.show_time = show_file, show_time
        self.conn: sqlite3.Connection | None = None
        self.model: ArtefactsModel | None = None
        self.counts: list[tuple[str, int]] = []
        self.widget = named(QWidget(), "artefactsTab")
        layout = QVBoxLayout(self.widget)
        top = named(QWidget(), "artefactsFilters")
        bar = QHBoxLayout(top)
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("Type"))
        self.type_box = named(QComboBox(), "artefactsType")
        self.type_box.setMinimumWidth(260)
        self.type_box.currentIndexChanged.connect(self._narrow)
        bar.addWidget(self.type_box)
        self.text_edit = named(QLineEdit(), "artefactsText")
        self.text_edit.setPlaceholderText("Filter summary or source file…")
        self.text_edit.setClearButtonEnabled(True)
        self._typing = QTimer(self, singleShot=True, interval=300)
        self._typing.timeout.connect(self._narrow)
        self.text_edit.textChanged.connect(lambda _: self._typing.start())
        bar.addWidget(self.text_edit, 1)
        self.count_label = named(QLabel(), "artefactsCount")
        bar.addWidget(self.count_label)
        layout.addWidget(top)

        splitter = named(QSplitter(), "artefactsSplitter")
        self.view = named(QTableView(), "artefactsView")
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(24)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.view.horizontalHeader().setStretchLastSection(False)
        self.view.setItemDelegateForColumn(SOURCE, MiddleElided(self.view))
        splitter.addWidget(self.view)
        side = named(QWidget(), "artefactDetails")
        box = QVBoxLayout(side)
        box.setContentsMargins(0, 0, 0, 0)
        self.details = named(QTextBrowser(), "artefactFields")
        box.addWidget(self.details, 1)
        buttons = QWidget()
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        self.file_button = named(QPushButton("Show source file"), "artefactShowFile")
        self.file_button.clicked.connect(self._show_file)
        self.time_button = named(QPushButton("Show in timeline"), "artefactShowTime")
        self.time_button.clicked.connect(self._show_time)
        row.addWidget(self.file_button)
        row.addWidget(self.time_button)
        box.addWidget(buttons)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 1)  # a wider window widens the table, not the fields
        splitter.setSizes([1040, 360])
        layout.addWidget(splitter, 1)
        self._selected: sqlite3.Row | None = None
        self._show_selected()

    def open(self, conn: sqlite3.Connection | None) -> None:
        """Show a case's artefacts (or none)."""
        self.view.setModel(None)
        if self.model is not None:
            self.model.deleteLater()
        self.conn, self.model, self.counts = conn, None, []
        self.type_box.blockSignals(True)
        self.type_box.clear()
        self.type_box.blockSignals(False)
        self.type_box.setEnabled(False)
        self.count_label.clear()
        self._show_selected()

    def show_counts(self, counts: list[tuple[str, int]]) -> None:
        """Show the types a snapshot read (after a scan, while one runs, on F5) and the rows of the chosen one."""
        if self.conn is None:
            return
        if counts != self.counts:
            self.counts = counts
            self._fill_types()
            self._show_selected()
        if self.model is None and counts:
            self.model = ArtefactsModel(self.conn, self)
            self.view.setModel(self.model)
            header = self.view.horizontalHeader()
            for number, column in enumerate(ARTEFACTS.shown):
                header.resizeSection(number, column.width)
            header.setSectionResizeMode(SUMMARY, QHeaderView.ResizeMode.Stretch)
            self.view.setSortingEnabled(True)
            self.view.selectionModel().currentRowChanged.connect(lambda current, _: self._row_chosen(current))
            self._narrow()
        elif self.model is not None:
            self.model.refresh()
            self._say_count()

    def _fill_types(self) -> None:
        """All, each family (registry, evtx, browser …) and each type, with counts."""
        chosen = self.type_box.currentData()
        families: dict[str, int] = {}
        for kind, count in self.counts:
            if "." in kind:
                family = kind.split(".", 1)[0]
                families[family] = families.get(family, 0) + count
        entries: list[tuple[str | None, str]] = [(None, f"All types ({sum(n for _, n in self.counts):,})")]
        for family, count in sorted(families.items()):
            entries.append((family, f"{family} — all ({count:,})"))
            entries += [(kind, f"    {kind} ({n:,})") for kind, n in self.counts if kind.startswith(family + ".")]
        entries += [(kind, f"{kind} ({n:,})") for kind, n in self.counts if "." not in kind]
        self.type_box.blockSignals(True)
        self.type_box.clear()
        for data, text in entries:
            self.type_box.addItem(text, data)
        found = self.type_box.findData(chosen)
        self.type_box.setCurrentIndex(max(found, 0))
        self.type_box.blockSignals(False)
        self.type_box.setEnabled(bool(self.counts))

    def _narrow(self, *_: Any) -> None:
        if self.model is None:
            return
        self.model.narrow(self.type_box.currentData(), self.text_edit.text().strip())
        self._say_count()

    def _say_count(self) -> None:
        shown = self.model.rowCount() if self.model is not None else 0
        total = sum(n for _, n in self.counts)
        self.count_label.setText(f"{shown:,} of {total:,} artefacts")

    def _row_chosen(self, current: QModelIndex) -> None:
        self._selected = self.model.record(current.row()) if self.model is not None and current.isValid() else None
        self._show_selected()

    def _show_selected(self) -> None:
        row = self._selected
        self.file_button.setEnabled(row is not None)
        self.time_button.setEnabled(row is not None and bool(row["ts"]))
        if row is None or self.conn is None:
            self.details.setHtml(NO_ARTEFACTS if self.conn is not None and not self.counts else CHOOSE)
            return
        full = browse.records_by_id(self.conn, "artifacts", ["id", "file_id", "values"], [row["id"]]).get(row["id"])
        values = json.loads(full["values"]) if full is not None and full["values"] else {}
        lines = [f"<h3>{esc(row['type'])}</h3><p>{esc(row['summary'] or '')}</p>",
                 f"<p><b>Time (UTC)</b> {esc(row['ts'] or '—')}<br><b>Source</b> {esc(row['source'] or '')}</p>",
                 "<table cellspacing='0' cellpadding='3'>"]
        lines += [f"<tr><td valign='top'><b>{esc(key)}</b></td><td>{_field_html(value)}</td></tr>"
                  for key, value in values.items()]
        self.details.setHtml("".join(lines) + "</table>")

    def _show_file(self) -> None:
        if self._selected is not None and self.conn is not None:
            full = browse.records_by_id(self.conn, "artifacts", ["id", "file_id"], [self._selected["id"]])
            file_id = full[self._selected["id"]]["file_id"] if self._selected["id"] in full else None
            if file_id is not None:
                self.show_file(file_id)

    def _show_time(self) -> None:
        if self._selected is not None and self._selected["ts"]:
            moment = datetime.fromisoformat(self._selected["ts"][:19]).replace(tzinfo=timezone.utc)
            self.show_time(utc_iso(moment - AROUND), utc_iso(moment + AROUND))


class MiddleElided(QStyledItemDelegate):
    """A path too long for its column keeps its start and its file name ('/Users/alice/…/Default/History')."""

    def initStyleOption(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


def _field_html(value: Any) -> str:
    """A parsed field as HTML: a list one item a line, an object one "name: value" a line, evidence text escaped."""
    if isinstance(value, list):
        shown = [_item_text(item) for item in value[:MAX_LIST_SHOWN]]
        more = [f"… and {len(value) - MAX_LIST_SHOWN:,} more"] if len(value) > MAX_LIST_SHOWN else []
        return "<br>".join(rich_text(line) for line in [*shown, *more])
    if isinstance(value, dict):
        return "<br>".join(f"<i>{esc(key)}</i> {rich_text(_item_text(item))}" for key, item in value.items())
    return rich_text(value)  # a multi-line value (an event's message) keeps its line breaks


def _item_text(value: Any) -> str:
    """One item of a list or object on one line: nested objects as "name: value; …", others as text."""
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_item_text(item)}" for key, item in value.items() if item not in (None, "", []))
    if isinstance(value, list):
        return ", ".join(_item_text(item) for item in value)
    return "" if value is None else str(value)


class SystemView(QObject):
    """The System tab: each Windows computer of the case as its registry describes it."""

    def __init__(self) -> None:
        super().__init__()
        self.widget = named(QTextBrowser(), "systemTab")
        self.widget.setOpenLinks(False)
        self.shown: list[HostProfile] | None = None
        self.show_profiles([])

    def show_profiles(self, profiles: list[HostProfile]) -> None:
        """Show what a snapshot read (nothing when it has not changed: the examiner may be reading it)."""
        if profiles == self.shown:
            return
        self.shown = profiles
        if not profiles:
            self.widget.setHtml("<p style='font-size:13pt'>No Windows registry in this case.</p><p>The computer's "
                                "name, operating system, owner, time zone, users and devices appear here once a disk "
                                "image or a folder holding its registry hives (SYSTEM, SOFTWARE, SAM, NTUSER.DAT) "
                                "has been examined.</p>")
            return
        self.widget.setHtml("".join(profile_html(profile) for profile in profiles))


def profile_html(profile: HostProfile) -> str:
    """One computer's profile, interfaces, users and devices as HTML tables (evidence text escaped)."""
    parts = [f"<h2>{esc(profile.fields.get('computer_name') or 'Windows computer')}</h2>",
             f"<p>From the registry in {esc(profile.evidence)}. Times are UTC; the time zone is as the "
             "computer recorded it and is not applied to any time shown.</p>", _table(["Field", "Value"],
                                                                                       profile.labelled())]
    if profile.interfaces:
        parts.append("<h3>Network interfaces</h3>")
        parts.append(_table(["Address", "Subnet", "Gateway", "DHCP server", "Domain"],
                            [(_first(i, "ip_address", "dhcp_ip_address"), _first(i, "subnet", "dhcp_subnet"),
                              _first(i, "gateway", "dhcp_gateway"), _first(i, "dhcp_server"),
                              _first(i, "domain", "dhcp_domain")) for i in profile.interfaces]))
    parts.append(f"<h3>User accounts ({len(profile.users)})</h3>")
    parts.append(_table(["Name", "SID", "Created", "Last logon", "Logons", "Profile"],
                        [(_first(u, "name"), _first(u, "sid", "rid"), _first(u, "created"), _first(u, "last_logon"),
                          _first(u, "logon_count"), _first(u, "profile_path")) for u in profile.users]))
    if profile.devices:
        parts.append(f"<h3>Storage devices ({len(profile.devices)})</h3>")
        parts.append(_table(["Device", "Serial", "First connected", "Last connected", "Drive", "Volume"],
                            [(device_name(d),
                              _first(d, "serial"), _first(d, "first_connected"), _first(d, "last_connected", "ts"),
                              _first(d, "drive_letter"), _first(d, "volume_name")) for d in profile.devices]))
    return "".join(parts)


def _first(values: dict[str, Any], *keys: str) -> str:
    for key in keys:
        if values.get(key) not in (None, ""):
            return str(values[key])
    return ""


def _table(header: list[str], rows: Sequence[tuple[str, ...]]) -> str:
    head = "".join(f"<th align='left'>{esc(title)}</th>" for title in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table cellspacing='0' cellpadding='4' border='1'><tr>{head}</tr>{body}</table>"
