"""A folder examined in parts: the units' accounts of what could not be read add up to what one local scan says."""

from __future__ import annotations

import json
from pathlib import Path

from cybertriage.evidence.folder import FolderEvidence
from cybertriage.pipeline.parts import account_of, merged_problems


def _account(folder: FolderEvidence) -> dict:
    return json.loads(account_of(folder.ledger, folder.problems, folder.unreadable_paths()))


def test_paths_not_read_in_several_parts_are_counted_once(tmp_path: Path) -> None:
    """Each worker opens the folder itself and counts the files it could not read; the item's problems then hold one
    count over every part, as a local scan's would, and each unit's other problems in turn."""
    (tmp_path / "stick").mkdir()
    local, listing, first, second = (FolderEvidence(tmp_path / "stick") for _ in range(4))
    for found in (local, listing):
        found.problems.append("the listing was cut short")
    for path, worker in (("/a.txt", listing), ("/b.txt", first), ("/c.txt", second), ("/c.txt", first)):
        local.content_unreadable(path)
        worker.content_unreadable(path)
    second.problems.append("a part's own problem")
    local.problems.append("a part's own problem")
    merged = merged_problems([_account(listing), _account(first), _account(second)])
    assert merged == local.problems
    assert merged[1].startswith("3 of its files or folders could not be read")
    assert merged_problems([_account(FolderEvidence(tmp_path / "stick"))]) == []
