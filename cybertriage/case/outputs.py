"""The output guard: where cybertriage may write a file for the examiner, and how.

Every file the tool writes outside its own case database (a report and its `.sha256`, an
export, extracted files and their manifest) goes through here, so that no option, typo or
planted link can make it destroy what it examines:

- never over the case itself (its database and the database's -wal/-shm/-journal, its other
  `case.*` records, `custody.log`, its object store `objects/`) or over any evidence file, segment or folder
  the case records — also not through a symbolic link, a hard link or a `..`;
- never through a symbolic link at the destination or at a temporary name: temporary files
  are made beside the destination under unpredictable names with O_EXCL;
- never over an existing file unless the examiner asks (`--force`);
- never half a file: the bytes go to a temporary file, are flushed to the disk, and only a
  complete file is renamed into place.

Cells of the CSV files the tool writes are defused by `text_safety.spreadsheet_safe`, so that a
name from evidence such as `=HYPERLINK(…)` is text, not a formula, when a spreadsheet opens it.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from ..errors import DestinationRefused, UsageError
from .custody import SIDECAR
from .store import CASE_DB, crash_point, read_case

OBJECTS_DIR = "objects"  # the case's object store (see case/objects.py)
CASE_RECORDS = "case."  # case.db, case.db-wal, -shm, -journal and the case's other records beside them
_UMASK = os.umask(0o022)  # read once, while only one thread runs: os.umask can only be read by setting it
os.umask(_UMASK)


@dataclass(frozen=True)
class Protected:
    """What no output may be: the case folder's own files and every evidence item the case records."""

    case_dir: Path  # resolved
    evidence: tuple[Path, ...]  # resolved evidence files, segments and folders
    identities: frozenset[tuple[int, int]]  # (device, inode) of each of them that exists: catches hard links

    @classmethod
    def of_case(cls, case_dir: Path) -> Protected:
        """Read what the case in `case_dir` must protect (its evidence list), without changing the case."""
        db = read_case(case_dir)
        try:
            recorded: list[Path] = []
            for row in db.query("SELECT path, segments FROM evidence"):
                recorded.append(Path(row["path"]))
                recorded.extend(Path(p) for p in json.loads(row["segments"] or "[]"))
        finally:
            db.close()
        case_real = Path(os.path.realpath(case_dir))
        evidence = tuple(dict.fromkeys(Path(os.path.realpath(p)) for p in recorded))
        case_files = [case_real / name for name in (CASE_DB, *(CASE_DB + s for s in ("-wal", "-shm", "-journal")))]
        identities = frozenset(identity for p in (*case_files, *evidence) if (identity := _identity(p)) is not None)
        return cls(case_real, evidence, identities)

    def refusal(self, real: Path) -> str | None:
        """Why `real` (a resolved path) is part of the case or of its evidence, or None."""
        if real == self.case_dir:
            return "is the case folder"
        if real.is_relative_to(self.case_dir):
            inside = real.relative_to(self.case_dir).parts
            if inside[0] == OBJECTS_DIR:
                return "is in the case's object store"
            if inside[0].startswith(CASE_RECORDS):
                return "is part of the case database"
            if inside[0] == SIDECAR:
                return "is the case's custody log"
        for item in self.evidence:
            if real == item or real.is_relative_to(item):
                return "is evidence of this case"
        if _identity(real) in self.identities:
            return "is the same file as the case database or an evidence file (a link to it)"
        return None


def safe_destination(path: Path, protected: Protected, *, force: bool = False) -> Path:
    """The absolute path a file may be written to, or DestinationRefused saying in one line why not."""
    path = Path(os.path.abspath(path))
    folder = path.parent
    for real in dict.fromkeys((Path(os.path.realpath(folder)) / path.name, Path(os.path.realpath(path)))):
        why = protected.refusal(real)
        if why is not None:
            raise DestinationRefused(f"refusing to write {path}: it {why}")
    if not folder.is_dir():
        raise DestinationRefused(f"cannot write {path}: " + (f"{folder} is not a folder" if folder.exists()
                                                             else f"the folder {folder} does not exist"))
    if path.is_symlink():
        raise DestinationRefused(f"refusing to write {path}: it is a symbolic link (cybertriage never writes through one)")
    if not os.path.lexists(path):
        return path
    if not path.is_file():
        raise DestinationRefused(f"refusing to write {path}: it exists and is not a regular file")
    if not force:
        raise DestinationRefused(f"{path} already exists: not replaced (use --force to replace it)")
    return path


