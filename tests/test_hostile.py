"""Hostile evidence (issue 9, item 5): each input gives a finding or a recorded warning, never a crash,
a hang or a file written outside the case folder.

Every scan runs as a separate process with a time limit, inside a sandbox root whose working
directory, HOME and TMPDIR are its own; the sandbox is listed (and the evidence hashed) before and
after, and nothing may change but the case folder. Expected answers: the names and bytes the
tests put in, Sleuth Kit's fls on the same images, the yara CLI, and pdftotext on the report.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import secrets
import shutil
import sqlite3
import stat
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import images
from tests.conftest import REPO

RULE_SAMPLES = REPO / "tests" / "data" / "rules" / "positive"
RANSOM_NOTE = (RULE_SAMPLES / "Ransom_Note_Generic.txt").read_bytes()
TOKEN = f"cybertriage-hostile-{secrets.token_hex(4)}"  # what a write outside the case would be called
SCAN_TIMEOUT = 300

# Names a seized folder, zip or ext4 filesystem may hold; every one must reach the exports unchanged.
CONTROL = ["bell\x07.txt", "esc\x1b[31mred.txt", "tab\tname.txt", "del\x7f.txt", "osc\x1b]0;pwned\x07.txt"]
LINE_BREAKS = ["new\nline.txt", "carriage\rreturn.txt", "form\x0cfeed.txt"]
BIDI = ["rlo\u202egpj.exe", "\u2066isolate\u2069.txt", "zero\u200bwidth.txt", "lrm\u200eat\u200fend.txt"]
RESERVED = ["CON", "NUL", "AUX", "COM1", "LPT1.txt", "con.txt", "PRN.", "aux ", "nul.tar.gz"]
ODD = ["...", "..txt", " leading space", "-rf", "--help", "$(reboot)", "`id`", "; rm -rf ~", "'quoted\"", "*?[]",
       "%s%n%x", "<img src=x onerror=alert(1)>", "Ü报告файл.txt"]
LONG = ["L" * 251 + ".txt", "é" * 127 + "x"]  # 255 bytes: the longest name Linux filesystems take
FOLDER_NAMES = CONTROL + LINE_BREAKS + BIDI + RESERVED + ODD + LONG
EXT4_NAMES = CONTROL + BIDI + RESERVED + ODD + LONG  # fls prints one entry a line: no line breaks here
FINDING_NAMES = ["esc\x1b[31mred.txt", "rlo\u202egpj.exe", "osc\x1b]0;pwned\x07.txt"]  # ransom note inside
ZIP_NAMES = [f"../../../../../../../../tmp/{TOKEN}-traversal.txt", f"/tmp/{TOKEN}-absolute.txt",
             f"C:\\Windows\\System32\\{TOKEN}.dll", f"..\\..\\{TOKEN}-backslash.txt", "dir/../../escape.txt",
             f"\\\\server\\share\\{TOKEN}.txt", "CON", "NUL.txt", "a\x1b]0;title\x07.txt", "rlo\u202etxt.exe",
             "N" * 4000 + ".txt", "/".join(["deep"] * 400) + "/file.txt"]


@dataclass
class Sandbox:
    root: Path
    evidence: Path
    case: Path

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(self.root / "home"), "TMPDIR": str(self.root / "tmp")}


def _sandbox(base: Path) -> Sandbox:
    for name in ("evidence", "home", "tmp", "cwd"):
        (base / name).mkdir(parents=True, exist_ok=True)
    return Sandbox(base, base / "evidence", base / "case")


def _snapshot(box: Sandbox) -> dict[str, tuple]:
    """Every entry of the sandbox but the case folder: its type, and a file's size, mtime and sha256."""
    seen = {}
    for directory, subdirs, names in os.walk(box.root):
        if Path(directory) == box.root and "case" in subdirs:
            subdirs.remove("case")
        for name in subdirs + names:
            path = os.path.join(directory, name)
            try:
                info = os.lstat(path)
            except OSError as error:  # deeper than PATH_MAX: the walk still names it
                seen[path] = ("unstatable", error.errno)
                continue
            if stat.S_ISDIR(info.st_mode):
                seen[path] = (info.st_mode,)  # not its mtime: SQLite's unlinked temp files touch TMPDIR's
                continue
            digest = None
            if stat.S_ISREG(info.st_mode) and info.st_size < 64 * 1024 * 1024:
                digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
            seen[path] = (info.st_mode, info.st_size, info.st_mtime_ns, digest)
    return seen


