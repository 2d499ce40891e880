#!/usr/bin/env python3
"""Benchmark: cybertriage against a Sleuth Kit + coreutils + yara pipeline on the same disk image.

Not a test. It builds (or reuses) a ≥ 1 GB raw disk image — an MBR partition table and an
ext4 filesystem holding thousands of small files and a few large ones — then, in one run and
with the image in the page cache for both:

  reference    tsk_recover -a -o OFFSET IMAGE OUT
               find OUT -type f -print0 | xargs -0 sha256sum
               yara -p JOBS -r -w rules/*.yar OUT
  cybertriage  cybertriage scan IMAGE --case NEW --quiet --jobs JOBS

and prints the wall times, their ratio, the bytes of file content processed and
cybertriage's rate over large files (a second scan of an image holding only the large files).
The figures also go to WORK/disk_triage-result.json. The image is read once with cat before
every timed run. With --repeat N each pipeline runs N times, alternating, and the best and the
median are reported; before each run the script waits (up to --wait-quiet seconds) for other
processes to leave the CPUs alone, and it reports how much CPU they took during each run.

Usage (from the repository root):  .venv/bin/python bench/disk_triage.py [--help]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORK = REPO / "bench" / "work"
RULES_DIR = REPO / "rules"
GENERATOR_VERSION = 1  # bump when the generated content changes, so old images are rebuilt

KIB, MIB, GIB = 1024, 1024 * 1024, 1024 * 1024 * 1024
PART_START = MIB  # partition 1 starts at sector 2048
FS_UUID = "c7b1a5e0-5eed-4b1e-9c4a-000000000001"
FAKE_TIME = "1700000000"  # e2fsprogs timestamps, for a reproducible filesystem
DEFAULT_YARA_LIMIT = 64 * MIB  # cybertriage --yara-max-size default, if its help does not say
LARGE_MIN, LARGE_MAX = 64 * MIB, 200 * MIB

# The EICAR test string, kept as hex like rules/eicar.yar does, so this file is not itself flagged.
EICAR_HEX = ("58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e44415244"
             "2d414e544956495255532d544553542d46494c452124482b482a")


# -- small helpers -------------------------------------------------------------------------


def log(message: str = "") -> None:
    print(message, flush=True)


def mb(n: float) -> float:
    return n / 1e6


def human(n: float) -> str:
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


class Timed:
    """Wall time of a step, the CPU time its processes used, and what the rest of the machine used."""

    def __init__(self) -> None:
        self.wall = self.cpu = self.other_cpu = 0.0

    def add(self, wall: float, cpu: float, other: float) -> None:
        self.wall += wall
        self.cpu += cpu
        self.other_cpu += other


def _machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (/proc/stat), 0 where unavailable."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    except (OSError, ValueError):
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(cmd: list[str] | str, *, shell: bool = False, stdout=subprocess.DEVNULL, check: bool = True,
        env: dict[str, str] | None = None, timed: Timed | None = None) -> tuple[float, subprocess.CompletedProcess]:
    """Run a command; return (wall seconds, completed process). `timed` also gets its CPU figures."""
    if shell:
        cmd = ["bash", "-o", "pipefail", "-c", cmd]  # type: ignore[list-item]
    busy0, cpu0 = _machine_busy(), _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, env=env)
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu0
    if timed is not None:
        timed.add(elapsed, cpu, max(0.0, _machine_busy() - busy0 - cpu))
    if check and proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {cmd}\n{proc.stderr}")
    return elapsed, proc


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def cybertriage_binary() -> str:
    candidate = REPO / ".venv" / "bin" / "cybertriage"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("cybertriage")
    if not found:
        raise SystemExit("cybertriage not found: run `make` (or pip install -e .) first")
    return found


def compile_bytecode() -> None:
    """Write the bytecode of the source tree once, as pip does for an installed package. An editable
    install run with PYTHONDONTWRITEBYTECODE=1 (as on this machine) would otherwise compile every module
    again in every process it starts: ~0.1–0.2 s per process that an examiner's installed copy never pays."""
    python = Path(cybertriage_binary()).with_name("python")
    if not python.exists():
        python = Path(sys.executable)
    subprocess.run([str(python), "-m", "compileall", "-q", str(REPO / "cybertriage")], check=True)


def wait_quiet(limit: float) -> float:
    """Wait (up to `limit` seconds) until other processes use under 0.15 of a core for 2 s in a row;
    returns the seconds waited. The machine may be shared; this keeps runs from starting mid-load."""
    if limit <= 0:
        return 0.0
    start = time.perf_counter()
    quiet = 0
    while time.perf_counter() - start < limit:
        before = _machine_busy()
        time.sleep(1.0)
        quiet = quiet + 1 if _machine_busy() - before < 0.15 else 0
        if quiet >= 2:
            break
    return time.perf_counter() - start


def warm(path: Path) -> float:
    """Read a file once (cat > /dev/null) so that it sits in the page cache."""
    seconds, _ = run(["cat", str(path)])
    return seconds


# -- content generation (deterministic) ---------------------------------------------------


