#!/usr/bin/env python3
"""Benchmark: cybertriage against tshark on the same packet capture (issues 4 and 22).

Not a test. With the capture in the page cache for both, it times the two tools below on one capture, or on
each capture profile of issue 22 in turn (--profile):

  web       web browsing by real clients and servers in a network namespace (bench/web_capture.py), about
            1,000,000 packets (1 GB): DNS lookups, then HTTPS and HTTP downloads of objects of web-like sizes,
            so that most packets carry transfers, as on a real network;
  small     500,000 packets of short DNS, HTTP and TLS conversations (about 6 packets each, every HTTP body
            of its own);
  synscan   a SYN port scan, 1,000,000 packets;
  synflood  a SYN flood, 1,000,000 SYNs, none answered: a million flows open at once (the memory bound);
  dnsflood  a DNS flood of random subdomains, 500,000 queries and their answers;
  corpus    every capture of the test corpus that tshark reads, concatenated;
  all       each of them, then one table.

bench/capture_profiles.py generates the seeded ones. Without --profile it builds (or reuses, or takes with
--capture) a capture of at least --packets packets (default 500,000) of one of two older mixes (--mix):

  corpus  time-shifted copies of seven small corpus traces: nearly every packet is a handshake,
          a DNS message or a short HTTP exchange (the worst case for the analysis);
  web     the web browsing above, of --packets packets.

The commands:

  tshark       tshark -r FILE -T fields -e dns.qry.name -e http.host -e http.request.uri
                      -e tls.handshake.extensions_server_name > /dev/null
  cybertriage  cybertriage scan FILE --case NEW --quiet

and prints packets/s for each (wall time, time.perf_counter), their ratio, cybertriage's packets
per CPU-second (per core) and the peak RSS of each tool: the larger of ru_maxrss from os.wait4 and the
RSS of the process and its children summed, sampled every 0.1 s (cybertriage analyses the packets in a
child process). With --repeat N (default 2) the tools run N times, alternating, and the best is
reported. The figures also go to WORK/pcap_triage-result.json (-web-result.json for --mix web,
-PROFILE-result.json for a profile) and, with --json OUT.json, to OUT.json.

Usage (from the repository root):  .venv/bin/python bench/pcap_triage.py [--help]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import capture_profiles
from disk_triage import REPO, _cpu_model, _machine_busy, compile_bytecode, cybertriage_binary, log, tool_version, wait_quiet

DEFAULT_WORK = REPO / "bench" / "work"
CORPUS = REPO / "tests" / "data" / "corpus" / "pcap"
# The mix: one "set" is every one of these traces, all shifted to start at the same instant.
SOURCES = ["wikipedia", "http_get", "http_100-continue", "tls_tls1.2", "tls_tls-conn-with-extensions",
           "tls_tls13_wolfssl", "dns_tkey"]
BUILD_VERSION = 1  # bump when the way the capture is built changes, so old captures are rebuilt
WEB_BUILD_VERSION = 1  # the same, for the web capture (bench/web_capture.py)
T0_US = 1_700_000_000 * 1_000_000  # the first set starts here (2023-11-14T22:13:20Z)
TSHARK_FIELDS = ["dns.qry.name", "http.host", "http.request.uri", "tls.handshake.extensions_server_name"]
TARGET_RATIO, TARGET_PER_CORE, TARGET_RSS_MB = 5.0, 150_000, 500
PROFILES = ("web", "small", "synscan", "synflood", "dnsflood", "corpus")
PROFILE_WEB_PACKETS = 1_000_000  # about 1 GB of web browsing
TARGET_PROFILE_PER_CPU_S = 100_000  # issue 22: every profile, packets per CPU-second


def git_commit() -> str:
    out = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def check(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants now (cybertriage analyses a capture in a child)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next((int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError):
            continue  # ended meanwhile
    return total


def measure(cmd: list[str]) -> dict:
    """Run one process (stdout to /dev/null); wall time, its own CPU time and peak RSS (os.wait4; the CPU time
    includes its children's), the peak of the RSS summed over the process and its children (sampled every
    0.1 s), and the CPU that the rest of the machine took meanwhile."""
    busy0 = _machine_busy()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tree_peak = [0]
    finished = threading.Event()

    def sample() -> None:
        while not finished.wait(0.1):
            tree_peak[0] = max(tree_peak[0], _tree_rss(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    finished.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{stderr}")
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall_s": wall, "cpu_s": cpu, "user_s": usage.ru_utime, "sys_s": usage.ru_stime,
            "peak_rss_mb": max(usage.ru_maxrss * 1024, tree_peak[0]) / 1e6,  # ru_maxrss is in KiB on Linux
            "largest_process_rss_mb": usage.ru_maxrss * 1024 / 1e6,
            "other_cpu_s": max(0.0, _machine_busy() - busy0 - cpu)}


# -- the capture -----------------------------------------------------------------------------


def pcap_span(path: Path) -> tuple[int, int, int]:
    """(packets, first timestamp µs, last timestamp µs) of a small microsecond pcap file."""
    data = path.read_bytes()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian = "<"
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian = ">"
    else:
        raise SystemExit(f"{path}: not a microsecond pcap file")
    pos, count, first, last = 24, 0, None, 0
    while pos + 16 <= len(data):
        sec, usec, incl, _orig = struct.unpack_from(endian + "IIII", data, pos)
        ts = sec * 1_000_000 + usec
        first = ts if first is None else min(first, ts)
        last = max(last, ts)
        count += 1
        pos += 16 + incl
    return count, first or 0, last


def shift_arg(us: int) -> str:
    sign = "-" if us < 0 else ""
    us = abs(us)
    return f"{sign}{us // 1_000_000}.{us % 1_000_000:06d}"


def count_packets(path: Path) -> int:
    out = subprocess.run(["capinfos", "-c", "-M", str(path)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if "Number of packets" in line:
            return int(line.split(":", 1)[1].strip().replace(",", ""))
    raise SystemExit(f"capinfos gave no packet count for {path}")


def built_before(capture: Path, rebuild: bool) -> dict | None:
    """The manifest of a capture built by an earlier run, unless asked to build it again."""
    manifest_path = capture.with_suffix(".json")
    if capture.exists() and manifest_path.exists() and not rebuild:
        log(f"Reusing the capture {capture.name}")
        return json.loads(manifest_path.read_text())
    return None


def build_web_capture(work: Path, target: int, rebuild: bool) -> tuple[Path, dict]:
    """Make (or reuse) the web-browsing capture of about `target` packets (bench/web_capture.py)."""
    capture = work / f"pcap_triage-web-{target}p-seed1-v{WEB_BUILD_VERSION}.pcap"
    manifest_path = capture.with_suffix(".json")
    if (built := built_before(capture, rebuild)) is not None:
        return capture, built
    log(f"Building the web capture: about {target:,} packets of browsing in a network namespace ...")
    start = time.perf_counter()
    partial = capture.with_suffix(".pcap.part")
    check([sys.executable, str(Path(__file__).with_name("web_capture.py")), str(partial), "--packets", str(target)])
    partial.rename(capture)
    manifest = {"capture": str(capture), "bytes": capture.stat().st_size, "packets": count_packets(capture),
                "mix": "web", "build_s": time.perf_counter() - start, "build_version": WEB_BUILD_VERSION}
    manifest_path.write_text(json.dumps(manifest, indent=2))
    log(f"  built in {manifest['build_s']:.1f} s: {manifest['packets']:,} packets, {manifest['bytes'] / 1e6:.0f} MB")
    return capture, manifest


def build_capture(work: Path, target: int, rebuild: bool) -> tuple[Path, dict]:
    """Make (or reuse) a capture of ≥ `target` packets: copies of one set of corpus traces, each copy
    shifted in time past the end of the previous one (editcap -t) and merged (mergecap -F pcap)."""
    spans = {}
    for name in SOURCES:
        src = CORPUS / f"{name}.pcap"
        if not src.exists():
            raise SystemExit(f"corpus trace missing: {src}")
        spans[name] = pcap_span(src)
    per_set = sum(s[0] for s in spans.values())
    copies = math.ceil(target / per_set)
    capture = work / f"pcap_triage-{copies}x{per_set}p-v{BUILD_VERSION}.pcap"
    manifest_path = capture.with_suffix(".json")
    if (built := built_before(capture, rebuild)) is not None:
        return capture, built

    log(f"Building the capture: {copies} copies of a {per_set}-packet set of {len(SOURCES)} corpus traces ...")
    start = time.perf_counter()
    tmp = work / "pcap_triage-build"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # The set: every trace shifted to start at T0, merged in time order.
    aligned = []
    for name, (_, first, _) in spans.items():
        out = tmp / f"set-{name}.pcap"
        check(["editcap", "-F", "pcap", "-t", shift_arg(T0_US - first), str(CORPUS / f"{name}.pcap"), str(out)])
        aligned.append(str(out))
    set_duration = max(last - first for _, first, last in spans.values())
    step_s = math.ceil(set_duration / 1e6) + 1  # whole seconds from one copy's start to the next's
    blocks = {0: tmp / "block-0.pcap"}  # block k = 2**k consecutive copies
    check(["mergecap", "-F", "pcap", "-w", str(blocks[0]), *aligned])
    k = 0
    while 2 ** (k + 1) <= copies:
        shifted = tmp / f"shift-{k}.pcap"
        check(["editcap", "-F", "pcap", "-t", str(step_s * 2 ** k), str(blocks[k]), str(shifted)])
        blocks[k + 1] = tmp / f"block-{k + 1}.pcap"
        check(["mergecap", "-F", "pcap", "-w", str(blocks[k + 1]), str(blocks[k]), str(shifted)])
        shifted.unlink()
        k += 1
    # The copies: the blocks of the set bits of `copies`, one after the other.
    parts, offset = [], 0
    for bit in range(k, -1, -1):
        if copies & (1 << bit):
            if offset == 0:
                parts.append(str(blocks[bit]))
            else:
                part = tmp / f"part-{bit}.pcap"
                check(["editcap", "-F", "pcap", "-t", str(step_s * offset), str(blocks[bit]), str(part)])
                parts.append(str(part))
            offset += 2 ** bit
    partial = capture.with_suffix(".pcap.part")
    if len(parts) == 1:
        shutil.copyfile(parts[0], partial)
    else:
        check(["mergecap", "-F", "pcap", "-w", str(partial), *parts])
    packets = count_packets(partial)
    if packets != copies * per_set:
        raise SystemExit(f"built capture has {packets} packets, expected {copies * per_set}")
    partial.rename(capture)
    shutil.rmtree(tmp, ignore_errors=True)
    manifest = {
        "capture": str(capture), "bytes": capture.stat().st_size, "packets": packets, "copies": copies,
        "set_packets": per_set, "set_sources": {n: {"packets": s[0], "duration_s": (s[2] - s[1]) / 1e6}
                                                for n, s in spans.items()},
        "copy_step_s": step_s, "first_packet_epoch_s": T0_US / 1e6,
        "build_s": time.perf_counter() - start, "build_version": BUILD_VERSION,
    }
    manifest_path.write_text(json.dumps(manifest, indent=2))
    log(f"  built in {manifest['build_s']:.1f} s: {packets:,} packets, {capture.stat().st_size / 1e6:.0f} MB")
    return capture, manifest


def checked(capture: Path, manifest: dict) -> dict:
    """The manifest with what capinfos and tshark's expert summary say about the capture (worked out once)."""
    if "tshark_expert" not in manifest:
        log(f"  checking {capture.name} with capinfos and tshark -q -z expert ...")
        manifest = {**manifest, "capinfos": capture_profiles.capinfos(capture),
                    "tshark_expert": capture_profiles.expert_summary(capture)}
        capture.with_suffix(".json").write_text(json.dumps(manifest, indent=2))
    info, expert = manifest["capinfos"], manifest["tshark_expert"]
    log(f"  capinfos: {info.get('File type')}, {info.get('File encapsulation')}, {info.get('Number of packets')} "
        f"packets, {info.get('Capture duration')}, strict time order {info.get('Strict time order')}; tshark expert: "
        f"{expert['malformed']} malformed, {len(expert['errors'])} kinds of error, {len(expert['warnings'])} of warning")
    for line in expert["errors"]:
        log(f"    error: {line}")
    return manifest


