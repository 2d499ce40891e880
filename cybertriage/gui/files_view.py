"""The Files tab: evidence → volume → folder on the left, the folder's files on the right, and below them the
selected file's details and its bytes (the content viewer).

The table sorts on any column (a click on its header, a second click the other way) and the filter bar above it
finds files across the case (files_filter.py); both are questions to the case (case/files_query.py) read on the
thread pool. The examiner chooses the columns from the header's context menu; the choice is remembered.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, QPoint, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QTableView,
    QTabWidget,
    QTextBrowser,
    QTreeView,
    QWidget,
)

from ..case import browse
from ..case.files_query import FileFilter, FileQuery
from ..text_safety import visible_html as esc  # evidence text for Qt rich text: made visible, then escaped
from .case_window import CaseWindow, box_layout, child, named
from .content import ContentViewer
from .details import file_html
from .files_filter import FOLDER, WHOLE_CASE, FilterBar
from .forms import icon
from .models import DEFAULT_FILE_COLUMNS, FILE_COLUMNS, FolderFilesModel, FolderTreeModel, Node

COLUMNS_KEY = "fileColumns/shown"  # the names of the columns the examiner keeps shown (QSettings)


class FilesView(QObject):
    """Browses the open case's files folder by folder and shows the one selected."""

    folder_chosen = Signal()  # the examiner chose a folder in the tree

    def __init__(self, main: CaseWindow, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.main = main
        self.tree_model: FolderTreeModel | None = None
        self.model: FolderFilesModel | None = None
        self._evidence_count = 0  # evidence items in the tree: a new one reloads it
        window = main.window
        self.tree = child(window, QTreeView, "folderTree")
        self.folder_label = child(window, QLabel, "folderLabel")
        self.view = child(window, QTableView, "filesView")
        self.detail_tabs = child(window, QTabWidget, "fileDetailTabs")
        self.info = child(window, QTextBrowser, "fileInfo")
        self.content_viewer = ContentViewer(child(window, QWidget, "hexTab"), child(window, QWidget, "textTab"),
                                            self.detail_tabs)
        self.tree.setHeaderHidden(True)
        self.tree.setUniformRowHeights(True)
        # long names scroll sideways instead of being cut short
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(False)

        self.show_known_good = named(QCheckBox("Show known-good"), "filesShowKnownGood")
        self.show_known_good.setToolTip("List files found in a known-good hash set (e.g. the NSRL), hidden by default")
        self.show_known_good.toggled.connect(self._known_good_toggled)
        # A widget of its own, not a bare layout handed to another: PySide keeps wrappers of the layout items
        # it walks when a layout is added, and those outlive the items (seen as stale objects in later windows).
        pane = box_layout(self.view.parentWidget())
        self.heading = named(QWidget(), "filesHeading")
        row = QHBoxLayout(self.heading)
        row.setContentsMargins(0, 0, 0, 0)
        pane.removeWidget(self.folder_label)
        row.addWidget(self.folder_label, 1)
        row.addWidget(self.show_known_good)
        pane.insertWidget(0, self.heading)
        self.filter_bar = FilterBar()
        pane.insertWidget(1, self.filter_bar)
        self.filter_bar.changed.connect(self.list_files)
        self.sort: tuple[str, bool] | None = None  # the column and direction chosen; None: the folder in path order

        header = self.view.horizontalHeader()
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.sortIndicatorChanged.connect(self._sort_changed)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._column_menu)
        self.columns_menu = named(QMenu(self.view), "filesColumnsMenu")
        self.tagged_box: QCheckBox | None = None  # the tagging's "Tagged files only", found once the window has it

    def open(self) -> None:
        """A case was opened: its evidence in the tree, no folder listed yet."""
        conn, case_dir = self.main.conn, self.main.case_dir
        assert conn is not None and case_dir is not None
        icons = {"disk": icon("disk"), "partition": icon("partition"), "folder": icon("folder"), "file": icon("file")}
        self.tree_model = FolderTreeModel(conn, icons, self)
        self._evidence_count = len(self.tree_model.roots)
        self.tree.setModel(self.tree_model)
        self._expand_evidence()
        self.tree.selectionModel().currentChanged.connect(self.folder_selected)
        self.model = FolderFilesModel(conn, icons, self, case_dir=case_dir)
        self.model.hide_known_good = not self.show_known_good.isChecked()
        self.model.answered.connect(self._answered)
        self.view.setModel(self.model)
        for number, column in enumerate(FILE_COLUMNS):
            if column.width:
                self.view.horizontalHeader().resizeSection(number, column.width)
        self.view.horizontalHeader().setStretchLastSection(True)
        self._show_columns(self.shown_columns())
        if self.tagged_box is None:
            self.tagged_box = self.main.window.findChild(QCheckBox, "filesTagged")
            if self.tagged_box is not None:  # it lists the tagged files itself; with a filter or a sort, they are asked here
                self.tagged_box.toggled.connect(self._tagged_toggled)
        self.view.selectionModel().currentRowChanged.connect(self._file_selected)
        self.view.doubleClicked.connect(self._file_activated)
        self.content_viewer.set_case(case_dir, conn)

    def close(self) -> None:
        self.content_viewer.set_case(None, None)
        for view in (self.tree, self.view):
            view.setModel(None)
        for model in (self.tree_model, self.model):
            if model is not None:
                model.deleteLater()
        self.tree_model = self.model = None
        self._evidence_count = 0
        self.info.clear()
        self.filter_bar.blockSignals(True)
        self.filter_bar.clear()
        self.filter_bar.blockSignals(False)
        self._reset_sort()

    def show_snapshot(self, evidence_count: int, reload_tree: bool) -> None:
        """The tree is read again when evidence was added (or on F5 and after a scan): folders close."""
        if self.tree_model is None or self.model is None or not (reload_tree or evidence_count != self._evidence_count):
            return
        self._evidence_count = evidence_count
        self.tree_model.reload()
        self._expand_evidence()
        self.list_files(again=True)  # no folder chosen any more: the filter's matches are read again, or nothing is listed

    def _expand_evidence(self) -> None:
        """Evidence items open on their volumes (a cheap query each); folders stay closed until asked."""
        assert self.tree_model is not None
        for row in range(self.tree_model.rowCount()):
            index = self.tree_model.index(row, 0)
            self.tree_model.fetchMore(index)  # a hidden view would only note the expansion
            self.tree.expand(index)

    # the examiner's choices ------------------------------------------------------------------------

    def folder_selected(self, current: QModelIndex, previous: QModelIndex) -> None:
        """List the folder chosen in the tree in the table (with a filter set: the matches, the tree being the
        scope when the filter bar says so)."""
        node = self.tree_model.node(current) if self.tree_model else None
        if node is None or self.model is None:
            return
        self.folder_chosen.emit()
        self.list_files()

    def list_files(self, again: bool = False) -> None:
        """Show what the tree, the filter bar and the sort ask: the folder in path order, the folder sorted, or the
        files matching the filter (`again`: read even if the table shows that answer, the case having changed)."""
        if self.model is None or self.tree_model is None:
            return
        tagged = self.tagged_box is not None and self.tagged_box.isChecked()
        chosen = self.filter_bar.read(tagged)
        if chosen is None:
            self.folder_label.setText(f"<span style='color:#b3261e'>{esc(self.filter_bar.problem)}</span>")
            return
        node = self.tree_model.node(self.tree.currentIndex())
        sort, descending = self.sort or ("path", False)
        if chosen == FileFilter(tagged=True) and self.sort is None:
            self._list_tagged()
        elif chosen.active:
            self._list_query(self._scoped(chosen, node, sort, descending), again)
        elif node is None or node.offset is None or node.greyed:
            self.model.show_folder(None)
            self.folder_label.setText("Choose a folder on the left." if node is None else "Choose a volume."
                                      if node.offset is None else esc(node.tooltip or node.label))
        elif self.sort is None:
            self.model.show_folder(node.evidence_id, node.offset, node.path)
            self.folder_label.setText(f"<b>{esc(node.path)}</b>")
        else:
            self._list_query(FileQuery(evidence_id=node.evidence_id, partition_offset=node.offset, folder=node.path,
                                       sort=sort, descending=descending, hide_known_good=self.model.hide_known_good))
            self.folder_label.setText(f"<b>{esc(node.path)}</b>")

    def _scoped(self, chosen: FileFilter, node: Node | None, sort: str, descending: bool) -> FileQuery:
        """The filter's query over the scope the filter bar names, the tree's selection giving the evidence or folder."""
        scope = self.filter_bar.scope_key()
        query = FileQuery(chosen, sort=sort, descending=descending, hide_known_good=self.model is None
                          or self.model.hide_known_good)
        if node is None or scope == WHOLE_CASE:
            return query
        if scope == FOLDER and node.offset is not None and not node.greyed:
            return replace(query, evidence_id=node.evidence_id, partition_offset=node.offset, folder=node.path, below=True)
        return replace(query, evidence_id=node.evidence_id)

    def _list_query(self, query: FileQuery, again: bool = False) -> None:
        assert self.model is not None
        if query == self.model.query and self.model.error is None and not again:
            return  # the same question (another folder chosen while the whole case is searched): its answer stays
        self.model.show_query(query)
        if query.filter.active:
            self.folder_label.setText("Searching…")

    def _list_tagged(self) -> None:
        """Every tagged file of the case (a short list, read at once), as the tagging's own box lists them."""
        assert self.model is not None and self.main.conn is not None
        rows = browse.tagged_files(self.main.conn)
        self.model.show_rows(rows)
        self.folder_label.setText(f"<b>{len(rows):,} tagged files</b>")

    def _answered(self) -> None:
        """A query's rows came: with a filter, say how many files match and where."""
        model = self.model
        if self.filter_bar.problem:
            return  # the field the filter bar cannot read stays named until it is fixed
        if model is None or model.query is None:
            if model is not None and model.error is not None:
                self.folder_label.setText(f"<span style='color:#b3261e'>{esc(str(model.error))}</span>")
            return
        query = model.query
        if model.error is not None:
            self.folder_label.setText(f"<span style='color:#b3261e'>Files not read: {esc(str(model.error))}</span>")
        elif query.filter.active:
            count = f"{len(model.ids):,}" if model.complete else f"{len(model.ids):,}+"
            noun = "file matches" if model.complete and len(model.ids) == 1 else "files match"
            self.folder_label.setText(f"<b>{count} {noun}</b> {esc(self._scope_words(query))}")

    def _scope_words(self, query: FileQuery) -> str:
        if query.folder is not None:
            return f"under {query.folder}"
        if query.evidence_id is not None:
            name = browse.evidence_names(self.main.conn).get(query.evidence_id) if self.main.conn else None
            return f"in {name or 'the evidence'}"
        return "in the whole case"

    def _sort_changed(self, section: int, order: Qt.SortOrder) -> None:
        """A click on a column's header: the table in that column's order (a second click, the other way)."""
        if not 0 <= section < len(FILE_COLUMNS) or self.model is None:
            return
        self.sort = (FILE_COLUMNS[section].name, order == Qt.SortOrder.DescendingOrder)
        self.list_files()

    def _reset_sort(self) -> None:
        """Back to the folder in path order, no sort indicator."""
        self.sort = None
        header = self.view.horizontalHeader()
        header.blockSignals(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.blockSignals(False)

    def _tagged_toggled(self, checked: bool) -> None:
        """The tagging lists the tagged files (and goes back to the folder) itself; a filter or a sort is added here."""
        chosen = self.filter_bar.read()
        if self.model is not None and (self.sort is not None or chosen is None or chosen.active):
            self.list_files()

    def _known_good_toggled(self, shown: bool) -> None:
        if self.model is None:
            return
        self.model.hide_known_good = not shown
        if self.model.query is not None:
            self.list_files()
        elif self.model.folder is not None:
            self.model.show_folder(*self.model.folder)

    # the columns shown ---------------------------------------------------------------------------------

    def shown_columns(self) -> list[str]:
        """The columns the examiner chose last time (the application's defaults the first time)."""
        value = self.main.settings.value(COLUMNS_KEY)
        names = [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []
        known = {column.name for column in FILE_COLUMNS}
        names = [name for name in names if name in known]
        return names or list(DEFAULT_FILE_COLUMNS)

    def _show_columns(self, names: list[str]) -> None:
        header = self.view.horizontalHeader()
        for number, column in enumerate(FILE_COLUMNS):
            header.setSectionHidden(number, column.name not in names)

    def _column_menu(self, position: QPoint) -> QMenu:
        """The header's context menu: every column with a check mark, shown or not; the last one shown stays."""
        header = self.view.horizontalHeader()
        menu = self.columns_menu
        menu.clear()
        shown = [c.name for n, c in enumerate(FILE_COLUMNS) if not header.isSectionHidden(n)]
        for number, column in enumerate(FILE_COLUMNS):
            action = QAction(column.title, menu)
            action.setCheckable(True)
            action.setChecked(column.name in shown)
            action.setEnabled(shown != [column.name])
            action.toggled.connect(lambda checked, n=number: self._column_toggled(n, checked))
            menu.addAction(action)
        if self.view.isVisible():
            menu.popup(header.mapToGlobal(position))
        return menu

    def _column_toggled(self, number: int, checked: bool) -> None:
        header = self.view.horizontalHeader()
        header.setSectionHidden(number, not checked)
        if checked and header.sectionSize(number) < 20:
            header.resizeSection(number, FILE_COLUMNS[number].width or header.defaultSectionSize())
        self.main.settings.setValue(COLUMNS_KEY, [c.name for n, c in enumerate(FILE_COLUMNS) if not header.isSectionHidden(n)])

    def _file_selected(self, current: QModelIndex, previous: QModelIndex) -> None:
        row = self.model.row(current.row()) if self.model else None
        if row is not None:
            self._show_file_row(row)

    def _show_file_row(self, row: dict[str, Any]) -> None:
        self.info.setHtml(file_html(row, self.main.conn))  # with its findings and artefacts, as links
        conn = self.main.conn
        listed = row.get("id") is not None and not row.get("implied")
        self.content_viewer.show_file(browse.file_row(conn, row["id"]) if conn is not None and listed else None)

    def _file_activated(self, index: QModelIndex) -> None:
        row = self.model.row(index.row()) if self.model else None
        if row is not None and self.model is not None and self.model.folder is None and row.get("id") is not None:
            self.show_file(row["id"], in_folder=True)  # a match of the filter: in its folder
            return
        if row is None or row.get("kind") != "directory" or self.tree_model is None:
            return
        current = self.tree.currentIndex()
        found = self.tree_model.find_child(current, row["path"])
        if found.isValid():
            self.tree.expand(current)
            self.tree.setCurrentIndex(found)

    # going to a file ---------------------------------------------------------------------------------

    def show_file(self, file_id: int, in_folder: bool = False) -> None:
        """Switch to the Files tab with this file's folder open and the file selected (a file the table lists
        already, as a match of the filter, is selected where it is unless `in_folder`)."""
        conn = self.main.conn
        if conn is None or self.tree_model is None or self.model is None:
            return
        row = browse.file_row(conn, file_id)
        if row is None:
            return
        path = row["path"]
        if row.get("parent_id") is not None:  # an archive member sits beside its archive
            parent = browse.file_row(conn, row["parent_id"])
            path = parent["path"] if parent else path
        self.main.show_tab("filesTab")
        index = self.tree_index_for(row["evidence_id"], row["partition_offset"], path.rsplit("/", 1)[0] or "/")
        if not index.isValid():
            return
        if not in_folder and any(self._select_if_listed(file_id, number) for number in range(len(self.model.rows))):
            return  # listed already (a match of the filter, a file of the sorted folder)
        searching = self.model.query is not None or self.model.folder is None
        if searching:  # the file is shown in its folder: the filter and the sort go
            self.filter_bar.blockSignals(True)
            self.filter_bar.clear()
            self.filter_bar.blockSignals(False)
            self._reset_sort()
        before = self.tree.currentIndex()
        self.tree.setCurrentIndex(index)
        self.tree.scrollTo(index)
        if searching and before == index:
            self.list_files()
        self._select_listed(file_id)

    def _select_listed(self, file_id: int) -> None:
        """Select the file in the table, fetching pages of the folder until it is listed."""
        assert self.model is not None
        while self.model.query is None:
            if any(self._select_if_listed(file_id, number) for number in range(len(self.model.rows))):
                return
            if not self.model.canFetchMore():
                return
            self.model.fetchMore()

    def _select_if_listed(self, file_id: int, number: int) -> bool:
        assert self.model is not None
        if self.model.rows[number].get("id") != file_id:
            return False
        self.view.selectRow(number)
        self.view.scrollTo(self.model.index(number, 0))
        return True

    def tree_index_for(self, evidence_id: int, offset: int | None, folder: str | None) -> QModelIndex:
        """The folder tree's node of an evidence item, one of its volumes (`offset`), or a folder of that volume,
        each level opened on the way; as far as the tree goes when a level is not there."""
        model = self.tree_model
        assert model is not None
        index = next((model.index(row, 0) for row in range(model.rowCount())
                      if model.row_node(model.index(row, 0)).evidence_id == evidence_id), QModelIndex())
        if not index.isValid():
            return index
        if offset is not None and model.row_node(index).offset is None:
            model.fetchMore(index)
            for row in range(model.rowCount(index)):
                candidate = model.index(row, 0, index)
                if model.row_node(candidate).offset == offset:
                    index = candidate
                    break
        self.tree.expand(index)
        walked = ""
        for part in [p for p in (folder or "").split("/") if p]:
            walked += "/" + part
            found = model.find_child(index, walked)
            if not found.isValid():
                break
            self.tree.expand(index)
            index = found
        return index