class Content:
    """Pools of text-like content and one block of random bytes; files take seeded slices."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        syllables = ["ka", "to", "ri", "men", "sa", "lo", "ve", "dra", "pin", "qua", "ster", "ul", "ben",
                     "cor", "ta", "nix", "es", "pro", "tel", "ga", "mo", "re", "fin", "dus", "ar", "vo"]
        self.words = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(1, 4)))
                             for _ in range(3000)})
        self.names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
        self.random_block = rng.randbytes(16 * MIB)
        self.pools = {
            "text": self._text_pool(3 * MIB),
            "log": self._log_pool(3 * MIB),
            "csv": self._csv_pool(3 * MIB),
            "html": self._html_pool(3 * MIB),
            "json": self._json_pool(3 * MIB),
        }

    def _sentence(self) -> str:
        words = self.rng.choices(self.words, k=self.rng.randint(5, 18))
        return " ".join(words).capitalize() + self.rng.choice([".", ".", ".", "?", "!"])

    def _text_pool(self, size: int) -> bytes:
        parts, total = [], 0
        while total < size:
            paragraph = " ".join(self._sentence() for _ in range(self.rng.randint(2, 8))) + "\n\n"
            parts.append(paragraph)
            total += len(paragraph)
        return "".join(parts).encode()

    def _log_pool(self, size: int) -> bytes:
        rng, parts, total = self.rng, [], 0
        t = 1_600_000_000
        services = ["sshd", "cron", "kernel", "systemd", "nginx", "smbd", "sudo"]
        while total < size:
            t += rng.randint(0, 90)
            stamp = dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            line = (f"{stamp} host{rng.randint(1, 40):02d} {rng.choice(services)}[{rng.randint(100, 65000)}]: "
                    f"{self._sentence()} user={rng.choice(self.names)} "
                    f"src=10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}\n")
            parts.append(line)
            total += len(line)
        return "".join(parts).encode()

    def _csv_pool(self, size: int) -> bytes:
        rng, parts, total = self.rng, [], 0
        row_id = 0
        while total < size:
            row_id += 1
            name = rng.choice(self.names)
            line = (f"{row_id},{name},{name}.{rng.choice(self.words)}@example.org,"
                    f"{rng.randint(0, 999999) / 100:.2f},2023-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},"
                    f"\"{' '.join(rng.choices(self.words, k=3))}\"\n")
            parts.append(line)
            total += len(line)
        return "".join(parts).encode()

    def _html_pool(self, size: int) -> bytes:
        rng, parts, total = self.rng, [], 0
        while total < size:
            tag = rng.choice(["p", "p", "p", "li", "td", "h2"])
            link = f' <a href="/{rng.choice(self.words)}/{rng.choice(self.words)}.html">{rng.choice(self.words)}</a>'
            chunk = f"<{tag} class=\"{rng.choice(self.words)}\">{self._sentence()}{link if rng.random() < 0.3 else ''}</{tag}>\n"
            parts.append(chunk)
            total += len(chunk)
        return "".join(parts).encode()

    def _json_pool(self, size: int) -> bytes:
        rng, parts, total = self.rng, [], 0
        while total < size:
            record = {"id": rng.randint(1, 10**9), "user": rng.choice(self.names), "event": rng.choice(self.words),
                      "value": round(rng.random() * 1000, 3), "tags": rng.choices(self.words, k=3)}
            line = json.dumps(record) + "\n"
            parts.append(line)
            total += len(line)
        return "".join(parts).encode()

    def slice_of(self, pool: bytes, size: int) -> bytes:
        offset = self.rng.randrange(0, len(pool) - size)
        return pool[offset:offset + size]

    def small(self, kind: str, size: int) -> bytes:
        if kind == "binary":
            return self.slice_of(self.random_block, size)
        body = self.slice_of(self.pools[kind], size)
        if kind == "csv":
            return b"id,name,email,amount,date,comment\n" + body
        if kind == "html":
            title = " ".join(self.rng.choices(self.words, k=3))
            return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n"
                    .encode() + body + b"\n</body></html>\n")
        if kind == "json":
            return b"[\n" + body + b"]\n"
        return body

    def write_large(self, path: Path, size: int, index: int) -> None:
        """Random-looking, non-repeating content at memory speed: 1 MiB pieces of the random
        block at seeded offsets, each stamped with its file and piece number."""
        block = self.random_block
        with open(path, "wb") as handle:
            written, piece = 0, 0
            while written < size:
                length = min(MIB, size - written)
                offset = self.rng.randrange(0, len(block) - MIB)
                stamp = f"{index:04d}:{piece:08d}:".encode()
                data = (stamp + block[offset + len(stamp):offset + MIB])[:length]
                handle.write(data)
                written += length
                piece += 1


SMALL_KINDS = [  # (kind, weight, extensions)
    ("text", 18, ["txt", "md", "doc.txt", "notes"]),
    ("log", 10, ["log", "txt"]),
    ("csv", 14, ["csv"]),
    ("html", 12, ["html", "htm"]),
    ("json", 8, ["json"]),
    ("binary", 38, ["bin", "dat", "db", "cache", "tmp", "idx", "pak"]),
]
ROOTS = ["Users/alice", "Users/bob", "Users/carol", "Users/dave", "ProgramData", "srv/www",
         "Shares/finance", "Shares/hr", "Windows/Temp", "opt/app"]
SUBDIRS = ["Documents", "Downloads", "Desktop", "Projects", "reports", "2021", "2022", "2023", "archive",
           "old", "backup", "misc", "data", "export", "logs", "invoices", "drafts", "notes", "cache", "tmp",
           "AppData", "Local", "Roaming", "Temp", "site", "static", "assets", "build"]
LARGE_NAMES = ["VMs/win10-dev.vmdk", "Videos/holiday-2019.mp4", "Backups/db-2023-06.bak",
               "Downloads/dataset-full.bin", "hiberfil.sys", "Backups/mailbox.pst", "Videos/meeting.mkv",
               "VMs/kali.qcow2"]


def pe_samples() -> list[Path]:
    folder = REPO / "tests" / "data" / "corpus" / "pe"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.stat().st_size <= 64 * KIB)


def plan_large(size_bytes: int, small_bytes: int, count: int, rng: random.Random) -> list[int]:
    """Large-file sizes that fill about 80 % of the filesystem next to the small files."""
    if count == 0:
        return []
    budget = int(size_bytes * 0.80) - small_bytes
    weights = [0.75 + 0.5 * i / max(1, count - 1) for i in range(count)]
    scale = budget / sum(weights)
    sizes = []
    for weight in weights:
        size = int(weight * scale) + rng.randrange(0, 4096)  # not a whole number of blocks
        sizes.append(max(LARGE_MIN + 12345, min(LARGE_MAX - 4096, size)))
    return sizes


def generate_tree(src: Path, small_files: int, size_bytes: int, large_count: int, seed: int) -> dict:
    """Write the evidence tree under src; returns its manifest (what is where, and sizes)."""
    rng = random.Random(seed)
    content = Content(rng)
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)

    # Folders: nested 1-5 levels under a handful of roots.
    dirs: list[str] = []
    seen: set[str] = set()
    wanted_dirs = max(20, small_files // 20)
    while len(dirs) < wanted_dirs:
        parts = [rng.choice(ROOTS)] + [rng.choice(SUBDIRS) for _ in range(rng.randint(0, 4))]
        if rng.random() < 0.5:
            parts.append(f"{rng.choice(content.words)}-{rng.randint(1, 999)}")
        path = "/".join(parts)
        if path not in seen:
            seen.add(path)
            dirs.append(path)
    for d in dirs:
        (src / d).mkdir(parents=True, exist_ok=True)

    stats = collections.Counter()
    sizes = collections.Counter()
    used_names: set[str] = set()

    def place(name: str, data: bytes, kind: str) -> None:
        folder = rng.choice(dirs)
        path = f"{folder}/{name}"
        while path in used_names:
            path = f"{folder}/{rng.randint(0, 9)}{name}"
        used_names.add(path)
        (src / path).write_bytes(data)
        stats[kind] += 1
        sizes[kind] += len(data)

    # A few special files an examiner would want flagged.
    specials = 0
    pes = pe_samples()
    eicar = bytes.fromhex(EICAR_HEX)
    for i in range(2):
        place(f"eicar-test-{i}.com", eicar, "eicar")
        specials += 1
    b64 = "".join(rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", k=400))
    for i in range(3):
        script = (f"@echo off\r\nrem maintenance task {i}\r\n"
                  f"powershell.exe -nop -w hidden -enc {b64}\r\n").encode()
        place(f"update-task-{i}.bat", script, "script")
        specials += 1
    pe_count = 0
    if pes:
        pe_count = max(10, small_files // 300)
        for i in range(pe_count):
            sample = pes[i % len(pes)]
            place(f"{rng.choice(content.words)}-{i}{sample.suffix.lower()}", sample.read_bytes(), "pe")
        for i, ext in enumerate(["jpg", "txt"]):  # executables under a false extension
            place(f"photo-{i}.{ext}", pes[i % len(pes)].read_bytes(), "pe-disguised")
            specials += 1
    specials += pe_count

    kinds = [k for k, _, _ in SMALL_KINDS]
    weights = [w for _, w, _ in SMALL_KINDS]
    exts = {k: e for k, _, e in SMALL_KINDS}
    for i in range(max(0, small_files - specials)):
        kind = rng.choices(kinds, weights)[0]
        size = int(KIB * 64 ** rng.random())  # log-uniform, 1 KiB to 64 KiB
        name = f"{rng.choice(content.words)}_{i:05d}.{rng.choice(exts[kind])}"
        place(name, content.small(kind, size), kind)

    small_bytes = sum(sizes.values())
    large_sizes = plan_large(size_bytes, small_bytes, large_count, rng)
    large = []
    for i, size in enumerate(large_sizes):
        name = LARGE_NAMES[i % len(LARGE_NAMES)]
        if i >= len(LARGE_NAMES):
            name = name.replace(".", f"-{i}.", 1)
        root = "Users/alice" if "/" in name else ""
        path = f"{root}/{name}".lstrip("/")
        (src / path).parent.mkdir(parents=True, exist_ok=True)
        content.write_large(src / path, size, i)
        large.append({"path": path, "size": size})

    # Reproducible timestamps (content and mtimes are seeded; e2fsprogs time is faked).
    base = 1_577_836_800  # 2020-01-01
    for path in sorted(src.rglob("*"), reverse=True):
        stamp = base + rng.randrange(0, 3 * 365 * 86400)
        os.utime(path, (stamp, stamp), follow_symlinks=False)

    return {
        "small_files": sum(stats.values()), "small_bytes": small_bytes, "by_kind": dict(stats),
        "bytes_by_kind": dict(sizes), "directories": len(dirs), "large": large,
        "large_bytes": sum(f["size"] for f in large),
    }


def make_image(image: Path, src: Path, size_bytes: int, inodes: int | None = None) -> None:
    """MBR with one Linux partition at 1 MiB; ext4 written from src straight into the file."""
    image.unlink(missing_ok=True)
    size_bytes = (size_bytes + MIB - 1) // MIB * MIB
    with open(image, "wb") as handle:
        handle.truncate(size_bytes)
    table = "label: dos\nlabel-id: 0x0c7b1a5e\nstart=2048, type=83\n"
    proc = subprocess.run(["sfdisk", "-q", str(image)], input=table, text=True, capture_output=True)
    if proc.returncode != 0:
        raise SystemExit(f"sfdisk failed: {proc.stderr}")
    blocks = (size_bytes - PART_START) // 4096
    cmd = ["mkfs.ext4", "-q", "-F", "-b", "4096", "-d", str(src), "-L", "evidence", "-U", FS_UUID,
           "-E", f"offset={PART_START},hash_seed={FS_UUID}"]
    if inodes:
        cmd += ["-N", str(inodes)]
    cmd += [str(image), str(blocks)]
    run(cmd, env={**os.environ, "E2FSPROGS_FAKE_TIME": FAKE_TIME})


def scratch_dir(args: argparse.Namespace, need: int) -> Path:
    """Where the source tree is written before mkfs copies it: tmpfs when it has room (halves the
    disk writes), else the work folder."""
    if args.scratch:
        return Path(args.scratch).resolve()
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and shutil.disk_usage(shm).free > need * 1.5 + GIB:
            return Path(tempfile.mkdtemp(prefix="disk_triage-", dir=shm))
    except OSError:
        pass
    return Path(tempfile.mkdtemp(prefix="scratch-", dir=args.work))


def build_images(work: Path, args: argparse.Namespace) -> tuple[Path, Path | None, dict]:
    """The main image and the large-files-only image, built or reused; and the manifest."""
    size_bytes = int(args.size_gb * GIB)
    tag = f"{args.size_gb:g}g-{args.small_files}f-{args.large_files}l-seed{args.seed}-v{GENERATOR_VERSION}"
    image = work / f"disk_triage-{tag}.img"
    large_image = work / f"disk_triage-{tag}-large-only.img"
    manifest_path = work / f"disk_triage-{tag}.json"
    if not args.rebuild and image.exists() and manifest_path.exists() and (
            large_image.exists() or args.large_files == 0):
        manifest = json.loads(manifest_path.read_text())
        log(f"Reusing image {image} ({human(image.stat().st_size)}; built in {manifest['build_seconds']:.1f} s "
            f"on {manifest['built_at']})")
        return image, large_image if args.large_files else None, manifest

    log(f"Building image {image} ({human(size_bytes)}, {args.small_files} small files, "
        f"{args.large_files} large files, seed {args.seed}) ...")
    started = time.perf_counter()
    scratch = scratch_dir(args, size_bytes)
    try:
        src = scratch / "src"
        manifest = generate_tree(src, args.small_files, size_bytes, args.large_files, args.seed)
        generated = time.perf_counter() - started
        used = manifest["small_bytes"] + manifest["large_bytes"]
        if used > size_bytes * 0.9:
            raise SystemExit(f"content ({human(used)}) does not fit a {human(size_bytes)} image: raise --size-gb")
        entries = manifest["small_files"] + manifest["directories"] * 3 + 1000
        make_image(image, src, size_bytes, inodes=entries if entries > 60_000 else None)
        main_done = time.perf_counter()
        if args.large_files:
            large_src = scratch / "src-large"
            for entry in manifest["large"]:
                target = large_src / entry["path"]
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(src / entry["path"], target)  # same content, no second copy
            large_size = int(manifest["large_bytes"] * 1.06) + 64 * MIB
            make_image(large_image, large_src, large_size)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    elapsed = time.perf_counter() - started
    manifest.update({
        "image": str(image), "image_bytes": image.stat().st_size,
        "large_image": str(large_image) if args.large_files else None,
        "large_image_bytes": large_image.stat().st_size if args.large_files else None,
        "seed": args.seed, "generator_version": GENERATOR_VERSION, "partition_offset_sectors": PART_START // 512,
        "scratch": str(scratch.parent), "build_seconds": round(elapsed, 2), "generate_seconds": round(generated, 2),
        "mkfs_main_seconds": round(main_done - started - generated, 2),
        "mkfs_large_seconds": round(elapsed - (main_done - started), 2),
        "built_at": dt.datetime.now().isoformat(timespec="seconds"),
    })
    manifest_path.write_text(json.dumps(manifest, indent=2))
    log(f"  built in {elapsed:.1f} s (content {generated:.1f} s in {scratch.parent}, main image mkfs "
        f"{manifest['mkfs_main_seconds']:.1f} s, large-only image mkfs {manifest['mkfs_large_seconds']:.1f} s): "
        f"{manifest['small_files']} small files ({human(manifest['small_bytes'])}) in {manifest['directories']} "
        f"folders, {len(manifest['large'])} large files ({human(manifest['large_bytes'])})")
    return image, large_image if args.large_files else None, manifest


# -- the two pipelines ---------------------------------------------------------------------


def partition_offset(image: Path) -> int:
    """Sector offset of the largest allocated partition (mmls), or 0 for a bare filesystem."""
    proc = subprocess.run(["mmls", str(image)], capture_output=True, text=True)
    if proc.returncode != 0:
        return 0
    best = (0, 0)
    for line in proc.stdout.splitlines():
        m = re.match(r"\s*\d+:\s+\d+:\d+\s+(\d+)\s+(\d+)\s+(\d+)\s", line)
        if m:
            start, length = int(m[1]), int(m[3])
            best = max(best, (length, start))
    return best[1]


def rule_paths() -> list[str]:
    rules = sorted(str(p) for p in RULES_DIR.glob("*.yar"))
    if not rules:
        raise SystemExit(f"no rule files in {RULES_DIR}")
    return rules


def yara_size_limit() -> int:
    """cybertriage's default --yara-max-size (files above it are hashed but not YARA-scanned)."""
    proc = subprocess.run([cybertriage_binary(), "scan", "--help"], capture_output=True, text=True)
    found = re.search(r"--yara-max-size.*?\(default\s+(\d+)\s*MiB", proc.stdout, re.S)
    return int(found[1]) * MIB if found else DEFAULT_YARA_LIMIT  # the CLI multiplies by 1024 * 1024


