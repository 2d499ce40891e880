"""Every table a case exports, in a form two scans of the same evidence share whatever store and however many
workers made them: without the ids the store gave (thread and worker order decide them) and the times of processing,
rows sorted. A SQLite scan on one machine is the reference a shared-store or spread scan must match. bench/lab.py
compares its cases with the same `rows`."""

from __future__ import annotations

import json
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
    """Each export of the case (JSON lines), or the `chosen` ones (each is a process of its own: a second or so),
    ids and processing times left out, rows sorted."""
    from tests.conftest import run_cli  # here, so that the benchmark takes `rows` without pytest's fixtures

    tables = {}
    for what in chosen:
        result = run_cli("export", "--case", case, "--what", what, "--format", "jsonl")
        assert result.code == 0, f"export --what {what}: {result.stderr}"
        tables[what] = rows(result.stdout)
    return tables


def differences(expected: dict[str, list[str]], got: dict[str, list[str]]) -> dict[str, tuple[list[str], list[str]]]:
    """Per export, the rows only the reference has and the rows only the other has (empty when they agree)."""
    return {what: (sorted(set(expected[what]) - set(got[what]))[:3], sorted(set(got[what]) - set(expected[what]))[:3])
            for what in EXPORTS if expected[what] != got[what]}
