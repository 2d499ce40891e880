"""The carving stage of a disk image: once its files are listed and examined, the files PhotoRec carves from each
volume's unallocated space (evidence/carving.py) become objects of the evidence under `$Carved/`, kept in the
case's object store (the image holds them only as scattered blocks) and examined like any other file. Where each
one's bytes lie in the image is a `carving.file` artefact on it (values: ranges, partition offset, carver)."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..case.objects import ObjectBatch, object_path
from ..errors import Cancelled
from ..evidence import EvidenceObject, EvidenceSource
from ..evidence.carving import (
    CARVED_PREFIX,
    CarvedFile,
    CarvingStopped,
    FileContent,
    NoRoom,
    Volume,
    block_size,
    carve_volume,
    carver_missing,
    photorec_partition,
)
from ..evidence.disk import DiskImage

STAGE = "carving"
ARTEFACT_TYPE = "carving.file"
BLKLS_FORMATS = ("raw", "split raw", "ewf")  # the image kinds blkls reads as the scan does (not virtual disks)
NAME_EVERY = 256  # carved files moved into the object store, then synced together and named (ObjectBatch)
NAME_SECONDS = 1.0  # or after this long, so that the workers soon have the first files to examine


@dataclass
class Carved:
    """A carved object and where its bytes lie in the image, for its artefact once it has an id."""

    obj: EvidenceObject
    carved: CarvedFile


class CarvedSource(EvidenceSource):
    """The carved files of one disk image, as a source the worker pool lists; its ledger, partitions and problems
    are the disk's own, so that the evidence is accounted for once."""

    KIND = "disk"

    def __init__(self, disk: DiskImage, case_dir: Path, stall_seconds: float) -> None:
        super().__init__(disk.path)
        self.disk = disk
        self.format = disk.format
        self.ledger = disk.ledger
        self.partitions = disk.partitions
        self.problems = disk.problems
        self.case_dir = case_dir
        self.stall_seconds = stall_seconds
        self.carved: list[Carved] = []

    @property
    def container_files(self) -> list[Path]:
        return self.disk.container_files

    def objects(self, cancelled: threading.Event) -> Iterator[EvidenceObject]:
        """Every carved file of every volume with a filesystem, volume by volume."""
        volumes = [p for p in self.disk.partitions if p.filesystem is not None]
        missing = carver_missing()
        if missing is None and self.disk.format not in BLKLS_FORMATS:
            missing = f"Sleuth Kit's blkls does not read {self.disk.format} images"
        if missing is not None:
            self.ledger.skipped_count(STAGE, f"not carved: {missing}", len(volumes))
            return
        for partition in volumes:
            if cancelled.is_set():
                return
            self.ledger.attempted(STAGE)
            where = f"{partition.description} at byte {partition.offset}"
            size = block_size(self.disk.image, partition.offset)
            if size is None:
                self.ledger.skipped(STAGE, "filesystem not reopened", where)
                continue
            in_place = (photorec_partition(self.disk.image, partition.offset, partition.filesystem)
                        if self.disk.format == "raw" else None)
            work = Path(tempfile.mkdtemp(prefix=".carving-", dir=self.case_dir))
            try:
                yield from self._carve(Volume(partition.offset, size, in_place), work, cancelled)
                self.ledger.processed(STAGE)
            except NoRoom as error:
                self.ledger.skipped(STAGE, "not carved: no room for its unallocated space", where, str(error))
            except CarvingStopped as error:
                self.ledger.skipped(STAGE, "carving stopped", where, str(error))
                self.problems.append(f"carving stopped: {error} ({where}); what was carved before is kept")
            except Cancelled:
                return
            finally:
                shutil.rmtree(work, ignore_errors=True)

    def _carve(self, volume: Volume, work: Path, cancelled: threading.Event) -> Iterator[EvidenceObject]:
        """The volume's carved files, in PhotoRec's order. Each is hashed as PhotoRec reports it and moved into the
        case's object store by renaming (the work folder lies in the case folder): synced to disk with the others
        of its batch, once, then named and handed out (NAME_EVERY files or NAME_SECONDS, and at the end)."""
        batch = ObjectBatch(self.case_dir)
        waiting: list[tuple[CarvedFile, str]] = []
        named_at = time.monotonic()
        try:
            for carved in carve_volume(self.disk.container_files, volume, work, self.stall_seconds, cancelled):
                try:
                    waiting.append((carved, batch.add_file(carved.file)))
                except OSError as error:
                    self._not_stored(carved, str(error))
                    carved.file.unlink(missing_ok=True)
                if len(waiting) >= NAME_EVERY or time.monotonic() - named_at >= NAME_SECONDS:
                    yield from self._named(batch, waiting)
                    waiting, named_at = [], time.monotonic()
        except CarvingStopped:  # what was carved before the stop is kept and handed out first
            yield from self._named(batch, waiting)
            raise
        yield from self._named(batch, waiting)

    def _named(self, batch: ObjectBatch, waiting: list[tuple[CarvedFile, str]]) -> Iterator[EvidenceObject]:
        """The batch's files synced and named in the store, each as an object (or a ledger line)."""
        failed = batch.name_all()
        for carved, sha256 in waiting:
            if sha256 in failed:
                self._not_stored(carved, failed[sha256])
                continue
            obj = EvidenceObject(path=CARVED_PREFIX + carved.name, name=carved.name, size=carved.size,
                                 partition_offset=carved.partition_offset, deleted=True,
                                 content=FileContent(object_path(self.case_dir, sha256)), sha256=sha256)
            self.carved.append(Carved(obj, carved))
            yield obj

    def _not_stored(self, carved: CarvedFile, why: str) -> None:
        self.ledger.skipped(STAGE, "carved file not stored", CARVED_PREFIX + carved.name, why)

    def artefact_rows(self, evidence_id: int) -> list[dict[str, Any]]:
        """Each carved object's `carving.file` artefact: the image ranges its bytes were carved from."""
        rows = []
        for item in self.carved:
            if item.obj.id is None:
                continue
            ranges = [list(r) for r in item.carved.ranges]
            summary = (f"carved by PhotoRec from unallocated space at image byte {ranges[0][0]}, "
                       f"{item.carved.size} bytes in {len(ranges)} range{'s' if len(ranges) != 1 else ''}")
            values = {"ranges": ranges, "partition_offset": item.carved.partition_offset, "carver": "PhotoRec",
                      "space": "unallocated", "size": item.carved.size}
            rows.append({"evidence_id": evidence_id, "file_id": item.obj.id, "type": ARTEFACT_TYPE, "ts": None,
                         "source": item.obj.path, "summary": summary, "values": json.dumps(values, ensure_ascii=False)})
        return rows