def reference(image: Path, out: Path, jobs: int, sums: Path, yara_limit: int | None) -> dict:
    """tsk_recover, then sha256sum over every file, then yara over the tree."""
    if out.exists():
        shutil.rmtree(out)
    offset = partition_offset(image)
    steps = {"recover": Timed(), "sha256": Timed(), "yara": Timed()}
    _, proc = run(["tsk_recover", "-a", "-o", str(offset), str(image), str(out)], stdout=subprocess.PIPE,
                  timed=steps["recover"])
    recovered = re.search(r"Files Recovered:\s*(\d+)", proc.stdout or "")
    run(f"find '{out}' -type f -print0 | xargs -0 sha256sum > '{sums}'", shell=True, timed=steps["sha256"])
    _, proc = run(["yara", "-p", str(jobs), "-r", "-w", *rule_paths(), str(out)], stdout=subprocess.PIPE,
                  check=False, timed=steps["yara"])
    if proc.returncode not in (0, 1):
        raise SystemExit(f"yara failed ({proc.returncode}): {proc.stderr}")
    total = Timed()
    for step in steps.values():
        total.add(step.wall, step.cpu, step.other_cpu)
    result = {
        "sector_offset": offset, "files_recovered": int(recovered[1]) if recovered else None,
        "recover_s": steps["recover"].wall, "sha256_s": steps["sha256"].wall, "yara_s": steps["yara"].wall,
        "total_s": total.wall, "cpu_s": total.cpu, "other_processes_cpu_s": total.other_cpu,
        "yara_matches": len(proc.stdout.splitlines()),
    }
    file_bytes, files = 0, 0
    for root, _, names in os.walk(out):
        for name in names:
            file_bytes += os.lstat(os.path.join(root, name)).st_size
            files += 1
    result.update({"files": files, "file_bytes": file_bytes})
    if yara_limit:
        # Untimed in the total: the same yara limited to the files cybertriage gives to YARA.
        seconds, _ = run(["yara", "-p", str(jobs), "-r", "-w", "-z", str(yara_limit), *rule_paths(), str(out)],
                         check=False)
        result["yara_limited_s"] = seconds
        result["total_yara_limited_s"] = result["recover_s"] + result["sha256_s"] + seconds
    return result


