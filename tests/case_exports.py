"""Every table a case exports, in a form two scans of the same evidence share whatever store and however many
workers made them: without the ids the store gave (thread and worker order decide them) and the times of processing,
rows sorted. A SQLite scan on one machine is the reference a shared-store or spread scan must match. bench/lab.py
compares its cases with the same `rows`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

EXPORTS = ("artifacts", "credentials", "dns", "emails", "files", "findings", "flows", "ftp", "gps", "hosts", "http",
           "keyword-hits", "smtp", "tags", "timeline", "tls")
PROCESSING = {"created_at", "added_at", "processed_at", "started", "finished"}  # when, not what
GIVEN_IDS = {"id", "links", "key"}  # numbers the store gave (links and correlation keys hold ids)
# ids that come from the evidence (a flow's number in its capture, a DNS transaction, a Windows object's droid)
EVIDENCE_IDS = {"evidence_id", "flow_id", "trans_id", "app_id", "birth_droid_file_id", "birth_droid_volume_id",
                "destlist_birth_droid_file_id", "destlist_birth_droid_volume_id", "droid_file_id", "droid_volume_id",
                "destlist_droid_file_id", "destlist_droid_volume_id"}


def _without_given(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_given(item) for key, item in value.items()
                if key not in PROCESSING | GIVEN_IDS
                and not (key.endswith(("_id", "_ids")) and key not in EVIDENCE_IDS)}
    if isinstance(value, list):
        return [_without_given(item) for item in value]
    return value


def rows(jsonl: str) -> list[str]:
    """An export's JSON lines, each without the ids the store gave and the times of processing, sorted."""
    return sorted(json.dumps(_without_given(json.loads(line)), sort_keys=True) for line in jsonl.splitlines())


def exports(case: Path, chosen: tuple[str, ...] = EXPORTS) -> dict[str, list[str]]:
    """Each export of the case (JSON lines), or the `chosen` ones, ids and processing times left out, rows sorted. One
    process runs every `cybertriage export` (the command line's own main, each into a file): a process per export
    took a second or so each on a busy machine."""
    from tests.conftest import REPO  # here, so that the benchmark takes `rows` without pytest's fixtures

    with tempfile.TemporaryDirectory(prefix="cybertriage-exports-") as folder:
        done = subprocess.run([sys.executable, "-m", "tests.case_exports", str(case), folder, *chosen], cwd=REPO,
                              capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(REPO)})
        assert done.returncode == 0, done.stderr
        return {what: rows((Path(folder) / f"{what}.jsonl").read_text(encoding="utf-8")) for what in chosen}


def differences(expected: dict[str, list[str]], got: dict[str, list[str]]) -> dict[str, tuple[list[str], list[str]]]:
    """Per export, the rows only the reference has and the rows only the other has (empty when they agree)."""
    return {what: (sorted(set(expected[what]) - set(got[what]))[:3], sorted(set(got[what]) - set(expected[what]))[:3])
            for what in EXPORTS if expected[what] != got[what]}


def _export_each(case: str, folder: str, chosen: list[str]) -> int:
    """`cybertriage export --case CASE --what WHAT --output FOLDER/WHAT.jsonl` for each chosen WHAT, in this process."""
    from cybertriage.cli import main

    for what in chosen:
        code = main(["export", "--case", case, "--what", what, "--format", "jsonl", "--output", f"{folder}/{what}.jsonl"])
        if code != 0:
            print(f"export --what {what}: exit code {code}", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(_export_each(sys.argv[1], sys.argv[2], sys.argv[3:]))
