"""Event logs: cybertriage's EVTX reading against `evtxexport` on the same ~1 GB of logs, the Sigma pass over
1 million events, and (with --scan) a whole scan of the folder with the test hives beside the logs.

    .venv/bin/python bench/artifacts.py [--size-mb 1024] [--sigma-events 1000000] [--scan]
    .venv/bin/python bench/artifacts.py --size-mb 100 --sigma-events 100000      # quick

The folder is made at run time under bench/work/ (git ignores it) from the public test logs in
tests/data/artefacts/evtx, each hard-linked (or copied) again and again until the size is reached; figures go to
stdout. Both readers run one process on one core, one file after another, reading from the page cache.
"""

from __future__ import annotations

import argparse
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cybertriage.analyzers.artefacts.event_logs import Damage, EventLogs, evtx_events  # noqa: E402
from cybertriage.analyzers.artefacts.sigma import SigmaRules, SigmaRun  # noqa: E402
from cybertriage.analyzers.base import Finding, Item, Settings  # noqa: E402
from cybertriage.analyzers.results import Artefact  # noqa: E402
from cybertriage.evidence.base import Content, EvidenceObject  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LOGS = REPO / "tests" / "data" / "artefacts" / "evtx"
HIVES = REPO / "tests" / "data" / "artefacts" / "registry"
WORK = Path(__file__).resolve().parent / "work"


def build_folder(folder: Path, size: int) -> list[Path]:
    """The test EVTX logs again and again (hard links where the file system allows) until `size` bytes."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    sources = sorted(LOGS.glob("*.evtx"))
    made: list[Path] = []
    total = 0
    round_ = 0
    while total < size:
        for source in sources:
            target = folder / f"{round_:04d}-{source.name}"
            try:
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)
            made.append(target)
            total += source.stat().st_size
        round_ += 1
    return made


def add_hives(folder: Path) -> int:
    """The registry test hives, unpacked beside the logs (for --scan); how many."""
    count = 0
    for packed in sorted(HIVES.glob("*.xz")):
        (folder / packed.stem).write_bytes(lzma.decompress(packed.read_bytes()))
        count += 1
    return count


def warm(paths: list[Path]) -> None:
    for path in paths:
        with open(path, "rb") as log:
            while log.read(1 << 20):
                pass


def evtxexport(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["evtxexport", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


class LogFile(Content):
    """A log on the workstation as an object's content, read where asked, as a folder's files are."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = path.stat().st_size

    def read_at(self, offset: int, length: int) -> bytes:
        with open(self.path, "rb") as log:
            return os.pread(log.fileno(), length, offset)


def item_of(path: Path) -> Item:
    obj = EvidenceObject(path=str(path), name=path.name, size=path.stat().st_size, content=LogFile(path))
    with open(path, "rb") as log:
        head = log.read(1 << 20)
    return Item(obj, head=head, content_read=True)


def cybertriage(path: Path, analyzer: EventLogs) -> tuple[float, int, int]:
    """Seconds, records and Sigma findings of the event-log analyzer on one log (its private copy included)."""
    records = findings = 0
    started = time.perf_counter()
    for output in analyzer.analyze(item_of(path)):
        if isinstance(output, Artefact):
            records += 1
        elif isinstance(output, Finding) and output.analyzer == "sigma":
            findings += 1
    return time.perf_counter() - started, records, findings


def compare(paths: list[Path]) -> dict[str, float]:
    """The three readers on each log in turn (so that other work on the machine weighs on all three alike)."""
    no_rules = EventLogs(Settings())
    no_rules.sigma = SigmaRules((), bundled=False)
    with_rules = EventLogs(Settings())
    with_rules.sigma.compiled()  # converted once per run, before the first log; not counted against a log
    totals = {"evtxexport": 0.0, "records": 0.0, "with_sigma": 0.0, "events": 0, "findings": 0}
    for path in paths:
        totals["evtxexport"] += evtxexport(path)
        seconds, records, _ = cybertriage(path, no_rules)
        totals["records"] += seconds
        totals["events"] += records
        seconds, _, findings = cybertriage(path, with_rules)
        totals["with_sigma"] += seconds
        totals["findings"] += findings
    return totals


def time_sigma(events_wanted: int) -> tuple[float, float, int, int]:
    """The Sigma pass over one log of `events_wanted` events (the test logs' events over and over): seconds to
    load them, seconds to run the bundled rules, events loaded, findings."""
    events = [event for path in sorted(LOGS.glob("*.evtx")) for event in evtx_events(path, Damage())]
    rules = SigmaRules(())
    rules.give_back(rules.take_table())  # the thread's table made (as the first log of a scan makes it), not counted
    run = SigmaRun(rules)
    started = time.perf_counter()
    for number in range(events_wanted):
        event = events[number % len(events)]
        run.add(number + 1, event.ts, event.event_id, event.channel, event.provider, event.computer, event.level,
                event.data)
    run._flush()
    loaded = time.perf_counter()
    found = list(run.findings())
    return loaded - started, time.perf_counter() - loaded, run._loaded, len(found)


def time_scan(folder: Path) -> float:
    with tempfile.TemporaryDirectory(dir=WORK) as case:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "cybertriage", "scan", str(folder), "--case", str(Path(case) / "case")],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="EVTX to read, in MiB (default 1024)")
    parser.add_argument("--sigma-events", type=int, default=1_000_000, help="events in the Sigma pass")
    parser.add_argument("--scan", action="store_true", help="also time `cybertriage scan` of the folder + hives")
    args = parser.parse_args()
    folder = WORK / "artifacts-logs"
    paths = build_folder(folder, args.size_mb << 20)
    size = sum(path.stat().st_size for path in paths)
    print(f"{len(paths)} EVTX logs, {size / (1 << 20):.0f} MiB in {folder}")
    warm(paths)

    totals = compare(paths)
    events, reference = totals["events"], totals["evtxexport"]
    print(f"{events:,.0f} records")
    print(f"evtxexport:                      {reference:7.1f} s  {events / reference:10,.0f} events/s")
    for label, key in (("cybertriage (records, no Sigma):", "records"), ("cybertriage (records + Sigma):  ", "with_sigma")):
        print(f"{label} {totals[key]:7.1f} s  {events / totals[key]:10,.0f} events/s"
              f"  ({reference / totals[key]:.2f}x evtxexport's speed)")
    print(f"Sigma findings over the folder: {totals['findings']:.0f}")

    load, rules, loaded, found = time_sigma(args.sigma_events)
    print(f"Sigma, one log of {args.sigma_events:,} events ({loaded:,} in rule scopes): load {load:.1f} s, "
          f"{len(SigmaRules(()).compiled().rules)} rules {rules:.1f} s, total {load + rules:.1f} s, {found} findings")

    if args.scan:
        hives = add_hives(folder)
        print(f"cybertriage scan of the folder ({len(paths)} logs, {hives} hives): {time_scan(folder):.1f} s")


if __name__ == "__main__":
    main()