def cybertriage(image: Path, case: Path, jobs: int) -> dict:
    if case.exists():
        shutil.rmtree(case)
    cmd = [cybertriage_binary(), "scan", str(image), "--case", str(case), "--quiet", "--jobs", str(jobs)]
    timed = Timed()
    _, proc = run(cmd, check=False, timed=timed)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"cybertriage failed ({proc.returncode}): {proc.stderr}")
    result = {"total_s": timed.wall, "cpu_s": timed.cpu, "other_processes_cpu_s": timed.other_cpu,
              "exit_code": proc.returncode, "stderr": proc.stderr.strip()[-2000:], "command": " ".join(cmd)}
    db = sqlite3.connect(case / "case.db")
    try:
        files, hashed, hashed_bytes = db.execute(
            "SELECT count(*), count(sha256), coalesce(sum(CASE WHEN sha256 IS NOT NULL THEN size END), 0) "
            "FROM files WHERE kind = 'file'").fetchone()
        result.update({"files": files, "files_hashed": hashed, "file_bytes": hashed_bytes})
        result["findings"] = {f"{a}:{r}": n for a, r, n in db.execute(
            "SELECT analyzer, rule, count(*) FROM findings GROUP BY analyzer, rule ORDER BY analyzer, rule")}
        result["ledger"] = [dict(zip(("stage", "attempted", "processed", "skipped", "reasons"), row))
                            for row in db.execute("SELECT stage, attempted, processed, skipped, reasons FROM ledger")]
        result["evidence_status"] = db.execute("SELECT status FROM evidence").fetchone()[0]
        result["sha256"] = [row[0] for row in db.execute(
            "SELECT sha256 FROM files WHERE kind = 'file' AND sha256 IS NOT NULL")]
    finally:
        db.close()
    return result


