"""Real seed inputs for the fuzzer, and where their structures lie.

Captures and PE files come from the corpus in tests/data/corpus; disk images are built with the same tools
as the rest of the suite (tests/images.py: mkfs.fat + mtools, mkfs.ext4 -d, mkntfs + ntfscp,
sfdisk); zip files with the zip CLI and Python's zipfile. Each seed carries `fields`
(offset, size, byte order) of header fields worth setting to hostile values, and `hot`
(offset, length) regions worth flipping bytes in: the boot sector and FAT, an ext4
superblock and inode table, NTFS MFT records, partition tables, pcap record headers, zip
directories, PE headers. The offsets are read from the seed with plain `struct` (and
pefile for PE), never through cybertriage.
"""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pefile

from tests import images

Field = tuple[int, int, str]  # offset, size in bytes, '<' or '>'
Region = tuple[int, int]  # offset, length

# Which evidence reader a kind of seed goes through (see targets.py).
KINDS = ("pcap", "pcapng", "fat", "ext4", "ntfs", "mbr", "gpt", "pe", "zip")
SUFFIX = {"pcap": ".pcap", "pcapng": ".pcapng", "fat": ".raw", "ext4": ".raw", "ntfs": ".raw", "mbr": ".raw",
          "gpt": ".raw", "pe": ".exe", "zip": ".zip"}


@dataclass
class Seed:
    kind: str
    name: str
    data: bytes
    fields: list[Field] = field(default_factory=list)
    hot: list[Region] = field(default_factory=list)


def _u16(data: bytes, at: int, order: str = "<") -> int:
    return struct.unpack_from(order + "H", data, at)[0]


def _u32(data: bytes, at: int, order: str = "<") -> int:
    return struct.unpack_from(order + "I", data, at)[0]


# ------------------------------------------------------------------------------------ captures

def capture_seeds(corpus: Path) -> list[Seed]:
    seeds = []
    for path in sorted((corpus / "pcap").glob("*.pcap*")):
        data = path.read_bytes()
        if data[:4] == b"\x0a\x0d\x0d\x0a":
            seeds.append(_pcapng_seed(path.name, data))
        else:
            seeds.append(_pcap_seed(path.name, data))
    return seeds


def _pcap_seed(name: str, data: bytes) -> Seed:
    order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    seed = Seed("pcap", name, data, [(16, 4, order), (20, 4, order), (4, 2, order)], [(0, 24)])
    pos = 24
    while pos + 16 <= len(data) and len(seed.fields) < 400:
        caplen = _u32(data, pos + 8, order)
        seed.fields += [(pos + 8, 4, order), (pos + 12, 4, order)]
        packet = pos + 16
        if packet + 34 <= len(data):  # Ethernet + IPv4 (or the start of whatever follows)
            seed.fields += [(packet + 12, 2, ">"), (packet + 16, 2, ">"), (packet + 20, 2, ">"), (packet + 23, 1, ">")]
            ihl = (data[packet + 14] & 0x0F) * 4
            l4 = packet + 14 + ihl
            if data[packet + 23] in (6, 17) and l4 + 20 <= packet + caplen:
                seed.fields += [(l4 + 4, 2, ">"), (l4 + 12, 1, ">")]
                seed.hot.append((l4, min(caplen - 14 - ihl, 200)))
        pos = packet + caplen
    return seed


def _pcapng_seed(name: str, data: bytes) -> Seed:
    order = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    seed = Seed("pcapng", name, data, [], [])
    pos = 0
    while pos + 12 <= len(data):
        btype, blen = struct.unpack_from(order + "II", data, pos)
        seed.fields += [(pos, 4, order), (pos + 4, 4, order), (pos + blen - 4, 4, order)]
        if btype == 1:  # interface description: link type, snap length, options (if_tsresol)
            seed.fields += [(pos + 8, 2, order), (pos + 12, 4, order)]
            seed.hot.append((pos + 16, max(0, blen - 20)))
        elif btype == 6:  # enhanced packet: interface, timestamps, lengths
            seed.fields += [(pos + 8, 4, order), (pos + 12, 4, order), (pos + 20, 4, order), (pos + 24, 4, order)]
            seed.hot.append((pos + 28, min(blen - 32, 120)))
        if blen < 12:
            break
        pos += blen
    return seed