def build_profile(work: Path, profile: str, rebuild: bool) -> tuple[Path, dict]:
    """Make (or reuse) the capture of one profile of issue 22 (bench/capture_profiles.py), checked."""
    if profile == "web":
        capture, manifest = build_web_capture(work, PROFILE_WEB_PACKETS, rebuild)
        return capture, checked(capture, manifest)
    capture = work / capture_profiles.capture_name(profile, capture_profiles.PACKETS.get(profile, 0), seed=1)
    if (built := built_before(capture, rebuild)) is not None:
        return capture, checked(capture, built)
    log(f"Generating the {profile} capture ...")
    start = time.perf_counter()
    partial = capture.with_name(capture.name + ".part")
    manifest = capture_profiles.generate(profile, partial, seed=1)
    partial.rename(capture)
    manifest = {"capture": str(capture), "bytes": capture.stat().st_size, "packets": count_packets(capture),
                "mix": profile, "build_s": time.perf_counter() - start, **manifest}
    capture.with_suffix(".json").write_text(json.dumps(manifest, indent=2))
    log(f"  built in {manifest['build_s']:.1f} s: {manifest['packets']:,} packets, {manifest['bytes'] / 1e6:.0f} MB")
    for name, reason in manifest.get("skipped", {}).items():
        log(f"  left out {name}: {reason}")
    return capture, checked(capture, manifest)


