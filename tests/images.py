"""Small real disk images built with real tools, and Sleuth Kit's answers about them.

The builders use the ordinary Linux tools (sfdisk, mkfs.fat + mtools,
mkfs.ext4 -d + debugfs, mkntfs + ntfscp, ewfacquire, split) and never
cybertriage itself. The ``mmls_*``,
``fls_*`` and ``icat_*`` helpers parse The Sleuth Kit's own output, so tests
can compare our listing against an independent implementation.

Typical use from a session-scoped fixture::

    raw = images.build_mbr_fat32_ext4(tmp_path_factory.mktemp("mbr"))
    for offset in images.filesystem_offsets(raw):
        expected = images.fls_entries(raw, offset)

NTFS has no command-line tool for directories or deletion short of mounting
(no FUSE here), so ``build_gpt_ntfs`` calls libntfs-3g (the library behind
ntfs-3g and ntfscp) through ctypes, in a child process so a crash in C cannot
take the test run down. ``python tests/images.py DIR`` builds every image
into DIR, which is handy for poking at them by hand.
"""

from __future__ import annotations

import ctypes
import dataclasses
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

SECTOR = 512
MiB = 1024 * 1024

REPO = Path(__file__).resolve().parents[1]
#: Public test data copied into the repository, each file with its source and licence (tests/data/corpus/MANIFEST.md).
CORPUS = REPO / "tests" / "data" / "corpus"
#: PeNet's HelloWorld.exe (Apache-2.0), planted under a .jpg name.
HELLO_EXE = CORPUS / "pe" / "HelloWorld.exe"

# Assembled from two halves so this source file itself does not trip a virus
# scanner; the bytes are the standard 68-byte EICAR test string.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
assert len(EICAR) == 68

#: Fixed epoch (2024-03-01 09:30:00 UTC) for every timestamp the tools let us choose.
EPOCH = 1709285400

# Every external tool a builder or helper runs; see missing_tools().
TOOLS = (
    "sfdisk", "mkfs.fat", "mmd", "mcopy", "mdel", "mkfs.ext4", "debugfs",
    "mkntfs", "ntfscp", "ewfacquire", "split", "dd", "mmls", "fsstat", "fls", "icat",
)  # fmt: skip


def _pseudo_random(seed: str, size: int) -> bytes:
    """Deterministic incompressible bytes, so a wrong cluster shows in a hash."""
    return hashlib.shake_256(seed.encode()).digest(size)


@dataclasses.dataclass(frozen=True)
class FsContent:
    """What a builder writes into one filesystem.

    Paths are '/'-separated, relative to the filesystem root, exactly as
    ``fls -r -p`` prints them. ``deleted`` files are written, then deleted as
    the very last step, so nothing reuses their entries: fls lists them with
    '*' and icat still returns their bytes on FAT, NTFS and ext4 (debugfs
    ``rm`` frees the blocks but leaves the inode's extents in place).
    """

    files: dict[str, bytes]
    deleted: dict[str, bytes] = dataclasses.field(default_factory=dict)
    #: NTFS alternate data streams, keyed "path:stream".
    streams: dict[str, bytes] = dataclasses.field(default_factory=dict)
    #: ext4 symbolic links, path -> target.
    symlinks: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def directories(self) -> set[str]:
        """Every directory implied by the files, parents included."""
        dirs: set[str] = set()
        for path in [*self.files, *self.deleted, *self.symlinks]:
            parts = path.split("/")[:-1]
            dirs.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return dirs


def _hello_exe() -> bytes:
    return HELLO_EXE.read_bytes()


# Content is built lazily because HELLO_EXE lives outside the repository.
def mbr_fat32_content() -> FsContent:
    """Partition 1 (FAT32) of build_mbr_fat32_ext4."""
    return FsContent(
        files={
            "Documents/Finance/2024/Q1/Überweisung_2024.txt": "Betrag: 1.250,00 EUR\n".encode(),
            "Documents/报告.txt": "季度报告\n".encode(),
            "Documents/файл.txt": "содержимое файла\n".encode(),
            "Documents/meeting notes.txt": b"Meeting with J. at 10:00\n",
            "Pictures/holiday.jpg": _hello_exe(),
            "Downloads/eicar.com": EICAR,
            "Data/blob.bin": _pseudo_random("fat32-blob", 10_000),
        },
        deleted={"Documents/Finance/deleted_statement.txt": b"This statement was deleted.\n"},
    )


def mbr_ext4_content() -> FsContent:
    """Partition 2 (ext4) of build_mbr_fat32_ext4."""
    return FsContent(
        files={
            "home/alice/Documents/Projects/2024/plan.md": b"# Plan\n\n- ship it\n",
            "home/alice/Documents/报告.txt": "年度报告\n".encode(),
            "home/alice/Документы/файл.txt": "привет\n".encode(),
            "home/alice/Überweisung_2024.txt": "Überweisung an Max Mustermann\n".encode(),
            "home/alice/bin/tool.bin": _pseudo_random("ext4-tool", 5_000),
        },
        deleted={"home/alice/Documents/old_passwords.txt": b"hunter2\n"},
        symlinks={"home/alice/latest_plan": "Documents/Projects/2024/plan.md"},
    )


