"""The Gallery tab: every picture of the case as a thumbnail, with its EXIF beside it and the pictures GPS places.

The list is paged (the pictures' ids are read at once, their names and times a page at a time as the view paints
them) and its thumbnails lazy: a thumbnail is asked for only when the view paints its cell, made on a small thread
pool of its own from the picture's bytes (the core's `thumbnail`, bounded in pixels), and kept in a bounded cache.
Thumbnails are made by the application when they are shown and never stored in the case. Asked-for thumbnails that
scrolled out of sight before a thread took them are dropped: scrolling through 100,000 pictures decodes only those
the examiner stops on. Filters narrow the list by folder, by the date the picture was taken and by camera. Opening a
picture shows it in the Media tab of the Files tab's content viewer; the GPS list writes its positions as KML
through the output guard.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRunnable,
    QSize,
    Qt,
    QThreadPool,
    Signal,
)
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ..analyzers.pictures import PictureRefused, thumbnail
from ..case import browse
from ..case.maps import write_kml
from ..case.objects import ObjectReader
from ..case.outputs import PendingFile, Protected, safe_destination
from ..case.store import record_reading
from ..errors import CybertriageError
from ..text_safety import visible
from .case_window import named
from .details import file_html

ThumbIndex = QModelIndex | QPersistentModelIndex
PAGE = 500  # pictures whose names are read from the case at a time, as the view paints them
PAGES_KEPT = 20
THUMBNAIL = 128  # pixels on the longer side
CACHED = 1500  # thumbnails kept (about 64 KiB each)
WANTED = 200  # thumbnails waiting for a thread; older wishes (cells scrolled away) are dropped
THREADS = 2
THUMBNAIL_MAX_BYTES = 64 * 1024 * 1024  # a larger picture gets no thumbnail (reading it would cost too much)
GPS_SHOWN = 10_000  # rows of the GPS list (the KML holds them all)
GPS_COLUMNS = ("Name", "Taken", "Latitude", "Longitude", "Altitude (m)", "Camera")
FileReader = Callable[[int, int], bytes]  # (file id, size) → the picture's bytes


class ThumbnailLoader(QObject):
    """Makes thumbnails on its own threads, the most recently asked for first; says each one as it is made."""

    made = Signal(int, object)  # file id, QImage (None: no thumbnail, for good)

    def __init__(self, read: FileReader, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.read = read
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(THREADS)
        self._lock = threading.Lock()
        self._wanted: OrderedDict[int, int] = OrderedDict()  # file id → size, newest last
        self._stopped = False

    def want(self, file_id: int, size: int) -> None:
        with self._lock:
            if self._stopped:
                return
            self._wanted[file_id] = size
            self._wanted.move_to_end(file_id)
            while len(self._wanted) > WANTED:
                self._wanted.popitem(last=False)
        self.pool.start(_Job(self))

    def forget(self) -> None:
        """Drop every wish (the list changed)."""
        with self._lock:
            self._wanted.clear()

    def stop(self) -> None:
        """No more thumbnails; waits for those being made."""
        with self._lock:
            self._stopped = True
            self._wanted.clear()
        self.pool.clear()
        self.pool.waitForDone(10_000)

    def _next(self) -> tuple[int, int] | None:
        with self._lock:
            return None if self._stopped or not self._wanted else self._wanted.popitem(last=True)

    def _make(self) -> None:
        wanted = self._next()
        if wanted is None:
            return
        file_id, size = wanted
        image: QImage | None = None
        if size <= THUMBNAIL_MAX_BYTES:
            try:
                image = QImage.fromData(thumbnail(self.read(file_id, size), THUMBNAIL))
            except (PictureRefused, CybertriageError, OSError):
                image = None  # refused, unreadable: the cell shows that it has none
        with self._lock:
            if not self._stopped:
                self.made.emit(file_id, image)


class _Job(QRunnable):
    def __init__(self, loader: ThumbnailLoader) -> None:
        super().__init__()
        self.loader = loader

    def run(self) -> None:
        self.loader._make()


def _placeholder(color: str) -> QIcon:
    pixmap = QPixmap(THUMBNAIL, THUMBNAIL)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class GalleryModel(QAbstractListModel):
    """The pictures chosen: their ids read at once (one integer each), their names and thumbnails a page at a time
    as the view paints them, a bounded number of pages and thumbnails kept."""

    def __init__(self, conn: sqlite3.Connection, loader: ThumbnailLoader, chosen: browse.PictureFilter,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.conn, self.loader, self.chosen = conn, loader, chosen
        self.ids = browse.picture_ids(conn, chosen)
        self.total = len(self.ids)
        self.row_of = {file_id: row for row, file_id in enumerate(self.ids)}
        self.pages: OrderedDict[int, list[browse.Picture]] = OrderedDict()
        self.thumbnails: OrderedDict[int, QIcon | None] = OrderedDict()
        self.waiting = _placeholder("#e6e6e6")
        self.broken = _placeholder("#f3d6d3")
        loader.made.connect(self._made)

    def rowCount(self, parent: ThumbIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else self.total

    def picture(self, row: int) -> browse.Picture:
        """The picture on this row, its page read from the case if it is not at hand."""
        number = row // PAGE
        page = self.pages.get(number)
        if page is None:
            ids = self.ids[number * PAGE : (number + 1) * PAGE]
            found = browse.pictures_by_id(self.conn, ids)
            page = [found.get(file_id) or browse.Picture(file_id, "", "", 0, "", None, "") for file_id in ids]
            self.pages[number] = page
            while len(self.pages) > PAGES_KEPT:
                self.pages.popitem(last=False)
        self.pages.move_to_end(number)
        return page[row - number * PAGE]

    def data(self, index: ThumbIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < self.total:
            return None
        if role == Qt.ItemDataRole.UserRole:
            return self.ids[index.row()]
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ToolTipRole):
            return None
        picture = self.picture(index.row())
        if role == Qt.ItemDataRole.DisplayRole:
            return visible(picture.name)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._thumbnail(picture)
        return "\n".join(filter(None, (visible(picture.path), picture.taken or "", visible(picture.camera))))

    def _thumbnail(self, picture: browse.Picture) -> QIcon:
        if picture.id in self.thumbnails:
            self.thumbnails.move_to_end(picture.id)
            return self.thumbnails[picture.id] or self.broken
        self.loader.want(picture.id, picture.size)
        return self.waiting

    def _made(self, file_id: int, image: QImage | None) -> None:
        row = self.row_of.get(file_id)
        if row is None:
            return
        self.thumbnails[file_id] = QIcon(QPixmap.fromImage(image)) if image is not None and not image.isNull() else None
        while len(self.thumbnails) > CACHED:
            self.thumbnails.popitem(last=False)
        index = self.index(row)
        self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])


class GalleryView(QObject):
    """The Gallery tab: filters, the thumbnails, the selected picture's details and EXIF, and the GPS list."""

    def __init__(self, open_picture: Callable[[int], None], say: Callable[..., None]) -> None:
        super().__init__()
        self.open_picture, self.say = open_picture, say
        self.conn: sqlite3.Connection | None = None
        self.case_dir: Path | None = None
        self.reader: ObjectReader | None = None
        self.loader: ThumbnailLoader | None = None
        self.model: GalleryModel | None = None
        self.stale = True
        self.widget = named(QWidget(), "galleryTab")
        self._build()

    def _build(self) -> None:
        layout = QVBoxLayout(self.widget)
        bar = QHBoxLayout()
        self.folder = named(QLineEdit(), "galleryFolder")
        self.folder.setPlaceholderText("Folder, e.g. /Users/anna/Pictures")
        self.since = named(QLineEdit(), "gallerySince")
        self.until = named(QLineEdit(), "galleryUntil")
        for edit, text in ((self.since, "Taken from (YYYY-MM-DD)"), (self.until, "to (YYYY-MM-DD)")):
            edit.setPlaceholderText(text)
            edit.setMaximumWidth(170)
        self.camera = named(QComboBox(), "galleryCamera")
        self.camera.setMinimumWidth(200)
        self.count = named(QLabel(), "galleryCount")
        for widget, stretch in ((self.folder, 2), (self.since, 0), (self.until, 0), (self.camera, 1), (self.count, 0)):
            bar.addWidget(widget, stretch)
        layout.addLayout(bar)
        split = named(QSplitter(Qt.Orientation.Horizontal), "gallerySplitter")
        self.view = named(QListView(), "galleryView")
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setUniformItemSizes(True)  # the view lays out 100,000 cells without asking each its size
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setIconSize(QSize(THUMBNAIL, THUMBNAIL))
        self.view.setGridSize(QSize(THUMBNAIL + 24, THUMBNAIL + 36))
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.view.activated.connect(self._open)
        split.addWidget(self.view)
        right = QSplitter(Qt.Orientation.Vertical)
        self.details = named(QTextBrowser(), "galleryDetails")
        right.addWidget(self.details)
        gps = QWidget()
        gps_layout = QVBoxLayout(gps)
        gps_layout.setContentsMargins(0, 0, 0, 0)
        gps_bar = QHBoxLayout()
        self.gps_label = named(QLabel("GPS"), "gpsLabel")
        self.kml_button = named(QPushButton("Write KML…"), "writeKmlButton")
        self.kml_button.setToolTip("Write the pictures with a GPS position as a KML file (Google Earth)")
        self.kml_button.clicked.connect(self.ask_kml)
        gps_bar.addWidget(self.gps_label, 1)
        gps_bar.addWidget(self.kml_button)
        gps_layout.addLayout(gps_bar)
        self.gps = named(QTableWidget(0, len(GPS_COLUMNS)), "gpsList")
        self.gps.setHorizontalHeaderLabels(list(GPS_COLUMNS))
        self.gps.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.gps.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.gps.verticalHeader().hide()
        self.gps.cellDoubleClicked.connect(lambda row, _: self._open_gps(row))
        gps_layout.addWidget(self.gps)
        right.addWidget(gps)
        split.addWidget(right)
        split.setSizes([900, 420])
        layout.addWidget(split, 1)
        for edit in (self.folder, self.since, self.until):
            edit.editingFinished.connect(self.refresh)
        self.camera.activated.connect(lambda _: self.refresh())

    # -- the case ------------------------------------------------------------------------------------------

    def open(self, conn: sqlite3.Connection | None, case_dir: Path | None) -> None:
        """Show this case's pictures (None: no case)."""
        if self.loader is not None:
            self.loader.stop()
            self.loader.deleteLater()
            self.loader = None
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        self.view.setModel(None)
        self.model = None
        self.conn, self.case_dir = conn, case_dir
        self.details.clear()
        self.gps.setRowCount(0)
        self.count.setText("")
        if conn is None or case_dir is None:
            return
        self.reader = ObjectReader(case_dir)
        reader = self.reader
        self.loader = ThumbnailLoader(lambda file_id, size: reader.read(file_id, 0, size), self)
        self.stale = True
        if self.widget.isVisible():
            self.tab_shown()

    def mark_stale(self) -> None:
        """The case changed (a scan went on): read it again when the tab is next shown."""
        self.stale = True
        if self.widget.isVisible():
            self.tab_shown()

    def tab_shown(self) -> None:
        if self.stale and self.conn is not None:
            self.stale = False
            self._fill_cameras()
            self.refresh()
            self._fill_gps()

    def chosen(self) -> browse.PictureFilter:
        camera = self.camera.currentData()
        return browse.PictureFilter(self.folder.text().strip(), self.since.text().strip(), self.until.text().strip(),
                                    camera if isinstance(camera, str) else "")

    def refresh(self) -> None:
        """List the pictures the filters choose (the first page; the rest as the view scrolls)."""
        if self.conn is None or self.loader is None:
            return
        self.loader.forget()
        old = self.model
        current = self.view.currentIndex().data(Qt.ItemDataRole.UserRole) if old is not None else None
        scrolled = self.view.verticalScrollBar().value()
        self.model = GalleryModel(self.conn, self.loader, self.chosen(), self)
        self.view.setModel(self.model)
        if old is not None:
            self.loader.made.disconnect(old._made)
            old.deleteLater()
        self.view.selectionModel().currentChanged.connect(self._selected)
        self.count.setText(f"{self.model.total:,} picture{'s' if self.model.total != 1 else ''}")
        self.details.setHtml("<p>Select a picture to see its details and EXIF; open it (Enter or double-click) "
                             "to view it in the Files tab's Media viewer.</p>")
        if old is not None and old.chosen == self.model.chosen:  # the case grew (a scan): stay where the examiner was
            self.view.doItemsLayout()  # the scroll range of the new rows, before the position is restored
            self.view.verticalScrollBar().setValue(scrolled)
            row = self.model.row_of.get(current) if isinstance(current, int) else None
            if row is not None:
                self.view.setCurrentIndex(self.model.index(row))

    def _fill_cameras(self) -> None:
        assert self.conn is not None
        current = self.camera.currentData()
        self.camera.clear()
        self.camera.addItem("Any camera", "")
        for camera, count in browse.picture_cameras(self.conn):
            self.camera.addItem(f"{visible(camera)} ({count:,})", camera)
        self.camera.setCurrentIndex(max(0, self.camera.findData(current)))

    def _fill_gps(self) -> None:
        assert self.conn is not None
        rows = browse.gps_pictures(self.conn, GPS_SHOWN)
        self.gps.setRowCount(len(rows))
        for number, row in enumerate(rows):
            exif = row["exif"]
            taken = (exif.get("taken") or "") + (" (local)" if exif.get("taken_local") else "")
            altitude = exif.get("altitude")
            cells = (visible(row["path"].rsplit("/", 1)[-1]), taken, f"{exif['latitude']:.7f}",
                     f"{exif['longitude']:.7f}", "" if altitude is None else f"{altitude:g}",
                     visible(" ".join(filter(None, (exif.get("make"), exif.get("model"))))))
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, row["id"])
                item.setToolTip(visible(row["path"]))
                self.gps.setItem(number, column, item)
        self.gps_label.setText(f"GPS: {len(rows):,} picture{'s' if len(rows) != 1 else ''} with a position")
        self.kml_button.setEnabled(bool(rows))

    # -- the examiner's actions --------------------------------------------------------------------------------

    def _selected(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if self.conn is None or not current.isValid():
            return
        row = browse.file_row(self.conn, current.data(Qt.ItemDataRole.UserRole))
        if row is not None:
            self.details.setHtml(file_html(row))  # its EXIF among the rest

    def _open(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_picture(index.data(Qt.ItemDataRole.UserRole))

    def _open_gps(self, row: int) -> None:
        item = self.gps.item(row, 0)
        if item is not None:
            self.open_picture(item.data(Qt.ItemDataRole.UserRole))

    def ask_kml(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self.widget, "Write the GPS positions as KML", "pictures.kml",
                                              "KML (*.kml)")
        if name:
            self.write_kml(Path(name))

    def write_kml(self, destination: Path) -> Path | None:
        """Every picture with a position as KML at `destination` (replaced if the examiner chose it), through the
        output guard, and the export in the case's chain of custody."""
        if self.conn is None or self.case_dir is None:
            return None
        try:
            path = safe_destination(destination, Protected.of_case(self.case_dir), force=True)
            rows = [{"id": row["id"], "path": row["path"], "evidence": row["evidence"], **row["exif"]}
                    for row in browse.gps_pictures(self.conn)]
            with PendingFile(path) as pending:
                write_kml(rows, pending.text)
                pending.put_in_place(force=True)
        except (CybertriageError, OSError) as error:
            self.say(f"KML not written: {error}", True)
            return None
        not_logged = record_reading(self.case_dir, "export", {"what": "gps", "format": "kml",
                                                              "destination": str(path), "sha256": pending.sha256})
        self.say(f"{len(rows):,} positions written to {path}" + (f" (not in the audit log: {not_logged})"
                                                                 if not_logged else ""))
        return path
