"""What every evidence source produces: objects with metadata and lazily read content."""

from __future__ import annotations

import abc
import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import ClassVar

from ..errors import EvidenceError

CHUNK_SIZE = 1024 * 1024


class Content(abc.ABC):
    """Random-access, read-only view of one object's bytes; never loaded whole."""

    size: int
    digests: tuple[str, str, str] | None = None  # MD5, SHA-1 and SHA-256 when taken as the bytes were made

    @abc.abstractmethod
    def read_at(self, offset: int, length: int) -> bytes:
        """Return up to `length` bytes at `offset`; raise OSError when the range is unreadable."""

    def chunks(self, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
        offset = 0
        while offset < self.size:
            data = self.read_at(offset, min(chunk_size, self.size - offset))
            if not data:
                raise OSError(f"content ends at byte {offset} of {self.size}")
            offset += len(data)
            yield data


class BytesContent(Content):
    """Content already in memory, e.g. an archive member small enough to hold."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.size = len(data)

    def read_at(self, offset: int, length: int) -> bytes:
        return self._data[offset : offset + length]


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """What a source needs to open one object again, as a dfvfs path spec: an object the evidence lists is named
    by its path there (a disk's file also by its partition's offset and its inode), an object found inside another
    (an archive member) by its name in that container, whose own ref is its `parent`."""

    path: str
    parent: ObjectRef | None = None
    partition_offset: int = 0
    inode: str | None = None

    def display(self) -> str:
        """The chain as the examiner reads it, outermost first (`/docs/outer.zip!dir/inner.zip!sub/deep.txt`):
        what the files table and the exports show."""
        return self.path if self.parent is None else f"{self.parent.display()}!{self.path}"

    def outermost(self) -> ObjectRef:
        """The object of the evidence itself that holds this one (itself when the evidence lists it)."""
        return self if self.parent is None else self.parent.outermost()


@dataclass(slots=True)
class EvidenceObject:
    """One file, directory or data stream found in evidence, as the examiner would name it."""

    path: str
    name: str
    size: int
    kind: str = "file"  # file | directory | link | virtual | other
    partition_offset: int = 0
    inode: str | None = None
    deleted: bool = False
    mtime: str | None = None
    atime: str | None = None
    ctime: str | None = None
    crtime: str | None = None
    content: Content | None = None
    origin: str | None = None  # how it reached the evidence, e.g. "HTTP GET http://host/path"
    flow_id: int | None = None  # the capture flow that carried it
    parent_id: int | None = None
    depth: int = 0
    id: int | None = None
    unreadable: str | None = None  # why the content cannot be read, when known up front
    sha256: str | None = None  # of the content, when known up front (a carried body): the same bytes are examined once
    inside: ObjectRef | None = None  # its ref when it lies inside another object (an archive member); `path` shows it

    @property
    def ref(self) -> ObjectRef:
        """Where it is, for its source (or its container) to open it again."""
        if self.inside is not None:
            return self.inside
        return ObjectRef(self.path, partition_offset=self.partition_offset, inode=self.inode)


@dataclass
class Partition:
    """A volume found in a disk image and what became of it."""

    offset: int
    length: int
    description: str
    filesystem: str | None = None
    status: str = "examined"  # examined | no filesystem | beyond end of image
    note: str | None = None


@dataclass
class Ledger:
    """Completeness ledger of one evidence item: what was attempted, processed and skipped, and why."""

    stages: dict[str, dict] = field(default_factory=dict)
    warnings: list[tuple[str, str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _stage(self, stage: str) -> dict:
        return self.stages.setdefault(stage, {"attempted": 0, "processed": 0, "skipped": {}})

    def attempted(self, stage: str, count: int = 1) -> None:
        with self._lock:
            self._stage(stage)["attempted"] += count

    def processed(self, stage: str, count: int = 1) -> None:
        with self._lock:
            self._stage(stage)["processed"] += count

    def skipped(self, stage: str, reason: str, obj: str | None = None, detail: str | None = None) -> None:
        with self._lock:
            reasons = self._stage(stage)["skipped"]
            reasons[reason] = reasons.get(reason, 0) + 1
            if obj is not None or detail is not None:
                self.warnings.append((stage, obj or "", f"{reason}: {detail}" if detail else reason))

    def skipped_count(self, stage: str, reason: str, count: int) -> None:
        """Many objects skipped for one reason, without a warning line for each (e.g. packets)."""
        with self._lock:
            reasons = self._stage(stage)["skipped"]
            reasons[reason] = reasons.get(reason, 0) + count

    def warn(self, stage: str, obj: str, message: str) -> None:
        with self._lock:
            self.warnings.append((stage, obj, message))

    def counts(self, warnings_from: int = 0) -> tuple[dict[str, dict], list[tuple[str, str, str]]]:
        """A copy of the stages' counts, and the warnings from the `warnings_from`th on: what another process
        examining objects of this evidence sends back (pipeline/processes.py)."""
        with self._lock:
            return ({stage: {**counts, "skipped": dict(counts["skipped"])} for stage, counts in self.stages.items()},
                    self.warnings[warnings_from:])

    def add_counts(self, stages: dict[str, dict]) -> None:
        """Add another ledger's counts of the same evidence (a part of its objects examined elsewhere)."""
        for stage, counts in stages.items():
            self.attempted(stage, counts["attempted"])
            self.processed(stage, counts["processed"])
            for reason, count in counts["skipped"].items():
                self.skipped_count(stage, reason, count)

    def skipped_total(self) -> int:
        with self._lock:
            return sum(sum(s["skipped"].values()) for s in self.stages.values())


OBJECT_FIELDS = [f.name for f in fields(EvidenceObject)]  # an object's fields in order, as listings send them


def written_down(obj: EvidenceObject) -> list:
    """An object's fields as plain values, its content aside (JSON): the `entry` of a source handed on in parts."""
    return [None if name == "content" else getattr(obj, name) for name in OBJECT_FIELDS]


class EvidenceSource(abc.ABC):
    """One piece of evidence turned into a stream of objects."""

    KIND: ClassVar[str]
    format: str  # what the examiner calls the container: "ewf", "raw", "pcapng", "folder" …
    # Whether a spread scan may hand its files to other workers in parts (pipeline/parts.py): `entry` writes an
    # object down as plain values, and `listed`, on another worker's copy of the evidence, makes it again.
    IN_PARTS: ClassVar[bool] = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.ledger = Ledger()
        self.partitions: list[Partition] = []
        self.problems: list[str] = []  # evidence-level damage: the scan is then only partial

    @property
    @abc.abstractmethod
    def container_files(self) -> list[Path]:
        """The files on the workstation that hold this evidence, in order."""

    @abc.abstractmethod
    def objects(self, cancelled: threading.Event) -> Iterator[EvidenceObject]:
        """Yield every object; record damage in the ledger and keep going."""

    def open(self, ref: ObjectRef) -> Content:
        """The content of one object it listed, by its ref, opened read-only again: for the content viewer and
        for exporting files. An object inside another is opened by its container (evidence/containers.py).
        Evidence that holds no files of its own (a capture: the case's object store keeps what it carried)
        keeps this refusal."""
        raise EvidenceError(f"{ref.display()}: {self.KIND} evidence holds no files to read back")

    def content_unreadable(self, path: str) -> None:
        """The content of the top-level object at `path` failed to read part-way (a failing medium). A folder
        counts it as its evidence examined only in part; a disk image leaves it to its ledger, since the hash
        of its container finds the damaged sectors themselves."""

    def unreadable_paths(self) -> list[str]:
        """The paths counted as not read (a folder's), so that the accounts of a scan in parts add up to one count."""
        return []

    def entry(self, obj: EvidenceObject) -> list:
        raise EvidenceError(f"{self.KIND} evidence is not handed on in parts")

    def listed(self, entry: list) -> EvidenceObject:
        raise EvidenceError(f"{self.KIND} evidence is not handed on in parts")

    def reading(self) -> tuple[int, int] | None:
        """(bytes read, bytes in all) when the listing itself reads the evidence from start to end, as a
        capture's analysis does: how far it has got. None when the listing says nothing of the kind."""
        return None

    def close(self) -> None:
        """Release handles; evidence is only ever read."""


def iso_utc(seconds: int | float | None, nanos: int = 0) -> str | None:
    """Unix time to ISO 8601 UTC; None for 0/unset or out-of-range values (as a corrupt inode gives)."""
    if not seconds:
        return None
    try:
        stamp = dt.datetime.fromtimestamp(int(seconds), tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos and 0 < nanos < 1_000_000_000:
        text += f".{nanos:09d}".rstrip("0")
    return text + "Z"