def same_hashes(sums: Path, ct: dict) -> bool:
    ref = collections.Counter(line.split()[0] for line in sums.read_text().splitlines() if line)
    return ref == collections.Counter(ct["sha256"])


def settle() -> None:
    """Untimed, between pipelines: flush what the previous one wrote so it does not slow the next."""
    subprocess.run(["sync"])


def load_note(result: dict, wall_key: str = "total_s") -> str:
    """How much CPU the rest of the machine took while this ran, as a share of it. Kernel threads count
    too, so the write-back of the reference's own recovered files shows up here as a few per cent."""
    share = result["other_processes_cpu_s"] / (result[wall_key] * (os.cpu_count() or 1))
    flag = "  ← other load: figures not clean" if share > 0.10 else ""
    return f"other processes {result['other_processes_cpu_s']:.1f} CPU-s ({share:.0%} of the machine){flag}"


def ref_out_base(args: argparse.Namespace, image: Path) -> Path:
    """Where tsk_recover writes: tmpfs when it has room, so that the reference is timed on its work and
    not on the disk's write-back (the fastest the reference can be); else the work folder."""
    if args.ref_out:
        return Path(args.ref_out).resolve()
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and shutil.disk_usage(shm).free > image.stat().st_size * 1.5 + GIB:
            return shm / f"disk_triage-{os.getpid()}"
    except OSError:
        pass
    return args.work


