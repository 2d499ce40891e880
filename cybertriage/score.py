"""Triage score: one number from 0 to 100 per object, with the reasons spelled out.

Reasons add up and the sum is capped at 100, so an examiner can check any score by
reading its reasons. Findings weigh by severity; where a file sits and whether it
was deleted add weight only to an object that is already suspicious or runnable,
so that a whole Downloads folder of holiday photos does not rise to the top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .analyzers.base import Finding
from .analyzers.filetype import EXECUTABLE_MIMES, extension_of
from .evidence.base import ObjectRef

SEVERITY_POINTS = {"critical": 60, "high": 40, "medium": 20, "low": 8, "info": 0}
LOCATION_POINTS = 10
DELETED_POINTS = 10
ARRIVAL_POINTS = 15
CONTAINED_SHARE = 0.8  # an archive inherits this share of its worst member's score

RUNNABLE_EXTENSIONS = {"exe", "dll", "scr", "com", "pif", "cpl", "sys", "msi", "bat", "cmd", "ps1", "psm1",
                       "vbs", "vbe", "js", "jse", "wsf", "hta", "lnk", "jar", "sh", "elf", "py"}
SUSPICIOUS_LOCATIONS = [  # (pattern over the '/'-separated path, reason)
    (re.compile(r"/(windows/)?temp/|/appdata/local/temp/|^/tmp/|/var/tmp/|/dev/shm/", re.I),
     "Sits in a temporary folder, where droppers unpack"),
    (re.compile(r"/start menu/programs/startup/", re.I), "Sits in a Startup folder: runs at every logon"),
    (re.compile(r"/appdata/(roaming|local)/", re.I), "Sits in a user's AppData folder"),
    (re.compile(r"/\$recycle\.bin/|/recycler/|/\.trash", re.I), "Sits in the recycle bin"),
    (re.compile(r"/downloads/|/content\.ie5/|/inetcache/", re.I), "Sits in a browser download or cache folder"),
]


@dataclass
class Score:
    value: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, points: int, reason: str) -> None:
        if points > 0:
            self.value = min(100, self.value + points)
            self.reasons.append(reason)


def score_object(where: ObjectRef, deleted: bool, mime: str | None, findings: list[Finding],
                 worst_member: tuple[ObjectRef, int] | None = None, origin: str | None = None) -> Score:
    """Score one object from its analyzers' findings, its location (that of the evidence's object holding it,
    for an archive member) and its state."""
    score = Score()
    for finding in sorted(findings, key=lambda f: -SEVERITY_POINTS[f.severity]):
        said = f"Matches YARA rule {finding.rule}" if finding.analyzer == "yara" else finding.title
        score.add(SEVERITY_POINTS[finding.severity], f"{said} ({finding.severity})")
    if worst_member and worst_member[1] > 0:
        member, member_score = worst_member
        score.add(round(member_score * CONTAINED_SHARE), f"Holds {member.path}, scored {member_score}")
    runnable = _runnable(where.path, mime)
    if score.value or runnable:
        for pattern, reason in SUSPICIOUS_LOCATIONS:
            if pattern.search(where.outermost().path):
                score.add(LOCATION_POINTS, reason)
                break
    if origin and (score.value or runnable):
        score.add(ARRIVAL_POINTS, f"Arrived over the network: {origin}")
    if deleted and score.value:
        score.add(DELETED_POINTS, "Deleted from the filesystem")
    return score


def _runnable(path: str, mime: str | None) -> bool:
    return mime in EXECUTABLE_MIMES or extension_of(path) in RUNNABLE_EXTENSIONS


def with_finding(value: int, reasons: list[str], severity: str, said: str) -> Score:
    """A file's recorded score with one more finding added on the terms score_object gives findings, for the
    passes that find something about a file once the whole case is in (IOC matches, correlations)."""
    score = Score(value, list(reasons))
    score.add(SEVERITY_POINTS.get(severity, 0), f"{said} ({severity})")
    return score


def with_arrival(value: int, reasons: list[str], path: str, mime: str | None, how: str) -> Score:
    """A disk file's recorded score with the arrival part added, once the case shows (correlate.py)
    that the same content came over the network: the points a carried object gets, on the same terms."""
    score = Score(value, list(reasons))
    if score.value or _runnable(path, mime):
        score.add(ARRIVAL_POINTS, f"Arrived over the network: {how}")
    return score
