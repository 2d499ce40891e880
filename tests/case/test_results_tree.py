"""The results tree's counts against the sqlite3 command line's over a real scanned case, and each count's plan."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest

from cybertriage.case import browse
from cybertriage.case import results_tree as rt
from cybertriage.case.browse import FindingQuery, finding_ids
from cybertriage.case.files_query import FileQuery, file_ids
from tests.conftest import ScannedCase


def cli(case: Path, query: str) -> list[dict]:
    """Rows as the sqlite3 command line reads them (an independent reader of the case)."""
    out = subprocess.run(["sqlite3", "-json", "-readonly", case / "case.db", query], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out) if out.strip() else []


def one(case: Path, query: str) -> int:
    return next(iter(cli(case, query)[0].values()))


def ascii_lower(text: str) -> str:
    """SQLite's lower(): only ASCII letters change case."""
    return "".join(c.lower() if c.isascii() else c for c in text)


@pytest.fixture(scope="module")
def conn(scanned: ScannedCase):
    connection = browse.connect(scanned.case)
    yield connection
    connection.close()


def test_evidence_and_volumes_count_their_objects(scanned: ScannedCase, conn: sqlite3.Connection) -> None:
    places = rt.evidence_places(conn)
    expected = {row["evidence_id"]: row["n"] for row in
                cli(scanned.case, "SELECT evidence_id, count(*) AS n FROM files GROUP BY evidence_id")}
    assert {place.evidence_id: place.count for place in places} == {
        row["id"]: expected.get(row["id"], 0) for row in cli(scanned.case, "SELECT id FROM evidence")}
    volumes = {(row["evidence_id"], row["partition_offset"]): row["n"] for row in cli(
        scanned.case, "SELECT evidence_id, partition_offset, count(*) AS n FROM files GROUP BY 1, 2")}
    seen = {(place.evidence_id, child.offset): child.count for place in places for child in place.children or []}
    assert seen, "the disk images have volumes"
    assert all(volumes.get(key, 0) == count for key, count in seen.items())
    assert sum(seen.values()) == sum(volumes[key] for key in seen)


def test_a_folder_counts_what_it_directly_holds(scanned: ScannedCase, conn: sqlite3.Connection) -> None:
    rows = cli(scanned.case, "SELECT evidence_id, partition_offset, path, kind FROM files")
    volume = next((p.evidence_id, c.offset) for p in rt.evidence_places(conn) for c in p.children or []
                  if not c.greyed and c.count)
    assert volume[1] is not None
    held = Counter((row["path"].rsplit("/", 1)[0] or "/") for row in rows
                   if (row["evidence_id"], row["partition_offset"]) == volume)
    folders = sorted(row["path"] for row in rows if (row["evidence_id"], row["partition_offset"]) == volume
                     and row["kind"] == "directory" and row["path"].count("/") == 1)
    places, more = rt.subfolders(conn, volume[0], volume[1], "/")
    assert more == 0
    assert sorted(place.path for place in places) == folders
    assert folders
    for place in places:
        assert place.count == held[place.path], place.path