def compare(image: Path, label: str, work: Path, args: argparse.Namespace, yara_limit: int | None) -> list[dict]:
    """`repeat` rounds of: warm, reference, clean up, warm, cybertriage. Returns one dict per round."""
    rounds = []
    out = ref_out_base(args, image) / f"ref-out-{label}"
    sums = work / f"ref-sha256-{label}.txt"
    case = work / f"case-{label}"
    for i in range(args.repeat):
        tag = f"[{label} {i + 1}/{args.repeat}]"
        waited = wait_quiet(args.wait_quiet)
        warm_ref = warm(image)
        ref = reference(image, out, args.jobs, sums, yara_limit)
        log(f"  {tag} reference   {ref['total_s']:7.2f} s = tsk_recover {ref['recover_s']:.2f} + sha256sum "
            f"{ref['sha256_s']:.2f} + yara {ref['yara_s']:.2f}   ({ref['files']} files, {human(ref['file_bytes'])}, "
            f"{ref['yara_matches']} yara matches; {load_note(ref)})")
        settle()
        if not args.keep:
            shutil.rmtree(out)
            if out.parent.name.startswith("disk_triage-") and not any(out.parent.iterdir()):
                out.parent.rmdir()
            settle()
        waited += wait_quiet(args.wait_quiet)
        warm_ct = warm(image)
        ct = cybertriage(image, case, args.jobs)
        hashes_equal = same_hashes(sums, ct)
        log(f"  {tag} cybertriage {ct['total_s']:7.2f} s   exit {ct['exit_code']}   ({ct['files_hashed']} files hashed, "
            f"{human(ct['file_bytes'])}, {sum(ct['findings'].values())} findings; sha256 equal to sha256sum's: "
            f"{'yes' if hashes_equal else 'NO'}; {load_note(ct)})"
            + (f"; waited {waited:.0f} s for other load to pass" if waited > 5 else ""))
        if not args.keep:
            shutil.rmtree(case)
        settle()
        rounds.append({"reference": ref, "cybertriage": {k: v for k, v in ct.items() if k != "sha256"},
                       "hashes_equal": hashes_equal, "warm_s": [warm_ref, warm_ct],
                       "waited_for_quiet_s": waited})
    return rounds


def best(rounds: list[dict], side: str, key: str = "total_s") -> dict:
    return min((r[side] for r in rounds), key=lambda x: x[key])


