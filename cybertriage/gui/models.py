"""Table and tree models over the case database; each owns the read-only connection it is given.

Large tables are never loaded whole: the findings model keeps only the pages
the view has asked for (a windowed query), the folder models fetch children
on demand (canFetchMore/fetchMore).
"""

from __future__ import annotations

import json
import sqlite3
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPixmap

from ..case import browse, columns
from ..case.browse import (
    FileAnswer,
    FindingFilter,  # noqa: F401  (re-exported for the views and tests)
    read_files,
    read_rows,
)
from ..case.columns import Kind
from ..case.files_query import FileQuery
from ..formatting import human_size
from ..text_safety import visible
from .formatting import SEVERITY_COLORS
from .forms import icon
from .workers import FunctionWorker

Index = QModelIndex | QPersistentModelIndex
ALIGN_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
DELETED_COLOR = QColor("#b3261e")
_severity_icons: dict[str, QIcon] = {}


def severity_icon(severity: str) -> QIcon:
    """A small coloured square, so severity reads at a glance and not by colour of text alone."""
    if severity not in _severity_icons:
        pixmap = QPixmap(12, 12)
        pixmap.fill(QColor(SEVERITY_COLORS.get(severity, "#888888")))
        _severity_icons[severity] = QIcon(pixmap)
    return _severity_icons[severity]


def tag_icon() -> QIcon:
    """The marker of a tagged finding or file."""
    return icon("tag")


# -- small lists: evidence, dashboard tables ---------------------------------------------------


@dataclass
class Column:
    title: str
    text: Callable[[dict[str, Any]], Any]
    tooltip: Callable[[dict[str, Any]], Any] | None = None
    foreground: Callable[[dict[str, Any]], str | None] | None = None
    right: bool = False
    icon: Callable[[dict[str, Any]], QIcon | None] | None = None


class RowsModel(QAbstractTableModel):
    """A short list of dicts (evidence items, top objects), updated in place when its keys stay the same."""

    def __init__(self, columns: list[Column], key: str = "key", parent: Any = None) -> None:
        super().__init__(parent)
        self.columns = columns
        self.key = key
        self.rows: list[dict[str, Any]] = []

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        if [r.get(self.key) for r in rows] == [r.get(self.key) for r in self.rows]:
            self.rows = rows
            if rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, len(self.columns) - 1))
            return
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole and 0 <= section < len(self.columns):
            return self.columns[section].title
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row, column = self.rows[index.row()], self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            value = column.text(row)
            return "" if value is None else visible(str(value))
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip:
            tip = column.tooltip(row)
            return visible(str(tip)) if tip else None
        if role == Qt.ItemDataRole.ForegroundRole and column.foreground:
            color = column.foreground(row)
            return QBrush(QColor(color)) if color else None
        if role == Qt.ItemDataRole.DecorationRole and column.icon:
            return column.icon(row)
        if role == Qt.ItemDataRole.TextAlignmentRole and column.right:
            return ALIGN_RIGHT
        if role == Qt.ItemDataRole.UserRole:
            return row.get(self.key)
        return None


# -- findings: the ids in order, the rows a page at a time ----------------------------------------

FINDING_COLUMNS = columns.FINDINGS.shown


