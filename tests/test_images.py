"""The test-image builders deliver what they promise, judged by The Sleuth Kit."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from tests import images

pytestmark = pytest.mark.skipif(
    bool(images.missing_tools()), reason=f"missing: {', '.join(images.missing_tools())}"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("images")
    return {
        "mbr": images.build_mbr_fat32_ext4(out),
        "gpt": images.build_gpt_ntfs(out),
        "bare": images.build_bare_fat(out),
    }


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_content(image: images.Image, offset: int, content: images.FsContent) -> None:
    """fls lists every file, folder and deleted file; icat returns their bytes."""
    records = {(r.path, r.deleted): r for r in images.fls_records(image, offset)}
    for rel in content.directories:
        assert records[("/" + rel, False)].name_type == "d"
    expected = [(rel, data, False) for rel, data in content.files.items()]
    expected += [(rel, data, True) for rel, data in content.deleted.items()]
    expected += [(rel, data, False) for rel, data in content.streams.items()]
    for rel, data, deleted in expected:
        record = records[("/" + rel, deleted)]
        assert images.icat_sha256(image, offset, record.inode) == _sha(data), rel
    for rel in content.symlinks:
        assert records[("/" + rel, False)].name_type == "l"


def test_mbr_layout(built: dict[str, Path]) -> None:
    parts = images.mmls_partitions(built["mbr"])
    lay = images.MBR_LAYOUT
    assert [(p.start, p.length) for p in parts] == [lay["fat32"], lay["ext4"], lay["fat16"]]
    assert [p.slot for p in parts] == ["000:000", "000:001", "001:000"]  # 001 = logical
    assert "FAT32" in parts[0].description and "FAT16" in parts[2].description
    assert images.filesystem_offsets(built["mbr"]) == [p.offset for p in parts]


def test_mbr_content(built: dict[str, Path]) -> None:
    lay = images.MBR_LAYOUT
    _check_content(built["mbr"], lay["fat32"][0] * 512, images.mbr_fat32_content())
    _check_content(built["mbr"], lay["ext4"][0] * 512, images.mbr_ext4_content())
    _check_content(built["mbr"], lay["fat16"][0] * 512, images.mbr_fat16_content())


def test_planted_files(built: dict[str, Path]) -> None:
    fat32 = images.mbr_fat32_content().files
    assert fat32["Downloads/eicar.com"].startswith(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR")
    assert fat32["Pictures/holiday.jpg"][:2] == b"MZ"
    assert ("/Documents/Finance/2024/Q1/Überweisung_2024.txt", False) in images.fls_entries(
        built["mbr"], images.MBR_LAYOUT["fat32"][0] * 512
    )


def test_gpt_ntfs(built: dict[str, Path]) -> None:
    (part,) = images.mmls_partitions(built["gpt"])
    assert (part.start, part.length) == images.GPT_NTFS_LAYOUT
    assert part.description == "Windows"
    assert images.filesystem_offsets(built["gpt"]) == [part.offset]
    content = images.gpt_ntfs_content()
    _check_content(built["gpt"], part.offset, content)
    entries = images.fls_entries(built["gpt"], part.offset)
    assert ("/Users/Bob/Downloads/invoice.txt:Zone.Identifier", False) in entries


def test_bare_fat(built: dict[str, Path]) -> None:
    with pytest.raises(RuntimeError):
        images.mmls_partitions(built["bare"])
    assert images.filesystem_offsets(built["bare"]) == [0]
    _check_content(built["bare"], 0, images.bare_fat_content())


def test_e01_segments(built: dict[str, Path], tmp_path: Path) -> None:
    e01 = images.make_e01(built["bare"], tmp_path, segment_bytes=images.MiB)
    segments = images.split_segments(e01)
    assert [p.suffix for p in segments] == [".E01", ".E02", ".E03", ".E04", ".E05"]
    subprocess.run(["ewfverify", "-q", str(e01)], check=True, capture_output=True)
    assert images.fls_entries(e01, 0) == images.fls_entries(built["bare"], 0)


def test_e01_compressed(built: dict[str, Path], tmp_path: Path) -> None:
    e01 = images.make_e01(built["mbr"], tmp_path)
    assert images.split_segments(e01) == [e01]
    assert e01.stat().st_size < built["mbr"].stat().st_size // 4
    subprocess.run(["ewfverify", "-q", str(e01)], check=True, capture_output=True)
    assert images.filesystem_offsets(e01) == images.filesystem_offsets(built["mbr"])
    offset = images.MBR_LAYOUT["ext4"][0] * 512
    assert images.fls_entries(e01, offset) == images.fls_entries(built["mbr"], offset)


def test_e01_rejects_tiny_segments(built: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        images.make_e01(built["bare"], tmp_path, segment_bytes=1000)


def test_split_raw(built: dict[str, Path], tmp_path: Path) -> None:
    first = images.make_split_raw(built["mbr"], tmp_path, 20 * images.MiB)
    segments = images.split_segments(first)
    assert [p.name for p in segments] == ["mbr.001", "mbr.002", "mbr.003"]
    assert images.sha256_file(*segments) == images.sha256_file(built["mbr"])
    offset = images.MBR_LAYOUT["fat16"][0] * 512  # the logical partition lies in .003
    assert images.filesystem_offsets(segments) == images.filesystem_offsets(built["mbr"])
    assert images.fls_entries(segments, offset) == images.fls_entries(built["mbr"], offset)


def test_bundled_demo_image() -> None:
    """resources/demo/demo-disk.img still holds what its README promises."""
    demo = images.REPO / "resources" / "demo" / "demo-disk.img"
    assert demo.stat().st_size <= 8_000_000
    parts = images.mmls_partitions(demo)
    assert [(p.start, p.description) for p in parts] == [
        (2048, "DOS FAT16 (0x06)"),
        (8192, "Linux (0x83)"),
    ]
    fat = {r.path: r for r in images.fls_records(demo, 2048 * 512)}
    ext = images.fls_entries(demo, 8192 * 512)
    assert [p for p, r in fat.items() if r.deleted] == ["/Documents/passwords_old.txt"]
    assert images.icat_sha256(demo, 2048 * 512, fat["/Downloads/eicar.com"].inode) == _sha(
        images.EICAR
    )
    assert images.icat_sha256(demo, 2048 * 512, fat["/Pictures/holiday.jpg"].inode) == (
        images.sha256_file(images.HELLO_EXE)
    )
    assert "/Downloads/invoice_update.zip" in fat
    assert ("/home/alex/notes/tor-links.txt", False) in ext
    assert ("/home/alex/Desktop/README_RESTORE_FILES.txt", False) in ext