def _outside_writes() -> list[str]:
    found = []
    for base in {Path("/tmp"), Path(os.environ.get("TMPDIR", "/tmp")), Path.home(), REPO}:
        found += [str(p) for p in base.glob(f"*{TOKEN}*")]
    return found


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float


# Runs the command line and reports its own peak memory: VmHWM, since getrusage's maxrss after exec
# would still count the pytest process it was forked from.
MEASURED_CLI = """
import sys
from cybertriage.cli import main
try:
    code = main(sys.argv[2:])
finally:
    with open("/proc/self/status") as status, open(sys.argv[1], "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
sys.exit(code)
"""


def _cli(box: Sandbox, *args: str | Path, timeout: int = SCAN_TIMEOUT) -> Run:
    """The command line as a separate process in the sandbox; a hang fails the test with TimeoutExpired."""
    rss = box.root.parent / f"{box.root.name}-peak-rss"  # outside the sandbox, which must not change
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", MEASURED_CLI, str(rss), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=box.root / "cwd", env=box.env())
    seconds = time.monotonic() - started
    peak = int(rss.read_text()) / 1024
    rss.unlink()
    return Run(done.returncode, done.stdout, done.stderr, seconds, peak)


def _scan_untouched(box: Sandbox, *args: str | Path, timeout: int = SCAN_TIMEOUT) -> Run:
    """`cybertriage scan`, checking that it neither crashed nor wrote anything outside the case."""
    before = _snapshot(box)
    run = _cli(box, "scan", *args, "--case", box.case, timeout=timeout)
    assert run.code in (0, 1), run.stderr
    assert "Traceback" not in run.stderr
    assert _snapshot(box) == before, "something outside the case folder changed"
    assert not _outside_writes()
    return run


# A scan with analyzer limits of the test's choosing (the command line keeps the defaults).
SCAN_WITH_SETTINGS = """
import json, sys
from pathlib import Path
from cybertriage.analyzers import Settings
from cybertriage.pipeline import Scan, ScanOptions
scan = Scan(Path(sys.argv[1]), [Path(sys.argv[2])], ScanOptions(jobs=2, settings=Settings(**json.loads(sys.argv[3]))))
for _ in scan.run():
    pass
print(json.dumps([(o.status, o.message) for o in scan.outcomes]))
"""


def _scan_with_settings(box: Sandbox, evidence: Path, **limits: int) -> None:
    before = _snapshot(box)
    done = subprocess.run([sys.executable, "-c", SCAN_WITH_SETTINGS, str(box.case), str(evidence), json.dumps(limits)],
                          capture_output=True, text=True, timeout=SCAN_TIMEOUT, cwd=box.root / "cwd", env=box.env())
    assert done.returncode == 0, done.stderr
    assert _snapshot(box) == before and not _outside_writes()


