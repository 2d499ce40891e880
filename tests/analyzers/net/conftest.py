"""Capture analysis results, computed once per trace, and the independent references:
Zeek baseline logs from the corpus, and tshark run on the same traces."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from cybertriage.analyzers.net import analyse_capture
from tests.captures import loopback  # noqa: F401  (the session's loopback captures, shared by the tests here)


def zeek_log(corpus: Path, trace: str, baseline: str, log: str) -> list[dict[str, str]]:
    """Rows of a Zeek baseline log, '#' lines skipped, columns named by its #fields line."""
    path = corpus / "pcap" / "zeek-baselines" / trace / baseline / log
    fields: list[str] = []
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"))))
    return rows


def tshark(*args: str) -> list[list[str]]:
    """tshark's -T fields output, split into rows of columns."""
    assert shutil.which("tshark"), "tshark missing (Debian package tshark; `make system-packages`)"
    done = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [line.split("\t") for line in done.stdout.splitlines()]


class Results:
    def __init__(self, records: list) -> None:
        self.records = records
        self.summary = records[-1]

    def of(self, kind: str) -> list:
        return [r for r in self.records if r.KIND == kind]


@pytest.fixture(scope="session")
def analysed(corpus_dir: Path):
    cache: dict[str, Results] = {}

    def get(trace: str) -> Results:
        if trace not in cache:
            cache[trace] = Results(list(analyse_capture(corpus_dir / "pcap" / trace)))
        return cache[trace]

    return get
