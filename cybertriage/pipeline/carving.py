"""The carving stage of a disk image: once its files are listed and examined, the files PhotoRec carves from each
volume's unallocated space (evidence/carving.py) become objects of the evidence under `$Carved/`, kept in the
case's object store (the image holds them only as scattered blocks) and examined like any other file. Where each
one's bytes lie in the image is a `carving.file` artefact on it (values: ranges, partition offset, carver, the
space carved). As an option, each volume's file slack is carved too, after its unallocated space: those files are
under `$Carved/slack/`, and the slack carving has a ledger stage of its own."""

from __future__ import annotations

import functools
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..case.objects import ObjectBatch, object_path
from ..errors import Cancelled
from ..evidence import EvidenceObject, EvidenceSource
from ..evidence.base import Partition
from ..evidence.carving import (
    CARVED_PREFIX,
    PHOTOREC,
    SLACK_FOLDER,
    CarvedFile,
    CarvingStopped,
    FileContent,
    NoRoom,
    Volume,
    block_size,
    carve_slack,
    carve_volume,
    carver_missing,
    photorec_partition,
    slack_stream,
)
from ..evidence.disk import DiskImage

STAGE = "carving"
SLACK_STAGE = "slack carving"
ARTEFACT_TYPE = "carving.file"
BLKLS_FORMATS = ("raw", "split raw", "ewf")  # the image kinds blkls reads as the scan does (not virtual disks)
NAME_EVERY = 256  # carved files moved into the object store, then synced together and named (ObjectBatch)
NAME_SECONDS = 1.0  # or after this long, so that the workers soon have the first files to examine


@dataclass
class Carved:
    """A carved object and where its bytes lie in the image, for its artefact once it has an id."""

    obj: EvidenceObject
    carved: CarvedFile
    space: str  # "unallocated" or "slack"


