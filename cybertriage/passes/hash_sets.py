"""The hash sets over the whole case: files hashed before a set was imported (or in evidence scanned
with other sets) are marked and reported as a scan that had the set would have done."""

from __future__ import annotations

import json

import sqlite_utils

from ..case import lookups, writes
from ..case.intel_store import HashSetLookup
from ..intel.hashsets import ANALYZER
from ..severity import SEVERITY_RANK
from .base import Pass, PassContext, PassResult, ScoreRaise


class HashSetPass(Pass):
    NAME = "hashsets"
    ACTION = "hash set pass"
    STAGE = "matching hash sets"

    def wanted(self, context: PassContext) -> bool:
        return context.intel is not None and bool(context.intel.hash_sets)

    def run(self, db: sqlite_utils.Database, context: PassContext) -> PassResult:
        """Look every hashed file up in the sets: mark known files (known, known_set) and add a critical
        finding for each known-bad match not already recorded, by the scan's analyzer or an earlier pass."""
        assert context.intel is not None  # wanted() says so
        lookup = HashSetLookup(context.intel.path, context.intel.hash_sets)
        recorded = lookups.file_rules(db, ANALYZER)
        in_sets = marked = 0
        raises: list[ScoreRaise] = []
        for file_id, evidence_id, path, md5, sha1, sha256, known, known_set, *_ in list(lookups.hashed_files(db)):
            matches = lookup.find(md5, sha1, sha256)
            if not matches:
                continue
            in_sets += 1
            chosen = matches[0]  # find() gives known-bad sets first, as the scan marks them
            if (known, known_set) != (chosen.set.known, chosen.set.name):
                writes.mark_known(db, file_id, chosen.set.known, chosen.set.name)
                marked += 1
            for match in matches:
                if match.set.known != "bad" or (file_id, match.set.name) in recorded:
                    continue
                recorded.add((file_id, match.set.name))
                writes.add_findings(db, [{
                    "evidence_id": evidence_id, "object_kind": "file", "object_id": file_id, "object": path,
                    "analyzer": ANALYZER, "rule": match.set.name, "severity": "critical",
                    "severity_rank": SEVERITY_RANK["critical"], "title": match.title,
                    "detail": json.dumps(match.detail(), ensure_ascii=False), "created_at": context.now}])
                raises.append(ScoreRaise(file_id, "critical", match.title))
        return PassResult(
            len(raises), f"{in_sets} files in the hash sets, {marked} newly marked known, {len(raises)} new known-bad "
                         "findings",
            {"hash_sets": [item.record() for item in context.intel.hash_sets], "files_in_sets": in_sets,
             "files_marked": marked, "new_findings": len(raises)}, raises)