# ------------------------------------------------------------------------------------ disks

def _fat_layout(data: bytes, base: int = 0) -> tuple[list[Field], list[Region]]:
    """Boot sector fields, the FATs, the root directory and the directory entries found in it."""
    bps, spc, reserved, fats, root_entries = (_u16(data, base + 11), data[base + 13], _u16(data, base + 14),
                                             data[base + 16], _u16(data, base + 17))
    fat_size = _u16(data, base + 22) or _u32(data, base + 36)
    fields: list[Field] = [(base + off, size, "<") for off, size in
                           ((11, 2), (13, 1), (14, 2), (16, 1), (17, 2), (19, 2), (22, 2), (32, 4), (36, 4), (44, 4),
                            (510, 2))]
    fat_start = base + reserved * bps
    root = fat_start + fats * fat_size * bps
    data_start = root + root_entries * 32
    cluster = bps * spc
    hot: list[Region] = [(base, 90), (fat_start, min(fat_size * bps, 512)), (root, min(root_entries * 32, 1024)),
                         (data_start, 16 * cluster)]
    for region_start, length in ((root, root_entries * 32), (data_start, 32 * cluster)):
        for entry in range(region_start, region_start + length, 32):
            if entry + 32 > len(data):
                break
            first, attr = data[entry], data[entry + 11]
            if first in (0, 0xE5) or attr & 0xC0 or attr == 0x0F or not all(32 <= c < 127 for c in data[entry:entry + 11]):
                continue
            fields += [(entry + 26, 2, "<"), (entry + 20, 2, "<"), (entry + 28, 4, "<"), (entry + 11, 1, "<")]
    # FAT entries of the first clusters: loops and bad-cluster marks in the chains
    width = 4 if _u16(data, base + 22) == 0 else 2
    fields += [(fat_start + i * width, width, "<") for i in range(2, 40)]
    return fields, hot


def _ext4_layout(data: bytes, base: int = 0) -> tuple[list[Field], list[Region]]:
    """Superblock, group descriptor 0, the root and first inodes, and the root directory block."""
    sb = base + 1024
    block = 1024 << _u32(data, sb + 24)
    fields: list[Field] = [(sb + off, size, "<") for off, size in
                           ((0, 4), (4, 4), (20, 4), (24, 4), (32, 4), (40, 4), (56, 2), (76, 4), (84, 4), (88, 2),
                            (92, 4), (96, 4), (100, 4), (254, 2))]
    gdt = base + (2048 if block == 1024 else block)
    fields += [(gdt + off, size, "<") for off, size in ((0, 4), (4, 4), (8, 4), (18, 2))]
    inode_size = _u16(data, sb + 88)
    table = base + _u32(data, gdt + 8) * block
    hot: list[Region] = [(sb, 256), (gdt, 64), (table + inode_size, inode_size * 20)]
    for number in [2, *range(11, 24)]:
        inode = table + (number - 1) * inode_size
        if inode + inode_size > len(data):
            break
        fields += [(inode + off, size, "<") for off, size in
                   ((0, 2), (4, 4), (26, 2), (32, 4), (40, 2), (42, 2), (46, 2), (52, 4), (56, 2), (60, 4), (108, 4))]
    root = table + inode_size
    if _u16(data, root + 40) == 0xF30A:  # extent header: the root directory's first block
        directory = base + _u32(data, root + 60) * block
        hot.append((directory, block))
        pos = directory
        while pos + 8 <= directory + block:
            rec_len = _u16(data, pos + 4)
            fields += [(pos, 4, "<"), (pos + 4, 2, "<"), (pos + 6, 1, "<"), (pos + 7, 1, "<")]
            if rec_len < 8:
                break
            pos += rec_len
    return fields, hot