class CarvedSource(EvidenceSource):
    """The carved files of one disk image, as a source the worker pool lists; its ledger, partitions and problems
    are the disk's own, so that the evidence is accounted for once."""

    KIND = "disk"

    def __init__(self, disk: DiskImage, case_dir: Path, stall_seconds: float, unallocated: bool = True,
                 slack: bool = False) -> None:
        super().__init__(disk.path)
        self.disk = disk
        self.format = disk.format
        self.ledger = disk.ledger
        self.partitions = disk.partitions
        self.problems = disk.problems
        self.case_dir = case_dir
        self.stall_seconds = stall_seconds
        self.unallocated = unallocated
        self.slack = slack
        self.slack_bytes = 0  # the slack streams' sizes, for the examiner's measure of the cost
        self.carved: list[Carved] = []

    @property
    def container_files(self) -> list[Path]:
        return self.disk.container_files

    def objects(self, cancelled: threading.Event) -> Iterator[EvidenceObject]:
        """Every carved file of every volume with a filesystem, volume by volume: unallocated space, then slack."""
        volumes = [p for p in self.disk.partitions if p.filesystem is not None]
        if self.unallocated:
            yield from self._unallocated(volumes, cancelled)
        if self.slack and not cancelled.is_set():
            yield from self._slack(volumes, cancelled)

    def _unallocated(self, volumes: list[Partition], cancelled: threading.Event) -> Iterator[EvidenceObject]:
        missing = carver_missing()
        if missing is None and self.disk.format not in BLKLS_FORMATS:
            missing = f"Sleuth Kit's blkls does not read {self.disk.format} images"
        if missing is not None:
            self.ledger.skipped_count(STAGE, f"not carved: {missing}", len(volumes))
            return
        for partition in volumes:
            size = block_size(self.disk.image, partition.offset)
            in_place = (photorec_partition(self.disk.image, partition.offset, partition.filesystem)
                        if self.disk.format == "raw" else None)
            files = functools.partial(carve_volume, self.disk.container_files,
                                      Volume(partition.offset, size or 0, in_place))
            if not (yield from self._volume(STAGE, partition, size, files, cancelled)):
                return

    def _slack(self, volumes: list[Partition], cancelled: threading.Event) -> Iterator[EvidenceObject]:
        """Each volume's file slack, written to a work file by a walk of its files and carved there. It needs
        PhotoRec only: the image is read as the scan reads it, whatever its format."""
        missing = carver_missing((PHOTOREC,))
        if missing is not None:
            self.ledger.skipped_count(SLACK_STAGE, f"not carved: {missing}", len(volumes))
            return
        for partition in volumes:
            size = block_size(self.disk.image, partition.offset)
            files = functools.partial(self._slack_files, Volume(partition.offset, size or 0))
            if not (yield from self._volume(SLACK_STAGE, partition, size, files, cancelled)):
                return

    def _slack_files(self, volume: Volume, work: Path, stall_seconds: float,
                     cancelled: threading.Event) -> Iterator[CarvedFile]:
        stream = slack_stream(self.disk.path, self.disk.image, volume, work, stall_seconds, cancelled)
        self.slack_bytes += stream.size
        where = f"file slack of the volume at byte {volume.offset}"
        for unread in stream.unread:
            self.ledger.warn(SLACK_STAGE, where, f"directory not read: {unread}")
        yield from carve_slack(stream, volume, work, stall_seconds, cancelled)
        if stream.blocks.short:
            self.ledger.skipped_count(SLACK_STAGE, "carved across a file's own bytes: no true image ranges",
                                      stream.blocks.short)

    def _volume(self, stage: str, partition: Partition, size: int | None,
                files: Callable[[Path, float, threading.Event], Iterator[CarvedFile]],
                cancelled: threading.Event) -> Generator[EvidenceObject, None, bool]:
        """One volume carved in a private work folder of the case folder, counted in the stage's ledger line;
        False when the scan is cancelled."""
        if cancelled.is_set():
            return False
        self.ledger.attempted(stage)
        where = f"{partition.description} at byte {partition.offset}"
        if size is None:
            self.ledger.skipped(stage, "filesystem not reopened", where)
            return True
        space, named = ("file slack", "slack") if stage == SLACK_STAGE else ("unallocated space", "unallocated")
        work = Path(tempfile.mkdtemp(prefix=".carving-", dir=self.case_dir))
        try:
            yield from self._carve(files(work, self.stall_seconds, cancelled), named)
            self.ledger.processed(stage)
        except NoRoom as error:
            self.ledger.skipped(stage, f"not carved: no room for its {space}", where, str(error))
        except CarvingStopped as error:
            self.ledger.skipped(stage, "carving stopped", where, str(error))
            self.problems.append(f"carving stopped: {error} ({space} of {where}); what was carved before is kept")
        except Cancelled:
            return False
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return True

    def _carve(self, carving: Iterator[CarvedFile], space: str) -> Iterator[EvidenceObject]:
        """The volume's carved files, in PhotoRec's order. Each is hashed as PhotoRec reports it and moved into the
        case's object store by renaming (the work folder lies in the case folder): synced to disk with the others
        of its batch, once, then named and handed out (NAME_EVERY files or NAME_SECONDS, and at the end)."""
        batch = ObjectBatch(self.case_dir)
        waiting: list[tuple[CarvedFile, str]] = []
        named_at = time.monotonic()
        try:
            for carved in carving:
                try:
                    waiting.append((carved, batch.add_file(carved.file)))
                except OSError as error:
                    self._not_stored(carved, str(error), space)
                    carved.file.unlink(missing_ok=True)
                if len(waiting) >= NAME_EVERY or time.monotonic() - named_at >= NAME_SECONDS:
                    yield from self._named(batch, waiting, space)
                    waiting, named_at = [], time.monotonic()
        except CarvingStopped:  # what was carved before the stop is kept and handed out first
            yield from self._named(batch, waiting, space)
            raise
        yield from self._named(batch, waiting, space)

    def _named(self, batch: ObjectBatch, waiting: list[tuple[CarvedFile, str]],
               space: str) -> Iterator[EvidenceObject]:
        """The batch's files synced and named in the store, each as an object (or a ledger line)."""
        failed = batch.name_all()
        folder = CARVED_PREFIX + (SLACK_FOLDER if space == "slack" else "")
        for carved, sha256 in waiting:
            if sha256 in failed:
                self._not_stored(carved, failed[sha256], space)
                continue
            obj = EvidenceObject(path=folder + carved.name, name=carved.name, size=carved.size,
                                 partition_offset=carved.partition_offset, deleted=True,
                                 content=FileContent(object_path(self.case_dir, sha256)), sha256=sha256)
            self.carved.append(Carved(obj, carved, space))
            yield obj

    def _not_stored(self, carved: CarvedFile, why: str, space: str) -> None:
        stage, folder = (SLACK_STAGE, CARVED_PREFIX + SLACK_FOLDER) if space == "slack" else (STAGE, CARVED_PREFIX)
        self.ledger.skipped(stage, "carved file not stored", folder + carved.name, why)

    def artefact_rows(self, evidence_id: int) -> list[dict[str, Any]]:
        """Each carved object's `carving.file` artefact: the image ranges its bytes were carved from."""
        rows = []
        for item in self.carved:
            if item.obj.id is None:
                continue
            ranges = [list(r) for r in item.carved.ranges]
            where = "file slack" if item.space == "slack" else "unallocated space"
            summary = (f"carved by PhotoRec from {where} at image byte {ranges[0][0]}, "
                       f"{item.carved.size} bytes in {len(ranges)} range{'s' if len(ranges) != 1 else ''}")
            values = {"ranges": ranges, "partition_offset": item.carved.partition_offset, "carver": "PhotoRec",
                      "space": item.space, "size": item.carved.size}
            rows.append({"evidence_id": evidence_id, "file_id": item.obj.id, "type": ARTEFACT_TYPE, "ts": None,
                         "source": item.obj.path, "summary": summary, "values": json.dumps(values, ensure_ascii=False)})
        return rows
