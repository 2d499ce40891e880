"""What a report says about a Windows computer's own records: the computer's profile, users and devices (the
System and users section), and the artefacts that answer an officer's first questions — what starts by itself,
what ran, who logged on from where, what was downloaded and what was deleted (the Artefacts section). Every row
comes from the artifacts table; the export (`cybertriage export --what artifacts`) holds them all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from ..case import queries
from ..case.host_profile import HostProfile, host_profiles

ROWS_PER_GROUP = 40


@dataclass(frozen=True)
class ArtefactGroup:
    """One question the artefacts answer, with the types (or event categories) that answer it."""

    title: str
    note: str
    types: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()  # event log records of these named kinds


GROUPS = (
    ArtefactGroup("What starts by itself (persistence)",
                  "Run and RunOnce keys, Winlogon Shell and Userinit, Image File Execution Options debuggers and "
                  "scheduled tasks; the findings say which of them start a program from a folder any user can "
                  "write, or run hidden or encoded commands.",
                  types=("registry.run", "registry.winlogon", "registry.ifeo", "task")),
    ArtefactGroup("What ran", "Prefetch, UserAssist, BAM, Amcache and ShimCache records, newest first. ShimCache "
                  "and Amcache show a program was present and may have run; prefetch, UserAssist and BAM that it "
                  "ran.", types=("prefetch", "registry.userassist", "registry.bam", "registry.amcache",
                                 "registry.shimcache")),
    ArtefactGroup("Logons and remote sessions", "Logons (4624), failed logons (4625) and Remote Desktop sessions "
                  "from the event logs, newest first.", categories=("logon", "logon_failed", "rdp")),
    ArtefactGroup("Event log changes, new services, accounts and tasks", "Logs cleared (1102, 104), services "
                  "installed (7045, 4697), accounts created (4720) and scheduled tasks created (4698).",
                  categories=("log_cleared", "service_installed", "user_created", "task_created")),
    ArtefactGroup("Downloads", "Browser downloads with where they were saved, newest first.",
                  types=("browser.download",)),
    ArtefactGroup("Browsing", "The most recent browser visits and searches.", types=("browser.visit", "browser.search")),
    ArtefactGroup("Files opened", "Shortcuts (LNK), jump lists and the registry's recent-document lists, newest "
                  "first.", types=("lnk", "jumplist", "registry.recentdocs", "registry.officemru")),
    ArtefactGroup("Deleted (Recycle Bin)", "Files moved to the Recycle Bin, with their original paths.",
                  types=("recycle",)),
)


@dataclass
class ArtefactRows:
    group: ArtefactGroup
    rows: list[dict[str, Any]]  # ts, type, summary, source, evidence


@dataclass
class ArtefactOverview:
    """The artefacts of the case as the report shows them."""

    counts: dict[str, int] = field(default_factory=dict)  # type → count, most first
    groups: list[ArtefactRows] = field(default_factory=list)  # only those with rows


def collect_profiles(db: sqlite_utils.Database) -> list[HostProfile]:
    return host_profiles(db)


def collect_artefacts(db: sqlite_utils.Database) -> ArtefactOverview:
    counts = queries.artifact_counts(db)
    if not counts:
        return ArtefactOverview()
    groups = []
    for group in GROUPS:
        if group.categories:
            rows = queries.artifacts_of_category(db, group.categories, ROWS_PER_GROUP)
        else:
            rows = list(queries.artifacts(db, group.types, ROWS_PER_GROUP, newest_first=True))
        if rows:
            groups.append(ArtefactRows(group, rows))
    return ArtefactOverview(counts, groups)