class FindingsModel(QAbstractTableModel):
    """Every finding of the case, filtered and sorted in SQL.

    The model holds only the ordered list of finding ids (a few bytes each) and
    reads the rows of a page when the view first shows one. A running scan's
    new findings arrive through `apply_ids`: rows are appended, then moved into
    sort order with a layout change, so the selection stays on its finding.
    """

    PAGE = 200
    CACHED_PAGES = 40

    def __init__(self, conn: sqlite3.Connection, parent: Any = None, load: bool = True,
                 loader: Callable[[], None] | None = None) -> None:
        super().__init__(parent)
        self.conn = conn
        # With a loader, a new sort or filter is read off the GUI thread: the loader arranges for
        # `apply_ids` to be called with the new query's ids; until then the old rows stay.
        self.loader = loader
        self.query = browse.FindingQuery()
        self._ids: list[int] = browse.finding_ids(conn, self.query) if load else []
        self._pages: OrderedDict[int, dict[int, dict[str, Any]]] = OrderedDict()
        self.shown_query: browse.FindingQuery | None = self.query if load else None  # the question the rows answer
        self._head_worker: FunctionWorker | None = None

    def _page(self, number: int) -> dict[int, dict[str, Any]]:
        page = self._pages.get(number)
        if page is None:
            page = browse.findings_by_id(self.conn, self._ids[number * self.PAGE : (number + 1) * self.PAGE])
            self._pages[number] = page
            while len(self._pages) > self.CACHED_PAGES:
                self._pages.popitem(last=False)
        else:
            self._pages.move_to_end(number)
        return page

    def finding(self, row: int) -> dict[str, Any] | None:
        """The list columns of the finding on this row (None if it went away meanwhile)."""
        if not 0 <= row < len(self._ids):
            return None
        return self._page(row // self.PAGE).get(self._ids[row])

    def row_of(self, finding_id: int) -> int:
        """The row listing this finding, -1 when the filter leaves it out (a link opens it selected)."""
        return self._ids.index(finding_id) if finding_id in self._ids else -1

    # changing what is shown ---------------------------------------------------------------------

    def _reset(self, query: browse.FindingQuery) -> None:
        if self.loader is not None:
            self.query = query
            self._read_head(query)
            return
        ids = browse.finding_ids(self.conn, query)
        self.beginResetModel()
        self.query, self._ids, self.shown_query = query, ids, query
        self._pages.clear()
        self.endResetModel()

    def _read_head(self, query: browse.FindingQuery) -> None:
        """The first page of a new sort or filter, read on the pool and shown at once; then the loader reads the
        whole order (after the head, not beside it: on two cores the first page would wait for a share of one)."""
        folder = browse.case_folder(self.conn)
        if self._head_worker is not None:
            self._head_worker.quit()
            self._head_worker = None
        if folder is None:
            if self.loader is not None:
                self.loader()
            return
        worker = FunctionWorker(browse.first_findings_of_case, folder, query, self.PAGE)
        worker.signals.finished.connect(lambda head: self._head_read(worker, head))
        worker.signals.errored.connect(lambda error: self._head_read(worker, None))
        self._head_worker = worker
        worker.start()

    def _head_read(self, worker: FunctionWorker, head: browse.FirstFindings | None) -> None:
        if worker is not self._head_worker:
            return  # another question since: its own head asks for its whole order
        self._head_worker = None
        if self.loader is not None:
            self.loader()
        if head is None or head.query != self.query or self.shown_query == head.query:
            return  # not read (the case is busy: the whole order will tell), or its whole order came first
        shown = self.shown_query
        if shown is not None and shown.filter == head.query.filter and head.matching == len(self._ids):
            # another order of the same findings: the head first, the others after it until the whole order comes,
            # moved as a layout change so that the selection stays on its finding
            first = set(head.ids)
            self._move_to([*head.ids, *(i for i in self._ids if i not in first)])
            self.shown_query = head.query
            return
        self.beginResetModel()
        self._ids, self.shown_query = head.ids, head.query
        self._pages.clear()
        self.endResetModel()

    def _move_to(self, ids: list[int]) -> None:
        """The same findings in another order, the persistent indexes (the selection) following their findings."""
        self.layoutAboutToBeChanged.emit()
        old_ids = self._ids
        self._ids = ids
        self._pages.clear()
        where = {finding_id: row for row, finding_id in enumerate(ids)}
        persistent = self.persistentIndexList()
        self.changePersistentIndexList(
            persistent, [self.index(where[old_ids[p.row()]], p.column()) for p in persistent])
        self.layoutChanged.emit()

    def set_filter(self, findings_filter: browse.FindingFilter) -> None:
        self._reset(browse.FindingQuery(findings_filter, self.query.sort, self.query.descending))

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(FINDING_COLUMNS):
            return
        query = browse.FindingQuery(self.query.filter, FINDING_COLUMNS[column].name, order == Qt.SortOrder.DescendingOrder)
        if query != self.query:  # the view asks again when sorting is switched on: nothing to do then
            self._reset(query)

    def forget_rows(self) -> None:
        """Read the rows again when next shown (a tag was added), keeping the order and the selection."""
        self._pages.clear()
        if self._ids:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._ids) - 1, len(FINDING_COLUMNS) - 1))

    def refresh(self) -> None:
        """Re-read the ids on this thread (a worker can call `browse.finding_ids` and `apply_ids` instead)."""
        self.apply_ids(browse.finding_ids(self.conn, self.query), self.query)

    def apply_ids(self, ids: list[int], query: browse.FindingQuery) -> None:
        """Take a fresh id list for `query` (ignored if the view has moved on to another query)."""
        if query != self.query:
            return
        self.shown_query = query
        if ids == self._ids:
            return
        known = set(self._ids)
        if not known.issubset(ids):  # another filter, or findings went away (evidence processed again)
            self.beginResetModel()
            self._ids = ids
            self._pages.clear()
            self.endResetModel()
            return
        added = [i for i in ids if i not in known]
        if added:
            self.beginInsertRows(QModelIndex(), len(self._ids), len(self._ids) + len(added) - 1)
            self._ids = self._ids + added
            self.endInsertRows()
        self._move_to(ids)

    # the model interface ------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(FINDING_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(FINDING_COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return FINDING_COLUMNS[section].title
            if role == Qt.ItemDataRole.InitialSortOrderRole:  # severity and score: the worst first, at the first click
                descending = FINDING_COLUMNS[section].name in ("severity", "score")
                return Qt.SortOrder.DescendingOrder if descending else Qt.SortOrder.AscendingOrder
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == Qt.ItemDataRole.UserRole:
            return self._ids[index.row()] if index.row() < len(self._ids) else None
        row = self.finding(index.row())
        if row is None:
            return None
        column = FINDING_COLUMNS[index.column()]
        key = column.name
        if role == Qt.ItemDataRole.DisplayRole:
            value = row[key]
            if column.kind is Kind.EVIDENCE and value is not None:  # the evidence's path: its file name is shown
                value = Path(value).name
            return column.kind.shown(value)
        if role == Qt.ItemDataRole.ToolTipRole and key in ("title", "object", "evidence", "rule"):
            return visible(row[key])
        if role == Qt.ItemDataRole.ToolTipRole and key == "tags" and row["tag_notes"]:
            return "\n".join(visible(line) for line in row["tag_notes"].split("\n"))
        if role == Qt.ItemDataRole.DecorationRole and key == "tags" and row["tags"]:
            return tag_icon()
        if role == Qt.ItemDataRole.DecorationRole and key == "severity":
            return severity_icon(row["severity"])
        if role == Qt.ItemDataRole.ForegroundRole and key == "severity":
            return QBrush(QColor(SEVERITY_COLORS.get(row["severity"], "#000000")))
        if role == Qt.ItemDataRole.FontRole and key == "severity" and row["severity"] in ("critical", "high"):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column.kind.right_aligned:
            return ALIGN_RIGHT
        return None


