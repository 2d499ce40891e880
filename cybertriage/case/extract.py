"""Exporting objects of a case to a folder on the workstation, each written file checked against the case.

Names come from evidence and are untrusted: they are made into one safe file name
each (no folders, no `..`, no control or bidi characters, nothing Windows refuses,
bounded length), never overwrite what is already in the destination, and a
manifest beside them says which object each file is and whether its sha256 was
verified against the one the case recorded.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import CybertriageError, EvidenceError, UsageError
from ..evidence.base import Content
from ..evidence.integrity import file_sha256
from ..formatting import utc_now
from ..text_safety import spreadsheet_safe
from .objects import ObjectReader
from .outputs import Protected, safe_folder
from .store import audit, open_case

MAX_NAME_BYTES = 200  # below the usual 255-byte limit, leaving room for " (12)" and the filesystem's own rules
CHUNK = 1024 * 1024
MANIFEST = "export-manifest.csv"
_WINDOWS_FORBIDDEN = set('<>:"/\\|?*')
_WINDOWS_RESERVED = re.compile(r"^(CON|PRN|AUX|NUL|CLOCK\$|CONIN\$|CONOUT\$|COM[0-9¹²³]|LPT[0-9¹²³])$", re.IGNORECASE)
_OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


@dataclass
class ExportedFile:
    """One object of the export: where it went and whether what was written is what the case recorded."""

    file_id: int
    evidence: str
    case_path: str
    exported_name: str | None  # the file's name in the destination folder; None when nothing was written
    size: int | None
    sha256: str | None  # of the file as written, read back from the destination
    recorded_sha256: str | None  # what the case recorded at scan time
    verified: str  # verified | MISMATCH | no recorded hash | not exported
    error: str | None = None


@dataclass
class Export:
    """What one export wrote: the files, in the order asked for, and the manifest that lists them."""

    destination: Path
    manifest: Path
    files: list[ExportedFile]
    cancelled: bool = False


def safe_name(name: str) -> str:
    """One file name that is safe on Linux and Windows, made from an untrusted name from evidence."""
    cleaned = []
    for char in unicodedata.normalize("NFC", name):
        category = unicodedata.category(char)
        if char in _WINDOWS_FORBIDDEN or category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            cleaned.append("_")  # separators, control, bidi-override and unassigned characters
        else:
            cleaned.append(char)
    text = "".join(cleaned).strip(" .")  # Windows drops trailing dots and spaces; leading dots hide files
    if not text.strip("_"):
        text = "unnamed"
    stem = text.split(".", 1)[0].rstrip(" ")
    if _WINDOWS_RESERVED.match(stem):
        text = "_" + text
    return _clip(text, MAX_NAME_BYTES)


def _clip(name: str, limit: int) -> str:
    """`name` cut to `limit` UTF-8 bytes, keeping a short extension."""
    if len(name.encode()) <= limit:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension.encode()) > 16:
        stem, extension = name, ""
    keep = limit - len(extension.encode()) - (1 if extension else 0)
    cut = stem.encode()[:keep].decode("utf-8", "ignore").rstrip(" .")
    return f"{cut}.{extension}" if extension else cut


def _numbered(name: str, number: int) -> str:
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    suffix = f" ({number})"
    stem = _clip(stem, MAX_NAME_BYTES - len(suffix) - len(extension.encode()) - 1)
    return f"{stem}{suffix}.{extension}" if extension else f"{stem}{suffix}"


def _create(destination: Path, name: str) -> tuple[str, int]:
    """Create a new file in `destination` under `name`, or `name (2)`, `name (3)`…: never overwrite, never
    follow a link."""
    for number in range(1, 10_000):
        candidate = name if number == 1 else _numbered(name, number)
        try:
            return candidate, os.open(destination / candidate, _OPEN_NEW, 0o644)
        except FileExistsError:
            continue
    raise OSError(f"no free name for {name} in {destination}")


def export_files(case_dir: Path, file_ids: Iterable[int], destination: Path, *,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: threading.Event | None = None) -> Export:
    """Write each object's bytes into `destination`, check each written file's sha256 against the case,
    write the manifest beside them and record the export in the chain of custody.

    A file that cannot be read or does not verify is reported in its ExportedFile, and the others
    still go out. `progress(done, total)` is called after each file; `cancel` stops between files."""
    ids = list(dict.fromkeys(file_ids))
    if not ids:
        raise UsageError("no files chosen to export")
    with ObjectReader(case_dir) as reader:
        unknown = [str(file_id) for file_id in ids if not _in_case(reader, file_id)]
        if unknown:  # a mistyped id: said as `tag` says it, before anything is written
            raise UsageError(f"no file with id {', '.join(unknown)} in this case")
        protected = Protected.of_case(case_dir)
        destination = safe_folder(destination, protected)  # never into the case's own files or the evidence
        try:
            destination.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot create the destination folder {destination}: {error.strerror}") from None
        destination = safe_folder(destination.resolve(), protected)  # what a link in its path led to
        manifest_name, manifest_fd = _create(destination, MANIFEST)
        written: dict[int, ExportedFile] = {}
        with contextlib.closing(reader.contents(ids)) as contents:  # an archive's members: one pass over it
            for done, (file_id, content) in enumerate(contents, 1):
                if cancel is not None and cancel.is_set():
                    break
                written[file_id] = _export_one(reader, file_id, content, destination)
                if progress is not None:
                    progress(done, len(ids))
        exported = [written[file_id] for file_id in ids if file_id in written]  # in the order asked for
    cancelled = len(exported) < len(ids)
    with os.fdopen(manifest_fd, "w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=[f.name for f in fields(ExportedFile)])
        writer.writeheader()
        writer.writerows({k: spreadsheet_safe(v) for k, v in asdict(item).items()} for item in exported)
    db = open_case(case_dir)
    try:
        with db.conn:
            audit(db, "files exported", {
                "destination": str(destination), "manifest": manifest_name, "at": utc_now(),
                "cancelled": cancelled,
                "files": [{"id": e.file_id, "path": e.case_path, "exported_name": e.exported_name,
                           "sha256": e.sha256, "verified": e.verified, "error": e.error} for e in exported]})
    finally:
        db.close()
    return Export(destination, destination / manifest_name, exported, cancelled)


def _in_case(reader: ObjectReader, file_id: int) -> bool:
    try:
        reader.row(file_id)
    except UsageError:
        return False
    return True


def _export_one(reader: ObjectReader, file_id: int, content: Content | EvidenceError, destination: Path) -> ExportedFile:
    row = reader.row(file_id)
    item = ExportedFile(file_id, row["evidence"], row["path"], None, row["size"], None, row["sha256"], "not exported")
    try:
        if isinstance(content, EvidenceError):  # a directory or an unreadable object, said before a file is made
            raise content
        item.exported_name, fd = _create(destination, safe_name(row["name"] or row["path"].rsplit("/", 1)[-1]))
        target = destination / item.exported_name
        try:
            with os.fdopen(fd, "wb") as out:
                for data in content.chunks(CHUNK):
                    out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except (CybertriageError, OSError):
            target.unlink()  # nothing half-written is left to be mistaken for the object
            item.exported_name = None
            raise
    except (CybertriageError, OSError) as error:
        item.error = str(error) if isinstance(error, CybertriageError) else f"{error.strerror or error}"
        return item
    item.sha256 = file_sha256(target)  # what is on the destination's disk, read back
    item.size = target.stat().st_size
    if item.recorded_sha256 is None:
        item.verified = "no recorded hash"
    elif item.sha256 == item.recorded_sha256:
        item.verified = "verified"
    else:
        item.verified = "MISMATCH"
        item.error = f"written file's sha256 {item.sha256} differs from the case's {item.recorded_sha256}"
    return item


