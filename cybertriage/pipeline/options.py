"""What the examiner asked of a scan (ScanOptions), and what its evidence items share while it runs (ScanRun)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..analyzers import Analyzer, Settings
from ..case import CaseWriter
from ..evidence.disk import LISTING_STALL_SECONDS
from .progress import Outcome


@dataclass
class ScanOptions:
    jobs: int = field(default_factory=lambda: os.cpu_count() or 2)
    verify_images: bool = True
    settings: Settings = field(default_factory=Settings)  # analyzer limits and the YARA rule paths
    listing_stall_seconds: float = LISTING_STALL_SECONDS  # a disk listing making no progress this long is stopped
    # Carve each volume's unallocated space (PhotoRec) once its files are examined. Off unless asked (--carve): it
    # costs seconds a volume, but needs room for a copy of the volume's unallocated space in the case folder.
    carve: bool = False
    # Carve each volume's file slack too (the ends of allocated files' last blocks), unallocated space carved or not.
    # Off unless asked (--carve-slack): every file's metadata is read again and its slack copied to the case folder.
    carve_slack: bool = False


@dataclass
class ScanRun:
    """One run of a scan, as each of its evidence items sees it: the case it writes to and its run record,
    the analyzers built once, the examiner's cancel token, and the outcomes so far."""

    case_dir: Path
    options: ScanOptions
    analyzers: list[Analyzer]
    cancel: threading.Event
    writer: CaseWriter
    run_id: int
    outcomes: list[Outcome]
