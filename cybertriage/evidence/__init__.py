"""Evidence sources: the kind of each item is told by its content, not only its name."""

from __future__ import annotations

from pathlib import Path

import pytsk3

from ..errors import EvidenceError
from .base import EvidenceObject, EvidenceSource, Ledger, ObjectRef, Partition
from .capture import CaptureEvidence, ProtocolAnalysis, is_capture
from .disk import EWF_SIGNATURE, DiskImage, _ImageHandle, _SegmentedFiles
from .folder import FolderEvidence, LooseFileEvidence
from .segments import split_raw_segments
from .vdisk import format_of_file

__all__ = ["EvidenceObject", "EvidenceSource", "Ledger", "ObjectRef", "Partition", "open_evidence", "detect_kind"]

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
# Names an examiner gives disk images: such a file holding no partition table or filesystem is a wrong or
# damaged image (a failure to report), not a loose file.
DISK_SUFFIXES = (".dd", ".raw", ".img", ".ima", ".iso", ".e01", ".ex01", ".dmg", ".vhd", ".vhdx", ".vmdk", ".qcow2",
                 ".qcow")
# A partition table is looked for as if the file were this long, so that a truncated acquisition, whose table
# describes more than the file holds, is still told apart from a loose file (as DiskImage reads it).
_PRESENTED_SIZE = 1 << 44


def detect_kind(path: Path) -> str:
    """'folder', 'ewf', 'virtual disk' (VMDK, VHD, VHDX, QCOW2), 'capture', 'raw' (a disk image) or 'file' (any
    other regular file), from what the evidence holds."""
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
    named_as_image = path.suffix.lower() in (*DISK_SUFFIXES, *CAPTURE_SUFFIXES) or _is_split_raw(path)
    if not head:
        if named_as_image:
            raise EvidenceError("evidence file is empty")
        return "file"
    if head.startswith(EWF_SIGNATURE):
        return "ewf"
    if format_of_file(path) is not None:
        return "virtual disk"
    if is_capture(head):
        return "capture"
    if named_as_image or _holds_volumes_or_filesystem(path):
        return "raw"
    return "file"


def _is_split_raw(path: Path) -> bool:
    try:
        return split_raw_segments(path) is not None
    except EvidenceError:  # a segment missing: DiskImage says so
        return True


def _holds_volumes_or_filesystem(path: Path) -> bool:
    """Whether Sleuth Kit finds a partition table or a filesystem at byte 0: a disk image by its content."""
    media = _SegmentedFiles([path])
    try:
        for image, probe in ((_ImageHandle(media, presented_size=_PRESENTED_SIZE), pytsk3.Volume_Info),
                             (pytsk3.Img_Info(str(path)), pytsk3.FS_Info)):
            try:
                probe(image)
                return True
            except OSError:
                continue
        return False
    finally:
        media.close()


def open_evidence(path: Path, capture_analysis: ProtocolAnalysis | None = None) -> EvidenceSource:
    """Open one item of evidence read-only, or raise EvidenceError with a one-line reason.

    A capture's objects are what `capture_analysis` finds in its packets: the scan passes the network
    analyzers' (evidence does not import them); without it a capture can be recorded and verified, not listed."""
    kind = detect_kind(path)
    if kind == "folder":
        return FolderEvidence(path)
    if kind == "file":
        return LooseFileEvidence(path.resolve())  # named through a link: the file it names
    if kind == "capture":
        return CaptureEvidence(path, capture_analysis)
    if path.suffix.lower() in CAPTURE_SUFFIXES:
        raise EvidenceError("named as a packet capture but not a pcap or pcapng file (unknown magic number)")
    try:
        return DiskImage(path)
    except OSError as error:
        raise EvidenceError(f"cannot open disk image: {error.strerror or error}") from None
