"""What every artefact parser shares: the record it yields, a private copy of the file on disk for the
libraries that need a path, a time limit, and bad input turned into a recorded problem with what was still read.

A parser yields `Artefact` records (and `Finding`s about its file) as it reads; the examiner stores each record as
a row of the case's `artifacts` table, tied to the file it came from, and puts those with a time on the timeline.
Records are not held in memory: a gigabyte of event logs streams through."""

from __future__ import annotations

import abc
import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar

from ..base import Analyzer, Finding, Item
from ..results import Artefact

TIME_LIMIT = 600.0  # seconds of parsing per file; what is left after that is reported as not read


class OutOfTime(Exception):
    """The parser's time limit passed; what it read so far is kept."""


class Deadline:
    """A parser's time limit, checked between records."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._ends = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self._ends:
            raise OutOfTime


class ArtefactParser(Analyzer):
    """An analyzer for one kind of artefact file. Subclasses say which files are theirs (`recognise`, by content
    and name) and read them (`parse`), from a private copy on disk when `NEEDS_PATH` (libraries that open a path:
    SQLite, regipy) or from the content in memory otherwise."""

    NAME: ClassVar[str]
    NEEDS_PATH: ClassVar[bool] = True
    time_limit: float = TIME_LIMIT

    @abc.abstractmethod
    def recognise(self, item: Item) -> bool:
        """Whether the object is this parser's artefact: by its first bytes (`item.head`) and its name."""

    @abc.abstractmethod
    def parse(self, item: Item, path: Path | None, deadline: Deadline) -> Iterator[Artefact | Finding]:
        """Yield the artefact's records and findings as they are read; `path` is a private copy of the content
        (None unless NEEDS_PATH). Raise on bad input: what was yielded before is kept. Call `deadline.check()`
        between records."""

    def analyze(self, item: Item) -> Iterable[Artefact | Finding]:
        obj = item.obj
        if obj.kind not in ("file", "virtual") or obj.content is None or not item.head or not self.recognise(item):
            return
        read = 0
        try:
            with _private_copy(item, self.NEEDS_PATH) as path:
                for record in self.parse(item, path, Deadline(self.time_limit)):
                    if isinstance(record, Artefact):
                        read += 1
                    yield record
        except OutOfTime:
            item.skipped.append((self.NAME, f"timed out after {self.time_limit:g} s: {read} records read"))
        except Exception as error:  # hostile or damaged input: keep what was read, say what stopped it
            item.skipped.append((self.NAME, f"unreadable {self.NAME}: {type(error).__name__}: {error}; "
                                            f"{read} records read before"))


class _private_copy:
    """The content as a file of its own in a private temporary folder (a SQLite database's journal files are made
    beside it there, never beside the evidence), removed afterwards; None when the parser reads memory."""

    def __init__(self, item: Item, needed: bool) -> None:
        self.item, self.needed = item, needed
        self.folder: str | None = None

    def __enter__(self) -> Path | None:
        if not self.needed:
            return None
        self.folder = tempfile.mkdtemp(prefix="cybertriage-artefact-")
        path = Path(self.folder) / "content"
        with open(path, "wb") as copy:
            if self.item.data is not None:
                copy.write(self.item.data)
            else:
                assert self.item.obj.content is not None
                for chunk in self.item.obj.content.chunks():
                    copy.write(chunk)
        os.chmod(path, 0o400)
        return path

    def __exit__(self, *exc: object) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


def content_bytes(item: Item) -> bytes:
    """The whole content in memory: what was kept, else read now (artefacts small enough to hold: LNK, $I, prefetch)."""
    if item.data is not None:
        return item.data
    assert item.obj.content is not None
    return b"".join(item.obj.content.chunks())


def utc(moment: dt.datetime | None) -> str | None:
    """ISO 8601 UTC text of a time, microseconds only when there are some; naive times are taken as UTC (what
    Windows FILETIMEs are). None for no time, and for the zero FILETIME (1601-01-01) that means 'never'."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if moment.year <= 1601:
        return None
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def filetime(value: int) -> str | None:
    """ISO 8601 UTC text of a Windows FILETIME (100 ns ticks since 1601); None for 0 and out-of-range values."""
    if value <= 0:
        return None
    try:
        moment = dt.datetime(1601, 1, 1) + dt.timedelta(microseconds=value // 10)
    except OverflowError:
        return None
    return utc(moment)
