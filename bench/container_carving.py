#!/usr/bin/env python3
"""Benchmark section "carve" (issue 19): carving a 1 GiB volume, cybertriage against PhotoRec alone.

Not a test. It builds (or reuses) WORK/carve-1g.img: an MBR partition table and one FAT32 volume of 1 GiB,
filled with pictures (JPEG and PNG of noise, which nothing compresses) and random binary files, half of which are
then deleted, so that about half of the volume is unallocated and holds carvable files. Then, with the image in
the page cache for both:

  reference    photorec /cmd IMAGE 1,…,freespace,search      (PhotoRec alone, its own free-space reading)
  stage        the scan's carving stage alone (pipeline/carving.py: PhotoRec over the volume's free space in the
               image, or over blkls's copy of it where PhotoRec cannot read it; each carved file hashed and kept in
               the case), on the volume the scan found
  scans        cybertriage scan IMAGE --carve, and --no-carve (the rest of a scan: listing, hashing, YARA…)

and prints the wall and CPU times (rounds in alternating order), whether the stage carved the same files as
PhotoRec alone (their sha256), and the stage's ratio to PhotoRec alone. bench/containers.py runs
it as `--only carve`; it also runs alone: .venv/bin/python bench/container_carving.py [--size-mib N] [--work DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
START_SECTOR = 2048
ENV = {**os.environ, "LC_ALL": "C.UTF-8", "MTOOLS_SKIP_CHECK": "1", "TERM": "dumb"}
PHOTOREC_OPTIONS = "options,paranoid,fileopt,everything,enable,freespace,search"


def _picture(rng: random.Random, fmt: str) -> bytes:
    from PIL import Image

    width, height = rng.randrange(200, 500), rng.randrange(200, 400)
    image = Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 85} if fmt == "JPEG" else {}))
    return out.getvalue()


def build_image(path: Path, size_mib: int, seed: int = 1) -> Path:
    """A disk with one FAT32 volume, about 90 % filled, then half of its files deleted."""
    if path.exists():
        return path
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(dir=path.parent))
    try:
        volume = work / "volume.fat"
        with open(volume, "wb") as out:
            out.truncate(size_mib * 1024 * 1024)
        subprocess.run(["mkfs.fat", "-F", "32", "-s", "8", str(volume)], check=True, capture_output=True, env=ENV)
        files = work / "files"
        files.mkdir()
        total, index = 0, 0
        while total < size_mib * 1024 * 1024 * 0.9:
            kind = index % 3
            data = _picture(rng, "JPEG") if kind == 0 else _picture(rng, "PNG") if kind == 1 else \
                rng.randbytes(rng.randrange(64 * 1024, 4 * 1024 * 1024))
            name = files / f"file{index:05d}.{('jpg', 'png', 'bin')[kind]}"
            name.write_bytes(data)
            total += len(data)
            index += 1
        names = sorted(files.iterdir())
        subprocess.run(["mcopy", "-i", str(volume), *map(str, names), "::/"], check=True, env=ENV)
        doomed = [f"::/{p.name}" for i, p in enumerate(names) if i % 2 == 0]
        for start in range(0, len(doomed), 200):
            subprocess.run(["mdel", "-i", str(volume), *doomed[start:start + 200]], check=True, env=ENV)
        disk = work / "disk.img"
        with open(disk, "wb") as out:
            out.truncate((START_SECTOR * 512) + volume.stat().st_size)
        subprocess.run(["sfdisk", "-q", str(disk)], input=f"start={START_SECTOR}, type=c\n", text=True, check=True,
                       capture_output=True)
        subprocess.run(["dd", f"if={volume}", f"of={disk}", "bs=4M", f"seek={START_SECTOR * 512}", "oflag=seek_bytes",
                        "conv=notrunc,sparse", "status=none"], check=True)
        disk.rename(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def _warm(path: Path) -> None:
    with open(path, "rb") as image:
        while image.read(16 * 1024 * 1024):
            pass


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of the command: on a shared machine the CPU time is the steadier figure."""
    started, cpu = time.monotonic(), _cpu(resource.RUSAGE_CHILDREN)
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    return time.monotonic() - started, _cpu(resource.RUSAGE_CHILDREN) - cpu


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def photorec_alone(image: Path, work: Path) -> tuple[float, float, list[str]]:
    """PhotoRec's own run over the volume's free space: (seconds, CPU seconds, sha256 of the files it carved)."""
    out = work / "photorec"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    seconds, cpu = _timed(["photorec", "/log", "/d", str(out / "recup"), "/cmd", str(image), f"1,{PHOTOREC_OPTIONS}"],
                          out)
    carved = sorted(_sha256(p) for p in out.glob("recup.*/*") if p.name != "report.xml")
    shutil.rmtree(out, ignore_errors=True)
    return seconds, cpu, carved


