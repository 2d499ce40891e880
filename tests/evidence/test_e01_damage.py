"""E01 images with a damaged chunk: libewf reads such a chunk as zeros without a word, so the scan and `verify`
must find it themselves, and name the same sectors that ewfverify names.

A chunk is damaged by flipping one byte inside it, found in the segment file by its stored form: an uncompressed
chunk is its bytes followed by their Adler-32, a chunk of `ewfacquire -c fast` is zlib level 1 of its bytes (both
per libyal's EWF document). The expected verdict and sector ranges come from ewfverify; the files stored in the
damaged sectors come from Sleuth Kit's ifind and fls, the intact files' hashes from the fixture's own contents.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import signal
import sqlite3
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from cybertriage.evidence.integrity import hash_files
from tests import images
from tests.conftest import Images, export, run_cli

CHUNK = 64 * images.SECTOR  # ewfacquire's default: 64 sectors a chunk
_EWFVERIFY_RANGE = re.compile(r"at sector\(s\): (\d+) - (\d+) \(number: (\d+)\)")


def _stored_chunk(raw: bytes, index: int, compression: str) -> bytes:
    """Chunk `index` as the segment file stores it; a chunk that compresses to no less than its size is stored
    uncompressed (libyal's EWF document, "Data chunk")."""
    data = raw[index * CHUNK:(index + 1) * CHUNK]
    packed = zlib.compress(data, 1)
    if compression == "none" or len(packed) >= len(data):
        return data + zlib.adler32(data).to_bytes(4, "little")
    return packed


def _damage(segments: list[Path], raw: bytes, index: int, compression: str, occurrence: int = 0) -> None:
    """Flip one byte in the middle of chunk `index` (of its `occurrence`-th copy, for chunks of zeros, which are
    stored alike) in whichever segment file holds it."""
    stored = _stored_chunk(raw, index, compression)
    found = []
    for segment in segments:
        data = segment.read_bytes()
        at = data.find(stored)
        while at >= 0:
            found.append((segment, at))
            at = data.find(stored, at + 1)
    assert len(found) > occurrence, f"chunk {index} not found as stored"
    segment, at = found[occurrence]
    with segment.open("r+b") as handle:
        handle.seek(at + len(stored) // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0x5A]))


def _ewfverify(e01: Path) -> tuple[int, list[tuple[int, int]]]:
    """ewfverify's exit code and the (first, last) sectors of each validation error it reports."""
    done = subprocess.run(["ewfverify", "-q", str(e01)], capture_output=True, text=True)
    ranges = [(int(first), int(last)) for first, last, _ in _EWFVERIFY_RANGE.findall(done.stdout)]
    return done.returncode, ranges


def _stored_in(raw: Path, first: int, last: int) -> set[str]:
    """Path of each allocated regular file that Sleuth Kit's ifind says owns a sector from first to last of the
    (unpartitioned FAT) image, named by fls."""
    records = [r for r in images.fls_records(raw, 0) if r.name_type == "r" and not r.deleted]
    owners = set()
    for sector in range(first, last + 1):
        found = subprocess.run(["ifind", "-d", str(sector), str(raw)], capture_output=True, text=True).stdout.strip()
        owners |= {r.path for r in records if r.inode == found}
    return owners


@pytest.fixture(scope="module")
def large_fat(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.build_large_fat(tmp_path_factory.mktemp("large-fat"))


def _chunk_of(raw: bytes, path: str, at: int) -> int:
    """The chunk that holds byte `at` of a file of large_fat_content()."""
    return (raw.find(images.large_fat_content().files[path]) + at) // CHUNK


def _zero_chunk(raw: bytes) -> int:
    """The last chunk of the image that holds only zeros (free space at the end of the filesystem)."""
    return next(i for i in range(len(raw) // CHUNK - 1, 0, -1) if not any(raw[i * CHUNK:(i + 1) * CHUNK]))


@pytest.mark.parametrize("compression", ["none", "fast"])
def test_damaged_zero_and_data_chunks_are_caught_with_ewfverify_sectors(
        large_fat: Path, compression: str, tmp_path: Path) -> None:
    """A chunk of zeros and a chunk of large.bin's data are damaged: the scan exits 1 naming ewfverify's sectors,
    the image is not "verified", large.bin loses its hash with a note and is counted in the ledger, every other
    file keeps its true hash, and `verify` fails naming the ranges. With -c fast both chunks are compressed."""
    raw = large_fat.read_bytes()
    e01 = images.make_e01(large_fat, tmp_path, compression=compression)
    _damage([e01], raw, _zero_chunk(raw), compression, occurrence=-1)
    _damage([e01], raw, _chunk_of(raw, "evidence/large.bin", 192 * 1024), compression)
    code, expected = _ewfverify(e01)
    assert code != 0 and len(expected) == 2  # ewfverify: FAILURE, two ranges

    case = tmp_path / "case"
    scan = run_cli("scan", e01, "--case", case, "--quiet", "--jobs", "2")
    assert scan.code == 1 and "Traceback" not in scan.stderr
    for first, last in expected:
        assert f"sectors {first}-{last}" in scan.stderr
    db = sqlite3.connect(case / "case.db")
    status, verified, stored = db.execute("SELECT status, verified, stored_md5 FROM evidence").fetchone()
    assert status == "partial" and verified == "damaged chunks" and stored
    problems = [m for (m,) in db.execute("SELECT message FROM problems WHERE stage = 'evidence'")]
    named = sorted((int(a), int(b)) for a, b in (re.match(r"sectors (\d+)-(\d+) ", m).groups() for m in problems))
    assert named == sorted(expected)
    skipped = json.loads(db.execute("SELECT reasons FROM ledger WHERE stage = 'content'").fetchone()[0])
    db.close()

    damaged = set().union(*(_stored_in(large_fat, first, last) for first, last in expected))
    assert damaged == {"/evidence/large.bin"}
    files = {f["path"]: f for f in export(case, "files")}
    for path, data in images.large_fat_content().files.items():
        row = files["/" + path]
        if row["path"] in damaged:
            assert row["sha256"] is None and row["note"].startswith("unreadable content"), row
        else:
            assert row["sha256"] == hashlib.sha256(data).hexdigest(), row
    assert skipped.get("unreadable sectors") == 1

    verify = run_cli("verify", "--case", case)
    damaged_line = [line for line in verify.stdout.splitlines() if line.startswith("DAMAGED ")]
    assert verify.code == 1 and len(damaged_line) == 1, verify.stdout
    for first, last in expected:
        assert f"sectors {first}-{last}" in damaged_line[0]


def test_a_damaged_chunk_of_zeros_is_not_verified(large_fat: Path, tmp_path: Path) -> None:
    """libewf reads the damaged chunk as the zeros it held, so the MD5 over the media matches the stored one;
    ewfverify still says FAILURE, and so must the scan: never "verified", exit 1, the sectors named."""
    raw = large_fat.read_bytes()
    e01 = images.make_e01(large_fat, tmp_path, compression="none")
    zeros = _zero_chunk(raw)
    _damage([e01], raw, zeros, "none", occurrence=-1)
    code, expected = _ewfverify(e01)
    assert code != 0 and expected == [(zeros * 64, zeros * 64 + 63)]

    case = tmp_path / "case"
    scan = run_cli("scan", e01, "--case", case, "--quiet")
    assert scan.code == 1 and f"sectors {zeros * 64}-{zeros * 64 + 63}" in scan.stderr
    db = sqlite3.connect(case / "case.db")
    verified, computed, stored = db.execute("SELECT verified, computed_md5, stored_md5 FROM evidence").fetchone()
    db.close()
    assert computed == stored and verified == "damaged chunks"  # the MD5 matches, and is not taken for proof
    verify = run_cli("verify", "--case", case)
    assert verify.code == 1 and any(line.startswith("DAMAGED ") and f"sectors {zeros * 64}-{zeros * 64 + 63}" in line
                                    for line in verify.stdout.splitlines()), verify.stdout


def test_a_scan_stopped_before_the_chunks_are_checked_never_said_verified(
        large_fat: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Killed once the stored MD5 has matched (the first batch of files is written after that) but before the
    chunks' own checksums are all known: the image must not stand as "verified" in the case meanwhile."""
    raw = large_fat.read_bytes()
    e01 = images.make_e01(large_fat, tmp_path, compression="none")
    _damage([e01], raw, _zero_chunk(raw), "none", occurrence=-1)
    case = tmp_path / "case"
    monkeypatch.setenv("CYBERTRIAGE_CRASH_AT", "writer-batch:1")
    assert run_cli("scan", e01, "--case", case, "--quiet").code == -signal.SIGKILL
    db = sqlite3.connect(case / "case.db")
    verified, computed, stored = db.execute("SELECT verified, computed_md5, stored_md5 FROM evidence").fetchone()
    db.close()
    assert computed == stored and verified != "verified", verified


def test_damage_in_a_later_segment_of_a_set(disk_images: Images, tmp_path: Path) -> None:
    """A multi-segment set (1 MiB segments) with two neighbouring chunks damaged, and one more far off: each is
    found in the segment that holds it, the sector ranges are ewfverify's (which names neighbours as one range),
    and the sha256 is sha256sum's of the segments concatenated."""
    first = images.make_e01(disk_images.mbr, tmp_path, segment_bytes=images.EWF_MIN_SEGMENT, compression="none")
    segments = images.split_segments(first)
    assert len(segments) > 3
    raw = disk_images.mbr.read_bytes()
    blob = (raw.find(images.mbr_fat32_content().files["Data/blob.bin"]) + 4096) // CHUNK
    for index in (blob, blob + 1, blob + 40):
        _damage(segments, raw, index, "none", occurrence=-1)
    code, expected = _ewfverify(first)
    assert code != 0 and len(expected) == 2
    result = hash_files(segments, ewf=True)
    assert [(bad.first, bad.first + bad.count - 1) for bad in result.damaged] == expected
    assert str(first) not in result.damaged[0].segment  # not in the first segment
    cat = subprocess.run(["cat", *map(str, segments)], capture_output=True, check=True).stdout
    assert result.sha256 == hashlib.sha256(cat).hexdigest()


def test_a_broken_later_segment_keeps_the_damage_found_before_it(disk_images: Images, tmp_path: Path) -> None:
    """A damaged chunk in an early segment, then the last segment's first section descriptor broken: the damage
    found before is kept (ewfverify's sectors, taken before the break), and the rest is said to be unchecked."""
    first = images.make_e01(disk_images.mbr, tmp_path, segment_bytes=images.EWF_MIN_SEGMENT, compression="none")
    segments = images.split_segments(first)
    raw = disk_images.mbr.read_bytes()
    _damage(segments, raw, (raw.find(images.mbr_fat32_content().files["Data/blob.bin"]) + 4096) // CHUNK, "none")
    code, expected = _ewfverify(first)
    assert code != 0 and len(expected) == 1
    last = bytearray(segments[-1].read_bytes())
    last[13 + 20] ^= 0xFF  # inside the "next section" offset of its first descriptor
    segments[-1].write_bytes(bytes(last))
    result = hash_files(segments, ewf=True)
    assert [(bad.first, bad.first + bad.count - 1) for bad in result.damaged] == expected
    assert result.chunks_unchecked and str(segments[-1]) in result.chunks_unchecked
    note = result.damage_note()
    assert f"sectors {expected[0][0]}-{expected[0][1]}" in note and "not checked further" in note


@pytest.mark.parametrize("compression, segment_bytes", [("none", None), ("fast", None), ("best", None),
                                                        ("none", 2 * images.EWF_MIN_SEGMENT)])
def test_sound_images_have_no_damage(disk_images: Images, compression: str, segment_bytes: int | None,
                                     tmp_path: Path) -> None:
    """Whatever ewfverify calls sound, every chunk of it passes."""
    first = images.make_e01(disk_images.mbr, tmp_path, segment_bytes=segment_bytes, compression=compression)
    assert _ewfverify(first) == (0, [])
    result = hash_files(images.split_segments(first), ewf=True)
    assert result.damaged == [] and result.chunks_unchecked is None


def _table_at(data: bytes) -> int:
    """Byte offset of the first "table" section descriptor (found by its type string, not by our reader)."""
    return data.index(b"table\0\0\0\0\0\0\0\0\0\0\0")


def test_hostile_tables_give_a_clear_reason_not_a_crash(disk_images: Images, tmp_path: Path) -> None:
    """A table claiming 2^32-1 chunks (its own checksum made right), and a section descriptor that fails its
    checksum: the sha256 is still taken (sha256sum's), and the chunks are reported unchecked, with why."""
    e01 = images.make_e01(disk_images.bare_fat, tmp_path, compression="fast")
    sound = e01.read_bytes()
    table = _table_at(sound)
    header = bytearray(sound[table + 76:table + 100])
    header[0:4] = struct.pack("<I", 0xFFFFFFFF)
    header[20:24] = struct.pack("<I", zlib.adler32(bytes(header[:20])))
    cases = {"lists 4294967295 chunks": sound[:table + 76] + bytes(header) + sound[table + 100:],
             "fails its checksum": sound[:table + 20] + b"\xff" + sound[table + 21:]}
    for reason, damaged in cases.items():
        e01.write_bytes(damaged)
        result = hash_files([e01], ewf=True)
        assert result.sha256 == hashlib.sha256(damaged).hexdigest()
        assert result.chunks_unchecked and reason in result.chunks_unchecked, result.chunks_unchecked
        assert "not checked" in result.damage_note()


def test_random_damage_never_crashes_the_check(disk_images: Images, tmp_path: Path) -> None:
    """Bytes flipped anywhere in a compressed image, 300 times: the check always ends with a sha256 and either
    a verdict or a reason; where ewfverify (libewf) still reads the image, a failure it reports is found too."""
    e01 = images.make_e01(disk_images.bare_fat, tmp_path, compression="fast")
    sound = e01.read_bytes()
    rng = random.Random(24)
    for round_ in range(300):
        damaged = bytearray(sound)
        for _ in range(rng.randint(1, 8)):
            damaged[rng.randrange(13, len(damaged))] ^= 1 << rng.randrange(8)
        e01.write_bytes(damaged)
        result = hash_files([e01], ewf=True)
        assert result.sha256 == hashlib.sha256(damaged).hexdigest()
        if round_ % 30 == 0 and not result.chunks_unchecked:
            code, expected = _ewfverify(e01)
            found = [(bad.first, bad.first + bad.count - 1) for bad in result.damaged]
            assert all(any(a <= s and e <= b for a, b in found) for s, e in expected), (expected, found)
