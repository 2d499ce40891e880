"""Threads or processes for the analysis workers? Measure both on the same image.

The pipeline uses threads: hashlib, libmagic (through ctypes) and yara-python release
the GIL on their buffers, and threads share one Sleuth Kit handle. This script runs
the same per-file work (read through pytsk3, hash, type, YARA) over every regular
file of one filesystem with N threads and with N processes (each opening the image
itself), and prints both wall times and their ratio.

    python bench/workers.py IMAGE [--jobs 2] [--offset BYTES]
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytsk3

from cybertriage.analyzers import Item, Settings, build_analyzers
from cybertriage.assets import asset_dir
from cybertriage.evidence import open_evidence
from cybertriage.evidence.base import EvidenceObject
from cybertriage.evidence.disk import TskContent
from cybertriage.pipeline import read_once

_state: dict = {}
_never = threading.Event()


def _open(image: Path, offset: int) -> None:
    """Per worker (process) or once (threads): the image, the filesystem and the analyzers."""
    source = open_evidence(image)
    _state["fs"] = pytsk3.FS_Info(source.image, offset=offset)
    _state["source"] = source
    _state["analyzers"] = build_analyzers(Settings(rule_paths=(asset_dir("rules"),)))


def _files(image: Path, offset: int) -> list[int]:
    source = open_evidence(image)
    return [int(o.inode) for o in source.objects(threading.Event())
            if o.kind == "file" and o.content is not None and o.partition_offset == offset and not o.deleted]


def _examine(inodes: list[int]) -> int:
    """The pipeline's per-object work: one chunked read feeding every analyzer."""
    done = 0
    for inode in inodes:
        fs_file = _state["fs"].open_meta(inode=inode)
        size = fs_file.info.meta.size
        item = Item(EvidenceObject(path=str(inode), name=str(inode), size=size,
                                   content=TskContent(fs_file, size, _state["source"].image)))
        assert read_once(item, _state["analyzers"], Settings.keep_limit, lambda n: None, _never) is None
        for analyzer in _state["analyzers"]:
            list(analyzer.analyze(item))
        done += size
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--offset", type=int, default=None, help="filesystem byte offset (default: the first)")
    args = parser.parse_args()
    offset = args.offset
    if offset is None:
        source = open_evidence(args.image)
        list(source.objects(threading.Event()))
        offset = next(p.offset for p in source.partitions if p.filesystem)
    inodes = _files(args.image, offset)
    batches = [inodes[i : i + 64] for i in range(0, len(inodes), 64)]
    print(f"{len(inodes)} files at byte offset {offset}, {args.jobs} workers")

    _open(args.image, offset)
    start = time.perf_counter()
    with ThreadPoolExecutor(args.jobs) as pool:
        total = sum(pool.map(_examine, batches))
    threads = time.perf_counter() - start

    start = time.perf_counter()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(args.jobs, mp_context=context, initializer=_open, initargs=(args.image, offset)) as pool:
        assert sum(pool.map(_examine, batches)) == total
    processes = time.perf_counter() - start
    print(f"threads   {threads:7.2f} s  {total / threads / 1e6:7.1f} MB/s")
    print(f"processes {processes:7.2f} s  {total / processes / 1e6:7.1f} MB/s")
    print(f"processes/threads {processes / threads:.2f}")


if __name__ == "__main__":
    main()
