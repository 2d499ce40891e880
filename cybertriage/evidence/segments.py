"""Which files make up one disk image: the segments of a split raw image (name.000, .001 …) and of an EWF set
(.E01, .E02 … .EAA …), whichever of them was named."""

from __future__ import annotations

import re
from pathlib import Path

import pyewf

from ..errors import EvidenceError
from .ewf_chunks import EWF_SIGNATURE

SPLIT_RAW_SUFFIX = re.compile(r"^(?P<stem>.+)\.(?P<number>\d{3})$")


def split_raw_segments(path: Path) -> list[Path] | None:
    """All segments of a split raw image (name.000/.001 or .001/.002 ...), or None if not split.

    A gap in the numbering is an error, not a silently shorter disk.
    """
    match = SPLIT_RAW_SUFFIX.match(path.name)
    if not match:
        return None
    stem = match["stem"]
    numbered = {}
    for candidate in path.parent.iterdir():
        m = SPLIT_RAW_SUFFIX.match(candidate.name)
        if m and m["stem"] == stem and candidate.is_file():
            numbered[int(m["number"])] = candidate
    first = min(numbered)
    if first not in (0, 1):
        raise EvidenceError(f"split raw image {stem}: first segment .{first:03d} found, .000 or .001 missing")
    expected = range(first, first + len(numbered))
    missing = [n for n in range(first, max(numbered) + 1) if n not in numbered]
    if missing:
        raise EvidenceError(f"split raw image {stem}: segment .{missing[0]:03d} is missing")
    return [numbered[n] for n in expected]


def first_segment(path: Path) -> Path:
    """The file that names the whole image `path` belongs to: the first segment of its EWF or split raw set, or
    `path` itself, so that a set named by several of its segments (`scan image.E*`) is one evidence item."""
    try:
        with open(path, "rb") as handle:
            ewf = handle.read(len(EWF_SIGNATURE)) == EWF_SIGNATURE
        segments = [Path(name) for name in pyewf.glob(str(path))] if ewf else split_raw_segments(path)
    except (OSError, EvidenceError):  # not readable, a renamed segment, a gap: opening it says why
        return path
    return segments[0] if segments else path


def ewf_number(suffix: str) -> int:
    """Order of an EWF segment extension: .E01=1 ... .E99=99, .EAA=100 ..."""
    tail = suffix.upper()[2:]
    if tail.isdigit():
        return int(tail)
    return 100 + (ord(tail[0]) - ord("A")) * 26 + (ord(tail[1]) - ord("A"))


def ewf_suffix(number: int) -> str:
    if number <= 99:
        return f".E{number:02d}"
    number -= 100
    return f".E{chr(ord('A') + number // 26)}{chr(ord('A') + number % 26)}"