def _ntfs_layout(data: bytes, base: int = 0) -> tuple[list[Field], list[Region]]:
    """Boot sector fields, and the headers and attribute headers of the first MFT records."""
    fields: list[Field] = [(base + off, size, "<") for off, size in
                           ((11, 2), (13, 1), (40, 8), (48, 8), (56, 8), (64, 1), (68, 1))]
    hot: list[Region] = [(base, 90)]
    cluster = _u16(data, base + 11) * data[base + 13]
    mft = base + struct.unpack_from("<Q", data, base + 48)[0] * cluster
    for record in range(mft, mft + 64 * 1024, 1024):
        if data[record:record + 4] != b"FILE":
            continue
        hot.append((record, 1024))
        fields += [(record + off, size, "<") for off, size in ((4, 2), (6, 2), (20, 2), (22, 2), (24, 4), (28, 4))]
        attr = record + _u16(data, record + 20)
        while attr + 16 <= record + 1024:
            kind, length = _u32(data, attr), _u32(data, attr + 4)
            if kind == 0xFFFFFFFF or length < 16 or length > 1024:
                break
            fields += [(attr, 4, "<"), (attr + 4, 4, "<"), (attr + 8, 1, "<"), (attr + 9, 1, "<"), (attr + 10, 2, "<")]
            if data[attr + 8]:  # non-resident: VCNs, run list offset, sizes
                fields += [(attr + off, size, "<") for off, size in ((16, 8), (24, 8), (32, 2), (40, 8), (48, 8), (56, 8))]
                runs = attr + _u16(data, attr + 32)
                fields += [(runs + i, 1, "<") for i in range(min(8, max(0, attr + length - runs)))]
            else:
                fields += [(attr + 16, 4, "<"), (attr + 20, 2, "<")]
            attr += length
    for index in range(base, len(data) - 4, 4096):
        if data[index:index + 4] == b"INDX":
            hot.append((index, 4096))
            fields += [(index + off, size, "<") for off, size in ((24, 4), (28, 4), (32, 4))]
    return fields, hot


def _mbr_fields(data: bytes, table: int) -> list[Field]:
    fields: list[Field] = [(table + 510, 2, "<")]
    for slot in range(4):
        entry = table + 446 + 16 * slot
        fields += [(entry, 1, "<"), (entry + 4, 1, "<"), (entry + 8, 4, "<"), (entry + 12, 4, "<")]
    return fields


def _gpt_fields(data: bytes) -> list[Field]:
    fields: list[Field] = [(512 + off, size, "<") for off, size in
                           ((0, 8), (12, 4), (16, 4), (24, 8), (32, 8), (40, 8), (48, 8), (72, 8), (80, 4), (84, 4),
                            (88, 4))]
    fields += [(1024 + off, size, "<") for off, size in ((32, 8), (40, 8))]
    return fields


def _small_fat(work: Path, name: str, fat_bits: int, sectors: int, content: images.FsContent) -> bytes:
    disk = work / name
    with disk.open("wb") as handle:
        handle.truncate(sectors * images.SECTOR)
    images._make_fat(disk, 0, sectors, fat_bits, 1 if fat_bits != 12 else 4, "FUZZ", "20240401", content, work)
    return disk.read_bytes()


def _small_ext4(work: Path, sectors: int) -> bytes:
    fs = work / "ext4.img"
    images._make_ext4(fs, sectors, images.mbr_ext4_content(), work)
    return fs.read_bytes()