def mbr_fat16_content() -> FsContent:
    """Logical partition 5 (FAT16, inside the extended partition) of build_mbr_fat32_ext4."""
    return FsContent(
        files={
            "Backup/Old/Archive/notes.txt": b"archived notes\n",
            "Backup/файл.txt": "резервная копия\n".encode(),
        },
        deleted={"Backup/removed_draft.txt": b"draft that was removed\n"},
    )


ZONE_IDENTIFIER = b"[ZoneTransfer]\r\nZoneId=3\r\nHostUrl=http://203.0.113.7/invoice.txt\r\n"


def gpt_ntfs_content() -> FsContent:
    """The NTFS partition of build_gpt_ntfs."""
    return FsContent(
        files={
            "Users/Bob/Documents/Reports/2024/Überweisung_2024.txt": "Summe: 99 EUR\n".encode(),
            "Users/Bob/Documents/报告.txt": "报告内容\n".encode(),
            "Users/Bob/Downloads/invoice.txt": b"Invoice #4711\r\n",
            "Users/Bob/Pictures/holiday.jpg": _hello_exe(),
            "Users/Bob/Desktop/eicar.com": EICAR,
            "Users/Bob/AppData/big.bin": _pseudo_random("ntfs-big", 20_000),  # non-resident
        },
        deleted={"Users/Bob/Documents/deleted_note.txt": b"meet at the usual place\r\n"},
        streams={"Users/Bob/Downloads/invoice.txt:Zone.Identifier": ZONE_IDENTIFIER},
    )


def bare_fat_content() -> FsContent:
    """The FAT12 filesystem of build_bare_fat."""
    return FsContent(
        files={
            "DCIM/Camera/2024/IMG_0001.txt": b"not really a photo\n",
            "Notizen/Überweisung_2024.txt": "Konto DE00 0000\n".encode(),
            "readme.txt": b"USB stick\n",
        },
        deleted={"DCIM/Camera/deleted_image_0002.txt": b"deleted from the stick\n"},
    )


# --------------------------------------------------------------------------
# Running tools


def _env() -> dict[str, str]:
    env = dict(os.environ)
    # mtools and ntfs-3g convert names through the locale; without UTF-8 the
    # Unicode file names would be mangled or refused.
    env["LC_ALL"] = "C.UTF-8"
    env["MTOOLS_SKIP_CHECK"] = "1"
    env["SOURCE_DATE_EPOCH"] = str(EPOCH)  # mtools' times for new entries
    env["E2FSPROGS_FAKE_TIME"] = str(EPOCH)  # mke2fs' superblock and inode times
    return env


def _run(*args: str | Path, stdin: bytes | None = None, quiet: bool = False) -> str:
    """Run a tool; raise with its stderr if it fails. Returns stdout as text.

    quiet: also fail on any stderr line but a version banner, for tools such
    as debugfs that exit 0 after a failed command.
    """
    proc = subprocess.run(
        [str(a) for a in args], input=stdin, capture_output=True, env=_env(), check=False
    )
    noise = [
        line for line in proc.stderr.decode(errors="replace").splitlines()
        if line.strip() and not re.match(rf"{re.escape(Path(str(args[0])).name)} \d", line)
    ]  # fmt: skip
    if proc.returncode != 0 or (quiet and noise):
        raise RuntimeError(
            f"{' '.join(str(a) for a in args)} failed ({proc.returncode}):\n"
            + proc.stderr.decode(errors="replace")
            + proc.stdout.decode(errors="replace")
        )
    return proc.stdout.decode("utf-8", errors="surrogateescape")


def missing_tools() -> list[str]:
    """Names of required tools that are not installed (for pytest.skip)."""
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if _libntfs() is None:
        missing.append("libntfs-3g")
    return missing


def _stage(content: FsContent, root: Path) -> Path:
    """Write files (deleted ones too) to a directory tree with fixed timestamps."""
    for rel, data in {**content.files, **content.deleted}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    for rel, target in content.symlinks.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / rel)
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (EPOCH, EPOCH), follow_symlinks=False)
    os.utime(root, (EPOCH, EPOCH))
    return root


def _place(fs_image: Path, disk: Path, start_sector: int) -> None:
    """Copy a filesystem image into a disk image at a sector (dd conv=notrunc)."""
    _run(
        "dd", f"if={fs_image}", f"of={disk}", "bs=1M", f"seek={start_sector * SECTOR}",
        "oflag=seek_bytes", "conv=notrunc,sparse", "status=none",
    )  # fmt: skip


def one_volume_disk(fs_image: Path, disk: Path, start_sector: int, mbr_type: str) -> Path:
    """A disk image with an MBR whose one partition (sfdisk type `mbr_type`) holds `fs_image` from `start_sector`."""
    sectors = fs_image.stat().st_size // SECTOR
    _sparse_file(disk, (start_sector + sectors) * SECTOR)
    table = f"start={start_sector}, size={sectors}, type={mbr_type}\n"
    _run("sfdisk", "--no-reread", "--no-tell-kernel", "-q", disk, stdin=table.encode())
    _place(fs_image, disk, start_sector)
    return disk


