"""Web browser history: what was visited, downloaded, searched, bookmarked, which sites set cookies and which form
fields were filled, from the profile files of the Chromium family (Chrome, Edge, Brave, Opera) and of Firefox.

A file is recognised by its name and its first bytes (a SQLite header, or a JSON document with bookmark roots),
then by the tables its database holds. Each database is read read-only from the examiner's private copy, never
in place, so a browser's lock on the original does not matter. A live browser's write-ahead log (`History-wal`,
`places.sqlite-wal`) is a separate file that this analyzer is not given with the database: what only the log
holds (the last minutes of browsing before the computer was seized) is not in these records, and the log
itself is examined as a file of its own.

Damage is reported, not fatal: a file that is not the database its name says, or whose pages are corrupt or
cut short, is a recorded problem with the count of records still read; a table a part of the file cannot be
read from does not stop the others; a column a browser version lacks is read as empty."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..base import Finding, Item
from ..results import Artefact
from .base import ArtefactParser, Deadline
from .browsers_chromium import CHROMIUM_FILES
from .browsers_common import BrowserFile, origin
from .browsers_firefox import FIREFOX_FILES

BROWSER_FILES: dict[str, BrowserFile] = {name: known for known in (*CHROMIUM_FILES, *FIREFOX_FILES)
                                         for name in known.names}


class BrowserHistory(ArtefactParser):
    """Browser visits, downloads, searches, cookies, autofill entries and bookmarks (`browser.*` records)."""

    NAME = "browsers"
    NEEDS_PATH = True  # SQLite opens a path: the private copy

    def recognise(self, item: Item) -> bool:
        known = BROWSER_FILES.get(item.obj.name.lower())
        return known is not None and known.looks_right(item.head)

    def parse(self, item: Item, path: Path | None, deadline: Deadline) -> Iterator[Artefact | Finding]:
        assert path is not None
        known = BROWSER_FILES[item.obj.name.lower()]
        problems: list[str] = []
        try:
            yield from known.read(path, origin(item.obj.path, known.family), deadline, problems)
        finally:
            item.skipped.extend((self.NAME, problem) for problem in problems)
