"""Containers (evidence nested in an object) and references with a parent chain: zips made by Info-ZIP's `zip`,
their listings and members as Info-ZIP's `zipinfo` and `unzip -p` give them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cybertriage.errors import EvidenceError
from cybertriage.evidence import open_evidence
from cybertriage.evidence.base import BytesContent, EvidenceObject, ObjectRef
from cybertriage.evidence.containers import (
    ContainerError,
    ContainerLimits,
    TooManyMembers,
    ZipContainer,
    open_container,
)
from cybertriage.evidence.folder import FolderEvidence, LooseFileEvidence


def _zip(archive: Path, cwd: Path, *names: str, password: str | None = None) -> bytes:
    args = ["zip", "-q", "-r", "-X"] + (["-P", password] if password else [])
    subprocess.run([*args, str(archive), *names], cwd=cwd, check=True)
    return archive.read_bytes()


def _unzip(archive: Path, member: str) -> bytes:
    return subprocess.run(["unzip", "-p", str(archive), member], capture_output=True, check=True).stdout


def _zipinfo(archive: Path) -> dict[str, tuple[int, int]]:
    """name → (size, compressed size), from `zipinfo -l` (the listing's 4th and 6th columns)."""
    listing = subprocess.run(["zipinfo", "-l", str(archive)], capture_output=True, check=True, text=True).stdout
    found = {}
    for line in listing.splitlines():
        columns = line.split(maxsplit=9)
        if len(columns) == 10 and columns[0][0] in "-d":
            found[columns[9]] = (int(columns[3]), int(columns[5]))
    return found


@pytest.fixture(scope="module")
def nested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """outer.zip holding note.txt, dir/ and dir/inner.zip, which holds sub/, sub/deep.txt and evil.exe."""
    work = tmp_path_factory.mktemp("zips")
    (work / "inner" / "sub").mkdir(parents=True)
    (work / "inner" / "sub" / "deep.txt").write_bytes(b"the innermost member\n" * 500)
    (work / "inner" / "evil.exe").write_bytes(b"MZ" + os.urandom(40_000))
    (work / "outer" / "dir").mkdir(parents=True)
    (work / "outer" / "note.txt").write_bytes(b"top note\n")
    _zip(work / "outer" / "dir" / "inner.zip", work / "inner", "sub", "evil.exe")
    _zip(work / "outer.zip", work / "outer", "note.txt", "dir")
    return work / "outer.zip", work / "outer" / "dir" / "inner.zip"


def test_a_ref_displays_its_chain_outermost_first() -> None:
    top = ObjectRef("/docs/outer.zip", partition_offset=1048576, inode="42")
    deep = ObjectRef("sub/deep.txt", parent=ObjectRef("dir/inner.zip", parent=top))
    assert deep.display() == "/docs/outer.zip!dir/inner.zip!sub/deep.txt"
    assert deep.outermost() == top and top.outermost() is top
    assert EvidenceObject(path="/a/b", name="b", size=1, partition_offset=512, inode="7").ref == \
        ObjectRef("/a/b", partition_offset=512, inode="7")


def test_the_listing_and_members_are_zipinfo_and_unzip_s(nested: tuple[Path, Path]) -> None:
    outer, _ = nested
    holder = EvidenceObject(path="/docs/outer.zip", name="outer.zip", size=outer.stat().st_size, deleted=True)
    with ZipContainer(BytesContent(outer.read_bytes()), holder.ref, ContainerLimits()) as archive:
        assert {m.name: (m.size, m.packed) for m in archive.members} == _zipinfo(outer)
        assert archive.listed == len(archive.members) == 3
        found = {obj.path: obj for obj in archive.objects(holder)}
        assert set(found) == {"/docs/outer.zip!note.txt", "/docs/outer.zip!dir", "/docs/outer.zip!dir/inner.zip"}
        directory = found["/docs/outer.zip!dir"]
        assert (directory.kind, directory.name, directory.size, directory.content) == ("directory", "dir", 0, None)
        inner = found["/docs/outer.zip!dir/inner.zip"]
        assert inner.name == "inner.zip" and inner.deleted and inner.ref == ObjectRef("dir/inner.zip", holder.ref)
        assert inner.content is not None and b"".join(inner.content.chunks()) == _unzip(outer, "dir/inner.zip")


def test_a_member_of_a_zip_in_a_zip_opens_by_its_ref(nested: tuple[Path, Path]) -> None:
    outer, inner_zip = nested
    top = ObjectRef("/outer.zip")
    limits = ContainerLimits()
    inner_ref = ObjectRef("dir/inner.zip", top)
    inner = open_container(BytesContent(outer.read_bytes()), top, limits).open(inner_ref)
    with open_container(inner, inner_ref, limits) as archive:
        assert {m.name for m in archive.members} == set(_zipinfo(inner_zip))
        for name in ("sub/deep.txt", "evil.exe"):
            content = archive.open(ObjectRef(name, inner_ref))
            expected = _unzip(inner_zip, name)
            assert content.size == len(expected) and b"".join(content.chunks()) == expected
            assert content.read_at(len(expected) - 5, 100) == expected[-5:] and content.read_at(3, 4) == expected[3:7]
        with pytest.raises(ContainerError, match="no member"):
            archive.open(ObjectRef("sub", inner_ref))  # a folder has no content


def test_refused_members_say_why(tmp_path: Path) -> None:
    (tmp_path / "run.ps1").write_bytes(b"IEX (New-Object Net.WebClient)\n" * 40)
    locked = _zip(tmp_path / "locked.zip", tmp_path, "run.ps1", password="infected")
    ref = ObjectRef("/locked.zip")
    holder = EvidenceObject(path="/locked.zip", name="locked.zip", size=len(locked))
    archive = ZipContainer(BytesContent(locked), ref, ContainerLimits())
    member = next(archive.objects(holder))
    assert (member.content, member.unreadable) == (None, "encrypted member")
    with pytest.raises(ContainerError, match="encrypted member"):
        archive.open(ObjectRef("run.ps1", ref))
    small = ZipContainer(BytesContent(locked), ref, ContainerLimits(member_limit=100))
    assert small.refusal(small.members[0]) == "encrypted member"
    (tmp_path / "zeros.bin").write_bytes(bytes(3 * 1024 * 1024))
    bomb = ZipContainer(BytesContent(_zip(tmp_path / "bomb.zip", tmp_path, "zeros.bin")), ref, ContainerLimits())
    (size, packed), = _zipinfo(tmp_path / "bomb.zip").values()
    assert size / packed > 200 and bomb.bomb(bomb.members[0])
    assert bomb.refusal(bomb.members[0]) == "compression ratio past the zip-bomb limit"


def test_too_many_members_are_not_listed_and_other_bytes_are_no_container(tmp_path: Path) -> None:
    for index in range(25):
        (tmp_path / f"m{index:02d}.txt").write_bytes(b"%d" % index)
    data = _zip(tmp_path / "many.zip", tmp_path, *(f"m{index:02d}.txt" for index in range(25)))
    with pytest.raises(TooManyMembers) as raised:
        ZipContainer(BytesContent(data), ObjectRef("/many.zip"), ContainerLimits(max_members=2))
    assert raised.value.declared == len(_zipinfo(tmp_path / "many.zip")) == 25
    cut = ZipContainer(BytesContent(data), ObjectRef("/many.zip"), ContainerLimits(max_members=10))
    assert (cut.listed, [m.name for m in cut.members]) == (25, sorted(_zipinfo(tmp_path / "many.zip"))[:10])
    with pytest.raises(ContainerError, match="not an archive"):
        open_container(BytesContent(b"MZ" + bytes(5000)), ObjectRef("/a.exe"), ContainerLimits())
    with pytest.raises(ContainerError, match="unreadable zip"):  # an end record with nothing behind it
        ZipContainer(BytesContent(data[-22:]), ObjectRef("/cut.zip"), ContainerLimits())


def test_sources_open_what_they_list_by_its_ref(tmp_path: Path, corpus_dir: Path) -> None:
    (tmp_path / "stick" / "docs").mkdir(parents=True)
    (tmp_path / "stick" / "docs" / "letter.txt").write_bytes(b"Dear examiner\n")
    folder = FolderEvidence(tmp_path / "stick")
    assert folder.open(ObjectRef("/docs/letter.txt")).read_at(0, 100) == b"Dear examiner\n"
    with pytest.raises(EvidenceError, match="not a path inside"):
        folder.open(ObjectRef("/docs/../../etc/passwd"))
    loose = LooseFileEvidence(tmp_path / "stick" / "docs" / "letter.txt")
    assert loose.open(ObjectRef("/letter.txt")).read_at(5, 8) == b"examiner"
    capture = open_evidence(corpus_dir / "pcap" / "http_get.pcap")
    try:
        with pytest.raises(EvidenceError, match="capture evidence holds no files"):
            capture.open(ObjectRef("/http/host/1-1-resp-index.html"))
    finally:
        capture.close()