def cybertriage_scan(image: Path, work: Path, carve: bool) -> tuple[float, int]:
    """A scan of the image (--carve or --no-carve): (seconds, objects under $Carved/)."""
    case = work / f"case-{'carve' if carve else 'no-carve'}"
    shutil.rmtree(case, ignore_errors=True)
    seconds, _ = _timed([sys.executable, "-m", "cybertriage", "scan", str(image), "--case", str(case), "--quiet",
                         "--carve" if carve else "--no-carve"], REPO)
    import sqlite3

    with sqlite3.connect(case / "case.db") as db:
        carved = db.execute("SELECT count(*) FROM files WHERE path LIKE '$Carved/%'").fetchone()[0]
    shutil.rmtree(case, ignore_errors=True)
    return seconds, carved


def carving_stage(image: Path, work: Path) -> tuple[float, float, list[str]]:
    """The scan's carving stage over the image's volumes, as a scan runs it once the files are listed:
    (seconds, CPU seconds of the stage and the tools it runs, sha256 of the files carved)."""
    import threading

    sys.path.insert(0, str(REPO))
    import pytsk3

    from cybertriage.evidence.disk import FILESYSTEM_NAMES, DiskImage
    from cybertriage.pipeline.carving import CarvedSource

    disk = DiskImage(image)
    disk.partitions = disk._volumes()  # what the listing finds first; the carving stage needs no more of it
    for partition in disk.partitions:  # and each one's filesystem, as the listing names it
        try:
            partition.filesystem = FILESYSTEM_NAMES.get(int(pytsk3.FS_Info(disk.image, offset=partition.offset).info.ftype))
        except OSError:
            partition.filesystem = None
    case = Path(tempfile.mkdtemp(dir=work))
    try:
        started, cpu = time.monotonic(), _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN)
        carved = list(CarvedSource(disk, case, 60.0).objects(threading.Event()))
        seconds, cpu = time.monotonic() - started, _cpu(resource.RUSAGE_SELF) + _cpu(resource.RUSAGE_CHILDREN) - cpu
        return seconds, cpu, sorted(obj.sha256 or "" for obj in carved)
    finally:
        shutil.rmtree(case, ignore_errors=True)
        disk.close()


def carve(work: Path, size_mib: int = 1024, repeat: int = 3, scans: bool = True) -> dict[str, Any]:
    """The carve section: PhotoRec alone against the scan's carving stage on a SIZE_MIB volume, `repeat` rounds in
    alternating order (the median is reported); then whole scans with and without carving, once."""
    work.mkdir(parents=True, exist_ok=True)
    image = build_image(work / f"carve-{size_mib}m.img", size_mib)
    rounds = []
    for number in range(repeat):
        pair = {}
        for side in (("photorec", "stage") if number % 2 == 0 else ("stage", "photorec")):
            _warm(image)
            pair[side] = photorec_alone(image, work) if side == "photorec" else carving_stage(image, work)
        rounds.append({"photorec_s": pair["photorec"][0], "photorec_cpu_s": pair["photorec"][1],
                       "stage_s": pair["stage"][0], "stage_cpu_s": pair["stage"][1],
                       "files": len(pair["stage"][2]), "same_files": pair["stage"][2] == pair["photorec"][2]})
        print(json.dumps({key: round(value, 2) if isinstance(value, float) else value
                          for key, value in rounds[-1].items()}), flush=True)
    median = {key: round(statistics.median(r[key] for r in rounds), 2)
              for key in ("photorec_s", "photorec_cpu_s", "stage_s", "stage_cpu_s")}
    result: dict[str, Any] = {
        "volume_mib": size_mib, "rounds": rounds, "median": median,
        "ratio_stage_to_photorec": round(median["stage_s"] / median["photorec_s"], 2),
        "cpu_ratio_stage_to_photorec": round(median["stage_cpu_s"] / median["photorec_cpu_s"], 2),
        "all_same_files": all(r["same_files"] for r in rounds)}
    if scans:
        _warm(image)
        without, _ = cybertriage_scan(image, work, carve=False)
        _warm(image)
        with_carving, carved = cybertriage_scan(image, work, carve=True)
        result |= {"scan_no_carve_seconds": round(without, 2), "scan_carve_seconds": round(with_carving, 2),
                   "carved_objects": carved}
    print(json.dumps({key: value for key, value in result.items() if key != "rounds"}, indent=2))
    return result


def section(args: argparse.Namespace) -> dict[str, Any]:
    """bench/containers.py's "carve" section, on its work folder."""
    return carve(args.work, getattr(args, "carve_size_mib", 1024), args.repeat)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "work")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of PhotoRec alone and the stage (default 3)")
    parser.add_argument("--no-scans", action="store_true", help="leave out the whole scans with and without carving")
    args = parser.parse_args()
    carve(args.work, args.size_mib, args.repeat, not args.no_scans)
    return 0


if __name__ == "__main__":
    sys.exit(main())
