"""`python -m tests.fuzz --cases N [--seed S]`: a fuzzing campaign over real seeds (see README).

`--replay FILE...` runs saved inputs (a failure found earlier, or tests/fuzz/regressions/*).
Failing inputs are saved to --save (default /tmp/cybertriage-fuzz-failures) with a .txt beside
each saying what happened. Exit code 1 if any case failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.images import CORPUS

from .campaign import DEADLINE, case_from_file, default_workers, run_cases
from .seeds import build_seeds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--cases", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000,
                        help="campaign seed (default: from the clock; printed so the run can be repeated)")
    parser.add_argument("--first", type=int, default=0, help="first case number (to resume or repeat a slice)")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--deadline", type=float, default=DEADLINE, help="seconds a case may take before it is a hang")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--large-pe", action="store_true", help="also mutate the 400 KB PE seeds (slower cases)")
    parser.add_argument("--save", type=Path, default=Path(tempfile.gettempdir()) / "cybertriage-fuzz-failures")
    parser.add_argument("--replay", nargs="+", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fuzz-seeds-") as tmp:
        seeds = build_seeds(Path(tmp), args.corpus, args.large_pe)
        print(f"{len(seeds)} seeds; campaign seed {args.seed}", flush=True)
        cases = [case_from_file(p) for p in args.replay] if args.replay else range(args.first, args.first + args.cases)
        report = run_cases(seeds, args.seed, cases, args.workers, args.deadline, args.save,
                           log=lambda line: print(line, flush=True))
    print(report.summary())
    if report.failures:
        print(f"inputs saved in {args.save}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
