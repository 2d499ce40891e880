"""The Timeline tab's histogram: events per bar on a time axis with dated ticks (UTC).

Bars are drawn where their times fall, so a bar cut short by the range's end is narrower. A click on a
bar asks for its range; the mouse wheel zooms in (or out) around the time under the pointer, at once on
screen, and asks for the new range when the wheel stops.
"""

from __future__ import annotations

import bisect
from datetime import datetime, timedelta, timezone

from PySide6.QtCore import QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPalette, QWheelEvent
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Tick spacings, in seconds: the smallest that leaves room for each label is used.
TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
              2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 91 * 86400, 182 * 86400, 365 * 86400, 730 * 86400,
              1826 * 86400, 3652 * 86400)
SHORTEST = 10.0  # seconds: the wheel zooms in no further
ZOOM = 0.5  # the share of the range one wheel step in keeps


def seconds(ts: str) -> float:
    """Seconds since the epoch of an ISO 8601 UTC time."""
    moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def iso(value: float) -> str:
    """ISO 8601 UTC, to the second, of seconds since the epoch."""
    return f"{EPOCH + timedelta(seconds=round(value)):%Y-%m-%dT%H:%M:%S}Z"


def short(ts: str) -> str:
    return ts.replace("T", " ").removesuffix("Z")[:19]


def tick_label(value: float, step: float) -> str:
    """A tick's label, as precise as its spacing needs."""
    moment = EPOCH + timedelta(seconds=value)
    if step >= 86400:
        return f"{moment:%Y-%m-%d}"
    if step >= 60:
        return f"{moment:%Y-%m-%d %H:%M}"
    return f"{moment:%H:%M:%S}"


