"""What the examiner is told: where the scan is while it runs, and what became of each evidence item."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..evidence.integrity import open_without_atime

PROGRESS_SECONDS = 0.2  # how often a long stage says where it is


@dataclass
class Progress:
    """Where the scan is: the evidence and stage, and how much is done of what is known."""

    evidence: str
    stage: str  # hashing evidence | verifying image | analysing | matching IOCs | indexing times | correlating | finished
    objects_found: int = 0
    objects_done: int = 0
    bytes_done: int = 0
    bytes_total: int | None = None
    listing_done: bool = False
    units: tuple[int, int] | None = None  # a scan spread over workers: units ended (failed ones too), units in all


@dataclass
class Outcome:
    """What became of one evidence item in this run."""

    path: str
    status: str  # done | partial | failed | cancelled | already processed
    evidence_id: int | None = None
    message: str | None = None
    files: int = 0
    findings: dict[str, int] = field(default_factory=dict)


def count_folder(root: Path, cancel: threading.Event | None = None) -> int | None:
    """How many objects a folder's listing will yield (its sub-folders, files and links, as the folder source walks
    it: links not followed, directories opened without touching their access times), counted by names alone, before
    or while the scan lists it; members of archives found inside come on top. None when stopped; a folder that
    cannot be read counts what could be."""
    found = 0
    stack = [os.fspath(root)]
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)  # the evidence folder itself may be a link, as the scan allows
    while stack:
        if cancel is not None and cancel.is_set():
            return None
        directory = stack.pop()
        try:
            fd = open_without_atime(directory, flags)
            try:
                with os.scandir(fd) as entries:
                    for entry in entries:
                        found += 1
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(os.path.join(directory, entry.name))
            finally:
                os.close(fd)
        except OSError:
            continue
        flags |= getattr(os, "O_NOFOLLOW", 0)  # below it, a link is an object, never a way out
    return found
