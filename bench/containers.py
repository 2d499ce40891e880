#!/usr/bin/env python3
"""Containers benchmark (issue 19): evidence inside other evidence, each section against its reference.

Sections (one function each; `--only` runs some of them):

- vdisk: the disk benchmark's 1.1 GiB raw image (bench/disk_triage.py builds it, or reuses it) converted to QCOW2
  with `qemu-img convert`, `cybertriage scan` of the QCOW2 against the same scan of the raw image. Target: the
  virtual disk within 1.2x of its raw image; both cases must hold the same files with the same sha256.

    .venv/bin/python bench/containers.py --only vdisk

- archives: a tree of about 1 GB packed as tar.gz and as 7z at run time (bench/container_archives.py), `cybertriage
  scan` of each against `tar -xzf` + `sha256sum` and `7z x` + `sha256sum`. Target: within 1.2x of the reference.

    .venv/bin/python bench/containers.py --only archives

- carve: a 1 GiB FAT32 volume half of whose files were deleted (bench/container_carving.py builds it), the scan's
  carving stage against PhotoRec alone over the volume's free space, and whole scans with and without carving.

    .venv/bin/python bench/containers.py --only carve
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import container_archives  # noqa: E402  # the archives section
import container_carving  # noqa: E402  # the carve section
import disk_triage  # noqa: E402  # the disk benchmark's image builder and scan timing

DEFAULT_WORK = disk_triage.DEFAULT_WORK
VDISK_TARGET = 1.2


def vdisk(args: argparse.Namespace) -> dict:
    """cybertriage over a QCOW2 of the disk benchmark image against cybertriage over the raw image."""
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    build = argparse.Namespace(work=work, size_gb=args.size_gb, small_files=args.small_files,
                               large_files=args.large_files, seed=args.seed, rebuild=False, scratch=None)
    raw = args.image or disk_triage.build_images(work, build)[0]
    qcow = work / f"{raw.stem}.qcow2"
    if not qcow.exists() or qcow.stat().st_mtime < raw.stat().st_mtime:
        timed = disk_triage.Timed()
        disk_triage.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(qcow)], timed=timed)
        disk_triage.log(f"QCOW2 {qcow} ({disk_triage.human(qcow.stat().st_size)}) made in {timed.wall:.1f} s")
    rounds = []
    for round_number in range(args.repeat):
        disk_triage.settle()
        pair = {}
        # alternate which goes first, so that a drifting machine does not favour one
        order = [("raw", raw), ("qcow2", qcow)] if round_number % 2 == 0 else [("qcow2", qcow), ("raw", raw)]
        for label, image in order:
            disk_triage.warm(image)
            pair[label] = disk_triage.cybertriage(image, work / f"containers-case-{label}", args.jobs)
        same = collections.Counter(pair["raw"]["sha256"]) == collections.Counter(pair["qcow2"]["sha256"])
        ratio = pair["qcow2"]["total_s"] / pair["raw"]["total_s"]
        cpu_ratio = pair["qcow2"]["cpu_s"] / pair["raw"]["cpu_s"]
        disk_triage.log(f"round {round_number + 1}: raw {pair['raw']['total_s']:.2f} s ({pair['raw']['cpu_s']:.1f} "
                        f"CPU-s), QCOW2 {pair['qcow2']['total_s']:.2f} s ({pair['qcow2']['cpu_s']:.1f} CPU-s), ratio "
                        f"{ratio:.2f} (CPU {cpu_ratio:.2f}), same files and sha256: {same}; "
                        f"{disk_triage.load_note(pair['qcow2'])}")
        rounds.append({"raw_s": pair["raw"]["total_s"], "qcow2_s": pair["qcow2"]["total_s"], "ratio": ratio,
                       "raw_cpu_s": pair["raw"]["cpu_s"], "qcow2_cpu_s": pair["qcow2"]["cpu_s"], "cpu_ratio": cpu_ratio,
                       "same_files": same, "files": pair["raw"]["files"],
                       "raw_status": pair["raw"]["evidence_status"], "qcow2_status": pair["qcow2"]["evidence_status"]})
    best = min(rounds, key=lambda r: r["ratio"])
    result = {"raw_image": str(raw), "raw_bytes": raw.stat().st_size, "qcow2": str(qcow),
              "qcow2_bytes": qcow.stat().st_size, "rounds": rounds,
              "median_ratio": statistics.median(r["ratio"] for r in rounds), "best_ratio": best["ratio"],
              "median_cpu_ratio": statistics.median(r["cpu_ratio"] for r in rounds),
              "target": VDISK_TARGET, "all_same_files": all(r["same_files"] for r in rounds)}
    disk_triage.log(f"vdisk: median ratio {result['median_ratio']:.2f} (target <= {VDISK_TARGET}), median CPU "
                    f"ratio {result['median_cpu_ratio']:.2f}, "
                    f"files identical in every round: {result['all_same_files']}")
    return result


SECTIONS: dict[str, Callable[[argparse.Namespace], dict]] = {"vdisk": vdisk, "archives": container_archives.archives,
                                                             "carve": container_carving.section}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", choices=sorted(SECTIONS), help="run only this section (repeatable)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="work folder (default bench/work/)")
    parser.add_argument("--image", type=Path, help="vdisk: use this raw disk image instead of the disk benchmark's")
    parser.add_argument("--size-gb", type=float, default=1.1, help="vdisk: disk image size in GiB (default 1.1)")
    parser.add_argument("--small-files", type=int, default=10_000)
    parser.add_argument("--large-files", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2, help="cybertriage --jobs (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per section (default 3)")
    container_archives.add_arguments(parser)
    args = parser.parse_args()
    results = {name: SECTIONS[name](args) for name in (args.only or SECTIONS)}
    out = args.work / "containers-result.json"
    out.write_text(json.dumps(results, indent=2))
    disk_triage.log(f"results in {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except subprocess.CalledProcessError as error:
        sys.exit(f"{error.cmd[0]} failed: {error}")