def test_views_count_as_the_command_line(scanned: ScannedCase, conn: sqlite3.Connection) -> None:
    views = rt.file_views(conn)
    mimes = {row["mime"]: row["n"] for row in cli(scanned.case, "SELECT mime, count(*) AS n FROM files GROUP BY mime")}
    assert {mime: n for group in views.mimes.values() for mime, n in group.items()} == mimes
    assert all(rt.mime_group(mime) == group for group, types in views.mimes.items() for mime in types)

    names = [row["name"] for row in cli(scanned.case, "SELECT name FROM files") if row["name"]]
    suffixes = Counter(ascii_lower(name.rsplit(".", 1)[-1]) for name in names)  # a name without a dot: all of it
    extensions = {ascii_lower(name.rsplit(".", 1)[-1]) for name in names if "." in name}
    ranked = sorted(suffixes.items(), key=lambda p: (-p[1], p[0]))[:2 * rt.TOP_EXTENSIONS]
    assert views.extensions == [(s, n) for s, n in ranked if s and s in extensions][:rt.TOP_EXTENSIONS]
    assert any("." not in name for name in names)  # names the view leaves out

    assert views.deleted == one(scanned.case, "SELECT count(*) FROM files WHERE deleted = 1") > 0
    mib = 1024 * 1024
    assert views.sizes == [one(scanned.case, f"SELECT count(*) FROM files WHERE {where}") for where in (
        "size = 0", f"size BETWEEN 1 AND {mib - 1}", f"size BETWEEN {mib} AND {100 * mib}", f"size > {100 * mib}")]

    latest = one(scanned.case, "SELECT max(substr(mtime, 1, 10)) FROM files")
    assert views.latest == views.around == latest
    windows = []
    for days in rt.DAY_WINDOWS:
        first = (date.fromisoformat(latest) - timedelta(days=days - 1)).isoformat()
        windows.append(one(scanned.case, f"SELECT count(*) FROM files WHERE substr(mtime, 1, 10) BETWEEN '{first}' "
                                         f"AND '{latest}'"))
    assert views.modified == windows
    assert windows[-1] > 0


def test_results_count_as_the_command_line(scanned: ScannedCase, conn: sqlite3.Connection) -> None:
    results = rt.results(conn)
    findings = cli(scanned.case, "SELECT analyzer, rule, count(*) AS n FROM findings GROUP BY 1, 2")
    assert {(a, r): n for a, rules in results.findings.items() for r, n in rules.items()} == {
        (row["analyzer"], row["rule"]): row["n"] for row in findings}
    assert findings
    hits = cli(scanned.case, "SELECT list, term, count(*) AS n FROM keyword_hits GROUP BY 1, 2")
    assert {(k, t): n for k, terms in results.keywords.items() for t, n in terms.items()} == {
        (row["list"], row["term"]): row["n"] for row in hits}
    assert results.tags == {}  # nobody tagged anything in this case


def test_a_mime_or_rule_filter_selects_what_the_command_line_lists(scanned: ScannedCase, conn: sqlite3.Connection) -> None:
    mime = cli(scanned.case, "SELECT mime FROM files WHERE mime IS NOT NULL GROUP BY mime ORDER BY count(*) DESC")[0]["mime"]
    chosen = rt.MimeFilter(mimes=(mime,), untyped=True)
    expected = [row["id"] for row in cli(scanned.case, f"SELECT id FROM files WHERE (mime = '{mime}' OR mime IS NULL) "
                                                       "AND coalesce(known, '') != 'good' ORDER BY path, id")]
    assert file_ids(conn, FileQuery(chosen, sort="path")) == expected
    row = cli(scanned.case, "SELECT analyzer, rule FROM findings LIMIT 1")[0]
    wanted = {r["id"] for r in cli(scanned.case, f"SELECT id FROM findings WHERE rule = '{row['rule']}' AND "
                                                 f"analyzer = '{row['analyzer']}'")}
    assert set(finding_ids(conn, FindingQuery(rt.RuleFilter(analyzer=row["analyzer"], rule=row["rule"])))) == wanted


def test_every_count_reads_an_index(scanned: ScannedCase) -> None:
    """No count walks a whole table: each statement's plan names an index for every table it reads."""
    statements: list[str] = []
    connection = browse.connect(scanned.case)
    connection.set_trace_callback(statements.append)
    try:
        places = rt.evidence_places(connection)
        volume = next(c for p in places for c in p.children or [] if not c.greyed and c.count)
        assert volume.offset is not None
        rt.subfolders(connection, volume.evidence_id, volume.offset, "/")
        rt.file_views(connection)
        rt.results(connection)
    finally:
        connection.set_trace_callback(None)
    counted = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "count(" in s.lower()]
    assert len(counted) > 8
    whole_table = re.compile(r"^SCAN (files|findings|tags|keyword_hits)$")
    for statement in counted:
        plan = [row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + statement)]
        assert not any(whole_table.match(line) for line in plan), (statement, plan)
        assert any("INDEX" in line for line in plan), (statement, plan)
    connection.close()
