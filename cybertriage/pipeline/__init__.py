"""The triage pipeline: evidence → objects → analyzers (worker threads) → one case writer.

The CLI and the GUI drive the same `Scan`: iterate `Scan.run()` for progress
events, set the cancel event to stop. Each object's content is read once, in
chunks, and the same chunks feed hashing, type detection and YARA. hashlib,
libmagic and yara-python release the GIL on large buffers, so worker threads keep
both cores busy without copying content between processes.

Read it top down: `scan` (the run over the evidence and the passes over the whole
case) → `stages` (one evidence item, stage by stage) → `integrity` (the evidence's
own hashes) and `workers` (the listing thread and the worker threads) → `examine`
(one object) and `network` (one capture record). `record` is the evidence item
they all write to, `options` the scan they share, `progress` what the examiner is told.
"""

from .examine import read_once
from .options import ScanOptions
from .progress import Outcome, Progress
from .scan import Scan

__all__ = ["Outcome", "Progress", "Scan", "ScanOptions", "read_once"]