def _sparse_file(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        f.truncate(size)
    return path


# --------------------------------------------------------------------------
# FAT (mkfs.fat + mtools) and ext4 (mkfs.ext4 -d + debugfs)


def _make_fat(
    disk: Path, start_sector: int, sectors: int, fat_bits: int, cluster_sectors: int,
    label: str, volid: str, content: FsContent, work: Path,
) -> None:  # fmt: skip
    """Format a FAT filesystem inside ``disk`` and fill it with mtools."""
    # --offset formats in place inside the disk image; the size is in KiB.
    _run(
        "mkfs.fat", "-F", str(fat_bits), "-s", str(cluster_sectors), "-n", label,
        "--invariant", "-i", volid, f"--offset={start_sector}", "-h", str(start_sector),
        disk, str(sectors * SECTOR // 1024),
    )  # fmt: skip
    drive = f"{disk}@@{start_sector * SECTOR}"
    staging = _stage(content, work / f"fat{start_sector}")
    # One call per entry in sorted order rather than mcopy -s, whose order
    # follows readdir and would make the directory layout machine-dependent.
    for rel in sorted(content.directories):
        _run("mmd", "-i", drive, f"::/{rel}")
    for rel in sorted([*content.files, *content.deleted]):
        # -m keeps the staged modification time, -Q stops on the first error
        _run("mcopy", "-m", "-Q", "-i", drive, staging / rel, f"::/{rel}")
    for rel in content.deleted:
        _run("mdel", "-i", drive, f"::/{rel}")


def _make_ext4(fs_image: Path, sectors: int, content: FsContent, work: Path) -> None:
    """Build an ext4 filesystem file with mkfs.ext4 -d, then debugfs-delete."""
    staging = _stage(content, work / "ext4")
    uuid = "3f1c2a10-0b1e-4c5d-9e7f-202403010930"
    _run(
        "mkfs.ext4", "-q", "-F", "-b", "1024", "-N", "128", "-L", "home", "-U", uuid,
        "-E", f"hash_seed={uuid},root_owner=0:0", "-d", staging,
        _sparse_file(fs_image, sectors * SECTOR),
    )  # fmt: skip
    # mke2fs copies each source file's st_ctime, which only the kernel can set;
    # pin it (and the directories mke2fs made itself) so builds are repeatable.
    paths = ["/", "/lost+found", *(f"/{p}" for p in [*content.directories, *content.files])]
    paths += [f"/{p}" for p in [*content.symlinks, *content.deleted]]
    script = [f'sif "{p}" ctime @{EPOCH}' for p in paths]
    script += [f'rm "/{rel}"' for rel in content.deleted]
    _run("debugfs", "-w", "-f", "-", fs_image, stdin="\n".join(script).encode(), quiet=True)


#: (start sector, sectors) of each partition of build_mbr_fat32_ext4.
MBR_LAYOUT = {
    "fat32": (2048, 69632),  # 34 MiB: FAT32 needs >= 65525 clusters
    "ext4": (71680, 16384),  # 8 MiB
    "extended": (88064, 10240),
    "fat16": (90112, 8192),  # logical partition 5, 4 MiB
}
MBR_SECTORS = 98304  # 48 MiB


def build_mbr_fat32_ext4(dest: Path) -> Path:
    """MBR disk: FAT32, ext4, and an extended partition holding a FAT16 logical.

    Contents are ``mbr_fat32_content()``, ``mbr_ext4_content()`` and
    ``mbr_fat16_content()``; byte offsets are the ``MBR_LAYOUT`` sectors * 512.

    Args:
        dest: existing directory to write ``mbr.raw`` (and scratch files) into.

    Returns:
        Path of the raw image.
    """
    disk = _sparse_file(Path(dest) / "mbr.raw", MBR_SECTORS * SECTOR)
    lay = MBR_LAYOUT
    table = "\n".join([
        "label: dos",
        "label-id: 0x20240301",
        "unit: sectors",
        "",
        f"start={lay['fat32'][0]}, size={lay['fat32'][1]}, type=c",
        f"start={lay['ext4'][0]}, size={lay['ext4'][1]}, type=83",
        f"start={lay['extended'][0]}, size={lay['extended'][1]}, type=5",
        f"start={lay['fat16'][0]}, size={lay['fat16'][1]}, type=6",
        "",
    ])  # fmt: skip
    _run("sfdisk", "--no-reread", "--no-tell-kernel", "-q", disk, stdin=table.encode())
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        work = Path(tmp)
        _make_fat(disk, *lay["fat32"], 32, 1, "EVIDENCE", "20240301", mbr_fat32_content(), work)
        _make_fat(disk, *lay["fat16"], 16, 1, "BACKUP", "20240302", mbr_fat16_content(), work)
        ext4 = work / "ext4.img"
        _make_ext4(ext4, lay["ext4"][1], mbr_ext4_content(), work)
        _place(ext4, disk, lay["ext4"][0])
    return disk


BARE_FAT_SECTORS = 8192  # 4 MiB


def build_bare_fat(dest: Path) -> Path:
    """A FAT12 filesystem with no partition table (a "superfloppy" USB stick).

    Contents are ``bare_fat_content()``.
    """
    disk = _sparse_file(Path(dest) / "bare_fat.raw", BARE_FAT_SECTORS * SECTOR)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        content = bare_fat_content()
        _make_fat(disk, 0, BARE_FAT_SECTORS, 12, 4, "USBSTICK", "20240303", content, Path(tmp))
    return disk


# --------------------------------------------------------------------------
# NTFS (mkntfs + ntfscp, libntfs-3g for directories and deletion)

GPT_NTFS_LAYOUT = (2048, 16384)  # start sector, sectors (8 MiB)
GPT_SECTORS = 20480  # 10 MiB


def _libntfs() -> str | None:
    for name in ("libntfs-3g.so.89", "libntfs-3g.so"):
        try:
            ctypes.CDLL(name)
        except OSError:
            continue
        return name
    return None


def _ntfs_edit(fs_image: str, ops: Sequence[str]) -> None:
    """Create directories / delete files with libntfs-3g (runs in a child process).

    ops are "mkdir:/a/b" (parents created too) or "rm:/a/b/file".
    """
    lib_name = _libntfs()
    if lib_name is None:
        raise RuntimeError("libntfs-3g not found")
    lib = ctypes.CDLL(lib_name, use_errno=True)
    vp = ctypes.c_void_p
    lib.ntfs_mount.restype = vp
    lib.ntfs_mount.argtypes = [ctypes.c_char_p, ctypes.c_ulong]
    lib.ntfs_umount.argtypes = [vp, ctypes.c_int]
    lib.ntfs_pathname_to_inode.restype = vp
    lib.ntfs_pathname_to_inode.argtypes = [vp, vp, ctypes.c_char_p]
    lib.ntfs_create.restype = vp
    lib.ntfs_create.argtypes = [
        vp, ctypes.c_uint32, ctypes.c_char_p, ctypes.c_uint8, ctypes.c_uint32,
    ]  # fmt: skip
    lib.ntfs_inode_close.argtypes = [vp]
    lib.ntfs_delete.argtypes = [vp, ctypes.c_char_p, vp, vp, ctypes.c_char_p, ctypes.c_uint8]

    def fail(what: str) -> NoReturn:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")

    def lookup(path: str) -> int | None:
        return lib.ntfs_pathname_to_inode(vol, None, path.encode())  # type: ignore[no-any-return]

    vol = lib.ntfs_mount(fs_image.encode(), 0)
    if not vol:
        fail(f"ntfs_mount {fs_image}")
    try:
        for op in ops:
            verb, path = op.split(":", 1)
            parts = [p for p in path.split("/") if p]
            if verb == "mkdir":
                for i in range(len(parts)):
                    here = "/" + "/".join(parts[: i + 1])
                    ni = lookup(here)
                    if not ni:
                        parent = lookup("/" + "/".join(parts[:i]))
                        if not parent:
                            fail(f"lookup parent of {here}")
                        name = parts[i].encode("utf-16-le")
                        ni = lib.ntfs_create(parent, 0, name, len(name) // 2, 0o040000)  # S_IFDIR
                        lib.ntfs_inode_close(parent)
                        if not ni:
                            fail(f"mkdir {here}")
                    lib.ntfs_inode_close(ni)
            elif verb == "rm":
                parent = lookup("/" + "/".join(parts[:-1]))
                ni = lookup(path)
                if not parent or not ni:
                    fail(f"lookup {path}")
                name = parts[-1].encode("utf-16-le")
                # ntfs_delete always closes ni; the parent stays ours to close.
                rc = lib.ntfs_delete(vol, path.encode(), ni, parent, name, len(name) // 2)
                lib.ntfs_inode_close(parent)
                if rc != 0:
                    fail(f"delete {path}")
            else:
                raise ValueError(op)
    finally:
        if lib.ntfs_umount(vol, 0) != 0:
            fail("ntfs_umount")


def _ntfs_edit_in_child(fs_image: Path, ops: Sequence[str]) -> None:
    _run(sys.executable, Path(__file__).resolve(), "--ntfs-edit", fs_image, *ops)


def build_gpt_ntfs(
    dest: Path, content: FsContent | None = None, *, name: str = "gpt_ntfs.raw",
    layout: tuple[int, int] = GPT_NTFS_LAYOUT, disk_sectors: int = GPT_SECTORS, label: str = "WINDOWS",
) -> Path:  # fmt: skip
    """GPT disk with one NTFS partition (``layout``: start sector, sectors), nested folders and ADSs.

    Contents are ``content`` (by default ``gpt_ntfs_content()``): files copied with ntfscp, the streams
    with ``ntfscp -N``, folders created and deleted files removed via libntfs-3g. The partition is named
    "Windows" in the GPT and its volume ``label``; the disk is ``disk_sectors`` long and written as
    ``dest/name``. mkntfs' own times are zeroed (-T); ntfscp and libntfs-3g stamp files with the time of
    the build, so a caller wanting the same bytes twice runs under a fixed clock (faketime).
    """
    disk = _sparse_file(Path(dest) / name, disk_sectors * SECTOR)
    start, sectors = layout
    # sfdisk rather than sgdisk: same table, but sgdisk spends a second
    # asking the kernel to re-read a "disk" that is only a file.
    table = "\n".join([
        "label: gpt",
        "label-id: 8C6D3F0E-6C2B-4F4E-9A59-202403010930",
        "unit: sectors",
        "",
        f"start={start}, size={sectors}, type=EBD0A0A2-B9E5-4433-87C0-68B99B26B7C7, "
        'uuid=4A0E7B1D-2F3C-4D5E-8F60-202403010930, name="Windows"',
        "",
    ])  # fmt: skip
    _run("sfdisk", "--no-reread", "--no-tell-kernel", "-q", disk, stdin=table.encode())
    content = gpt_ntfs_content() if content is None else content
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        work = Path(tmp)
        fs = _sparse_file(work / "ntfs.img", sectors * SECTOR)
        # -T zeroes mkntfs' own timestamps; -p/-H/-S only describe the geometry.
        _run(
            "mkntfs", "-q", "-F", "-Q", "-T", "-L", label, "-s", "512", "-c", "4096",
            "-p", str(start), "-H", "255", "-S", "63", fs,
        )  # fmt: skip
        _ntfs_edit_in_child(fs, [f"mkdir:/{d}" for d in sorted(content.directories)])
        staging = _stage(content, work / "staging")
        for rel in [*content.files, *content.deleted]:
            _run("ntfscp", "-q", "-t", fs, staging / rel, f"/{rel}")
        for key, data in content.streams.items():
            rel, stream = key.rsplit(":", 1)
            src = work / "stream"
            src.write_bytes(data)
            _run("ntfscp", "-q", "-N", stream, fs, src, f"/{rel}")
        _ntfs_edit_in_child(fs, [f"rm:/{rel}" for rel in content.deleted])
        _place(fs, disk, start)
    return disk


# --------------------------------------------------------------------------
# Containers: E01 (ewfacquire) and split raw (split)

EWF_MIN_SEGMENT = MiB  # ewfacquire silently ignores smaller -S values


def make_e01(
    raw: Path, dest: Path, segment_bytes: int | None = None, compression: str | None = None
) -> Path:
    """Acquire ``raw`` into an EnCase 6 image with ewfacquire.

    Args:
        raw: the raw image to acquire.
        dest: existing directory for ``<raw stem>.E01`` (``.E02``... if segmented).
        segment_bytes: maximum segment file size, at least 1 MiB; None = one segment.
        compression: ewfacquire -c value ("none", "empty-block", "fast", "best").
            Default: "fast" for a single segment; "none" when segment_bytes is
            given, because compressed, mostly-empty test images would shrink
            into one segment and the set would not be multi-segment at all.

    Returns:
        Path of the .E01 file.
    """
    raw, dest = Path(raw), Path(dest)
    if segment_bytes is not None and segment_bytes < EWF_MIN_SEGMENT:
        raise ValueError(f"ewfacquire needs segment_bytes >= {EWF_MIN_SEGMENT}")
    if compression is None:
        compression = "fast" if segment_bytes is None else "none"
    target = dest / raw.stem
    args: list[str | Path] = [
        "ewfacquire", "-u", "-q", "-t", target, "-f", "encase6", "-c", compression,
        "-C", "CT-2024-001", "-D", f"test image {raw.name}", "-e", "cybertriage tests",
        "-E", "1", "-N", "built by tests/images.py", "-m", "fixed", "-M", "physical",
    ]  # fmt: skip
    if segment_bytes is not None:
        args += ["-S", str(segment_bytes)]
    _run(*args, raw)
    e01 = dest / f"{raw.stem}.E01"
    if not e01.is_file():
        raise RuntimeError(f"ewfacquire did not write {e01}")
    return e01


def make_split_raw(raw: Path, dest: Path, segment_bytes: int) -> Path:
    """Split ``raw`` into ``<stem>.001``, ``.002``... with coreutils split.

    Returns:
        Path of the ``.001`` segment.
    """
    raw, dest = Path(raw), Path(dest)
    prefix = dest / f"{raw.stem}."
    _run("split", "-d", "-a", "3", "--numeric-suffixes=1", "-b", str(segment_bytes), raw, prefix)
    return Path(f"{prefix}001")


def split_segments(first: Path) -> list[Path]:
    """All segments of a split raw or E01 set, in order, given the first one."""
    first = Path(first)
    if first.suffix.upper() == ".E01":
        stem = first.stem
        pattern = re.compile(re.escape(stem) + r"\.E[0-9A-Z]{2}$", re.IGNORECASE)
    else:
        stem = first.name[: -len(first.suffix)]
        pattern = re.compile(re.escape(stem) + r"\.\d{3}$")
    return sorted(p for p in first.parent.iterdir() if pattern.fullmatch(p.name))


# --------------------------------------------------------------------------
# Independent truth: Sleuth Kit's answers

Image = Path | str | Sequence[Path | str]


def _image_args(image: Image) -> list[str]:
    """Sleuth Kit arguments naming an image: one raw file, a split set, or an E01."""
    if isinstance(image, (str, Path)):
        paths = [Path(image)]
    else:
        paths = [Path(p) for p in image]
    if paths[0].suffix.upper() == ".E01":
        return ["-i", "ewf", str(paths[0])]  # libewf finds the other segments itself
    return [str(p) for p in paths]


def _tsk_command(tool: str, options: Sequence[str], image: Image, *extra: str) -> list[str]:
    args = _image_args(image)
    # options go before the image names, inode numbers and the like after them
    fmt, files = (args[:2], args[2:]) if args[0] == "-i" else ([], args)
    return [tool, *fmt, *options, *files, *extra]


def _tsk(tool: str, options: Sequence[str], image: Image) -> str:
    return _run(*_tsk_command(tool, options, image))


@dataclasses.dataclass(frozen=True)
class Partition:
    """One allocated volume from mmls (start and length in 512-byte sectors)."""

    slot: str
    start: int
    length: int
    description: str

    @property
    def offset(self) -> int:
        return self.start * SECTOR


_MMLS_LINE = re.compile(
    r"^\d+:\s+(?P<slot>\S+)\s+(?P<start>\d+)\s+(?P<end>\d+)\s+(?P<length>\d+)\s*(?P<desc>.*)$"  # GPT names may be empty
)


def mmls_partitions(image: Image) -> list[Partition]:
    """Allocated partitions as mmls lists them (no Meta or Unallocated rows).

    Raises RuntimeError when mmls finds no partition table.
    """
    # -a: allocated rows only, since an allocated partition's slot also reads "-------" when its number,
    # which mmls keeps in a signed byte, wraps to -1 (GPT entries 256, 512, ...)
    out = _tsk("mmls", ["-a"], image)
    parts = []
    for line in out.splitlines():
        m = _MMLS_LINE.match(line.strip())
        if m and m["slot"] != "Meta":
            parts.append(Partition(m["slot"], int(m["start"]), int(m["length"]), m["desc"]))
    return parts


def fsstat_ok(image: Image, offset_bytes: int) -> bool:
    """Whether fsstat recognises a filesystem at this byte offset."""
    try:
        _tsk("fsstat", ["-o", str(offset_bytes // SECTOR)], image)
    except RuntimeError:
        return False
    return True


def filesystem_offsets(image: Image) -> list[int]:
    """Byte offsets of every filesystem Sleuth Kit finds ([0] for a bare filesystem)."""
    try:
        parts = mmls_partitions(image)
    except RuntimeError:
        return [0] if fsstat_ok(image, 0) else []
    return [p.offset for p in parts if fsstat_ok(image, p.offset)]


@dataclasses.dataclass(frozen=True)
class FlsRecord:
    """One line of ``fls -r -p``."""

    path: str  # '/' + path as fls prints it, streams as "file:stream"
    deleted: bool  # fls's '*' marker
    inode: str  # e.g. "17", NTFS "64-128-4"; give it to icat as is
    name_type: str  # type from the directory entry: r d l v V -
    meta_type: str  # type from the inode/MFT entry
    realloc: bool  # fls's "(realloc)": the name's inode now belongs to something else

    @property
    def virtual(self) -> bool:
        """Made up by Sleuth Kit: $MBR, $FAT1, $OrphanFiles and what it holds."""
        return "v" in (self.name_type + self.meta_type).lower() or self.path.startswith(
            "/$OrphanFiles"
        )


_FLS_LINE = re.compile(
    r"^(?P<name_type>\S)/(?P<meta_type>\S)\s+(?P<deleted>\*\s+)?"
    r"(?P<inode>[^\s:(]+)(?P<realloc>\(realloc\))?:\t(?P<path>.*)$"
)


def fls_records(image: Image, offset_bytes: int) -> list[FlsRecord]:
    """Every entry of ``fls -r -p -o <offset/512>``, nothing filtered out.

    That includes Sleuth Kit's virtual entries (FAT's $MBR, $FAT1, $FAT2 and
    the $OrphanFiles folder; see ``FlsRecord.virtual``), FAT's volume label
    entry ("/LABEL       (Volume Label Entry)"), NTFS metadata files ($MFT,
    $Secure:$SDS, ...), and on a fresh NTFS volume the never-used MFT records
    16-23 as deleted "$OrphanFiles/OrphanFile-16".. entries.
    """
    out = _tsk("fls", ["-r", "-p", "-o", str(offset_bytes // SECTOR)], image)
    records = []
    for line in out.splitlines():
        m = _FLS_LINE.match(line)
        if not m:
            raise ValueError(f"unexpected fls line: {line!r}")
        records.append(
            FlsRecord(
                path="/" + m["path"],
                deleted=m["deleted"] is not None,
                inode=m["inode"],
                name_type=m["name_type"],
                meta_type=m["meta_type"],
                realloc=m["realloc"] is not None,
            )
        )
    return records


def fls_entries(image: Image, offset_bytes: int) -> set[tuple[str, bool]]:
    """The set of ('/' + path, deleted) that ``fls -r -p`` reports."""
    return {(r.path, r.deleted) for r in fls_records(image, offset_bytes)}


def icat_sha256(image: Image, offset_bytes: int, inode: str) -> str:
    """SHA-256 of what ``icat`` reads for one inode (or NTFS inode-type-id)."""
    cmd = _tsk_command("icat", ["-o", str(offset_bytes // SECTOR)], image, inode)
    digest = hashlib.sha256()
    # stderr goes to a file so a chatty icat cannot block on a full pipe
    with tempfile.TemporaryFile() as err, subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=err, env=_env()
    ) as proc:
        stdout = proc.stdout
        assert stdout is not None
        for chunk in iter(lambda: stdout.read(MiB), b""):
            digest.update(chunk)
        proc.wait()
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {err.read().decode(errors='replace')}")
    return digest.hexdigest()


def listing_and_hashes(image: Image) -> tuple[set[tuple[int, str, bool]], dict[tuple[int, str], str]]:
    """Over every filesystem of a raw image: fls's (offset, path, deleted) of every entry, and icat's sha256 of
    every allocated regular file by (offset, path)."""
    listing, hashes = set(), {}
    for offset in filesystem_offsets(image):
        for record in fls_records(image, offset):
            listing.add((offset, record.path, record.deleted))
            if not record.deleted and record.meta_type == "r" and not record.virtual:
                hashes[(offset, record.path)] = icat_sha256(image, offset, record.inode)
    return listing, hashes


def sha256_file(*paths: Path) -> str:
    """SHA-256 of the concatenation of files (e.g. split segments)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(MiB), b""):
                digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------
# A file that spans many EWF chunks (64 sectors each), for damaging one chunk that holds only its data

LARGE_FAT_SECTORS = 16384  # 8 MiB


def large_fat_content() -> FsContent:
    """The FAT16 filesystem of build_large_fat: one file of 256 KiB, written first so its clusters follow on,
    whose first half does not compress and whose second half (numbered text lines) does."""
    lines = b"".join(b"%07d a line of the examiner's log\n" % number for number in range(3972))[:128 * 1024]
    return FsContent(files={
        "evidence/large.bin": _pseudo_random("large-fat", 128 * 1024) + lines,
        "notes.txt": b"large.bin was copied from the suspect's laptop\n",
    })


def build_large_fat(dest: Path) -> Path:
    """A FAT16 filesystem with no partition table holding ``large_fat_content()``."""
    disk = _sparse_file(Path(dest) / "large_fat.raw", LARGE_FAT_SECTORS * SECTOR)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        _make_fat(disk, 0, LARGE_FAT_SECTORS, 16, 2, "LARGE", "20240304", large_fat_content(), Path(tmp))
    return disk


# --------------------------------------------------------------------------
# Where Sleuth Kit's fls, icat and mmls once disagreed with the scan (issue 23)

#: What Windows' format leaves in boot code it does not use: x86 "hlt". At bytes 446-509 of a boot sector
#: it reads as four MBR partition entries of type 0xF4 starting at sector 0xF4F4F4F4, far past any small image.
HLT_BOOT_CODE = b"\xf4" * 64
#: Boot code that reads as two overlapping FAT32 partitions inside a small image (sectors 1-100 and 50-149).
OVERLAPPING_BOOT_CODE = b"".join(
    bytes([0, 0, 0, 0, 0x0C, 0, 0, 0]) + start.to_bytes(4, "little") + (100).to_bytes(4, "little")
    for start in (1, 50)) + bytes(32)


def _fill_boot_code(image: Path, code: bytes = HLT_BOOT_CODE) -> None:
    """Overwrite the boot code where an MBR keeps its partition entries (bytes 446-509)."""
    with image.open("r+b") as f:
        f.seek(446)
        f.write(code)


def _exfat_boot_checksum(image: Path) -> None:
    """Rewrite the main and backup boot regions' checksum sector after a boot sector change (exFAT
    specification, section 3.4: sectors 0-10, less VolumeFlags and PercentInUse, rotated and summed)."""
    with image.open("r+b") as f:
        region = bytearray(f.read(11 * SECTOR))
        checksum = 0
        for index, byte in enumerate(region):
            if index not in (106, 107, 112):
                checksum = (((checksum >> 1) | (checksum << 31)) + byte) & 0xFFFFFFFF
        f.seek(11 * SECTOR)
        f.write(checksum.to_bytes(4, "little") * (SECTOR // 4))
        f.seek(12 * SECTOR)  # the backup boot region repeats the main one
        f.write(bytes(region) + checksum.to_bytes(4, "little") * (SECTOR // 4))


def build_bare_exfat_hlt(dest: Path) -> Path:
    """An exFAT volume with no partition table whose boot code is HLT_BOOT_CODE (as Windows formats it),
    made with mkfs.exfat; its checksum is rewritten so that fsck.exfat accepts it."""
    disk = _sparse_file(Path(dest) / "bare_exfat.raw", 8 * MiB)
    _run("mkfs.exfat", "-L", "STICK", disk)
    _fill_boot_code(disk)
    _exfat_boot_checksum(disk)
    _run("fsck.exfat", "-n", disk)
    return disk


def build_bare_fat_hlt(dest: Path, code: bytes = HLT_BOOT_CODE, name: str = "bare_fat_hlt.raw") -> Path:
    """``build_bare_fat``'s FAT12 stick (``bare_fat_content()``) with ``code`` where an MBR has its entries."""
    disk = _sparse_file(Path(dest) / name, BARE_FAT_SECTORS * SECTOR)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        _make_fat(disk, 0, BARE_FAT_SECTORS, 12, 4, "USBSTICK", "20240303", bare_fat_content(), Path(tmp))
    _fill_boot_code(disk, code)
    return disk


def ntfs_recovery_content() -> FsContent:
    """build_ntfs_recovery's volume: small files, whose data stays resident in their MFT records."""
    return FsContent(
        files={"Users/Eve/eicar.com": EICAR, "Users/Eve/todo.txt": b"call the bank\r\n",
               "Users/Eve/big.bin": _pseudo_random("ntfs-recovery", 9_000)},
        deleted={"Users/Eve/secret.txt": b"the key is under the mat\r\n"},
    )


def build_ntfs_recovery(dest: Path) -> Path:
    """A bare NTFS volume (mkntfs, ntfscp, libntfs-3g) with ``ntfs_recovery_content()``: its deleted file is
    resident in an MFT record that libntfs-3g freed (raising its sequence number, as Windows does)."""
    disk = _sparse_file(Path(dest) / "ntfs_recovery.raw", 8 * MiB)
    content = ntfs_recovery_content()
    _run("mkntfs", "-q", "-F", "-Q", "-T", "-L", "EVE", "-s", "512", "-c", "4096", "-p", "0", "-H", "255", "-S", "63", disk)
    _ntfs_edit_in_child(disk, [f"mkdir:/{d}" for d in sorted(content.directories)])
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        staging = _stage(content, Path(tmp))
        for rel in [*content.files, *content.deleted]:
            _run("ntfscp", "-q", "-t", disk, staging / rel, f"/{rel}")
    _ntfs_edit_in_child(disk, [f"rm:/{rel}" for rel in content.deleted])
    return disk


def _fsstat_number(report: str, label: str) -> int:
    match = re.search(rf"^{re.escape(label)}:?\s*(\d+)", report, re.MULTILINE)
    if not match:
        raise RuntimeError(f"fsstat printed no {label!r}")
    return int(match[1])


def damage_ntfs_data_attribute_length(image: Path, path: str) -> int:
    """Set the length of the $DATA attribute in the MFT record of ``path`` to 0 (NTFS record layout: the
    first attribute's offset at byte 20; each attribute starts with its type and length, 4 bytes each).
    The record's place comes from fls and fsstat. Returns the record number."""
    record = next(int(r.inode.split("-")[0]) for r in fls_records(image, 0) if r.path == "/" + path)
    report = _tsk("fsstat", [], image)
    mft = _fsstat_number(report, "First Cluster of MFT") * _fsstat_number(report, "Cluster Size")
    at = mft + record * _fsstat_number(report, "Size of MFT Entries")
    with image.open("r+b") as f:
        f.seek(at)
        entry = bytearray(f.read(1024))
        if entry[:4] != b"FILE":
            raise RuntimeError(f"no MFT record at byte {at}")
        attribute = int.from_bytes(entry[20:22], "little")
        while int.from_bytes(entry[attribute:attribute + 4], "little") != 0x80:
            attribute += int.from_bytes(entry[attribute + 4:attribute + 8], "little")
        entry[attribute + 4:attribute + 8] = bytes(4)
        f.seek(at)
        f.write(entry)
    return record


#: ext2 files whose names are overwritten and whose inodes are freed: Sleuth Kit lists them as
#: $OrphanFiles/OrphanFile-N and icat still reads their blocks.
EXT2_ORPHANS = {"docs/passwords.txt": b"root:hunter2\nadmin:letmein\n",
                "docs/report.bin": _pseudo_random("ext2-orphan", 3000)}


def build_ext2_orphans(dest: Path) -> Path:
    """A bare ext2 volume (mkfs.ext2 -d, debugfs) holding the EXT2_ORPHANS: each is unlinked, two longer
    names are written over its directory entry, then its inode is freed with kill_file."""
    disk = _sparse_file(Path(dest) / "ext2_orphans.raw", 4 * MiB)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        staging = _stage(FsContent(files={**EXT2_ORPHANS, "keep.txt": b"kept\n"}), Path(tmp) / "root")
        _run("mkfs.ext2", "-q", "-F", "-b", "1024", "-N", "64", "-d", staging, disk)
        filler = Path(tmp) / "filler.txt"
        filler.write_bytes(b"written over a deleted entry\n")
        inodes = [int(_run("debugfs", "-R", f"stat /{rel}", disk).split("Inode: ", 1)[1].split()[0]) for rel in EXT2_ORPHANS]
        script = [f"unlink /{rel}" for rel in EXT2_ORPHANS]
        script += ["cd /docs", f"write {filler} a_file_written_over_the_deleted_names.txt",
                   f"write {filler} another_file_written_over_the_deleted_names.txt"]
        script += [f"kill_file <{inode}>" for inode in inodes]
        _run("debugfs", "-w", "-f", "-", disk, stdin="\n".join(script).encode())
    return disk


#: More used GPT entries than pytsk3 lists (8,192): one-sector partitions, then a FAT12 volume in the last.
GPT_MANY_ENTRIES = 8200
GPT_MANY_TABLE_SECTORS = 8256 * 128 // SECTOR  # a table of 8,256 entries; the backup table ends the disk
GPT_MANY_FIRST = 2 + GPT_MANY_TABLE_SECTORS
GPT_MANY_FAT_SECTORS = 4096


def build_gpt_many_entries(dest: Path) -> Path:
    """A GPT disk (sgdisk) with GPT_MANY_ENTRIES partitions; the last one holds a FAT12 volume (mkfs.fat,
    mtools) with ``mbr_fat16_content()``."""
    fat_start = GPT_MANY_FIRST + GPT_MANY_ENTRIES - 1
    disk = _sparse_file(Path(dest) / "gpt_many.raw", (fat_start + GPT_MANY_FAT_SECTORS + 1 + GPT_MANY_TABLE_SECTORS) * SECTOR)
    args = [f"--new={n + 1}:{GPT_MANY_FIRST + n}:{GPT_MANY_FIRST + n}" for n in range(GPT_MANY_ENTRIES - 1)]
    args.append(f"--new={GPT_MANY_ENTRIES}:{fat_start}:{fat_start + GPT_MANY_FAT_SECTORS - 1}")
    _run("sgdisk", "--set-alignment=1", "--resize-table=8256", *args, f"--typecode={GPT_MANY_ENTRIES}:0700", disk)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        _make_fat(disk, fat_start, GPT_MANY_FAT_SECTORS, 12, 4, "LAST", "20240305", mbr_fat16_content(), Path(tmp))
    return disk


def _main(argv: list[str]) -> int:
    if argv[:1] == ["--ntfs-edit"]:
        _ntfs_edit(argv[1], argv[2:])
        return 0
    if len(argv) != 1:
        print("usage: python tests/images.py OUTDIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for build in (build_mbr_fat32_ext4, build_gpt_ntfs, build_bare_fat):
        print(build(out))
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