# -- files: folder tree and folder contents -----------------------------------------------------


@dataclass(eq=False)
class Node:
    """One row of the folder tree: an evidence item, a volume, or a folder in it."""

    kind: str  # evidence | partition | folder
    label: str
    evidence_id: int
    offset: int | None = None  # the volume's byte offset; None on an evidence node with volumes under it
    path: str = "/"
    tooltip: str = ""
    parent: Node | None = None
    row: int = 0
    children: list[Node] | None = None  # None: not fetched yet
    cursor: browse.Cursor | None = field(default=None, repr=False)
    deleted: bool = False
    greyed: bool = False


class FolderTreeModel(QAbstractItemModel):
    """Evidence → volume → folders, each level read from the files table when first expanded."""

    FETCH = 2000

    def __init__(self, conn: sqlite3.Connection, icons: dict[str, QIcon] | None = None, parent: Any = None) -> None:
        super().__init__(parent)
        self.conn = conn
        self.icons = icons or {}
        self.roots: list[Node] = []
        self.reload()

    def reload(self) -> None:
        self.beginResetModel()
        self.roots = []
        for row in browse.evidence_list(self.conn):
            label = f"{Path(row['path']).name}  ({row['format'] or row['kind'] or 'unknown'})"
            node = Node("evidence", visible(label), row["id"], tooltip=visible(row["path"]), row=len(self.roots))
            if row["kind"] in ("folder", "file", "capture"):  # no volumes: objects sit at offset 0
                node.offset = 0
            self.roots.append(node)
        self.endResetModel()

    def node(self, index: Index) -> Node | None:
        return index.internalPointer() if index.isValid() else None

    def row_node(self, index: Index) -> Node:
        """The node of one of the tree's own rows; an index that is not one is a bug, said at once."""
        node = self.node(index)
        if node is None:
            raise LookupError("not a row of the folder tree")
        return node

    def _children_of(self, parent: Index) -> list[Node] | None:
        node = self.node(parent)
        return self.roots if node is None else node.children

    def index(self, row: int, column: int = 0, parent: Index = QModelIndex()) -> QModelIndex:
        children = self._children_of(parent)
        if column != 0 or children is None or not 0 <= row < len(children):
            return QModelIndex()
        return self.createIndex(row, 0, children[row])

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # QObject.parent() too
        node = self.node(index)
        if node is None or node.parent is None:
            return QModelIndex()
        return self.createIndex(node.parent.row, 0, node.parent)

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        if parent.isValid() and parent.column() != 0:
            return 0
        children = self._children_of(parent)
        return len(children) if children is not None else 0

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 1

    def hasChildren(self, parent: Index = QModelIndex()) -> bool:
        node = self.node(parent)
        if node is None:
            return bool(self.roots)
        if node.greyed:
            return False
        return node.children is None or bool(node.children) or node.cursor is not None

    def canFetchMore(self, parent: Index) -> bool:
        node = self.node(parent)
        return node is not None and not node.greyed and (node.children is None or node.cursor is not None)

    def fetchMore(self, parent: Index) -> None:
        node = self.node(parent)
        if node is None or not self.canFetchMore(parent):
            return
        new = self._load(node)
        have = len(node.children or [])
        if node.children is None:
            node.children = []
        if not new:
            # nothing more: tell the view the expander should go
            self.dataChanged.emit(parent, parent)
            return
        self.beginInsertRows(parent, have, have + len(new) - 1)
        for i, child in enumerate(new):
            child.parent, child.row = node, have + i
        node.children.extend(new)
        self.endInsertRows()

    def _load(self, node: Node) -> list[Node]:
        if node.kind == "evidence" and node.offset is None:
            volumes = browse.partitions(self.conn, node.evidence_id)
            out = []
            for p in volumes:
                fs = p["filesystem"] or "no filesystem"
                label = f"{fs} at byte {p['offset']:,}"
                tip = f"{p['description']}, {fs}, {p['status']}" + (f": {p['note']}" if p.get("note") else "")
                out.append(Node("partition", visible(label), node.evidence_id, p["offset"], tooltip=visible(tip),
                                greyed=p["status"] != "examined"))
            node.cursor = None
            return out
        rows, node.cursor = browse.folder_children(self.conn, node.evidence_id, node.offset or 0, node.path,
                                                   start=node.cursor, limit=self.FETCH, directories_only=True)
        return [Node("folder", visible(r["name"]), node.evidence_id, node.offset or 0, r["path"],
                     tooltip=visible(r["path"]), deleted=bool(r.get("deleted"))) for r in rows]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        node = self.node(index)
        if node is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return node.label
        if role == Qt.ItemDataRole.ToolTipRole:
            return node.tooltip or None
        if role == Qt.ItemDataRole.DecorationRole:
            return self.icons.get("disk" if node.kind == "evidence" else node.kind)
        if role == Qt.ItemDataRole.ForegroundRole and (node.deleted or node.greyed):
            return QBrush(DELETED_COLOR if node.deleted else QColor("#888888"))
        if role == Qt.ItemDataRole.FontRole and node.deleted:
            font = QFont()
            font.setStrikeOut(True)
            return font
        return None

    def find_child(self, parent: QModelIndex, path: str) -> QModelIndex:
        """The child folder of `parent` with this path, fetching the parent's children if needed."""
        while self.canFetchMore(parent):
            self.fetchMore(parent)
            node = self.node(parent)
            if node and node.children and any(child.path == path for child in node.children):
                break
        for row in range(self.rowCount(parent)):
            index = self.index(row, 0, parent)
            if self.row_node(index).path == path:
                return index
        return QModelIndex()