def _db(box: Sandbox, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(box.case / "case.db") as db:
        rows = db.execute(sql, params).fetchall()
    db.close()
    return rows


def _export(box: Sandbox, what: str, fmt: str = "jsonl") -> str:
    run = _cli(box, "export", "--case", box.case, "--what", what, "--format", fmt)
    assert run.code == 0, run.stderr
    return run.stdout


def _files(box: Sandbox) -> dict[str, dict]:
    return {row["path"]: row for row in map(json.loads, _export(box, "files").splitlines())}


# ------------------------------------------------------------------------ hostile names


def _zip_entry_name(archive: bytes, placeholder: bytes, name: bytes) -> bytes:
    """Put a name zipfile would refuse to write (a NUL inside) in place of a placeholder of the same length."""
    assert len(placeholder) == len(name) and archive.count(placeholder) == 2  # local header and central directory
    return archive.replace(placeholder, name)


def _hostile_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in ZIP_NAMES:
            archive.writestr(name, images.EICAR if TOKEN in name else b"payload of " + name.encode()[:64])
        archive.writestr("nul_hidden.exe.txt", b"what a NUL in a name hides")
    return _zip_entry_name(buffer.getvalue(), b"nul_hidden.exe.txt", b"nul\x00hidden.exe.txt")


def _deep_folder(top: Path, depth: int = 24) -> str:
    """Folders nested past PATH_MAX (4096 bytes), made relative to each other's descriptors."""
    component = "d" * 200
    fd = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir(component, dir_fd=fd)
            inner = os.open(component, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        with open(os.open("deepest.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as handle:
            handle.write(b"at the bottom\n")
    finally:
        os.close(fd)
    return "/".join([component] * depth)


def _hostile_folder(folder: Path, outside_secret: Path) -> None:
    folder.mkdir()
    for name in FOLDER_NAMES:
        (folder / name).write_bytes(RANSOM_NOTE if name in FINDING_NAMES else f"file named {name!r}\n".encode())
    with open(os.path.join(os.fsencode(folder), b"bad-utf8-\xff\xfe.txt"), "wb") as handle:
        handle.write(b"a name that is not UTF-8\n")
    (folder / "sub").mkdir()
    os.symlink(".", folder / "loop-to-self-dir")
    os.symlink("..", folder / "sub" / "loop-to-parent")
    os.symlink("self-link", folder / "self-link")
    os.symlink("ping", folder / "pong")
    os.symlink("pong", folder / "ping")
    os.symlink(os.path.relpath(outside_secret, folder), folder / "escape-to-outside")
    os.symlink("/etc/shadow", folder / "absolute-link")
    (folder / "deep").mkdir()
    _deep_folder(folder / "deep")


def _hostile_ext4(dest: Path) -> Path:
    """An ext4 filesystem made by mkfs.ext4 -d from a folder with the hostile names."""
    fs = dest / "hostile-ext4.raw"
    content = images.FsContent(files={**{f"names/{n}": f"{n!r}\n".encode() for n in EXT4_NAMES},
                                      "names/ransom\u202etxt.exe": RANSOM_NOTE})
    staging = images._stage(content, dest / "ext4-staging")
    with fs.open("wb") as handle:
        handle.truncate(8 * 1024 * 1024)
    images._run("mkfs.ext4", "-q", "-F", "-b", "1024", "-N", "256", "-d", staging, fs)
    shutil.rmtree(staging)
    return fs


def _overlapping_bomb(copies: int = 24, size: int = 64 * 1024 * 1024) -> bytes:
    """Many central-directory entries sharing one deflated run of zeros (David Fifield's overlap trick)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    kernel = compressor.compress(bytes(size)) + compressor.flush()
    crc = zlib.crc32(bytes(size))
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(kernel), size, 8, 0) + b"zeros.00"
    central = b"".join(
        struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(kernel), size, 8, 0, 0, 0, 0, 0, 0)
        + b"zeros.%02d" % n for n in range(copies))
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, copies, copies, len(central), len(local) + len(kernel), 0)
    return local + kernel + central + end


def _nested_zip(depth: int) -> bytes:
    data = RANSOM_NOTE
    name = "note.txt"
    for level in range(depth):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(name, data)
        data, name = buffer.getvalue(), f"level{level}.zip"
    return data


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Sandbox, Run]:
    box = _sandbox(tmp_path_factory.mktemp("hostile"))
    secret = box.root / "outside-secret.txt"
    secret.write_bytes(images.EICAR)  # a finding on it would mean a link was followed out of the evidence
    _hostile_folder(box.evidence / "loose", secret)
    archives = box.evidence / "archives"
    archives.mkdir()
    (archives / "hostile.zip").write_bytes(_hostile_zip())
    (archives / "overlap-bomb.zip").write_bytes(_overlapping_bomb())
    (archives / "nested-40.zip").write_bytes(_nested_zip(40))
    ext4 = _hostile_ext4(box.evidence)
    run = _scan_untouched(box, box.evidence / "loose", archives, ext4)
    return box, run


def test_hostile_evidence_scans_without_crash_or_outside_write(hostile) -> None:
    box, run = hostile
    # The folder nested past PATH_MAX cannot be listed: the loose folder was examined only in part (exit 1),
    # and that is the one line on stderr.
    assert run.code == 1, run.stderr
    assert run.stderr.count("\n") == 1 and f"{box.evidence / 'loose'}: partial:" in run.stderr, run.stderr
    for forbidden in ("\x1b", "\u202e", "\x07"):
        assert forbidden not in run.stdout  # the summary shows evidence names, never obeys them


def test_folder_names_round_trip_into_exports(hostile) -> None:
    box, _ = hostile
    files = _files(box)
    for name in FOLDER_NAMES:
        assert files["/" + name]["name"] == name and files["/" + name]["sha256"]
    assert "/bad-utf8-\ufffd\ufffd.txt" in files  # not UTF-8: shown with replacement characters
    out = box.case / "files.csv"
    assert _cli(box, "export", "--case", box.case, "--what", "files", "--format", "csv", "-o", out).code == 0
    with out.open(newline="", encoding="utf-8") as handle:
        assert {r["path"] for r in csv.DictReader(handle)} == set(files)


def test_symlinks_are_recorded_never_followed(hostile) -> None:
    box, _ = hostile
    files = _files(box)
    for link in ("/loop-to-self-dir", "/sub/loop-to-parent", "/self-link", "/ping", "/pong", "/escape-to-outside",
                 "/absolute-link"):
        assert files[link]["kind"] == "link" and files[link]["sha256"] is None
    assert not any(p.startswith(("/loop-to-self-dir/", "/sub/loop-to-parent/")) for p in files)
    eicar = hashlib.sha256(images.EICAR).hexdigest()
    assert not [p for p, row in files.items() if row["sha256"] == eicar and "!" not in p]


def test_path_deeper_than_path_max_is_a_recorded_warning(hostile) -> None:
    box, _ = hostile
    problems = _db(box, "SELECT object, message FROM problems WHERE object LIKE '/deep/%'")
    assert problems and all("too long" in message.lower() for _, message in problems), problems


def test_zip_member_names_round_trip_and_nothing_is_extracted(hostile) -> None:
    box, _ = hostile
    files = _files(box)
    for name in ZIP_NAMES:
        assert f"/hostile.zip!{name}" in files, name
    assert [p for p in files if p.startswith("/hostile.zip!nul")], "the member named with a NUL is listed"
    flagged = {(f["object"], f["rule"]) for f in map(json.loads, _export(box, "findings").splitlines())}
    assert (f"/hostile.zip!{ZIP_NAMES[0]}", "EICAR_Test_File") in flagged  # examined where it is: in the case


def test_ext4_names_round_trip_as_fls_lists_them(hostile) -> None:
    box, _ = hostile
    image = box.evidence / "hostile-ext4.raw"
    ours = {p for p, row in _files(box).items() if row["evidence"] == str(image)}
    assert {f"/names/{n}" for n in EXT4_NAMES} <= ours  # exactly the names put in
    fls_shown = {"".join(c if ord(c) >= 0x20 else "^" for c in p) for p in ours}  # fls prints '^' for controls
    assert fls_shown == {path for path, _ in images.fls_entries(image, 0)}


def test_zip_bombs_and_nesting_are_findings(hostile) -> None:
    box, _ = hostile
    findings = list(map(json.loads, _export(box, "findings").splitlines()))
    bombs = [f for f in findings if f["rule"] == "zip-bomb"]
    assert [(b["object"], b["severity"]) for b in bombs] == [("/overlap-bomb.zip", "high")]
    assert bombs[0]["detail"]["declared_total"] == 24 * 64 * 1024 * 1024
    assert not [p for p in _files(box) if p.startswith("/overlap-bomb.zip!")]
    nested = [p for p in _files(box) if p.startswith("/nested-40.zip!")]
    assert nested == ["/nested-40.zip!level38.zip", "/nested-40.zip!level38.zip!level37.zip",
                      "/nested-40.zip!level38.zip!level37.zip!level36.zip"]
    reasons = dict(_db(box, "SELECT stage, reasons FROM ledger WHERE stage = 'archive'"))
    assert "archive nested too deep" in reasons["archive"]


def test_report_shows_hostile_names_escaped(hostile) -> None:
    box, _ = hostile
    pdf, html = box.case / "report.pdf", box.case / "report.html"
    run = _cli(box, "report", "--case", box.case, "--pdf", pdf, "--html", html)
    assert run.code == 0, run.stderr
    page = html.read_text(encoding="utf-8")
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    for shown in (page, text):
        assert not {"\x1b", "\x07", "\u202e", "\u2066", "\x00"} & set(shown)
    flat = "".join(text.split())
    for name in ("esc\\u001b[31mred.txt", "rlo\\u202egpj.exe", "osc\\u001b]0;pwned\\u0007.txt"):
        assert name in page and name in flat, name
    info = _cli(box, "info", "--case", box.case).stdout
    assert "\x1b" not in info and "\u202e" not in info


# ------------------------------------------------------------------------ limits of the archive analyzer


def test_zip_size_and_ratio_limits(tmp_path: Path) -> None:
    box = _sandbox(tmp_path)
    folder = box.evidence / "zips"
    folder.mkdir()
    random_bytes = hashlib.shake_256(b"incompressible").digest(4_500_000)
    with zipfile.ZipFile(folder / "big-member.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("random.bin", random_bytes[:3 * 1024 * 1024])
    with zipfile.ZipFile(folder / "big-total.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        for n in range(3):
            archive.writestr(f"part{n}.bin", random_bytes[n * 1_500_000:(n + 1) * 1_500_000])
    with zipfile.ZipFile(folder / "ratio.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("log.txt", b"2024-03-01 09:30:00 GET /index.html 200\n" * 60_000)
    _scan_with_settings(box, folder, archive_member_limit=2 * 1024 * 1024, archive_total_limit=4 * 1024 * 1024,
                        archive_ratio_limit=20)
    notes = dict(_db(box, "SELECT path, note FROM files WHERE path LIKE '%!%'"))
    assert notes["/big-member.zip!random.bin"] == "member larger than the extraction limit"
    assert notes["/ratio.zip!log.txt"] == "compression ratio past the zip-bomb limit"
    bombs = dict(_db(box, "SELECT object, title FROM findings WHERE rule = 'zip-bomb'"))
    assert set(bombs) == {"/big-total.zip", "/ratio.zip"} and "expand to 4500000 bytes" in bombs["/big-total.zip"]
    assert not [p for p in notes if p.startswith("/big-total.zip!")]


def _many_member_zip(path: Path, count: int) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for n in range(count):
            archive.writestr(f"m/{n:06d}.txt", b"%d\n" % n)


def test_zip_member_count_limit(tmp_path: Path) -> None:
    box = _sandbox(tmp_path)
    folder = box.evidence / "zips"
    folder.mkdir()
    _many_member_zip(folder / "many.zip", 2500)
    _central_directory_zip(folder / "too-many.zip", 120_001)
    _scan_with_settings(box, folder, archive_max_members=1000)
    members = dict(_db(box, "SELECT substr(path, 1, instr(path, '!')), count(*) FROM files WHERE path LIKE '%!%' "
                            "GROUP BY 1"))
    assert members == {"/many.zip!": 1000}
    titles = dict(_db(box, "SELECT object, title FROM findings WHERE rule = 'too-many-members'"))
    assert titles == {"/many.zip": "Archive holds 2500 members; only the first 1000 examined",
                      "/too-many.zip": "Archive declares 120001 members; too many to list, not opened"}


def _central_directory_zip(path: Path, entries: int) -> None:
    """A zip64 central directory of many entries, all naming one empty stored member (built in seconds)."""
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, 0, 0, 0, 8, 0) + b"f0000000"
    entry = struct.Struct("<IHHHHHHIIIHHHHHII")
    head = entry.pack(0x02014B50, 45, 20, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0)
    central = b"".join(head + b"f%07d" % n for n in range(entries))
    start = len(local)
    zip64_end = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, entries, entries, len(central), start)
    locator = struct.pack("<IIQI", 0x07064B50, 0, start + len(central), 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(local + central + zip64_end + locator + end)


def test_million_entry_zip_in_bounded_time_and_memory(tmp_path: Path) -> None:
    """A million tiny files in 54 MB: zipfile alone takes about 500 MB and a minute to list them."""
    box = _sandbox(tmp_path)
    folder = box.evidence / "million"
    folder.mkdir()
    built = time.monotonic()
    _central_directory_zip(folder / "million.zip", 1_000_000)
    built = time.monotonic() - built
    zipinfo = subprocess.run(["zipinfo", "-h", str(folder / "million.zip")], capture_output=True, text=True, timeout=60)
    assert "number of entries: 1000000" in zipinfo.stdout  # what Info-ZIP reads in its end records
    run = _scan_untouched(box, folder, "--no-yara")
    print(f"\nmillion-entry zip: built in {built:.1f} s, scanned in {run.seconds:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB")
    assert run.code == 0
    assert _db(box, "SELECT title FROM findings WHERE rule = 'too-many-members'") == [
        ("Archive declares 1000000 members; too many to list, not opened",)]
    assert run.peak_rss_mb < 300 and run.seconds < 120


def test_fat_image_with_thousands_of_files(tmp_path: Path) -> None:
    box = _sandbox(tmp_path)
    disk = box.evidence / "many.raw"
    with disk.open("wb") as handle:
        handle.truncate(24 * 1024 * 1024)
    images._run("mkfs.fat", "-F", "16", "-s", "1", "-n", "MANY", "--invariant", "-i", "20240405", disk)
    staging = box.root / "staging"
    for folder in range(10):
        (staging / f"dir{folder}").mkdir(parents=True)
        for n in range(400):
            (staging / f"dir{folder}" / f"f{n:04d}.txt").write_bytes(b"%d/%d\n" % (folder, n))
    images._run("mcopy", "-s", "-Q", "-i", disk, *sorted(staging.iterdir()), "::/")
    shutil.rmtree(staging)
    run = _scan_untouched(box, disk)
    ours = {p for (p,) in _db(box, "SELECT path FROM files")}
    print(f"\nFAT16 image with 4,000 files: scanned in {run.seconds:.1f} s, peak RSS {run.peak_rss_mb:.0f} MB")
    assert run.code == 0 and ours == {path for path, _ in images.fls_entries(disk, 0)}
    assert len(ours) > 4000


# ------------------------------------------------------------------------ YARA timeouts and directory loops


def test_yara_rule_that_times_out_is_a_recorded_warning(tmp_path: Path) -> None:
    box = _sandbox(tmp_path)
    folder = box.evidence / "big"
    folder.mkdir()
    (folder / "aaaa.bin").write_bytes(b"a" * (16 * 1024 * 1024))
    (folder / "note.txt").write_bytes(RANSOM_NOTE)
    rules = box.root / "slow.yar"
    rules.write_text("rule Slow_Regex { strings: $re = /a[^b]{0,2000}b/ condition: $re }\n")
    yara = subprocess.run(["yara", "-a", "1", str(rules), str(folder / "aaaa.bin")], capture_output=True, text=True,
                          timeout=120)
    assert "timed out" in yara.stderr  # the yara CLI gives up on it too
    run = _scan_untouched(box, folder, "--rules", rules, "--yara-timeout", "1")
    assert _db(box, "SELECT object, message FROM problems WHERE stage = 'yara'") == [("/aaaa.bin", "timed out")]
    rules_hit = {r for (r,) in _db(box, "SELECT rule FROM findings WHERE object = '/note.txt'")}
    assert "Ransom_Note_Generic" in rules_hit  # the other file was still scanned
    print(f"\nYARA timeout of 1 s on a 16 MiB file: scan took {run.seconds:.1f} s")


def _fat_with_directory_loop(dest: Path) -> Path:
    """FAT16 with /A/B: B's directory entry is made to start at A's cluster (a hex edit), so B holds itself."""
    disk = dest / "fat-loop.raw"
    with disk.open("wb") as handle:
        handle.truncate(8192 * images.SECTOR)
    content = images.FsContent(files={"A/B/evidence.txt": b"inside the loop\n", "A/note.txt": RANSOM_NOTE})
    work = dest / "fat-work"
    work.mkdir()
    images._make_fat(disk, 0, 8192, 16, 1, "LOOP", "20240404", content, work)
    data = bytearray(disk.read_bytes())
    bps, reserved, fats, root_entries, fat_size = (struct.unpack_from("<H", data, 11)[0], struct.unpack_from("<H", data, 14)[0],
                                                   data[16], struct.unpack_from("<H", data, 17)[0],
                                                   struct.unpack_from("<H", data, 22)[0])
    root = (reserved + fats * fat_size) * bps
    first_data = root + root_entries * 32

    def entry(start: int, length: int, name: bytes) -> int:
        return next(at for at in range(start, start + length, 32) if data[at:at + 11] == name)

    a = entry(root, root_entries * 32, b"A          ")
    a_cluster = struct.unpack_from("<H", data, a + 26)[0]
    b = entry(first_data + (a_cluster - 2) * bps * data[13], bps * data[13], b"B          ")
    struct.pack_into("<H", data, b + 26, a_cluster)
    disk.write_bytes(bytes(data))
    return disk


def _ext4_with_directory_loop(dest: Path) -> Path:
    """ext4 with /a/b/c: debugfs links /a in again as /a/b/c/up, a directory holding its grandparent."""
    fs = dest / "ext4-loop.raw"
    work = dest / "ext4-work"
    work.mkdir()
    images._make_ext4(fs, 4096, images.FsContent(files={"a/b/c/evidence.txt": RANSOM_NOTE, "a/top.txt": b"t\n"}), work)
    images._run("debugfs", "-w", "-R", "link /a /a/b/c/up", fs)
    return fs


def test_directory_loops_in_corrupt_filesystems(tmp_path: Path) -> None:
    box = _sandbox(tmp_path)
    fat, ext4 = _fat_with_directory_loop(box.evidence), _ext4_with_directory_loop(box.evidence)
    loops = {fat: "/A/B/B", ext4: "/a/b/c/up"}
    for image, loop in loops.items():  # fls lists the looping entry with the inode of a folder above it
        inodes = {r.path: r.inode for r in images.fls_records(image, 0)}
        parent = loop.rsplit("/", 1)[0] if image == fat else "/a"
        assert inodes[loop] == inodes[parent], (loop, inodes)
    run = _scan_untouched(box, fat, ext4)
    assert run.code == 0, run.stderr
    for image, loop in loops.items():
        ours = {p for (p,) in _db(box, "SELECT f.path FROM files f JOIN evidence e ON e.id = f.evidence_id "
                                       "WHERE e.path = ?", str(image))}
        assert ours == {path for path, _ in images.fls_entries(image, 0)}
        warnings = _db(box, "SELECT p.object, p.message FROM problems p JOIN evidence e ON e.id = p.evidence_id "
                            "WHERE e.path = ?", str(image))
        assert warnings == [(loop, "directory loop: not followed")]
    assert {r for (r,) in _db(box, "SELECT rule FROM findings")} >= {"Ransom_Note_Generic"}