def safe_folder(folder: Path, protected: Protected) -> Path:
    """A folder new files may be created in (extracted files), or DestinationRefused saying in one line why not.

    Inside the case folder only a subfolder of the examiner's own will do: its top level holds the
    case's database, whose -wal and -journal SQLite would take from any file of that name."""
    folder = Path(os.path.abspath(folder))
    why = protected.refusal(Path(os.path.realpath(folder)))
    if why is not None:
        raise DestinationRefused(f"refusing to write into {folder}: it {why}")
    if folder.exists() and not folder.is_dir():
        raise DestinationRefused(f"cannot write into {folder}: it is not a folder")
    return folder


class PendingFile:
    """A file written in full to a temporary file beside its destination, then put in place.

    The temporary file has an unpredictable name and is created with O_EXCL, so a link planted at a
    guessed name is never followed; until `put_in_place` the destination is untouched, and a file
    that fails or is abandoned (`discard`, or an exception in a `with` block) leaves nothing behind."""

    def __init__(self, destination: Path) -> None:
        self.destination = destination
        fd, name = tempfile.mkstemp(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part")
        self.temporary = Path(name)
        os.chmod(self.temporary, 0o666 & ~_UMASK)  # as an ordinary new file, not mkstemp's owner-only
        self.file: io.BufferedWriter = os.fdopen(fd, "wb")
        self._text: io.TextIOWrapper | None = None
        self.sha256: str | None = None

    @property
    def text(self) -> io.TextIOWrapper:
        """The file as UTF-8 text, for csv and json writers."""
        if self._text is None:
            self._text = io.TextIOWrapper(self.file, encoding="utf-8", newline="")
        return self._text

    def finish(self) -> str:
        """Flush the bytes to the disk; return their sha256, read back from the temporary file."""
        if self._text is not None:
            self._text.flush()
            self._text.detach()
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        with open(self.temporary, "rb") as written:
            self.sha256 = hashlib.file_digest(written, "sha256").hexdigest()
        return self.sha256

    def put_in_place(self, *, force: bool) -> None:
        """Rename the finished file to its destination; without `force` an existing file is never replaced,
        even one that appeared since the destination was checked."""
        if self.sha256 is None:
            self.finish()
        if force:
            os.replace(self.temporary, self.destination)
        else:
            try:
                os.link(self.temporary, self.destination)  # fails if the name exists, even as a dangling link
            except FileExistsError:
                raise DestinationRefused(f"{self.destination} already exists: not replaced (use --force to replace it)") from None
            except OSError as error:
                if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                    raise
                if os.path.lexists(self.destination):  # a filesystem without hard links (FAT, some shares)
                    raise DestinationRefused(f"{self.destination} already exists: not replaced (use --force to replace it)") from None
                os.replace(self.temporary, self.destination)
            else:
                self.temporary.unlink()
        _sync_folder(self.destination.parent)

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        self.temporary.unlink(missing_ok=True)

    def __enter__(self) -> PendingFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            self.discard()


def write_atomically(destination: Path, content: bytes, *, force: bool) -> str:
    """Write `content` to `destination` (checked by `safe_destination`) in one step; return its sha256."""
    try:
        with PendingFile(destination) as pending:
            pending.file.write(content)
            pending.put_in_place(force=force)
    except OSError as error:
        raise UsageError(f"cannot write {destination}: {error.strerror or error}") from None
    return pending.sha256 or ""


def write_with_checksum(destination: Path, content: bytes, *, force: bool) -> str:
    """Write `content` to `destination` and `destination.sha256` beside it (as `sha256sum -c` reads it).

    Both go to temporary files first. The old file is removed before the new `.sha256` is put in place,
    and the new file last, so a kill at any moment never leaves a file beside a `.sha256` that does not
    match it: at worst a `.sha256` waits for a file that is not there yet."""
    checksum = checksum_path(destination)
    try:
        with PendingFile(destination) as pending, PendingFile(checksum) as side:
            pending.file.write(content)
            sha256 = pending.finish()
            side.file.write(f"{sha256}  {destination.name}\n".encode())
            side.finish()
            crash_point("output-prepared")
            if force and os.path.lexists(destination):
                destination.unlink()
            crash_point("output-old-removed")
            side.put_in_place(force=force)
            crash_point("output-checksum-placed")
            pending.put_in_place(force=force)
    except OSError as error:
        raise UsageError(f"cannot write {destination}: {error.strerror or error}") from None
    return sha256


def checksum_path(path: Path) -> Path:
    """`path.sha256`, where the checksum of a written report goes."""
    return path.with_name(path.name + ".sha256")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (a power cut after it keeps the new name)."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # not possible on every system (Windows): the rename itself is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
