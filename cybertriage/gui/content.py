"""The content viewer: hex and text views of any object's bytes, read on demand in pages, and a picture whole.

Bytes come from the core's `ObjectReader` (evidence reopened read-only) on a
reading thread, one page at a time, into a small cache: the views only ask for the
rows they show, so a 4 GB file opens as fast as a 4 KB one and memory does not
grow with its size. YARA matches are highlighted; Ctrl+G goes to an offset (hex
or decimal), F3 / Shift+F3 go to the next / previous match; the Text view also shows a document's extracted text
and the terms a search found. The Media tab beside them shows a picture,
decoded on a thread of its own within the same bounds as the gallery's thumbnails (a decompression bomb is refused).
"""

from __future__ import annotations

import math
import queue
import sqlite3
import string
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QPoint, QRect, Qt, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QFont,
    QImage,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPixmap,
    QResizeEvent,
    QTextCharFormat,
    QTextCursor,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QTextEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..analyzers.pictures import PictureRefused, thumbnail
from ..case import browse
from ..case.objects import ObjectReader
from ..case.search import content_text
from ..formatting import human_size
from ..text_safety import visible_html as esc  # evidence text for Qt rich text: made visible, then escaped
from .case_window import box_layout, named
from .search_view import go_to_first_term, term_selections

PAGE = 16 * 1024  # bytes read at a time
CACHED_PAGES = 256  # 4 MiB of pages kept, whatever the size of the file
WANTED_PAGES = 16  # pages waiting to be read; older wishes (the view scrolled on) are dropped
ROW = 16  # bytes per hex row
TEXT_PAGE = 2 * PAGE  # bytes the text view shows at once
MAX_SCROLL = 1 << 30  # scroll bar steps; beyond this many rows a step covers several rows
MATCH = QColor("#ffe08a")
CURRENT_MATCH = QColor("#ff9f43")
CURSOR = QColor("#cfe0f3")
_PRINTABLE = frozenset(string.printable.encode()) - frozenset(b"\t\n\r\x0b\x0c")
ENCODINGS = [("UTF-8", "utf-8"), ("UTF-16LE", "utf-16-le"), ("Windows-1252", "cp1252")]
MEDIA_SIZE = 2048  # the longer side a picture is decoded to for the Media tab
MEDIA_MAX_BYTES = 64 * 1024 * 1024  # a larger picture is not read into memory to be shown


@dataclass(frozen=True)
class Match:
    """One matched string of a YARA finding on the file: bytes [start, start + length)."""

    start: int
    length: int
    rule: str
    identifier: str

    @property
    def end(self) -> int:
        return self.start + self.length


def yara_matches(conn: sqlite3.Connection, file_id: int) -> list[Match]:
    """The matched strings of every YARA finding on the file, in offset order."""
    found = []
    for rule, detail in browse.yara_findings(conn, file_id):
        for item in detail.get("strings", []):
            length = item.get("length") or _shown_length(item.get("data") or "")
            found.append(Match(int(item["offset"]), max(1, int(length)), rule, str(item.get("identifier", ""))))
    return sorted(set(found), key=lambda m: (m.start, m.end, m.rule))


def _shown_length(shown: str) -> int:
    """Bytes a matched string stood for, from its display form (cases scanned before lengths were kept)."""
    return len(shown.rstrip("…")) - 3 * shown.count("\\x")


def parse_offset(text: str) -> int | None:
    """An offset as an examiner types it: 0x1f0, 1f0h or 1F0 (hex), 496 (decimal); None if not one."""
    text = text.strip().replace(" ", "").replace("_", "").lower()
    try:
        if text.startswith("0x"):
            return int(text[2:], 16)
        if text.endswith("h"):
            return int(text[:-1], 16)
        if text.isdigit():
            return int(text)
        return int(text, 16)
    except ValueError:
        return None