# -- the runs --------------------------------------------------------------------------------


def case_counts(case: Path) -> dict:
    counts = {}
    try:
        with sqlite3.connect(case / "case.db") as db:
            for table in ("dns", "http", "tls", "flows", "files", "indicators"):
                try:
                    counts[table] = db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                except sqlite3.Error:
                    counts[table] = None
    except sqlite3.Error:
        pass
    return counts


def one_round(capture: Path, packets: int, work: Path, args, n: int) -> dict:
    result = {}
    for tool in ("tshark", "cybertriage"):
        waited = wait_quiet(args.wait_quiet)
        check(["cat", str(capture)])  # page cache: both read the capture from memory
        subprocess.run(["sync"])
        if tool == "tshark":
            cmd = ["tshark", "-r", str(capture), "-T", "fields"]
            for field in TSHARK_FIELDS:
                cmd += ["-e", field]
        else:
            case = work / "pcap_triage-case"
            shutil.rmtree(case, ignore_errors=True)
            cmd = [cybertriage_binary(), "scan", str(capture), "--case", str(case), "--quiet"]
        m = measure(cmd)
        m["waited_quiet_s"] = waited
        m["packets_s"] = packets / m["wall_s"]
        m["packets_per_cpu_s"] = packets / m["cpu_s"] if m["cpu_s"] else None
        if tool == "cybertriage":
            m["case_rows"] = case_counts(work / "pcap_triage-case")
            if not args.keep:
                shutil.rmtree(work / "pcap_triage-case", ignore_errors=True)
        load = m["other_cpu_s"] / (m["wall_s"] * (os.cpu_count() or 1))
        m["other_load"] = load
        log(f"  round {n} {tool:<11} {m['wall_s']:7.2f} s  {m['packets_s']:>9,.0f} packets/s  "
            f"cpu {m['cpu_s']:6.2f} s  peak RSS {m['peak_rss_mb']:6.0f} MB  other load {load:.0%}"
            + ("  (busy machine)" if load > 0.10 else ""))
        result[tool] = m
    return result


