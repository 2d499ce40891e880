"""The "archives" section of bench/containers.py: a tree of about 1 GB (the disk benchmark's generator: text, logs,
CSV, HTML, JSON, PE files, EICAR, large files) packed as tar.gz and as 7z at run time; `cybertriage scan` of a folder
holding the archive against `tar -xzf` + `sha256sum` and `7z x` + `sha256sum` over what they extract. Both sides
must find the same members with the same sha256. Target: within 1.2x of the reference.

The scan YARA-scans every member (up to its --yara-max-size), which the issue's reference does not: as
bench/disk_triage.py does, the reference at equal coverage adds `yara -p JOBS -r -w -z LIMIT rules/*.yar` over the
extracted tree (the same rules, the same size limit), and both ratios are printed. Each side's CPU time (its
processes and their children) is printed beside its wall time: on a shared machine it is the steadier figure."""

from __future__ import annotations

import argparse
import collections
import hashlib
import shutil
import statistics
from pathlib import Path

import disk_triage

ARCHIVES_TARGET = 1.2
GIB = 1024 ** 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--archive-gb", type=float, default=1.1,
                        help="archives: the tree fills 80%% of this many GiB (default 1.1: about 0.9 GiB of files, "
                             "under the scan's 1 GiB archive limit)")
    parser.add_argument("--archive-small-files", type=int, default=5_000, help="archives: small files in the tree")


def _packed(work: Path, args: argparse.Namespace) -> tuple[Path, dict[str, Path]]:
    """The tree and its archives, made once for these settings (kept in the work folder)."""
    tree = work / "archives-tree"
    stamp = work / "archives-tree.settings"
    settings = f"{args.archive_gb} {args.archive_small_files} {args.seed}"
    archives = {"tar.gz": work / "archives-tree.tar.gz", "7z": work / "archives-tree.7z"}
    if not stamp.exists() or stamp.read_text() != settings or not all(p.exists() for p in archives.values()):
        manifest = disk_triage.generate_tree(tree, args.archive_small_files, int(args.archive_gb * GIB), 5, args.seed)
        disk_triage.log(f"tree: {manifest['small_files']} small files, {len(manifest['large'])} large, "
                        f"{disk_triage.human(manifest['small_bytes'] + manifest['large_bytes'])}")
        for archive in archives.values():
            archive.unlink(missing_ok=True)
        seconds, _ = disk_triage.run(["tar", "-czf", str(archives["tar.gz"]), "-C", str(tree), "."])
        disk_triage.log(f"tar.gz made in {seconds:.0f} s ({disk_triage.human(archives['tar.gz'].stat().st_size)})")
        seconds, _ = disk_triage.run(f"cd '{tree}' && 7z a -bso0 -bsp0 '{archives['7z']}' .", shell=True)
        disk_triage.log(f"7z made in {seconds:.0f} s ({disk_triage.human(archives['7z'].stat().st_size)})")
        stamp.write_text(settings)
    return tree, archives


