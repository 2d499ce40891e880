"""Virtual disks found as files (a suspect's VM in a folder or on a disk): their files are examined as a nested
evidence item, named `vm/disk.qcow2!Users/x/file.exe`, and what could not be listed is a ledger line of the
holder. Reading the disk is the evidence layer's (evidence/containers/vdisk.py)."""

from __future__ import annotations

from collections.abc import Iterable

from ..evidence.base import EvidenceObject
from ..evidence.containers import ContainerError
from ..evidence.containers.vdisk import VirtualDiskContainer
from .archive import container_limits
from .base import Analyzer, Finding, Item, Settings

STAGE = "virtual disk"


class NestedVirtualDisk(Analyzer):
    NAME = "virtual disk"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.limits = container_limits(settings)

    def analyze(self, item: Item) -> Iterable[Finding | EvidenceObject]:
        obj = item.obj
        if obj.content is None or not item.content_read or not VirtualDiskContainer.probe(obj.content):
            return
        if obj.depth >= self.settings.archive_depth:
            item.skipped.append((STAGE, "virtual disk nested too deep"))
            return
        try:
            disk = VirtualDiskContainer(obj.content, obj.ref, self.limits)
        except ContainerError as error:
            item.skipped.append((STAGE, str(error)))
            return
        with disk:
            yield from disk.objects(obj)
        item.skipped.extend((STAGE, note) for note in disk.notes)
