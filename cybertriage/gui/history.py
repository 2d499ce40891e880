"""Back and Forward: the places the examiner opened (a tab, a file, a finding, a network record, an artefact, a
position of the timeline), walked as a web browser walks its pages.

A place is left as it was found: when the examiner goes on from a place, the history first notes where they are
now (another row chosen in the same table, the timeline moved), so that Back returns there. Each place opens
itself through the window (`Opener`); opening a place while walking the history is not recorded again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from PySide6.QtCore import QObject, Signal

from .timeline import TimelineQuery

MAX_PLACES = 200  # the oldest places are forgotten beyond this


@dataclass(frozen=True)
class Place:
    """Somewhere the window can show again: `kind` is "tab" (a tab as it is, named by `tab`), "timeline" (its
    `query`), or the kind of record `ident` names (file, finding, artifact, or a network record: flow, host,
    dns, http, tls, smtp, ftp, credentials)."""

    kind: str
    ident: int | None = None
    tab: str = ""
    query: TimelineQuery | None = None

    def open(self, opener: Opener) -> None:
        if self.kind == "tab":
            opener.show_tab(self.tab)
        elif self.kind == "timeline":
            opener.show_timeline(self.query or TimelineQuery())
        elif self.ident is not None:
            opener.show_record(self.kind, self.ident)


class Opener(Protocol):
    """What a place asks of the window to show itself again."""

    def show_tab(self, name: str) -> None: ...

    def show_timeline(self, query: TimelineQuery) -> None: ...

    def show_record(self, kind: str, ident: int) -> None: ...


class History(QObject):
    """The places opened, the one shown, and the walk back and forward between them."""

    changed = Signal()  # whether Back and Forward can go has perhaps changed

    def __init__(self, opener: Opener, here: Callable[[], Place | None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.opener = opener
        self.here = here  # where the examiner is now (the tab on screen and what it has selected)
        self.places: list[Place] = []
        self.index = -1  # the place shown
        self.walking = False  # a place is being opened by the history itself: not a new visit

    def can_go_back(self) -> bool:
        return self.index > 0

    def can_go_forward(self) -> bool:
        return 0 <= self.index < len(self.places) - 1

    def clear(self) -> None:
        """Another case: its places only."""
        self.places, self.index = [], -1
        self.changed.emit()

    def visit(self, place: Place, left: Place | None = None) -> None:
        """The examiner opened `place` (after leaving `left`, by default where they are now): it follows the
        place shown, and the places Forward would have gone to are dropped."""
        if self.walking:
            return
        self._note(left if left is not None else self.here())
        if self.places and self.places[self.index] == place:
            return
        del self.places[self.index + 1 :]
        self.places.append(place)
        del self.places[: max(0, len(self.places) - MAX_PLACES)]
        self.index = len(self.places) - 1
        self.changed.emit()

    def go(self, place: Place) -> None:
        """Open `place` and remember it."""
        self.visit(place)
        self._open(place)

    def back(self) -> None:
        if self.can_go_back():
            self._note(self.here())
            self.index -= 1
            self._open(self.places[self.index])
            self.changed.emit()

    def forward(self) -> None:
        if self.can_go_forward():
            self._note(self.here())
            self.index += 1
            self._open(self.places[self.index])
            self.changed.emit()

    def _note(self, place: Place | None) -> None:
        """Where the examiner is now replaces the place shown (a first place starts the history)."""
        if place is None:
            return
        if self.index < 0:
            self.places, self.index = [place], 0
        else:
            self.places[self.index] = place

    def _open(self, place: Place) -> None:
        self.walking = True
        try:
            place.open(self.opener)
        finally:
            self.walking = False
