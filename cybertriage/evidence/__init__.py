"""Evidence sources: the kind of each item is told by its content, not only its name."""

from __future__ import annotations

from pathlib import Path

from ..errors import EvidenceError
from .base import EvidenceObject, EvidenceSource, Ledger, Partition
from .capture import CaptureEvidence, is_capture
from .disk import EWF_SIGNATURE, DiskImage
from .folder import FolderEvidence

__all__ = ["EvidenceObject", "EvidenceSource", "Ledger", "Partition", "open_evidence", "detect_kind"]

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")


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
    if is_capture(head):
        return "capture"
    return "raw"


def open_evidence(path: Path) -> EvidenceSource:
    """Open one item of evidence read-only, or raise EvidenceError with a one-line reason."""
    kind = detect_kind(path)
    if kind == "folder":
        return FolderEvidence(path)
    if kind == "capture":
        return CaptureEvidence(path)
    if path.suffix.lower() in CAPTURE_SUFFIXES:
        raise EvidenceError("named as a packet capture but not a pcap or pcapng file (unknown magic number)")
    try:
        return DiskImage(path)
    except OSError as error:
        raise EvidenceError(f"cannot open disk image: {error.strerror or error}") from None
