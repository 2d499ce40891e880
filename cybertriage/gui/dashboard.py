"""The dashboard's own parts: one card per severity with its count, and the objects that scored highest (the
evidence table beside them is the evidence view's)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QObject, Qt
from PySide6.QtWidgets import QHBoxLayout, QHeaderView, QLabel, QTableView

from ..case import browse
from ..severity import SEVERITIES_WORST_FIRST
from .case_window import CaseWindow, child, named
from .formatting import SEVERITY_COLORS
from .models import Column, RowsModel

CRITICAL_SCORE = 50  # a score from here up is shown in the critical colour
TOP_COLUMNS = [
    Column("Score", lambda r: r["score"], right=True,
           foreground=lambda r: SEVERITY_COLORS["critical"] if r["score"] >= CRITICAL_SCORE else None),
    Column("Object", lambda r: r["path"], tooltip=lambda r: r["path"] + ("  (deleted)" if r["deleted"] else "")),
    Column("Evidence", lambda r: Path(r["evidence"]).name, tooltip=lambda r: r["evidence"]),
    Column("Reasons", lambda r: "; ".join(r["reasons"]), tooltip=lambda r: "\n".join(r["reasons"])),
]


class Dashboard(QObject):
    """Counts per severity and the top objects, as the last snapshot of the case read them."""

    def __init__(self, main: CaseWindow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main = main
        self.severity_cards: dict[str, QLabel] = {}
        cards = child(main.window, QHBoxLayout, "severityCards")
        for severity in SEVERITIES_WORST_FIRST:
            card = named(QLabel(), "severityCard")
            card.setProperty("severity", severity)
            card.setTextFormat(Qt.TextFormat.RichText)
            card.setAlignment(Qt.AlignmentFlag.AlignCenter)
            cards.addWidget(card)
            self.severity_cards[severity] = card
        self.top_view = child(main.window, QTableView, "topObjectsView")
        self.top_model = RowsModel(TOP_COLUMNS, key="id", parent=self)
        self.top_view.setModel(self.top_model)
        header = self.top_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in enumerate((60, 420, 160)):
            self.top_view.setColumnWidth(column, width)
        self.top_view.doubleClicked.connect(self._top_object_activated)

    def show_snapshot(self, snap: browse.Snapshot) -> None:
        for severity, card in self.severity_cards.items():
            card.setText(f"<div style='font-size:20pt; font-weight:600'>{snap.severity_counts.get(severity, 0):,}</div>"
                         f"<div>{severity}</div>")
        self.top_model.set_rows(snap.top)

    def clear(self) -> None:
        self.top_model.set_rows([])
        for card in self.severity_cards.values():
            card.clear()

    def _top_object_activated(self, index: QModelIndex) -> None:
        file_id = self.top_model.data(index, Qt.ItemDataRole.UserRole)
        if file_id is not None:
            self.main.show_file(int(file_id))
