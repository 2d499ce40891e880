"""Analyzer registry: adding an analyzer is one module and one line in ANALYZERS.

Order matters: analyzers run in this order on each object, and later ones may use
the results earlier ones found (the archive analyzer needs the file type).
"""

from __future__ import annotations

from .archive import ArchiveMembers
from .artefacts.browsers import BrowserHistory
from .artefacts.event_logs import EventLogs
from .artefacts.hives import RegistryHives
from .artefacts.prefetch import Prefetch
from .artefacts.recycle_bin import RecycleBin
from .artefacts.shortcuts import JumpList, Shortcut
from .artefacts.tasks import ScheduledTask
from .base import Analyzer, Settings
from .embedded import EmbeddedObjects
from .filetype import FileType
from .hashing import Hashing
from .indicators import Indicators
from .keywords import Keywords
from .known_files import KnownFiles
from .mail import MailMessages
from .nested_disk import NestedVirtualDisk
from .pe import PeAnalysis
from .pictures import Pictures
from .text import TextExtraction
from .yara_scan import YaraScan

ANALYZERS: dict[str, type[Analyzer]] = {
    Hashing.NAME: Hashing,
    KnownFiles.NAME: KnownFiles,
    FileType.NAME: FileType,
    Pictures.NAME: Pictures,
    PeAnalysis.NAME: PeAnalysis,
    YaraScan.NAME: YaraScan,
    ArchiveMembers.NAME: ArchiveMembers,
    NestedVirtualDisk.NAME: NestedVirtualDisk,
    MailMessages.NAME: MailMessages,
    EmbeddedObjects.NAME: EmbeddedObjects,
    Prefetch.NAME: Prefetch,
    Shortcut.NAME: Shortcut,
    JumpList.NAME: JumpList,
    RecycleBin.NAME: RecycleBin,
    ScheduledTask.NAME: ScheduledTask,
    BrowserHistory.NAME: BrowserHistory,
    EventLogs.NAME: EventLogs,
    RegistryHives.NAME: RegistryHives,
    TextExtraction.NAME: TextExtraction,
    Keywords.NAME: Keywords,
    Indicators.NAME: Indicators,
}


def build_analyzers(settings: Settings) -> list[Analyzer]:
    """The analyzers that run with these settings, in registry order."""
    return [cls(settings) for cls in ANALYZERS.values() if cls.enabled(settings)]
