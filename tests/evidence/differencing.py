"""Differencing virtual disks for the tests, made from the sectors a test changed in a raw disk.

QCOW2 and VMDK children are made by qemu itself (`qemu-img create -b PARENT`, then `qemu-io` writes the changed
sectors into the child). qemu can neither create nor read a VHD or VHDX differencing image ("Backing file not
supported for file format 'vpc'"/"'vhdx'"), so those are written here by the published layouts (Microsoft's VHD
specification, [MS-VHDX], as libvhdi's documentation describes them): a VHD child from scratch, a VHDX child from
a dynamic VHDX that qemu made and wrote the changed sectors into, turned into a differencing image (its File
Parameters' HasParent flag, a parent locator, and its written blocks marked partly present with a sector bitmap).
The expected guest disk is the raw disk the test changed: the changes are the test's own data.
"""

from __future__ import annotations

import struct
import subprocess
import time
import uuid
from pathlib import Path

SECTOR = 512
Runs = list[tuple[int, bytes]]  # (guest byte offset, bytes), sector-aligned


def changed_runs(before: Path, after: Path) -> Runs:
    """The sectors that differ between two raw disks of the same size, as runs of consecutive sectors."""
    old, new = before.read_bytes(), after.read_bytes()
    assert len(old) == len(new)
    runs: Runs = []
    step = 64 * 1024
    for start in range(0, len(new), step):
        if old[start:start + step] == new[start:start + step]:
            continue
        for offset in range(start, min(start + step, len(new)), SECTOR):
            if old[offset:offset + SECTOR] == new[offset:offset + SECTOR]:
                continue
            if runs and runs[-1][0] + len(runs[-1][1]) == offset:
                runs[-1] = (runs[-1][0], runs[-1][1] + new[offset:offset + SECTOR])
            else:
                runs.append((offset, new[offset:offset + SECTOR]))
    return runs


def apply_runs(raw: Path, runs: Runs) -> None:
    with open(raw, "r+b") as out:
        for offset, data in runs:
            out.seek(offset)
            out.write(data)


def qemu_write(image: Path, fmt: str, runs: Runs, work: Path) -> None:
    """Write the runs into the guest disk of `image` through qemu-io."""
    commands = []
    for index, (offset, data) in enumerate(runs):
        pattern = work / f"run{index}.bin"
        pattern.write_bytes(data)
        commands += ["-c", f"write -s {pattern} {offset} {len(data)}"]
    subprocess.run(["qemu-io", "-f", fmt, *commands, str(image)], check=True, capture_output=True)
    for index in range(len(runs)):
        (work / f"run{index}.bin").unlink()


def _vhd_checksum(data: bytes) -> int:
    return ~sum(data) & 0xFFFFFFFF


