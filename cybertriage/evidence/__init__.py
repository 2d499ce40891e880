"""Evidence sources: the kind of each item is told by its content, not only its name."""

from __future__ import annotations

from pathlib import Path

from ..errors import EvidenceError
from .base import EvidenceObject, EvidenceSource, Ledger, Partition
from .disk import EWF_SIGNATURE, DiskImage
from .folder import FolderEvidence

_CAPTURE_MAGICS = (
    b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",  # pcap, microseconds
    b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",  # pcap, nanoseconds
    b"\x0a\x0d\x0d\x0a",  # pcapng section header
)

__all__ = ["EvidenceObject", "EvidenceSource", "Ledger", "Partition", "open_evidence", "detect_kind"]


def detect_kind(path: Path) -> str:
    """'folder', 'ewf', 'capture' or 'raw', from what the evidence holds."""
    if not path.exists() and not path.is_symlink():
        raise EvidenceError("no such file or folder")
    if path.is_dir():
        return "folder"
    if not path.is_file():
        raise EvidenceError("not a regular file or folder")
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except OSError as error:
        raise EvidenceError(f"cannot read: {error.strerror}") from None
    if not head:
        raise EvidenceError("evidence file is empty")
    if head.startswith(EWF_SIGNATURE):
        return "ewf"
    if head[:4] in _CAPTURE_MAGICS:
        return "capture"
    return "raw"


def open_evidence(path: Path) -> EvidenceSource:
    """Open one item of evidence read-only, or raise EvidenceError with a one-line reason."""
    kind = detect_kind(path)
    if kind == "folder":
        return FolderEvidence(path)
    if kind == "capture":
        raise EvidenceError("packet capture: capture analysis is not part of this version yet")
    try:
        return DiskImage(path)
    except OSError as error:
        raise EvidenceError(f"cannot open disk image: {error.strerror or error}") from None
