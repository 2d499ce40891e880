"""The carving stage of a disk image: once its files are listed and examined, the files PhotoRec carves from each
volume's unallocated space (evidence/carving.py) become objects of the evidence under `$Carved/`, kept in the
case's object store (the image holds them only as scattered blocks) and examined like any other file. Where each
one's bytes lie in the image is a `carving.file` artefact on it (values: ranges, partition offset, carver)."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..case.objects import keep_carried
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
        for carved in carve_volume(self.disk.container_files, volume, work, self.stall_seconds, cancelled):
            digest = hashlib.sha256()
            content = FileContent(carved.file)
            for chunk in content.chunks():
                digest.update(chunk)
            sha256 = digest.hexdigest()
            try:
                kept = keep_carried(self.case_dir, sha256, content)
            except OSError as error:
                self.ledger.skipped(STAGE, "carved file not stored", CARVED_PREFIX + carved.name, str(error))
                continue
            obj = EvidenceObject(path=CARVED_PREFIX + carved.name, name=carved.name, size=carved.size,
                                 partition_offset=carved.partition_offset, deleted=True,
                                 content=FileContent(kept), sha256=sha256)
            self.carved.append(Carved(obj, carved))
            yield obj

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