def disk_seeds(work: Path) -> list[Seed]:
    """FAT12/FAT16, ext4, NTFS, an MBR disk with an extended partition, and a GPT disk."""
    work.mkdir(parents=True, exist_ok=True)
    seeds = []
    fat12 = images.build_bare_fat(work).read_bytes()
    seeds.append(Seed("fat", "fat12.raw", fat12, *_fat_layout(fat12)))
    fat16_dir = work / "fat16"
    fat16_dir.mkdir()
    fat16 = _small_fat(fat16_dir, "fat16.raw", 16, 8192, images.mbr_fat32_content())
    seeds.append(Seed("fat", "fat16.raw", fat16, *_fat_layout(fat16)))
    ext4_dir = work / "ext4"
    ext4_dir.mkdir()
    ext4 = _small_ext4(ext4_dir, 4096)
    seeds.append(Seed("ext4", "ext4.raw", ext4, *_ext4_layout(ext4)))
    gpt_dir = work / "gpt"
    gpt_dir.mkdir()
    gpt = images.build_gpt_ntfs(gpt_dir).read_bytes()
    start, sectors = images.GPT_NTFS_LAYOUT
    ntfs = gpt[start * images.SECTOR:(start + sectors) * images.SECTOR]
    seeds.append(Seed("ntfs", "ntfs.raw", ntfs, *_ntfs_layout(ntfs)))
    seeds.append(Seed("gpt", "gpt.raw", gpt, _gpt_fields(gpt), [(512, 92), (1024, 256)]))
    seeds.append(_mbr_seed(work / "mbr"))
    return seeds