# the application's columns first (shown unless the examiner hides them), then those the examiner can add
FILE_COLUMNS = (*columns.FILES.shown, *(
    replace(columns.FILES.column(name), title=title, width=width) for name, title, width in (
        ("path", "Path", 320), ("sha1", "SHA-1", 250), ("crtime", "Created", 165), ("atime", "Accessed", 165),
        ("ctime", "Changed", 165), ("deleted", "Deleted", 65), ("kind", "Kind", 75), ("inode", "Inode", 80),
        ("description", "Description", 250), ("known", "Known", 60))), columns.EVIDENCE_ID)
DEFAULT_FILE_COLUMNS = tuple(column.name for column in columns.FILES.shown)


class FolderFilesModel(QAbstractTableModel):
    """The files table: a folder's direct contents in path order (fetched a page at a time), or the answer to a
    `FileQuery` (a sorted folder, or files filtered across the case), read on the thread pool.

    For a query the model holds the ordered ids (from `read_files`) and the rows of the pages fetched so far;
    each page is read on the pool when the view scrolls to the end of what is listed.
    """

    FETCH = 256
    answered = Signal()  # a query's first rows, or its whole order, are in

    def __init__(self, conn: sqlite3.Connection, icons: dict[str, QIcon] | None = None, parent: Any = None,
                 case_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.conn = conn
        self.case_dir = case_dir  # where a worker opens its own connection (a query needs it)
        self.icons = icons or {}
        self.folder: tuple[int, int, str] | None = None
        self.rows: list[dict[str, Any]] = []
        self.cursor: browse.Cursor | None = None
        self.exhausted = True
        self.hide_known_good = True  # files in a known-good hash set (NSRL) are noise until asked for
        self.query: FileQuery | None = None
        self.ids: list[int] = []  # a query's files in order: its first page until `complete`
        self.complete = True
        self._worker: FunctionWorker | None = None  # reading the query's order
        self._page_worker: FunctionWorker | None = None  # reading the next page's rows
        self._evidence: dict[int, str] = {}
        self.error: Exception | None = None  # why the last query gave no answer (a bad filter, a locked case)

    def show_folder(self, evidence_id: int | None, offset: int | None = None, path: str = "/") -> None:
        self._stop()
        self.beginResetModel()
        self.folder = None if evidence_id is None or offset is None else (evidence_id, offset, path)
        self.rows, self.cursor, self.exhausted = [], None, self.folder is None
        self.endResetModel()

    def show_rows(self, rows: list[dict[str, Any]]) -> None:
        """A fixed list instead of a folder (the case's tagged files), each shown by its full path."""
        self._stop()
        self.beginResetModel()
        self.folder, self.cursor, self.exhausted = None, None, True
        self.rows = [{**row, "shown": row["path"]} for row in rows]
        self.endResetModel()

    def show_query(self, query: FileQuery) -> None:
        """List what `query` selects; its rows come from the pool (`answered` once the first page is in)."""
        if self.case_dir is None:
            raise RuntimeError("a files query needs the case folder")
        self._stop()
        self.beginResetModel()
        self.query, self.ids, self.complete, self.error = query, [], False, None
        self.folder = (query.evidence_id, query.partition_offset or 0, query.folder) \
            if query.evidence_id is not None and query.folder is not None and not query.filter.active else None
        self.rows, self.cursor, self.exhausted = [], None, True
        self.endResetModel()
        self._evidence = browse.evidence_names(self.conn)
        worker = FunctionWorker(read_files, self.case_dir, query)
        worker.function = partial(read_files, first=worker.signals.progress.emit, page=self.FETCH)
        worker.signals.progress.connect(lambda answer: self._answered(worker, answer))
        worker.signals.finished.connect(lambda answer: self._answered(worker, answer))
        worker.signals.errored.connect(lambda error: self._failed(worker, error))
        self._worker = worker
        worker.start()

    def _stop(self) -> None:
        """Leave the query shown: its readers are told to stop, and what they still send is dropped."""
        for worker in (self._worker, self._page_worker):
            if worker is not None:
                worker.quit()
        self._worker = self._page_worker = None
        self.query, self.ids, self.complete = None, [], True

    def _answered(self, worker: FunctionWorker, answer: FileAnswer) -> None:
        if worker is not self._worker:
            return
        if answer.complete:
            self._worker = None
            self.complete = True
        if answer.rows and not self.rows:  # appended before the order is taken: the view must not fetch them again
            self._append([answer.rows[i] for i in answer.ids if i in answer.rows])
        self.ids = answer.ids
        self.answered.emit()

    def _failed(self, worker: FunctionWorker, error: Exception) -> None:
        if worker is self._worker:
            self._worker = None
            self.complete = True
            self.error = error
            self.answered.emit()

    def _append(self, rows: list[dict[str, Any]]) -> None:
        prefix = None if self.folder is None else self.folder[2].rstrip("/")
        for row in rows:  # a folder's files by their path below it (archive.zip!member), others by their full path
            row["shown"] = row["path"] if prefix is None else row["path"][len(prefix) + 1 :]
        if rows:
            self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(rows) - 1)
            self.rows.extend(rows)
            self.endInsertRows()

    def set_tags(self, file_id: int, tags: str | None, notes: str | None) -> None:
        """Show a file's tags as they now are, where it is listed."""
        for number, row in enumerate(self.rows):
            if row.get("id") == file_id:
                row["tags"], row["tag_notes"] = tags, notes
                self.dataChanged.emit(self.index(number, 0), self.index(number, len(FILE_COLUMNS) - 1))

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:
        if parent.isValid():
            return False
        if self.query is not None:
            return len(self.rows) < len(self.ids)
        return not self.exhausted

    def fetchMore(self, parent: Index = QModelIndex()) -> None:
        if not self.canFetchMore(parent):
            return
        if self.query is not None:
            self._fetch_page()
            return
        if self.folder is None:
            return
        evidence_id, offset, path = self.folder
        rows, self.cursor = browse.folder_children(self.conn, evidence_id, offset, path, start=self.cursor, limit=self.FETCH,
                                                   hide_known_good=self.hide_known_good)
        self.exhausted = self.cursor is None
        if not rows:
            return
        prefix = "" if path == "/" else path
        for row in rows:
            row["shown"] = row["path"][len(prefix) + 1 :]  # an archive member shows as archive.zip!member
        self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(rows) - 1)
        self.rows.extend(rows)
        self.endInsertRows()

    def _fetch_page(self) -> None:
        """The next page of a query's rows, read on the pool (one page at a time)."""
        if self._page_worker is not None or self.case_dir is None:
            return
        start = len(self.rows)
        wanted = self.ids[start : start + self.FETCH]
        worker = FunctionWorker(read_rows, self.case_dir, wanted)
        worker.signals.finished.connect(lambda rows: self._page_read(worker, start, wanted, rows))
        worker.signals.errored.connect(lambda error: self._page_failed(worker, error))
        self._page_worker = worker
        worker.start()

    def _page_failed(self, worker: FunctionWorker, error: Exception) -> None:
        if worker is self._page_worker:
            self._page_worker = None
            self.error = error
            self.answered.emit()

    def _page_read(self, worker: FunctionWorker, start: int, wanted: list[int], rows: dict[int, dict[str, Any]]) -> None:
        if worker is not self._page_worker:
            return
        self._page_worker = None
        if start != len(self.rows):  # rows came another way meanwhile: the view asks again for what it lacks
            return
        self._append([rows[i] for i in wanted if i in rows])  # a file gone meanwhile (evidence processed again) is left out
        if len(self.rows) < len(self.ids) and not rows:
            self.ids = self.ids[: len(self.rows)]

    def rowCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(FILE_COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(FILE_COLUMNS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return FILE_COLUMNS[section].title
        if role == Qt.ItemDataRole.InitialSortOrderRole:  # a first click sorts up, whatever the style
            return Qt.SortOrder.AscendingOrder
        return None

    def row(self, number: int) -> dict[str, Any] | None:
        return self.rows[number] if 0 <= number < len(self.rows) else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.rows):
            return None
        row, column = self.rows[index.row()], FILE_COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            if column.name == "name" or not row.get("implied"):  # a folder only implied by its members has a name
                if column.name == "evidence_id":
                    return visible(self._evidence.get(row["evidence_id"], str(row["evidence_id"])))
                special = FILE_TEXT.get(column.name)
                return special(row) if special else column.kind.shown(row.get(column.name))
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            return _file_tooltip(row, column)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._file_decoration(row, column)
        if role == Qt.ItemDataRole.ForegroundRole:
            return _file_foreground(row, column)
        if role == Qt.ItemDataRole.FontRole and row.get("deleted"):
            font = QFont()
            font.setStrikeOut(True)
            return font
        if role == Qt.ItemDataRole.TextAlignmentRole and column.kind.right_aligned:
            return ALIGN_RIGHT
        if role == Qt.ItemDataRole.UserRole:
            return row.get("id")
        return None

    def _file_decoration(self, row: dict[str, Any], column: columns.Column) -> QIcon | None:
        if column.name == "name":
            return self.icons.get("folder" if row["kind"] == "directory" else "file")
        if column.name == "tags" and row.get("tags"):
            return tag_icon()
        return None


# what a column of the files table shows when not its value as its kind shows it
FILE_TEXT: dict[str, Callable[[dict[str, Any]], str | None]] = {
    "name": lambda row: visible(row["shown"]),  # the path below the folder listed
    "size": lambda row: human_size(row["size"]) if row["kind"] != "directory" else None,
    "mime": lambda row: row["mime"] or (row["kind"] if row["kind"] != "file" else None),
    "score": lambda row: str(row["score"]) if row["score"] else None,  # a file that scored nothing shows nothing
}


def _file_tooltip(row: dict[str, Any], column: columns.Column) -> str | None:
    """The name's tooltip: the full path, whether deleted, and why it scored; the tags' tooltip: their notes."""
    if column.name == "name":
        tip = visible(row["path"])
        if row.get("deleted"):
            tip += "\n(deleted)"
        if row.get("reasons"):
            tip += "\n" + "\n".join(visible(r) for r in json.loads(row["reasons"]))
        return tip
    if column.name == "tags" and row.get("tag_notes"):
        return "\n".join(visible(line) for line in row["tag_notes"].split("\n"))
    return None


def _file_foreground(row: dict[str, Any], column: columns.Column) -> QBrush | None:
    """Deleted files in red; a mismatched extension and a high score in their severity's colour."""
    if row.get("deleted"):
        return QBrush(DELETED_COLOR)
    if column.name == "ext_mismatch" and row.get("ext_mismatch"):
        return QBrush(QColor(SEVERITY_COLORS["high"]))
    if column.name == "score" and (row.get("score") or 0) >= 50:
        return QBrush(QColor(SEVERITY_COLORS["critical"]))
    return None
