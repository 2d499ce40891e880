"""What the examiner asked of a scan (ScanOptions), as another process builds it again (Recipe), and what its
evidence items share while it runs (ScanRun)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    # Once this many objects of a disk image or folder are listed, its examination moves from threads to `jobs`
    # processes of its own (pipeline/processes.py): the analyzers written in Python then run side by side rather
    # than in turn under one interpreter lock. None: threads only. Starting them costs about a second, which
    # small evidence would not win back. 0: in processes from the start, none examined by a thread.
    processes_after: int | None = 1000


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


@dataclass(frozen=True)
class Recipe:
    """What the examiner asked of the scan, as every worker builds it again: paths are the shared ones."""

    verify_images: bool = True
    carve: bool = False
    carve_slack: bool = False
    yara_timeout: int = 60
    keep_limit: int = 64 * 1024 * 1024
    archive_depth: int = Settings.archive_depth
    archive_member_limit: int = Settings.archive_member_limit
    archive_total_limit: int = Settings.archive_total_limit
    archive_ratio_limit: int = Settings.archive_ratio_limit
    archive_max_members: int = Settings.archive_max_members
    rule_paths: tuple[str, ...] | None = None
    sigma_paths: tuple[str, ...] = ()
    keyword_files: tuple[str, ...] = ()
    builtin_keywords: tuple[str, ...] = ()
    intel_db: str | None = None
    hash_sets: tuple[str, ...] | None = None
    unit_bytes: int = 0  # a disk image's files handed on in parts of about this much content (0: not at all)

    @classmethod
    def of(cls, options: ScanOptions, unit_bytes: int = 0) -> Recipe:
        settings = options.settings
        intel = settings.intel
        return cls(options.verify_images, options.carve, options.carve_slack, settings.yara_timeout, settings.keep_limit,
                   settings.archive_depth, settings.archive_member_limit, settings.archive_total_limit,
                   settings.archive_ratio_limit, settings.archive_max_members,
                   None if settings.rule_paths is None else tuple(map(str, settings.rule_paths)),
                   tuple(map(str, settings.sigma_paths)), tuple(map(str, settings.keyword_files)),
                   settings.builtin_keywords, str(intel.path) if intel else None,
                   tuple(s.name for s in intel.hash_sets) if intel else None, unit_bytes)

    @classmethod
    def from_message(cls, values: dict[str, Any]) -> Recipe:
        tuples: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value
                                  for key, value in values.items()}
        return cls(**tuples)

    def options(self, jobs: int) -> ScanOptions:
        from ..case.intel_store import load_intel

        intel = load_intel(Path(self.intel_db), list(self.hash_sets or ())) if self.intel_db else None
        settings = Settings(yara_timeout=self.yara_timeout, keep_limit=self.keep_limit,
                            archive_depth=self.archive_depth, archive_member_limit=self.archive_member_limit,
                            archive_total_limit=self.archive_total_limit, archive_ratio_limit=self.archive_ratio_limit,
                            archive_max_members=self.archive_max_members, intel=intel,
                            rule_paths=None if self.rule_paths is None else tuple(map(Path, self.rule_paths)),
                            sigma_paths=tuple(map(Path, self.sigma_paths)),
                            keyword_files=tuple(map(Path, self.keyword_files)),
                            builtin_keywords=self.builtin_keywords)
        return ScanOptions(jobs=jobs, verify_images=self.verify_images, carve=self.carve,
                           carve_slack=self.carve_slack, settings=settings)
