"""Threads or processes for the analysis workers? Measure both on the same image.

The pipeline uses threads: hashlib, libmagic (through ctypes) and yara-python release the GIL on their buffers,
and threads share one Sleuth Kit handle; the text, indicator, artefact and keyword analyzers are Python and hold
it. This script runs the pipeline's per-file work (one read through pytsk3 feeding the analyzers a scan runs) over
every regular file of one filesystem with N threads and with N processes (each opening the image itself), and
prints the wall time and CPU of each and their ratio. No case is written.

    python bench/workers.py IMAGE [--jobs 2] [--offset BYTES] [--analyzers hash,filetype,yara] [--builtin-keywords all]

With --analyzers only the named analyzers run (their NAMEs, registry order kept): `hash,filetype,yara` is the work
every scan does whatever the examiner chose, the floor under a scan's CPU. The CPU seconds of each way are printed
beside its wall time.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytsk3

from cybertriage.analyzers import Item, Settings, build_analyzers
from cybertriage.analyzers.keyword_lists import builtin_lists
from cybertriage.assets import asset_dir
from cybertriage.evidence import open_evidence
from cybertriage.evidence.base import EvidenceObject
from cybertriage.evidence.disk import TskContent
from cybertriage.pipeline import read_once

_state: dict = {}
_never = threading.Event()


def _open(image: Path, offset: int, names: tuple[str, ...], keywords: tuple[str, ...]) -> None:
    """Per worker (process) or once (threads): the image, the filesystem and the analyzers (all when no names)."""
    source = open_evidence(image)
    _state["fs"] = pytsk3.FS_Info(source.image, offset=offset)
    _state["source"] = source
    analyzers = build_analyzers(Settings(rule_paths=(asset_dir("rules"),), builtin_keywords=keywords))
    _state["analyzers"] = [analyzer for analyzer in analyzers if not names or analyzer.NAME in names]


def _files(image: Path, offset: int) -> list[tuple[int, str]]:
    """(inode, name) of the filesystem's regular files: the name's extension steers the type analyzer's checks."""
    source = open_evidence(image)
    return [(int(o.inode), o.name) for o in source.objects(threading.Event())
            if o.kind == "file" and o.content is not None and o.partition_offset == offset and not o.deleted]


def _examine(files: list[tuple[int, str]]) -> int:
    """The pipeline's per-object work: one chunked read feeding every analyzer."""
    done = 0
    for inode, name in files:
        fs_file = _state["fs"].open_meta(inode=inode)
        size = fs_file.info.meta.size
        item = Item(EvidenceObject(path=f"{inode}/{name}", name=name, size=size,
                                   content=TskContent(fs_file, size, _state["source"].image)))
        assert read_once(item, _state["analyzers"], Settings.keep_limit, lambda n: None, _never) is None
        for analyzer in _state["analyzers"]:
            list(analyzer.analyze(item))
        done += size
    return done


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--offset", type=int, default=None, help="filesystem byte offset (default: the first)")
    parser.add_argument("--analyzers", default="", help="names of the analyzers to run, separated by commas "
                                                          "(default: all those a scan runs)")
    parser.add_argument("--builtin-keywords", default="none", help="the built-in keyword lists: all, none or names")
    args = parser.parse_args()
    names = tuple(name.strip() for name in args.analyzers.split(",") if name.strip())
    keywords = builtin_lists(args.builtin_keywords)
    offset = args.offset
    if offset is None:
        source = open_evidence(args.image)
        list(source.objects(threading.Event()))
        offset = next(p.offset for p in source.partitions if p.filesystem)
    files = _files(args.image, offset)
    batches = [files[i : i + 64] for i in range(0, len(files), 64)]
    print(f"{len(files)} files at byte offset {offset}, {args.jobs} workers")

    _open(args.image, offset, names, keywords)
    print("analyzers:", ", ".join(analyzer.NAME for analyzer in _state["analyzers"]))
    start, cpu = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(args.jobs) as pool:
        total = sum(pool.map(_examine, batches))
    threads, threads_cpu = time.perf_counter() - start, time.process_time() - cpu

    start, cpu = time.perf_counter(), _children_cpu()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(args.jobs, mp_context=context, initializer=_open,
                             initargs=(args.image, offset, names, keywords)) as pool:
        assert sum(pool.map(_examine, batches)) == total
    processes, processes_cpu = time.perf_counter() - start, _children_cpu() - cpu
    print(f"threads   {threads:7.2f} s  {total / threads / 1e6:7.1f} MB/s  {threads_cpu:6.2f} CPU-s")
    print(f"processes {processes:7.2f} s  {total / processes / 1e6:7.1f} MB/s  {processes_cpu:6.2f} CPU-s")
    print(f"processes/threads {processes / threads:.2f}")


if __name__ == "__main__":
    main()