class Histogram(QWidget):
    """Events per time bucket as bars; a click on a bar asks for that bucket's range, the wheel for a
    narrower or wider one."""

    bar_clicked = Signal(str, str)  # the bucket's start and end, ISO 8601 UTC
    zoom_requested = Signal(str, str)  # the range the wheel came to, ISO 8601 UTC

    MARGIN = 8
    AXIS = 20
    LABEL_WIDTH = 120  # pixels a tick's label needs, room between them included
    WHEEL_PAUSE = 250  # ms without a wheel step before the range zoomed to is read

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timelineHistogram")
        self.bars: list[tuple[str, int]] = []
        self.end: str | None = None
        self.span: tuple[float, float] | None = None  # the time range drawn, seconds since the epoch
        self._starts: list[float] = []  # the bars' starts and the last one's end, seconds since the epoch
        self._top = 0
        self._wheel = QTimer(self)
        self._wheel.setSingleShot(True)
        self._wheel.setInterval(self.WHEEL_PAUSE)
        self._wheel.timeout.connect(self._zoom_settled)
        self.setMouseTracking(True)
        self.setMinimumHeight(130)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setToolTip("Events over time (UTC): click a bar to show only its time range, turn the wheel to zoom")

    def sizeHint(self) -> QSize:
        return QSize(800, 160)

    def set_bars(self, bars: list[tuple[str, int]], end: str | None) -> None:
        """Bars as (start, count), the last ending at `end`."""
        self.bars, self.end = bars, end
        self.span = (seconds(bars[0][0]), seconds(end)) if bars and end else None
        self._starts = [seconds(start) for start, _ in bars] + ([seconds(end)] if bars and end else [])
        self._top = max((count for _, count in bars), default=0)  # the tallest bar's count: the full height
        self.update()

    def bucket(self, number: int) -> tuple[str, str]:
        start = self.bars[number][0]
        end = self.bars[number + 1][0] if number + 1 < len(self.bars) else (self.end or start)
        return start, end

    def _area(self) -> QRect:
        return self.rect().adjusted(self.MARGIN, self.MARGIN + 14, -self.MARGIN, -self.MARGIN - self.AXIS)

    def _x(self, value: float) -> float:
        """The pixel column of a time, on the range drawn."""
        assert self.span is not None
        area, (first, last) = self._area(), self.span
        return area.left() + (value - first) / max(last - first, 1e-9) * area.width()

    def _time(self, x: float) -> float:
        assert self.span is not None
        area, (first, last) = self._area(), self.span
        return first + (x - area.left()) / max(area.width(), 1) * (last - first)

    def bar_rect(self, number: int) -> QRect:
        """Where bar `number` is drawn."""
        area, (left, right) = self._area(), self._columns(number)
        count = self.bars[number][1]
        height = max(1, round(area.height() * count / self._top)) if self._top and count else 0
        return QRect(left, area.bottom() - height + 1, max(1, right - left - 1), height)

    def _columns(self, number: int) -> tuple[int, int]:
        """The pixel columns bar `number` spans: from its start to the next bar's start."""
        return round(self._x(self._starts[number])), round(self._x(self._starts[number + 1]))

    def bar_at(self, point: QPoint) -> int | None:
        """The bar under a point (the mouse), found by the time at its column: one search, not a pass over every bar."""
        if self.span is None or point.y() >= self.height() - self.MARGIN - self.AXIS:
            return None
        number = bisect.bisect_right(self._starts, self._time(point.x())) - 1
        for near in (number - 1, number, number + 1):  # a column rounds to the bar beside the one its time is in
            if 0 <= near < len(self.bars):
                left, right = self._columns(near)
                if left <= point.x() <= left + max(1, right - left - 1):
                    return near
        return None

    def ticks(self) -> tuple[float, list[float]]:
        """The tick spacing and the ticks' times: whole multiples of the spacing, as many as fit."""
        if self.span is None:
            return 0.0, []
        first, last = self.span
        room = max(1, self._area().width() // self.LABEL_WIDTH)
        step = next((s for s in TICK_STEPS if (last - first) / s <= room), TICK_STEPS[-1])
        value = (first // step + 1) * step
        found = []
        while value < last:
            found.append(float(value))
            value += step
        return float(step), found

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.palette().color(QPalette.ColorRole.Base))
        text = self.palette().color(QPalette.ColorRole.Text)
        painter.setPen(text)
        if not self.bars or self.span is None:
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "No events in this range")
            painter.end()
            return
        area = self._area()
        painter.setClipRect(area.adjusted(0, 0, 1, 1))
        for number in range(len(self.bars)):
            painter.fillRect(self.bar_rect(number), QColor("#1f6fb2"))
        painter.setClipping(False)
        painter.drawText(QRect(self.MARGIN, 2, 400, 16), Qt.AlignmentFlag.AlignLeft,
                         f"{self._top:,} per bar at most · UTC")
        painter.drawLine(area.left(), area.bottom() + 1, area.right(), area.bottom() + 1)
        step, ticks = self.ticks()
        for value in ticks:
            x = round(self._x(value))
            painter.drawLine(x, area.bottom() + 1, x, area.bottom() + 5)
            label = QRect(x - self.LABEL_WIDTH // 2, area.bottom() + 5, self.LABEL_WIDTH, self.AXIS - 4)
            painter.drawText(label, Qt.AlignmentFlag.AlignCenter, tick_label(value, step))
        painter.end()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        number = self.bar_at(event.position().toPoint())
        if number is None:
            QToolTip.hideText()
            return
        start, end = self.bucket(number)
        QToolTip.showText(event.globalPosition().toPoint(),
                          f"{self.bars[number][1]:,} events\n{short(start)} – {short(end)} UTC\nClick to show only these",
                          self)

    def mousePressEvent(self, event: QMouseEvent) -> None:
        number = self.bar_at(event.position().toPoint())
        if number is not None and event.button() == Qt.MouseButton.LeftButton:
            self.bar_clicked.emit(*self.bucket(number))

    def wheelEvent(self, event: QWheelEvent) -> None:
        steps = event.angleDelta().y() / 120
        if self.span is None or not steps:
            return
        event.accept()
        first, last = self.span
        centre = min(max(self._time(event.position().x()), first), last)
        factor = ZOOM ** steps
        if (last - first) * factor < SHORTEST:
            factor = SHORTEST / max(last - first, 1e-9)
        self.span = (centre - (centre - first) * factor, centre + (last - centre) * factor)
        self.update()
        self._wheel.start()

    def _zoom_settled(self) -> None:
        if self.span is not None:
            first, last = self.span
            self.zoom_requested.emit(iso(first - 0.5), iso(last + 0.5))