def summarise(rounds: list[dict], packets: int, size: int, per_cpu_target: int) -> dict:
    """The best round of each tool, their ratio, and the figures issue 22 asks for by name."""
    ts = min((r["tshark"] for r in rounds), key=lambda m: m["wall_s"])
    ct = min((r["cybertriage"] for r in rounds), key=lambda m: m["wall_s"])
    ct_peak = max(r["cybertriage"]["peak_rss_mb"] for r in rounds)
    ratio = ct["packets_s"] / ts["packets_s"]
    return {
        "packets": packets, "bytes": size,
        "tshark_s": ts["wall_s"], "tshark_packets_s": ts["packets_s"], "tshark_peak_rss_mb": ts["peak_rss_mb"],
        "cybertriage_s": ct["wall_s"], "cybertriage_packets_s": ct["packets_s"],
        "cybertriage_packets_per_cpu_s": ct["packets_per_cpu_s"], "cybertriage_cpu_s": ct["cpu_s"],
        "cybertriage_peak_rss_mb": ct_peak, "ratio": ratio,
        "pkts_per_cpu_s": ct["packets_per_cpu_s"], "peak_rss_mb": ct_peak,
        "other_load": {tool: [r[tool]["other_load"] for r in rounds] for tool in ("tshark", "cybertriage")},
        "targets": {"ratio": TARGET_RATIO, "packets_per_core_s": per_cpu_target, "peak_rss_mb_on_1gb": TARGET_RSS_MB},
        "cybertriage_case_rows": rounds[-1]["cybertriage"].get("case_rows"),
    }