class PagedContent(QObject):
    """One object's bytes, read page by page on a thread of its own and kept in a bounded cache.

    `page(n)` answers from the cache, or asks for the page and answers None; `page_ready` follows
    once it is read. One read runs at a time, the most recently wanted page first."""

    page_ready = Signal()
    failed = Signal(str)
    _arrived = Signal(int, object, object)  # page, its bytes or None, why not; emitted from the reading thread

    def __init__(self, reader: ObjectReader, file_id: int, size: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.reader = reader
        self.file_id = file_id
        self.size = size
        self.pages = math.ceil(size / PAGE)
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._errors: dict[int, str] = {}
        self._wanted: list[int] = []
        self._busy = False
        self._stopped = False
        self._lock = threading.Lock()  # no signal from the reading thread once stop() has returned
        self._requests: queue.Queue[int | None] = queue.Queue()
        self._arrived.connect(self._store)
        threading.Thread(target=self._read_pages, name="content-pages", daemon=True).start()

    def page(self, index: int) -> bytes | None:
        data = self._cache.get(index)
        if data is not None:
            self._cache.move_to_end(index)
            return data
        if index in self._errors or not 0 <= index < self.pages:
            return None
        if index in self._wanted:
            self._wanted.remove(index)
        self._wanted.append(index)
        del self._wanted[:-WANTED_PAGES]
        self._pump()
        return None

    def error(self, index: int) -> str | None:
        return self._errors.get(index)

    def span(self, offset: int, length: int) -> bytes | None:
        """Bytes [offset, offset + length) if every page they lie in has been read (asking for those that have not)."""
        end = min(self.size, offset + length)
        if offset >= end:
            return b""
        pages = [self.page(i) for i in range(offset // PAGE, (end - 1) // PAGE + 1)]  # each one missing is asked for
        read = [page for page in pages if page is not None]
        if len(read) < len(pages):
            return None
        first = (offset // PAGE) * PAGE
        return b"".join(read)[offset - first : end - first]

    def stop(self) -> None:
        """No more reads: the view moved to another object."""
        with self._lock:
            self._stopped = True
        self._wanted.clear()
        self._requests.put(None)

    def _pump(self) -> None:
        if self._busy or not self._wanted or self._stopped:
            return
        self._busy = True
        self._requests.put(self._wanted.pop())

    def _read_pages(self) -> None:
        while (index := self._requests.get()) is not None:
            data, error = None, None
            try:
                data = self.reader.read(self.file_id, index * PAGE, PAGE)
            except Exception as problem:  # shown in the view; the examiner may still read other pages
                error = str(problem) or type(problem).__name__
            with self._lock:
                if self._stopped:
                    return
                self._arrived.emit(index, data, error)

    def _store(self, index: int, data: bytes | None, error: str | None) -> None:
        self._busy = False
        if self._stopped:
            return
        if data is None:
            self._errors[index] = error or "unreadable"
            self.failed.emit(f"bytes {index * PAGE:#x}–{min(self.size, (index + 1) * PAGE):#x} unreadable: {error}")
        else:
            self._cache[index] = data
            while len(self._cache) > CACHED_PAGES:
                self._cache.popitem(last=False)
        self._pump()
        self.page_ready.emit()


def _mono_font() -> QFont:
    font = QFont("DejaVu Sans Mono")
    font.setStyleHint(QFont.StyleHint.Monospace)
    font.setPointSizeF(9.5)
    return font


class HexView(QAbstractScrollArea):
    """Offset, sixteen bytes in hex and as ASCII per row; paints and reads only the rows in sight."""

    cursor_moved = Signal(object)  # an offset: past 2 GiB it does not fit a C int

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("hexView")
        self.setFont(_mono_font())
        self.viewport().setFont(self.font())
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.content: PagedContent | None = None
        self.matches: list[Match] = []
        self.current: Match | None = None
        self.cursor_offset: int | None = None  # the byte the cursor is on (QWidget.cursor() is the mouse pointer)
        self._rows = 0
        self._step = 1  # rows per scroll bar step
        self.verticalScrollBar().valueChanged.connect(self.viewport().update)
        self.horizontalScrollBar().valueChanged.connect(self.viewport().update)

    # -- what is shown ----------------------------------------------------------------------------

    def set_content(self, content: PagedContent | None, matches: list[Match]) -> None:
        self.content = content
        self.matches = matches
        self.current = None
        self.cursor_offset = None
        self._rows = math.ceil(content.size / ROW) if content else 0
        self._step = max(1, math.ceil(self._rows / MAX_SCROLL))
        if content is not None:
            content.page_ready.connect(self.viewport().update)
        self.verticalScrollBar().setValue(0)
        self._layout_scroll_bars()
        self.viewport().update()

    def top_offset(self) -> int:
        return self.verticalScrollBar().value() * self._step * ROW

    def visible_rows(self) -> int:
        return max(1, self.viewport().height() // self._line_height())

    def show_offset(self, offset: int, match: Match | None = None) -> None:
        """Put the cursor on `offset` and scroll its row into sight (a few rows below the top)."""
        if self.content is None:
            return
        offset = max(0, min(offset, max(0, self.content.size - 1)))
        self.cursor_offset, self.current = offset, match
        row = offset // ROW
        first = self.top_offset() // ROW
        if not first <= row < first + self.visible_rows() - 1:
            self.verticalScrollBar().setValue(max(0, row - 3) // self._step)
        self.viewport().update()
        self.cursor_moved.emit(offset)

    def row_text(self, offset: int) -> str | None:
        """The row at `offset` as it is painted (offset, hex, ASCII), or None while its page is read."""
        if self.content is None:
            return None
        start = offset - offset % ROW
        page = self.content.page(start // PAGE)
        if page is None:
            return None
        data = page[start % PAGE : start % PAGE + ROW]
        hexes = " ".join(f"{b:02x}" for b in data[:8]) + "  " + " ".join(f"{b:02x}" for b in data[8:])
        return f"{start:0{self._digits()}x}  {hexes:<48}  {_ascii(data)}"

    # -- geometry ----------------------------------------------------------------------------------

    def _digits(self) -> int:
        return 8 if not self.content or self.content.size <= 1 << 32 else 12

    def _char_width(self) -> int:
        return self.fontMetrics().horizontalAdvance("0")

    def _line_height(self) -> int:
        return self.fontMetrics().height() + 3

    def _columns(self) -> tuple[int, int, int]:
        """x of the hex column, of the ASCII column, and the full width, in pixels."""
        cw = self._char_width()
        hex_x = (self._digits() + 3) * cw
        ascii_x = hex_x + (ROW * 3 + 2) * cw
        return hex_x, ascii_x, ascii_x + (ROW + 2) * cw

    def _byte_x(self, column: int) -> int:
        hex_x = self._columns()[0]
        return hex_x + (column * 3 + (1 if column >= 8 else 0)) * self._char_width()

    def _layout_scroll_bars(self) -> None:
        rows = math.ceil(self._rows / self._step)
        self.verticalScrollBar().setRange(0, max(0, rows - self.visible_rows() + 1))
        self.verticalScrollBar().setPageStep(max(1, self.visible_rows() - 1))
        self.horizontalScrollBar().setRange(0, max(0, self._columns()[2] - self.viewport().width()))
        self.horizontalScrollBar().setPageStep(self.viewport().width())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._layout_scroll_bars()

    # -- painting ----------------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self.viewport())
        palette = self.palette()
        painter.fillRect(event.rect(), palette.base())
        if self.content is None:
            painter.end()
            return
        painter.translate(-self.horizontalScrollBar().value(), 0)
        cw, lh = self._char_width(), self._line_height()
        ascent = self.fontMetrics().ascent() + 1
        hex_x, ascii_x, width = self._columns()
        painter.fillRect(QRect(0, 0, hex_x - cw, self.viewport().height()), QColor("#f1f4f7"))
        top = self.top_offset()
        end = min(self.content.size, top + self.visible_rows() * ROW + ROW)
        marks = self._marks(top, end)
        text_color, dim = palette.text().color(), QColor("#6b7785")
        for line, start in enumerate(range(top, end, ROW)):
            y = line * lh
            painter.setPen(dim)
            painter.drawText(cw // 2, y + ascent, f"{start:0{self._digits()}x}")
            page = self.content.page(start // PAGE)
            if page is None:
                painter.drawText(hex_x, y + ascent, "··  reading…" if not self.content.error(start // PAGE) else "??  unreadable")
                continue
            data = page[start % PAGE : start % PAGE + ROW]
            for column, byte in enumerate(data):
                offset = start + column
                mark = marks[offset - top]
                x_hex, x_ascii = self._byte_x(column), ascii_x + column * cw
                if mark:
                    color = {1: MATCH, 2: CURRENT_MATCH, 3: CURSOR}[mark]
                    painter.fillRect(QRect(x_hex - cw // 2, y, 3 * cw, lh), color)
                    painter.fillRect(QRect(x_ascii, y, cw, lh), color)
                painter.setPen(text_color if byte else dim)
                painter.drawText(x_hex, y + ascent, f"{byte:02x}")
                painter.setPen(text_color if byte in _PRINTABLE else dim)
                painter.drawText(x_ascii, y + ascent, chr(byte) if byte in _PRINTABLE else ".")
        painter.setPen(QColor("#d5dbe1"))
        painter.drawLine(ascii_x - cw, 0, ascii_x - cw, self.viewport().height())
        painter.drawLine(width, 0, width, self.viewport().height())
        painter.end()

    def _marks(self, top: int, end: int) -> bytearray:
        """Per byte in sight: 0 plain, 1 in a match, 2 in the current match, 3 the cursor."""
        marks = bytearray(max(0, end - top))
        for match in self.matches:
            if match.end <= top or match.start >= end:
                continue
            value = 2 if match == self.current else 1
            for offset in range(max(top, match.start), min(end, match.end)):
                marks[offset - top] = max(marks[offset - top], value)
        if self.cursor_offset is not None and top <= self.cursor_offset < end and self.current is None:
            marks[self.cursor_offset - top] = 3
        return marks

    # -- mouse and keys ----------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:
        offset = self._offset_at(event.position().toPoint())
        if offset is not None:
            self.show_offset(offset)

    def _offset_at(self, point: QPoint) -> int | None:
        if self.content is None:
            return None
        x = point.x() + self.horizontalScrollBar().value()
        cw = self._char_width()
        hex_x, ascii_x, _ = self._columns()
        if hex_x <= x < ascii_x - cw:
            column = next((c for c in reversed(range(ROW)) if x >= self._byte_x(c) - cw // 2), 0)
        elif ascii_x <= x < ascii_x + ROW * cw:
            column = (x - ascii_x) // cw
        else:
            return None
        offset = self.top_offset() + (point.y() // self._line_height()) * ROW + column
        return offset if offset < self.content.size else None

    def wheelEvent(self, event: QWheelEvent) -> None:
        rows = -event.angleDelta().y() // 40
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + rows)


def _ascii(data: bytes) -> str:
    return "".join(chr(b) if b in _PRINTABLE else "." for b in data)


class TextView(QWidget):
    """The bytes as text, one 32 KiB stretch at a time, with the matches highlighted and paging buttons."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.content: PagedContent | None = None
        self.matches: list[Match] = []
        self.current: Match | None = None
        self.start = 0
        self._target: int | None = None
        self._shown: tuple[int, str] | None = None
        self.extracted: tuple[str, str] | None = None  # (text, how) the case keeps for this content
        self.terms: list[str] = []  # searched terms to highlight
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.edit = named(QPlainTextEdit(readOnly=True), "textView")
        self.edit.setFont(_mono_font())
        layout.addWidget(self.edit)
        bar = QHBoxLayout()
        self.previous_button = named(QPushButton("◀ Previous"), "textPreviousButton")
        self.next_button = named(QPushButton("Next ▶"), "textNextButton")
        self.range_label = named(QLabel(), "textRangeLabel")
        self.encoding = named(QComboBox(), "textEncoding")
        for label, codec in ENCODINGS:
            self.encoding.addItem(label, codec)
        bar.addWidget(self.previous_button)
        bar.addWidget(self.next_button)
        bar.addWidget(self.range_label, 1)
        self.extracted_box = named(QCheckBox("Extracted text"), "textExtracted")
        bar.addWidget(self.extracted_box)
        bar.addWidget(QLabel("Encoding"))
        bar.addWidget(self.encoding)
        layout.addLayout(bar)
        self.extracted_box.toggled.connect(lambda _: self._render(force=True))
        self.previous_button.clicked.connect(lambda: self.show_offset(self.start - TEXT_PAGE))
        self.next_button.clicked.connect(lambda: self.show_offset(self.start + TEXT_PAGE))
        self.encoding.currentIndexChanged.connect(lambda _: self._render(force=True))

    def set_content(self, content: PagedContent | None, matches: list[Match],
                    extracted: tuple[str, str] | None = None) -> None:
        self.content, self.matches, self.current = content, matches, None
        self.start, self._target, self._shown = 0, None, None
        self.extracted, self.terms = extracted, []
        self.extracted_box.setChecked(False)
        self.extracted_box.setEnabled(extracted is not None)
        self.edit.clear()
        if content is not None:
            content.page_ready.connect(self._render)
        self._render()

    def show_offset(self, offset: int, match: Match | None = None) -> None:
        if self.content is None:
            return
        offset = max(0, min(offset, max(0, self.content.size - 1)))
        self.start, self._target, self.current = offset - offset % TEXT_PAGE, offset, match
        self._render(force=True)

    def highlight(self, terms: list[str]) -> None:
        """Mark every place of these terms (any case) and go to the first: in the extracted text when the case
        keeps one (a term inside a DOCX is not in its raw bytes), else in the bytes shown."""
        self.terms = [term for term in terms if term.strip()]
        if self.extracted is not None and not self.extracted_box.isChecked():
            self.extracted_box.setChecked(True)  # renders
        else:
            self._render(force=True)
        go_to_first_term(self.edit)

    def _render_extracted(self, text: str, how: str, force: bool) -> None:
        self.range_label.setText(f"extracted text ({how}), {len(text):,} characters")
        self.previous_button.setEnabled(False)
        self.next_button.setEnabled(False)
        if force or self._shown != (-1, how):
            self._shown = (-1, how)
            self.edit.setPlainText(text)
            self.edit.setExtraSelections(term_selections(self.edit, self.terms))

    def _render(self, force: bool = False) -> None:
        content = self.content
        if self.extracted is not None and self.extracted_box.isChecked():
            self._render_extracted(*self.extracted, force)
            return
        if content is None:
            self.range_label.clear()
            self.previous_button.setEnabled(False)
            self.next_button.setEnabled(False)
            return
        end = min(content.size, self.start + TEXT_PAGE)
        self.range_label.setText(f"bytes {self.start:#x}–{end:#x} of {content.size:,}")
        self.previous_button.setEnabled(self.start > 0)
        self.next_button.setEnabled(end < content.size)
        codec = self.encoding.currentData()
        if not force and self._shown == (self.start, codec):
            return
        data = content.span(self.start, end - self.start)
        if data is None:
            if self._shown is None or self._shown[0] != self.start:
                self.edit.setPlainText("Reading…")
            return
        self._shown = (self.start, codec)
        cuts = {min(len(data), max(0, x - self.start)) for m in self.matches for x in (m.start, m.end)}
        if self._target is not None:
            cuts.add(self._target - self.start)
        bounds = sorted(cuts | {0, len(data)})
        positions: dict[int, int] = {}
        pieces = []
        length = 0
        for low, high in zip(bounds, bounds[1:]):
            positions[low] = length
            text = _as_text(data[low:high], codec)
            pieces.append(text)
            length += len(text)
        positions[len(data)] = length
        self.edit.setPlainText("".join(pieces))
        selections = []
        for match in sorted(self.matches, key=lambda m: m == self.current):  # the current match painted last, on top
            low, high = match.start - self.start, match.end - self.start
            if high <= 0 or low >= len(data):
                continue
            selection = QTextEdit.ExtraSelection()
            selection.format = QTextCharFormat()
            selection.format.setBackground(CURRENT_MATCH if match == self.current else MATCH)
            cursor = QTextCursor(self.edit.document())
            cursor.setPosition(positions[max(0, low)])
            cursor.setPosition(positions[min(len(data), high)], QTextCursor.MoveMode.KeepAnchor)
            selection.cursor = cursor
            selections.append(selection)
        self.edit.setExtraSelections(selections + term_selections(self.edit, self.terms))
        if self._target is not None:
            cursor = QTextCursor(self.edit.document())
            cursor.setPosition(positions.get(self._target - self.start, 0))
            self.edit.setTextCursor(cursor)
            self.edit.centerCursor()


def _as_text(data: bytes, codec: str) -> str:
    """Bytes as readable text: decoded where they decode, control characters shown as '·'."""
    text = data.decode(codec, "replace").replace("\r\n", "\n")
    return "".join(c if c.isprintable() or c in "\n\t" else "·" for c in text)


class MediaView(QWidget):
    """The Media tab: the object's picture, decoded on a thread of its own and scaled to fit; anything else says
    why it shows nothing."""

    _decoded = Signal(int, object, str)  # request number, PNG bytes or None, why not; from the decoding thread

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.picture = named(QLabel(), "mediaPicture")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setWordWrap(True)
        area = QScrollArea()
        area.setWidgetResizable(True)
        area.setWidget(self.picture)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(area)
        self.image: QImage | None = None
        self._request = 0
        self._decoded.connect(self._show)

    def show_picture(self, reader: ObjectReader | None, row: dict[str, Any] | None) -> None:
        """Decode and show this files-table row's picture; a row that is not one clears the tab."""
        self._request += 1
        self.image = None
        self.picture.setPixmap(QPixmap())
        if reader is None or row is None or row.get("kind") not in ("file", "virtual"):
            self.picture.setText("")
            return
        if not str(row.get("mime") or "").startswith("image/"):
            self.picture.setText("Not a picture.")
            return
        if (row.get("size") or 0) > MEDIA_MAX_BYTES:
            self.picture.setText(f"A picture of {human_size(row['size'])}: larger than the viewer reads "
                                 f"({human_size(MEDIA_MAX_BYTES)}). Extract it to view it.")
            return
        self.picture.setText("Decoding…")
        request, file_id, size = self._request, row["id"], row.get("size") or 0
        threading.Thread(target=self._decode, args=(reader, request, file_id, size), name="media", daemon=True).start()

    def _decode(self, reader: ObjectReader, request: int, file_id: int, size: int) -> None:
        try:
            self._decoded.emit(request, thumbnail(reader.read(file_id, 0, size), MEDIA_SIZE), "")
        except PictureRefused as refused:
            self._decoded.emit(request, None, str(refused))
        except Exception as error:  # an unreadable object: said in the tab
            self._decoded.emit(request, None, str(error) or type(error).__name__)

    def _show(self, request: int, png: bytes | None, why: str) -> None:
        if request != self._request:
            return  # the viewer moved on to another object
        if png is None:
            self.picture.setText(f"Not shown: {why}")
            return
        self.image = QImage.fromData(png)
        self._fit()

    def _fit(self) -> None:
        if self.image is not None and not self.image.isNull():
            size = self.picture.size().boundedTo(self.image.size())
            self.picture.setPixmap(QPixmap.fromImage(self.image).scaled(
                size, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit()


def _tab_widget_of(widget: QWidget) -> QTabWidget | None:
    """The tab widget a tab page lies in (its page sits in the tab widget's stack)."""
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QTabWidget):
        parent = parent.parentWidget()
    return parent


class ContentViewer(QObject):
    """Fills the Hex and Text tabs: both views follow the same object, the same matches and the same
    offset; the bar above them goes to an offset or to the next match and says where the cursor is."""

    def __init__(self, hex_tab: QWidget, text_tab: QWidget, shortcut_scope: QWidget) -> None:
        super().__init__(shortcut_scope)
        self.scope = shortcut_scope
        self.reader: ObjectReader | None = None
        self.conn: sqlite3.Connection | None = None
        self.content: PagedContent | None = None
        self.row: dict[str, Any] | None = None
        self.matches: list[Match] = []
        self.match_index = -1
        self.hex = HexView()
        self.text = TextView()
        self.text_tab = text_tab
        self.go_action = QAction("Go to offset…", self, shortcut=QKeySequence("Ctrl+G"),
                                 shortcutContext=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.next_action = QAction("Next match", self, shortcut=QKeySequence("F3"),
                                   shortcutContext=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.previous_action = QAction("Previous match", self, shortcut=QKeySequence("Shift+F3"),
                                       shortcutContext=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.go_action.setToolTip("Go to an offset, in hex (0x1f0, 1f0h) or decimal (Ctrl+G)")
        self.next_action.setToolTip("Next YARA match (F3)")
        self.previous_action.setToolTip("Previous YARA match (Shift+F3)")
        for action in (self.go_action, self.next_action, self.previous_action):
            shortcut_scope.addAction(action)
        self.go_action.triggered.connect(self.ask_offset)
        self.next_action.triggered.connect(lambda: self.step_match(1))
        self.previous_action.triggered.connect(lambda: self.step_match(-1))
        self.labels: list[QLabel] = []
        for tab, view in ((hex_tab, self.hex), (text_tab, self.text)):
            layout = box_layout(tab)
            bar = QHBoxLayout()
            bar.setContentsMargins(4, 2, 4, 0)
            for action in (self.go_action, self.previous_action, self.next_action):
                button = QToolButton()
                button.setDefaultAction(action)
                bar.addWidget(button)
            label = named(QLabel(), "contentPositionLabel")
            label.setTextFormat(Qt.TextFormat.RichText)
            bar.addWidget(label, 1)
            self.labels.append(label)
            layout.addLayout(bar)
            layout.addWidget(view)
        self.hex.cursor_moved.connect(lambda offset: self._say_where(offset))
        self.media = named(MediaView(), "mediaTab")
        self.tabs = _tab_widget_of(hex_tab)
        if self.tabs is not None:
            self.tabs.insertTab(self.tabs.indexOf(text_tab) + 1, self.media, "Media")
        self._say("")

    # -- the case and the object -------------------------------------------------------------------

    def set_case(self, case_dir: Path | None, conn: sqlite3.Connection | None) -> None:
        """Read objects of this case from now on (None: no case open)."""
        self.clear()
        if self.reader is not None:
            self.reader.close()
            self.reader = None
        self.conn = conn
        if case_dir is not None:
            self.reader = ObjectReader(case_dir)

    def show_file(self, row: dict[str, Any] | None) -> None:
        """Show this files-table row's bytes; a folder or an empty file says so instead."""
        self.clear()
        self.row = row
        if row is None or self.reader is None or self.conn is None:
            return
        if row.get("kind") not in ("file", "virtual"):
            self._say(f"{esc(row.get('path'))} is a {esc(row.get('kind'))}: it has no content of its own.")
            return
        if not row.get("size"):
            self._say(f"{esc(row.get('path'))} is empty.")
            return
        self.media.show_picture(self.reader, row)
        self.content = PagedContent(self.reader, row["id"], row["size"], self)
        self.content.failed.connect(lambda message: self._say(f"<span style='color:#b3261e'>{esc(message)}</span>"))
        self.matches = yara_matches(self.conn, row["id"])
        self.hex.set_content(self.content, self.matches)
        kept = content_text(self.conn, row["sha256"]) if row.get("sha256") else None
        self.text.set_content(self.content, self.matches, kept)
        self._say_where(None)

    def show_terms(self, terms: list[str]) -> None:
        """The Text tab forward, with these terms highlighted (a search's hit opened)."""
        if self.tabs is not None:
            self.tabs.setCurrentWidget(self.text_tab)
        self.text.highlight(terms)

    def clear(self) -> None:
        if self.content is not None:
            self.content.stop()
            self.content.deleteLater()
        self.content, self.row, self.matches, self.match_index = None, None, [], -1
        self.hex.set_content(None, [])
        self.text.set_content(None, [])
        self.media.show_picture(None, None)
        self._say("")

    def show_media(self) -> None:
        """Bring the Media tab forward (a picture opened from the gallery)."""
        if self.tabs is not None:
            self.tabs.setCurrentWidget(self.media)

    # -- moving about ------------------------------------------------------------------------------

    def go_to(self, offset: int, match: Match | None = None) -> bool:
        """Both views to `offset`; False (and a message) if it lies outside the object."""
        if self.content is None:
            return False
        if not 0 <= offset < self.content.size:
            self._say(f"Offset {offset:#x} ({offset:,}) is beyond the end of the file ({self.content.size:,} bytes).")
            return False
        self.hex.show_offset(offset, match)
        self.text.show_offset(offset, match)
        self._say_where(offset)
        return True

    def ask_offset(self) -> None:
        if self.content is None:
            return
        text, ok = QInputDialog.getText(self.scope, "Go to offset",
                                        f"Offset (hex: 0x1f0 or 1f0h; decimal: 496), 0 to {self.content.size - 1:,}:")
        if not ok:
            return
        offset = parse_offset(text)
        if offset is None:
            self._say(f"Not an offset: {esc(text)}")
            return
        self.go_to(offset)

    def step_match(self, step: int) -> Match | None:
        """The next (step 1) or previous (-1) match after the cursor, shown in both views."""
        if not self.matches or self.content is None:
            return None
        self.match_index = (self.match_index + step) % len(self.matches)
        match = self.matches[self.match_index]
        self.go_to(match.start, match)
        return match

    # -- the bar ---------------------------------------------------------------------------------------

    def _say_where(self, offset: int | None) -> None:
        if self.content is None or self.row is None:
            return
        parts = [f"<b>{esc(self.row.get('name') or self.row.get('path'))}</b> · {human_size(self.content.size)}"]
        if offset is not None:
            parts.append(f"offset {offset:#x} ({offset:,})")
        if self.matches:
            if 0 <= self.match_index < len(self.matches) and offset == self.matches[self.match_index].start:
                match = self.matches[self.match_index]
                parts.append(f"match {self.match_index + 1} of {len(self.matches)}: {esc(match.rule)} {esc(match.identifier)}")
            else:
                parts.append(f"{len(self.matches)} YARA match{'es' if len(self.matches) != 1 else ''} (F3)")
        self._say(" · ".join(parts))

    def _say(self, html: str) -> None:
        for label in self.labels:
            label.setText(html)
        enabled = self.content is not None
        self.go_action.setEnabled(enabled)
        self.next_action.setEnabled(enabled and bool(self.matches))
        self.previous_action.setEnabled(enabled and bool(self.matches))