def _reference(kind: str, archive: Path, out: Path, sums: Path, jobs: int, yara_limit: int) -> dict:
    """Extract with the archive's own tool, then sha256sum over every file extracted; then (for the figures at equal
    coverage) yara over the extracted tree, limited to the files the scan gives to YARA."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    extract, hashing, yara = disk_triage.Timed(), disk_triage.Timed(), disk_triage.Timed()
    command = (["tar", "-xzf", str(archive), "-C", str(out)] if kind == "tar.gz"
               else ["7z", "x", "-bso0", "-bsp0", f"-o{out}", str(archive)])
    disk_triage.run(command, timed=extract)
    disk_triage.run(f"find '{out}' -type f -print0 | xargs -0 sha256sum > '{sums}'", shell=True, timed=hashing)
    disk_triage.run(["yara", "-p", str(jobs), "-r", "-w", "-z", str(yara_limit), *disk_triage.rule_paths(), str(out)],
                    check=False, timed=yara)
    return {"extract_s": extract.wall, "sha256_s": hashing.wall, "total_s": extract.wall + hashing.wall,
            "cpu_s": extract.cpu + hashing.cpu, "other_processes_cpu_s": extract.other_cpu + hashing.other_cpu,
            "yara_s": yara.wall, "equal_total_s": extract.wall + hashing.wall + yara.wall,
            "equal_cpu_s": extract.cpu + hashing.cpu + yara.cpu}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _scan(kind: str, archive: Path, work: Path, jobs: int) -> dict:
    """cybertriage over a folder that holds only the archive (a hard link to it)."""
    evidence = work / f"archives-evidence-{kind}"
    if evidence.exists():
        shutil.rmtree(evidence)
    evidence.mkdir()
    (evidence / archive.name).hardlink_to(archive)
    result = disk_triage.cybertriage(evidence, work / f"archives-case-{kind}", jobs)
    result["sha256"].remove(_sha256(archive))  # the archive itself; its members are the rest
    return result


def archives(args: argparse.Namespace) -> dict:
    """cybertriage over a tar.gz and a 7z of the same tree against extracting each and hashing what comes out."""
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    _, packed = _packed(work, args)
    yara_limit = disk_triage.yara_size_limit()
    results = {}
    for kind, archive in packed.items():
        rounds = []
        for round_number in range(args.repeat):
            pair = {}
            order = ["reference", "cybertriage"] if round_number % 2 == 0 else ["cybertriage", "reference"]
            for side in order:
                disk_triage.settle()
                disk_triage.warm(archive)
                sums = work / f"archives-{kind}.sha256"
                pair[side] = (_reference(kind, archive, work / f"archives-out-{kind}", sums, args.jobs, yara_limit)
                              if side == "reference" else _scan(kind, archive, work, args.jobs))
            reference_sums = collections.Counter(line.split()[0] for line in sums.read_text().splitlines() if line)
            same = reference_sums == collections.Counter(pair["cybertriage"]["sha256"])
            ratio = pair["cybertriage"]["total_s"] / pair["reference"]["total_s"]
            equal_ratio = pair["cybertriage"]["total_s"] / pair["reference"]["equal_total_s"]
            disk_triage.log(f"{kind} round {round_number + 1}: reference {pair['reference']['total_s']:.1f} s "
                            f"(extract {pair['reference']['extract_s']:.1f} + sha256sum {pair['reference']['sha256_s']:.1f}), "
                            f"cybertriage {pair['cybertriage']['total_s']:.1f} s, ratio {ratio:.2f} (CPU "
                            f"{pair['reference']['cpu_s']:.1f} s against {pair['cybertriage']['cpu_s']:.1f} s); with "
                            f"yara {pair['reference']['yara_s']:.1f} s (equal coverage): ratio {equal_ratio:.2f} (CPU "
                            f"{pair['reference']['equal_cpu_s']:.1f} s); "
                            f"same members and sha256: {same} ({sum(reference_sums.values())} files)")
            rounds.append({"reference_s": pair["reference"]["total_s"], "extract_s": pair["reference"]["extract_s"],
                           "sha256_s": pair["reference"]["sha256_s"], "cybertriage_s": pair["cybertriage"]["total_s"],
                           "cybertriage_cpu_s": pair["cybertriage"]["cpu_s"], "reference_cpu_s": pair["reference"]["cpu_s"],
                           "ratio": ratio, "cpu_ratio": pair["cybertriage"]["cpu_s"] / max(0.001, pair["reference"]["cpu_s"]),
                           "yara_s": pair["reference"]["yara_s"], "equal_ratio": equal_ratio,
                           "equal_cpu_ratio": pair["cybertriage"]["cpu_s"] / max(0.001, pair["reference"]["equal_cpu_s"]),
                           "same_files": same,
                           "files": sum(reference_sums.values()), "findings": pair["cybertriage"]["findings"],
                           "ledger": pair["cybertriage"]["ledger"],
                           "load": disk_triage.load_note(pair["cybertriage"])})
        results[kind] = {"archive": str(archive), "archive_bytes": archive.stat().st_size, "rounds": rounds,
                         "median_ratio": statistics.median(r["ratio"] for r in rounds),
                         "median_cpu_ratio": statistics.median(r["cpu_ratio"] for r in rounds),
                         "median_equal_ratio": statistics.median(r["equal_ratio"] for r in rounds),
                         "median_equal_cpu_ratio": statistics.median(r["equal_cpu_ratio"] for r in rounds),
                         "all_same_files": all(r["same_files"] for r in rounds), "target": ARCHIVES_TARGET}
        disk_triage.log(f"{kind}: median ratio {results[kind]['median_ratio']:.2f} (target <= {ARCHIVES_TARGET}), CPU "
                        f"{results[kind]['median_cpu_ratio']:.2f}; at equal coverage (with yara) "
                        f"{results[kind]['median_equal_ratio']:.2f}, CPU {results[kind]['median_equal_cpu_ratio']:.2f}; "
                        f"same members in every round: {results[kind]['all_same_files']}")
    return results
