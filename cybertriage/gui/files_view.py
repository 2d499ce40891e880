"""The Files tab: evidence → volume → folder on the left, the folder's files on the right, and below them the
selected file's details and its bytes (the content viewer)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QHeaderView, QLabel, QTableView, QTabWidget, QTextBrowser, QTreeView, QWidget

from ..case import browse
from ..text_safety import visible_html as esc  # evidence text for Qt rich text: made visible, then escaped
from .case_window import CaseWindow, box_layout, child, named
from .content import ContentViewer
from .details import file_html
from .forms import icon
from .models import FILE_COLUMNS, FolderFilesModel, FolderTreeModel


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
        self.model = FolderFilesModel(conn, icons, self)
        self.model.hide_known_good = not self.show_known_good.isChecked()
        self.view.setModel(self.model)
        for number, column in enumerate(FILE_COLUMNS):
            if column.width:
                self.view.horizontalHeader().resizeSection(number, column.width)
        self.view.horizontalHeader().setStretchLastSection(True)
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

    def show_snapshot(self, evidence_count: int, reload_tree: bool) -> None:
        """The tree is read again when evidence was added (or on F5 and after a scan): folders close."""
        if self.tree_model is None or self.model is None or not (reload_tree or evidence_count != self._evidence_count):
            return
        self._evidence_count = evidence_count
        self.tree_model.reload()
        self._expand_evidence()
        self.model.show_folder(None)
        self.folder_label.setText("Choose a folder on the left.")

    def _expand_evidence(self) -> None:
        """Evidence items open on their volumes (a cheap query each); folders stay closed until asked."""
        assert self.tree_model is not None
        for row in range(self.tree_model.rowCount()):
            index = self.tree_model.index(row, 0)
            self.tree_model.fetchMore(index)  # a hidden view would only note the expansion
            self.tree.expand(index)

    # the examiner's choices ------------------------------------------------------------------------

    def folder_selected(self, current: QModelIndex, previous: QModelIndex) -> None:
        """List the folder chosen in the tree in the table."""
        node = self.tree_model.node(current) if self.tree_model else None
        if node is None or self.model is None:
            return
        self.folder_chosen.emit()
        if node.offset is None or node.greyed:
            self.model.show_folder(None)
            self.folder_label.setText("Choose a volume." if node.offset is None else esc(node.tooltip or node.label))
            return
        self.model.show_folder(node.evidence_id, node.offset, node.path)
        self.folder_label.setText(f"<b>{esc(node.path)}</b>")

    def _known_good_toggled(self, shown: bool) -> None:
        if self.model is None:
            return
        self.model.hide_known_good = not shown
        if self.model.folder is not None:
            self.model.show_folder(*self.model.folder)

    def _file_selected(self, current: QModelIndex, previous: QModelIndex) -> None:
        row = self.model.row(current.row()) if self.model else None
        if row is not None:
            self._show_file_row(row)

    def _show_file_row(self, row: dict[str, Any]) -> None:
        self.info.setHtml(file_html(row))
        conn = self.main.conn
        listed = row.get("id") is not None and not row.get("implied")
        self.content_viewer.show_file(browse.file_row(conn, row["id"]) if conn is not None and listed else None)

    def _file_activated(self, index: QModelIndex) -> None:
        row = self.model.row(index.row()) if self.model else None
        if row is None or row.get("kind") != "directory" or self.tree_model is None:
            return
        current = self.tree.currentIndex()
        found = self.tree_model.find_child(current, row["path"])
        if found.isValid():
            self.tree.expand(current)
            self.tree.setCurrentIndex(found)

    # going to a file ---------------------------------------------------------------------------------

    def show_file(self, file_id: int) -> None:
        """Switch to the Files tab with this file's folder open and the file selected."""
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
        index = self._tree_index_for(row["evidence_id"], row["partition_offset"], path.rsplit("/", 1)[0] or "/")
        if not index.isValid():
            return
        self.tree.setCurrentIndex(index)
        self.tree.scrollTo(index)
        self._select_listed(file_id)

    def _select_listed(self, file_id: int) -> None:
        """Select the file in the table, fetching pages of the folder until it is listed."""
        assert self.model is not None
        while True:
            for number, candidate in enumerate(self.model.rows):
                if candidate.get("id") == file_id:
                    self.view.selectRow(number)
                    self.view.scrollTo(self.model.index(number, 0))
                    return
            if not self.model.canFetchMore():
                return
            self.model.fetchMore()

    def _tree_index_for(self, evidence_id: int, offset: int, folder: str) -> QModelIndex:
        model = self.tree_model
        assert model is not None
        index = next((model.index(row, 0) for row in range(model.rowCount())
                      if model.row_node(model.index(row, 0)).evidence_id == evidence_id), QModelIndex())
        if not index.isValid():
            return index
        if model.row_node(index).offset is None:
            model.fetchMore(index)
            for row in range(model.rowCount(index)):
                candidate = model.index(row, 0, index)
                if model.row_node(candidate).offset == offset:
                    index = candidate
                    break
        self.tree.expand(index)
        walked = ""
        for part in [p for p in folder.split("/") if p]:
            walked += "/" + part
            found = model.find_child(index, walked)
            if not found.isValid():
                break
            self.tree.expand(index)
            index = found
        return index