def print_summary(summary: dict, repeat: int) -> None:
    packets, size = summary["packets"], summary["bytes"]
    log("")
    log(f"Results ({f'best of {repeat}' if repeat > 1 else '1 run'}; {packets:,} packets, {size / 1e6:.0f} MB)")
    per_cpu_target = summary["targets"]["packets_per_core_s"]
    rows = [
        ("tshark -T fields (DNS name, HTTP host/URI, TLS SNI)",
         f"{summary['tshark_s']:.2f} s  {summary['tshark_packets_s']:,.0f} packets/s  "
         f"peak RSS {summary['tshark_peak_rss_mb']:.0f} MB"),
        ("cybertriage scan", f"{summary['cybertriage_s']:.2f} s  {summary['cybertriage_packets_s']:,.0f} packets/s  "
                             f"(cpu {summary['cybertriage_cpu_s']:.2f} s)"),
        (f"ratio tshark wall / cybertriage wall (target ≥ {TARGET_RATIO:.0f})", f"{summary['ratio']:.2f}"),
        (f"cybertriage per CPU-second (target ≥ {per_cpu_target:,})",
         f"{summary['pkts_per_cpu_s']:,.0f} packets per CPU-second; {summary['cybertriage_packets_s']:,.0f} packets/s "
         f"of wall time"),
        (f"cybertriage peak RSS (target ≤ {TARGET_RSS_MB} MB on a 1 GB capture)",
         f"{summary['peak_rss_mb']:.0f} MB on this {size / 1e6:.0f} MB capture"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        log(f"  {name:<{width}}  {value}")
    log(f"  cybertriage case rows (last round): {summary['cybertriage_case_rows']}")


def markdown_table(summaries: dict[str, dict]) -> str:
    """One row per profile, with the share of the machine's CPU that other processes took during each run."""
    lines = ["| profile | packets | MB | tshark | cybertriage | **ratio** (≥ 5) | **packets per CPU-second** (≥ 100,000) "
             "| peak RSS | other CPU (tshark / cybertriage runs) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, s in summaries.items():
        load = " / ".join(", ".join(f"{x:.0%}" for x in s["other_load"][tool]) for tool in ("tshark", "cybertriage"))
        lines.append(f"| {name} | {s['packets']:,} | {s['bytes'] / 1e6:,.0f} | {s['tshark_s']:.2f} s | "
                     f"{s['cybertriage_s']:.2f} s | **{s['ratio']:.2f}** | **{s['pkts_per_cpu_s']:,.0f}** | "
                     f"{s['peak_rss_mb']:.0f} MB | {load} |")
    return "\n".join(lines)


def run_capture(capture: Path, manifest: dict, work: Path, args: argparse.Namespace, per_cpu_target: int) -> dict:
    """Time both tools on one capture; the summary of the rounds."""
    packets, size = manifest["packets"], manifest["bytes"]
    log(f"Capture {capture.name}: {packets:,} packets, {size / 1e6:.0f} MB ({size / 2 ** 30:.2f} GiB)")
    log("Page cache: before every timed run the capture is read once with `cat FILE > /dev/null` (untimed).")
    log("")
    rounds = [one_round(capture, packets, work, args, i + 1) for i in range(args.repeat)]
    summary = summarise(rounds, packets, size, per_cpu_target)
    print_summary(summary, args.repeat)
    return {"capture": manifest, "summary": summary, "rounds": rounds}


def explain() -> None:
    log("")
    log("What the figures are: wall times (time.perf_counter) of whole processes, start-up included; peak RSS")
    log("is the process and its children summed (sampled every 0.1 s) or ru_maxrss, whichever is larger;")
    log("'per CPU-second' = packets / (user + sys) of the process and its children.")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="work folder (default bench/work/)")
    parser.add_argument("--profile", choices=(*PROFILES, "all"),
                        help="time one capture profile of issue 22 (see above), or all of them")
    parser.add_argument("--json", type=Path, metavar="OUT.json",
                        help="also write the figures (ratio, pkts_per_cpu_s, peak_rss_mb, ...) here")
    parser.add_argument("--capture", type=Path, help="use this capture instead of building one")
    parser.add_argument("--mix", choices=("corpus", "web"), default="corpus",
                        help="without --profile, the capture to build: copies of corpus traces, or web browsing made "
                             "in a network namespace (needs root, ip, ethtool, tcpdump, curl, openssl); default corpus")
    parser.add_argument("--packets", type=int, default=500_000,
                        help="without --profile, build a capture of at least this many packets (default 500000)")
    parser.add_argument("--repeat", type=int, default=2, help="rounds of both tools; the best is reported (default 2)")
    parser.add_argument("--wait-quiet", type=float, default=60, metavar="SECONDS",
                        help="before each timed run, wait up to this long for other processes to go quiet "
                             "(default 60; 0 = do not wait)")
    parser.add_argument("--keep", action="store_true", help="keep the last cybertriage case")
    parser.add_argument("--rebuild", action="store_true", help="build the capture even if it exists")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.profile and args.capture:
        parser.error("--profile and --capture exclude each other")
    return args


def main() -> int:
    args = parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    for tool in ("tshark", "editcap", "mergecap", "capinfos"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} not found: install wireshark's command-line tools (tshark)")
    commit = git_commit()
    log(f"pcap_triage benchmark — {dt.datetime.now().isoformat(timespec='seconds')}, {os.cpu_count()} cores "
        f"({_cpu_model()}), {platform.python_implementation()} {platform.python_version()}, "
        f"cybertriage at {commit[:10]}, {tool_version(['tshark', '--version'])}")
    compile_bytecode()
    header = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {"cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "cpu": _cpu_model()},
        "versions": {"tshark": tool_version(["tshark", "--version"]),
                     "cybertriage": tool_version([cybertriage_binary(), "--version"]), "commit": commit},
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "commands": {"tshark": f"tshark -r FILE -T fields {' '.join('-e ' + f for f in TSHARK_FIELDS)} > /dev/null",
                     "cybertriage": "cybertriage scan FILE --case NEW --quiet"},
        "page_cache": "capture read once with cat before every timed run",
    }
    if args.profile:
        summaries = {}
        for profile in PROFILES if args.profile == "all" else (args.profile,):
            log(f"\n== profile {profile}")
            capture, manifest = build_profile(work, profile, args.rebuild)
            result = {**header, "profile": profile, **run_capture(capture, manifest, work, args, TARGET_PROFILE_PER_CPU_S)}
            (work / f"pcap_triage-{profile}-result.json").write_text(json.dumps(result, indent=2))
            summaries[profile] = {"profile": profile, "capture": capture.name, **result["summary"]}
        if args.json:
            one = len(summaries) == 1
            figures = next(iter(summaries.values())) if one else {"profiles": summaries}
            args.json.write_text(json.dumps({"date": header["date"], "commit": commit, **figures}, indent=2))
            log(f"\nFigures written to {args.json}")
        explain()
        log(f"\n{markdown_table(summaries)}")
        return 0

    if args.capture:
        capture = args.capture.resolve()
        manifest = {"capture": str(capture), "bytes": capture.stat().st_size, "packets": count_packets(capture),
                    "given": True}
    elif args.mix == "web":
        capture, manifest = build_web_capture(work, args.packets, args.rebuild)
    else:
        capture, manifest = build_capture(work, args.packets, args.rebuild)
    result = {**header, **run_capture(capture, manifest, work, args, TARGET_PER_CORE)}
    explain()
    out = work / ("pcap_triage-web-result.json" if args.mix == "web" and not args.capture else "pcap_triage-result.json")
    out.write_text(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps({"date": header["date"], "commit": commit, **result["summary"]}, indent=2))
    log(f"\nFigures written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
