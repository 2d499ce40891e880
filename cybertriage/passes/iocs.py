"""The IOC lists over the whole case: file hashes, network records and strings found in files."""

from __future__ import annotations

import sqlite_utils

from ..case import lookups, writes
from ..intel.ioc import ANALYZER, find_hits, hit_finding, load_iocs
from .base import Pass, PassContext, PassResult, ScoreRaise


class IocPass(Pass):
    NAME = "ioc"
    ACTION = "IOC pass"
    STAGE = "matching IOCs"

    def wanted(self, context: PassContext) -> bool:
        return context.intel is not None and bool(context.intel.ioc_lists)

    def run(self, db: sqlite_utils.Database, context: PassContext) -> PassResult:
        """One finding per IOC and thing matched that no earlier pass recorded (known by its match key)."""
        assert context.intel is not None  # wanted() says so
        matcher = load_iocs(context.intel)
        known = lookups.finding_keys(db, ANALYZER, "match_key") if matcher else set()
        hits = 0
        by_source: dict[str, int] = {}
        rows = []
        for hit in find_hits(db, matcher) if matcher else ():
            hits += 1
            by_source[hit.source] = by_source.get(hit.source, 0) + 1
            if hit.key in known:
                continue
            known.add(hit.key)
            rows.append(hit_finding(hit, context.now))
        if rows:
            writes.add_findings(db, rows)
        summary = f"{hits} IOC hits, {len(rows)} new findings"
        if hits:
            summary += ": " + ", ".join(f"{n} {source}" for source, n in by_source.items())
        return PassResult(len(rows), summary,
                          {"lists": [item.record() for item in context.intel.ioc_lists], "hits": hits,
                           "new_findings": len(rows), "by_source": by_source},
                          [ScoreRaise(row["object_id"], row["severity"], row["title"])
                           for row in rows if row["object_kind"] == "file"])