def _mbr_seed(work: Path) -> Seed:
    """8 MiB: a FAT16 primary partition, and an extended partition holding a FAT12 logical one."""
    work.mkdir()
    disk = work / "mbr.raw"
    with disk.open("wb") as handle:
        handle.truncate(16384 * images.SECTOR)
    table = "label: dos\nlabel-id: 0x20240401\nunit: sectors\n\nstart=2048, size=8192, type=6\n" \
            "start=10240, size=6144, type=5\nstart=12288, size=4096, type=1\n"
    subprocess.run(["sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(disk)], input=table.encode(), check=True,
                   capture_output=True)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        images._make_fat(disk, 2048, 8192, 16, 1, "PRIMARY", "20240402", images.mbr_fat16_content(), Path(tmp))
        images._make_fat(disk, 12288, 4096, 12, 1, "LOGICAL", "20240403", images.bare_fat_content(), Path(tmp))
    data = disk.read_bytes()
    fields = _mbr_fields(data, 0) + _mbr_fields(data, 10240 * images.SECTOR)
    fat_fields, fat_hot = _fat_layout(data, 2048 * images.SECTOR)
    return Seed("mbr", "mbr.raw", data, fields + fat_fields[:24],
                [(446, 66), (10240 * images.SECTOR + 446, 66)] + fat_hot[:2])


# ------------------------------------------------------------------------------------ PE and zip

def pe_seeds(corpus: Path, include_large: bool = False) -> list[Seed]:
    seeds = []
    for path in sorted((corpus / "pe").glob("*")):
        if path.stat().st_size > 100_000 and not include_large:
            continue
        data = path.read_bytes()
        seeds.append(_pe_seed(path.name, data))
    return seeds


def _pe_seed(name: str, data: bytes) -> Seed:
    pe = pefile.PE(data=data, fast_load=True)
    nt = pe.NT_HEADERS.get_file_offset()
    optional = pe.OPTIONAL_HEADER.get_file_offset()
    fields: list[Field] = [(0x3C, 4, "<"), (nt, 4, "<"), (nt + 6, 2, "<"), (nt + 20, 2, "<"), (optional, 2, "<")]
    for member in ("SizeOfHeaders", "NumberOfRvaAndSizes", "AddressOfEntryPoint", "SizeOfImage", "FileAlignment",
                   "SectionAlignment"):
        offset = pe.OPTIONAL_HEADER.get_field_absolute_offset(member)
        fields.append((offset, 4, "<"))
    hot: list[Region] = [(0, 64), (nt, 24 + pe.FILE_HEADER.SizeOfOptionalHeader)]
    for directory in pe.OPTIONAL_HEADER.DATA_DIRECTORY:
        at = directory.get_file_offset()
        fields += [(at, 4, "<"), (at + 4, 4, "<")]
        if directory.VirtualAddress and directory.Size:
            try:
                start = pe.get_offset_from_rva(directory.VirtualAddress) if directory.name != \
                    "IMAGE_DIRECTORY_ENTRY_SECURITY" else directory.VirtualAddress
            except pefile.PEFormatError:
                continue
            if start is not None and start < len(data):
                hot.append((start, min(directory.Size, 512)))
    for section in pe.sections:
        at = section.get_file_offset()
        fields += [(at + off, 4, "<") for off in (8, 12, 16, 20, 36)]
    pe.close()
    return Seed("pe", name, data, fields, hot)


def zip_seeds(work: Path, corpus: Path) -> list[Seed]:
    """Deflated, stored, bzip2, LZMA, nested, encrypted (zip -P) and zip64 (zip -fz) archives."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "notes.txt").write_bytes(b"meeting at noon\n" * 40)
    shutil.copy(corpus / "pe" / "HelloWorld.exe", work / "HelloWorld.exe")
    (work / "sub").mkdir()
    (work / "sub" / "eicar.com").write_bytes(images.EICAR)
    names = ["notes.txt", "HelloWorld.exe", "sub/eicar.com"]
    made = {}
    for label, extra in (("deflate", []), ("store", ["-0"]), ("encrypted", ["-P", "infected"]), ("zip64", ["-fz"])):
        out = work / f"{label}.zip"
        subprocess.run(["zip", "-q", "-X", *extra, str(out), *names], cwd=work, check=True)
        made[label] = out.read_bytes()
    for label, method in (("bzip2", zipfile.ZIP_BZIP2), ("lzma", zipfile.ZIP_LZMA)):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", method) as archive:
            for name in names:
                archive.write(work / name, name)
        made[label] = buffer.getvalue()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("inner.zip", made["deflate"])
        archive.writestr("empty-dir/", b"")
    made["nested"] = buffer.getvalue()
    return [_zip_seed(f"{label}.zip", data) for label, data in made.items()]


def _zip_seed(name: str, data: bytes) -> Seed:
    fields: list[Field] = []
    hot: list[Region] = []
    eocd = data.rfind(b"PK\x05\x06")
    if eocd >= 0:
        fields += [(eocd + off, size, "<") for off, size in ((8, 2), (10, 2), (12, 4), (16, 4), (20, 2))]
        hot.append((eocd, 22))
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        fields += [(pos + off, size, "<") for off, size in
                   ((8, 2), (10, 2), (20, 4), (24, 4), (28, 2), (30, 2), (32, 2), (38, 4), (42, 4))]
        hot.append((pos, 46 + _u16(data, pos + 28) + _u16(data, pos + 30)))
        pos = data.find(b"PK\x01\x02", pos + 4)
    pos = data.find(b"PK\x03\x04")
    while pos >= 0:
        fields += [(pos + off, size, "<") for off, size in ((6, 2), (8, 2), (18, 4), (22, 4), (26, 2), (28, 2))]
        hot.append((pos, 30 + _u16(data, pos + 26) + _u16(data, pos + 28) + 64))
        pos = data.find(b"PK\x03\x04", pos + 4)
    zip64 = data.find(b"PK\x06\x06")
    if zip64 >= 0:
        fields += [(zip64 + off, 8, "<") for off in (24, 32, 40, 48)]
    return Seed("zip", name, data, fields, hot)


def build_seeds(work: Path, corpus: Path, include_large_pe: bool = False) -> list[Seed]:
    """Every seed, built once (disk images take a few seconds)."""
    missing = images.missing_tools()
    if missing:
        raise RuntimeError(f"test tools missing: {missing} (run `make system-packages`)")
    return (capture_seeds(corpus) + disk_seeds(work / "disks") + pe_seeds(corpus, include_large_pe)
            + zip_seeds(work / "zips", corpus))