def median(rounds: list[dict], side: str, key: str = "total_s") -> float:
    return statistics.median(r[side][key] for r in rounds)


def git_state() -> dict:
    def git(*a: str) -> str:
        return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True).stdout.strip()
    return {"commit": git("rev-parse", "HEAD"),
            "cybertriage_dirty_files": len(git("status", "--porcelain", "--", "cybertriage").splitlines())}


# -- main ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="work folder (default bench/work/)")
    parser.add_argument("--image", type=Path, help="use this existing raw disk image instead of building one "
                        "(no large-files-only run then)")
    parser.add_argument("--size-gb", type=float, default=1.1, help="image size in GiB (default 1.1)")
    parser.add_argument("--small-files", type=int, default=10_000, help="number of small files (default 10000)")
    parser.add_argument("--large-files", type=int, default=5, help="number of 64-200 MiB files (default 5)")
    parser.add_argument("--seed", type=int, default=1, help="content seed (default 1)")
    parser.add_argument("--jobs", type=int, default=2, help="cybertriage --jobs and yara -p (default 2)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of both pipelines; the best and the median are reported (default 3)")
    parser.add_argument("--wait-quiet", type=float, default=60, metavar="SECONDS",
                        help="before each timed run, wait up to this long for other processes to go quiet "
                             "(default 60; 0 = do not wait)")
    parser.add_argument("--ref-out", type=Path, metavar="DIR",
                        help="folder for the reference's recovered tree (default: /dev/shm when it has room, "
                             "else the work folder)")
    parser.add_argument("--keep", action="store_true", help="keep the reference's recovered trees and the cases")
    parser.add_argument("--rebuild", action="store_true", help="build the images even if they exist")
    parser.add_argument("--scratch", type=Path, help="where to write the source tree while building "
                        "(default: a folder in /dev/shm when it has room, else the work folder)")
    args = parser.parse_args()
    if args.repeat < 1 or args.jobs < 1:
        parser.error("--repeat and --jobs must be at least 1")

    work = args.work.resolve()
    args.work = work
    work.mkdir(parents=True, exist_ok=True)
    for tool in ("tsk_recover", "mmls", "sha256sum", "yara", "mkfs.ext4", "sfdisk"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: run `make system-packages`")
    yara_limit = yara_size_limit()
    code_state = git_state()  # the cybertriage code that is timed (others may commit while this runs)

    log(f"disk_triage benchmark — {dt.datetime.now().isoformat(timespec='seconds')}, {os.cpu_count()} cores "
        f"({_cpu_model()}), {platform.python_implementation()} {platform.python_version()}, "
        f"cybertriage at {code_state['commit'][:10]}"
        + (f" + {code_state['cybertriage_dirty_files']} uncommitted file(s)" if code_state["cybertriage_dirty_files"] else ""))
    compile_bytecode()
    if args.image:
        image, large_image = args.image.resolve(), None
        manifest = {"image": str(image), "image_bytes": image.stat().st_size, "large": [], "given": True}
        log(f"Using the given image {image} ({human(image.stat().st_size)}); no large-files-only run")
    else:
        image, large_image, manifest = build_images(work, args)

    log("Page cache: before every timed run of either pipeline the image is read once with `cat IMAGE > /dev/null`"
        " (untimed), so both read it from the cache; `sync` runs untimed between runs.")
    log(f"The reference's tsk_recover writes to {ref_out_base(args, image)}"
        + (" (tmpfs: no disk write-back in its time)." if str(ref_out_base(args, image)).startswith("/dev/shm")
           else "."))
    log(f"Jobs: cybertriage --jobs {args.jobs}, yara -p {args.jobs}; tsk_recover and sha256sum are single-threaded.")
    log("")
    log(f"Main image {image.name} ({human(image.stat().st_size)}):")
    rounds = compare(image, "main", work, args, yara_limit)
    ref, ct = best(rounds, "reference"), best(rounds, "cybertriage")
    ratio = ct["total_s"] / ref["total_s"]
    ratio_median = median(rounds, "cybertriage") / median(rounds, "reference")
    ratio_limited = ct["total_s"] / min(r["reference"]["total_yara_limited_s"] for r in rounds)
    yara_skipped = next((row for row in ct["ledger"] if row["stage"] == "yara"), None)

    large = None
    if large_image is not None:
        log("")
        log(f"Large files only: image {large_image.name} ({human(large_image.stat().st_size)}), "
            f"{len(manifest['large'])} files, {human(manifest['large_bytes'])}:")
        large_rounds = compare(large_image, "large", work, args, None)
        ref_l, ct_l = best(large_rounds, "reference"), best(large_rounds, "cybertriage")
        large = {
            "image": str(large_image), "image_bytes": large_image.stat().st_size,
            "large_bytes": manifest["large_bytes"], "files": len(manifest["large"]),
            "cybertriage_mb_s": mb(manifest["large_bytes"]) / ct_l["total_s"],
            "cybertriage_mb_s_median": mb(manifest["large_bytes"]) / median(large_rounds, "cybertriage"),
            "reference_mb_s": mb(manifest["large_bytes"]) / ref_l["total_s"],
            "best_cybertriage_s": ct_l["total_s"], "best_reference_s": ref_l["total_s"],
            "rounds": large_rounds,
        }

    n = args.repeat
    of = f"best of {n}" if n > 1 else "1 run"
    log("")
    log(f"Results ({of}; wall times)")
    rows = [
        ("reference total (tsk_recover + sha256sum + yara)", f"{ref['total_s']:.2f} s"),
        ("  tsk_recover -a", f"{ref['recover_s']:.2f} s"),
        ("  sha256sum over the recovered files", f"{ref['sha256_s']:.2f} s"),
        (f"  yara -p {args.jobs} -r -w ({len(rule_paths())} rule files)", f"{ref['yara_s']:.2f} s"),
        ("cybertriage scan total", f"{ct['total_s']:.2f} s"),
        ("ratio cybertriage / reference (target ≤ 1.0)",
         f"{ratio:.2f}" + (f"  (median of {n}: {ratio_median:.2f})" if n > 1 else "")),
        (f"  same, reference yara limited to ≤ {yara_limit // MIB} MiB files (-z)",
         f"{ratio_limited:.2f}  (reference {min(r['reference']['total_yara_limited_s'] for r in rounds):.2f} s)"),
        ("file content processed", f"{ct['file_bytes']:,} B in {ct['files_hashed']:,} files "
                                   f"(reference: {ref['file_bytes']:,} B in {ref['files']:,} files)"),
        ("cybertriage overall", f"{mb(ct['file_bytes']) / ct['total_s']:.0f} MB/s of file content, "
                                f"{ct['files_hashed'] / ct['total_s']:.0f} files/s"),
    ]
    if large:
        rows.append(("cybertriage on large files (target ≥ 250 MB/s)",
                     f"{large['cybertriage_mb_s']:.0f} MB/s  ({large['files']} files, {mb(large['large_bytes']):.0f} MB "
                     f"in {large['best_cybertriage_s']:.2f} s)"))
        rows.append(("reference on the same large files", f"{large['reference_mb_s']:.0f} MB/s  "
                     f"({large['best_reference_s']:.2f} s)"))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        log(f"  {name:<{width}}  {value}")
    log("")
    log("What the figures are:")
    log("  - wall times (time.perf_counter) of whole processes: cybertriage's include start-up, its sha256 of the")
    log("    whole image file, MD5+SHA-1+SHA-256 and libmagic type of every file, YARA, and the SQLite case;")
    log("    the reference computes SHA-256 only, and writes the recovered files out (see above where to).")
    log("  - MB = 10^6 bytes. 'file content processed' = sum of the sizes of the regular files cybertriage hashed.")
    if large:
        log("  - large-file rate: a separate cybertriage scan of an image holding only the large files; MB/s = sum")
        log("    of those files' sizes / that scan's wall time (start-up and the whole-image sha256 included).")
    if yara_skipped and yara_skipped["skipped"]:
        log(f"  - cybertriage did not YARA-scan {yara_skipped['skipped']} file(s) ({yara_skipped['reasons']}): files")
        log(f"    over its --yara-max-size ({yara_limit // MIB} MiB) are hashed only; the reference's yara scans them.")
        log(f"    The '≤ {yara_limit // MIB} MiB' ratio compares equal YARA coverage.")
    if n == 1:
        log("  - one round on a 2-core machine that others may share: see the 'other processes' load above;")
        log("    the default --repeat 3 reports the best and the median.")

    result = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "cpu": _cpu_model()},
        "versions": {"yara": tool_version(["yara", "--version"]), "sleuthkit": tool_version(["tsk_recover", "-V"]),
                     "cybertriage": tool_version([cybertriage_binary(), "--version"]), **code_state},
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "image": {k: v for k, v in manifest.items() if k != "large"} | {"large_files": manifest.get("large", [])},
        "page_cache": "image read once with cat before every timed run of either pipeline",
        "reference_output": str(ref_out_base(args, image)),
        "summary": {
            "reference_s": ref["total_s"], "reference_steps_s": {k: ref[k] for k in ("recover_s", "sha256_s", "yara_s")},
            "cybertriage_s": ct["total_s"], "ratio": ratio, "ratio_median": ratio_median,
            "ratio_yara_limited": ratio_limited, "yara_limit_bytes": yara_limit,
            "file_bytes": ct["file_bytes"], "files": ct["files_hashed"],
            "cybertriage_mb_s": mb(ct["file_bytes"]) / ct["total_s"],
            "large_files_cybertriage_mb_s": large["cybertriage_mb_s"] if large else None,
            "large_files_reference_mb_s": large["reference_mb_s"] if large else None,
            "hashes_equal": all(r["hashes_equal"] for r in rounds),
        },
        "rounds": rounds,
        "large_files": large,
    }
    out = work / "disk_triage-result.json"
    out.write_text(json.dumps(result, indent=2))
    log(f"\nFigures written to {out}")
    return 0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