def vhd_child(parent: Path, child: Path, runs: Runs, block_size: int = 2 * 1024 * 1024) -> None:
    """A differencing VHD over `parent` (a VHD qemu made) holding `runs`: a copy of the parent's footer as type 4,
    a dynamic disk header naming the parent (its unique id, time stamp and name), parent locators (relative and
    absolute Windows paths), and a block for each 2 MiB the runs touch, whose sector bitmap (MSB first) marks the
    sectors the child holds."""
    with open(parent, "rb") as handle:
        handle.seek(-SECTOR, 2)
        parent_footer = handle.read(SECTOR)
    assert parent_footer.startswith(b"conectix")
    size = struct.unpack(">Q", parent_footer[48:56])[0]
    entries = -(-size // block_size)
    bitmap_size = -(-(block_size // SECTOR // 8) // SECTOR) * SECTOR
    locators = [(b"W2ru", ".\\" + parent.name), (b"W2ku", "C:\\VMs\\" + parent.name)]
    locator_at = 3 * SECTOR
    bat_at = locator_at + len(locators) * SECTOR
    data_at = bat_at + -(-entries * 4 // SECTOR) * SECTOR

    blocks: dict[int, tuple[bytearray, bytearray]] = {}  # block number → (sector bitmap, data)
    for offset, data in runs:
        for at in range(0, len(data), SECTOR):
            number, within = divmod(offset + at, block_size)
            bitmap, content = blocks.setdefault(number, (bytearray(bitmap_size), bytearray(block_size)))
            sector = within // SECTOR
            bitmap[sector // 8] |= 0x80 >> (sector % 8)
            content[within:within + SECTOR] = data[at:at + SECTOR]
    bat = [0xFFFFFFFF] * entries
    body = bytearray()
    for number in sorted(blocks):
        bat[number] = (data_at + len(body)) // SECTOR
        body += blocks[number][0] + blocks[number][1]

    footer = bytearray(parent_footer)
    footer[16:24] = struct.pack(">Q", SECTOR)  # the dynamic disk header
    footer[24:28] = struct.pack(">I", int(time.time()) - 946684800)  # seconds since 2000-01-01
    footer[60:64] = struct.pack(">I", 4)  # differencing
    footer[68:84] = uuid.uuid4().bytes
    footer[84] = 0
    footer[64:68] = b"\0\0\0\0"
    footer[64:68] = struct.pack(">I", _vhd_checksum(footer))

    header = bytearray(1024)
    header[0:8] = b"cxsparse"
    header[8:16] = b"\xff" * 8
    struct.pack_into(">QIII", header, 16, bat_at, 0x00010000, entries, block_size)
    header[40:56] = parent_footer[68:84]  # the parent's unique id
    header[56:60] = parent_footer[24:28]  # the parent's time stamp
    name = parent.name.encode("utf-16-be")
    header[64:64 + len(name)] = name
    locator_data = bytearray()
    for index, (code, path) in enumerate(locators):
        encoded = path.encode("utf-16-le")
        struct.pack_into(">4sIIIQ", header, 576 + 24 * index, code, 1, len(encoded), 0,
                         locator_at + index * SECTOR)
        locator_data += encoded.ljust(SECTOR, b"\0")
    struct.pack_into(">I", header, 36, _vhd_checksum(header))

    with open(child, "wb") as out:
        out.write(footer + header + locator_data)
        out.write(b"".join(struct.pack(">I", entry) for entry in bat).ljust(data_at - bat_at, b"\xff"))
        out.write(body)
        out.write(footer)


# [MS-VHDX] identifiers, as they lie in the file (little-endian GUIDs)
_BAT_REGION = uuid.UUID("2dc27766-f623-4200-9d64-115e9bfd4a08").bytes_le
_METADATA_REGION = uuid.UUID("8b7ca206-4790-4b9a-b8fe-575f050f886e").bytes_le
_FILE_PARAMETERS = uuid.UUID("caa16737-fa36-4d43-b3b6-33f0aa44e76b").bytes_le
_LOGICAL_SECTOR = uuid.UUID("8141bf1d-a96f-4709-ba47-f233a8faab5f").bytes_le
_PARENT_LOCATOR = uuid.UUID("a8d35f2d-b30b-454d-abf7-d3d84834ab0c").bytes_le
_VHDX_LOCATOR_TYPE = uuid.UUID("b04aefb7-d19e-4a81-b789-25b8e9445913").bytes_le
_MIB = 1024 * 1024
_PARTIALLY_PRESENT, _FULLY_PRESENT, _BITMAP_PRESENT = 7, 6, 6


def _vhdx_regions(data: bytes | bytearray) -> dict[bytes, tuple[int, int]]:
    table = data[192 * 1024:256 * 1024]
    assert table[:4] == b"regi"
    count = struct.unpack_from("<I", table, 8)[0]
    regions = {}
    for index in range(count):
        guid, offset, length, _ = struct.unpack_from("<16sQII", table, 16 + 32 * index)
        regions[guid] = (offset, length)
    return regions


def _vhdx_data_write_guid(data: bytes | bytearray) -> str:
    """The data write GUID of the current header (the higher sequence number), as [MS-VHDX] prints a GUID."""
    headers = [data[at:at + 4096] for at in (64 * 1024, 128 * 1024)]
    current = max((h for h in headers if h[:4] == b"head"), key=lambda h: struct.unpack_from("<Q", h, 8)[0])
    return "{" + str(uuid.UUID(bytes_le=bytes(current[32:48]))) + "}"


def vhdx_child(parent: Path, child: Path, runs: Runs, work: Path) -> None:
    """A differencing VHDX over `parent` (a VHDX qemu made): qemu makes an empty dynamic VHDX of the parent's size
    and writes the runs into it; then its File Parameters say HasParent, a parent locator names the parent
    (parent_linkage: the parent's data write GUID; relative_path; absolute_win32_path), and each block qemu wrote
    becomes PAYLOAD_BLOCK_PARTIALLY_PRESENT with its chunk's sector bitmap (LSB first) marking the sectors of the
    runs. Nothing checksummed (headers, region table) changes."""
    size = int(subprocess.run(["qemu-img", "info", "--output=json", str(parent)], capture_output=True, text=True,
                              check=True).stdout.split('"virtual-size":')[1].split(",")[0])
    subprocess.run(["qemu-img", "create", "-f", "vhdx", str(child), str(size)], check=True, capture_output=True)
    qemu_write(child, "vhdx", runs, work)
    linkage = _vhdx_data_write_guid(parent.read_bytes())
    data = bytearray(child.read_bytes())
    regions = _vhdx_regions(data)
    bat_at, bat_length = regions[_BAT_REGION]
    meta_at, meta_length = regions[_METADATA_REGION]
    assert data[meta_at:meta_at + 8] == b"metadata"
    count = struct.unpack_from("<H", data, meta_at + 10)[0]
    items = {}
    for index in range(count):
        guid, offset, length, _ = struct.unpack_from("<16sIII", data, meta_at + 32 + 32 * index)
        items[guid] = (offset, length)
    block_size, flags = struct.unpack_from("<II", data, meta_at + items[_FILE_PARAMETERS][0])
    struct.pack_into("<I", data, meta_at + items[_FILE_PARAMETERS][0] + 4, flags | 2)  # HasParent
    logical = struct.unpack_from("<I", data, meta_at + items[_LOGICAL_SECTOR][0])[0]

    pairs = [("parent_linkage", linkage), ("relative_path", ".\\" + parent.name),
             ("absolute_win32_path", "\\\\?\\C:\\VMs\\" + parent.name)]
    locator = bytearray(_VHDX_LOCATOR_TYPE + struct.pack("<HH", 0, len(pairs)))
    strings = bytearray()
    strings_at = len(locator) + 12 * len(pairs)
    for key, value in pairs:
        k, v = key.encode("utf-16-le"), value.encode("utf-16-le")
        locator += struct.pack("<IIHH", strings_at + len(strings), strings_at + len(strings) + len(k), len(k), len(v))
        strings += k + v
    locator += strings
    locator_offset = max(offset + length for offset, length in items.values())
    locator_offset = -(-locator_offset // 4096) * 4096
    assert locator_offset + len(locator) <= meta_length
    data[meta_at + locator_offset:meta_at + locator_offset + len(locator)] = locator
    struct.pack_into("<16sIIII", data, meta_at + 32 + 32 * count, _PARENT_LOCATOR, locator_offset, len(locator),
                     4, 0)  # IsRequired
    struct.pack_into("<H", data, meta_at + 10, count + 1)

    chunk_ratio = (2**23 * logical) // block_size
    sectors_per_block = block_size // logical
    bitmaps: dict[int, bytearray] = {}  # chunk → its sector bitmap
    for offset, run in runs:
        for sector in range(offset // logical, (offset + len(run)) // logical):
            chunk, within = divmod(sector, chunk_ratio * sectors_per_block)
            bitmap = bitmaps.setdefault(chunk, bytearray(_MIB))
            bitmap[within // 8] |= 1 << (within % 8)
    for chunk in range(-(-size // (block_size * chunk_ratio))):
        for index in range(chunk * (chunk_ratio + 1), chunk * (chunk_ratio + 1) + chunk_ratio):
            entry = struct.unpack_from("<Q", data, bat_at + 8 * index)[0]
            if entry & 7 == _FULLY_PRESENT:
                struct.pack_into("<Q", data, bat_at + 8 * index, entry & ~7 | _PARTIALLY_PRESENT)
    for chunk, bitmap in sorted(bitmaps.items()):
        at = -(-len(data) // _MIB) * _MIB
        data += bytes(at - len(data)) + bitmap
        entry_index = chunk * (chunk_ratio + 1) + chunk_ratio
        assert 8 * (entry_index + 1) <= bat_length
        struct.pack_into("<Q", data, bat_at + 8 * entry_index, (at // _MIB) << 20 | _BITMAP_PRESENT)
    child.write_bytes(bytes(data))
