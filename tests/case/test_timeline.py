"""The case timeline: order across fractional seconds, paging, counts, histogram, and the body file
export checked with The Sleuth Kit's own fls -m and mactime."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from cybertriage.case import open_case
from cybertriage.case import timeline as tl
from tests import images
from tests.conftest import Images, run_cli


def _moment(ts: str) -> int:
    """An ISO 8601 'Z' time with up to nine fractional digits, as nanoseconds since the epoch (the test's own parse)."""
    head, _, fraction = ts.rstrip("Z").partition(".")
    seconds = int(dt.datetime.fromisoformat(head).replace(tzinfo=dt.timezone.utc).timestamp())
    return seconds * 10**9 + int((fraction or "0").ljust(9, "0"))


FILE_TIMES = [  # (mtime, atime, ctime, crtime) of files 1..5
    ("2024-03-01T10:00:05.5Z", "2024-03-01T10:00:05.5Z", "2024-03-01T10:00:07Z", None),
    ("2024-03-01T10:00:05Z", "2024-03-01T10:00:06Z", "2024-03-01T10:00:05Z", "2024-03-01T10:00:05Z"),
    ("2024-03-01T10:00:04.999999999Z", None, None, "2024-03-01T10:00:05.25Z"),
    ("2024-03-01T10:00:05.05Z", "2024-03-01T10:00:10Z", "2024-03-01T10:00:10Z", "2024-03-01T09:59:59Z"),
    (None, None, None, None),
]
DNS_TIMES = ["2024-03-01T10:00:05.100000Z", "2024-03-01T10:00:05.000001Z", "2024-03-01T10:00:04.999999Z"]
HTTP_TIMES = ["2024-03-01T10:00:05.300000Z"]


@pytest.fixture(scope="module")
def small_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A case written directly: times chosen so that text order and time order disagree."""
    case = tmp_path_factory.mktemp("timeline")
    db = open_case(case, create=True)
    with db.conn:
        db["evidence"].insert({"id": 1, "path": "/evidence/disk.raw", "status": "done"})
        db["evidence"].insert({"id": 2, "path": "/evidence/net.pcap", "status": "done"})
        db["files"].insert_all([{"id": i, "evidence_id": 1, "path": f"/f{i}", "name": f"f{i}", "kind": "file",
                                 "deleted": int(i == 2), "mtime": m, "atime": a, "ctime": c, "crtime": b}
                                for i, (m, a, c, b) in enumerate(FILE_TIMES, 1)])
        db["dns"].insert_all([{"evidence_id": 2, "flow_id": i, "ts": ts, "query": f"q{i}.example.com", "qtype": "A"}
                              for i, ts in enumerate(DNS_TIMES, 1)])
        db["http"].insert_all([{"evidence_id": 2, "flow_id": 9, "ts": ts, "method": "GET", "host": "example.com",
                                "uri": "/x"} for ts in HTTP_TIMES])
        db["findings"].insert({"evidence_id": 1, "object_kind": "file", "object_id": 3, "object": "/f3",
                               "analyzer": "yara", "rule": "r", "severity": "high", "severity_rank": 3,
                               "title": "on file 3", "detail": "{}"})
        db["findings"].insert({"evidence_id": 2, "object_kind": "evidence", "object_id": 2, "object": "flow 1",
                               "analyzer": "network", "rule": "x", "severity": "medium", "severity_rank": 2,
                               "title": "at a time of its own", "detail": json.dumps({"ts": "2024-03-01T10:00:05.2Z"})})
    db.close()
    return case


def _expected(kinds: tuple[str, ...] = tl.KINDS) -> list[tuple[int, str, int, str]]:
    """(time, kind, object id, action) of every event, worked out here from the rows above."""
    out = []
    for i, times in enumerate(FILE_TIMES, 1):
        seen: dict[str, str] = {}
        for letter, ts in zip("macb", times):
            if ts is not None:
                seen[ts] = seen.get(ts, "") + letter
        out += [(_moment(ts), "file", i, letters) for ts, letters in seen.items()]
    out += [(_moment(ts), "dns", i, "query") for i, ts in enumerate(DNS_TIMES, 1)]
    out += [(_moment(ts), "http", 1, "request") for ts in HTTP_TIMES]
    out += [(_moment("2024-03-01T10:00:05.25Z"), "finding", 1, "high"),  # file 3's creation
            (_moment("2024-03-01T10:00:05.2Z"), "finding", 2, "medium")]
    rank = {"file": 0, "dns": 2, "http": 3, "finding": 7}
    return sorted((e for e in out if e[1] in kinds), key=lambda e: (e[0], rank[e[1]], e[2]))


def _seen(events: list[tl.TimelineEvent]) -> list[tuple[int, str, int, str]]:
    return [(_moment(e.ts), e.kind, e.object_id, e.action) for e in events]


def test_order_across_fractional_seconds(small_case: Path) -> None:
    db = open_case(small_case)
    assert _seen(tl.events(db)) == _expected()
    assert tl.count(db) == len(_expected())


def test_paging_and_kinds(small_case: Path) -> None:
    db = open_case(small_case)
    every = tl.events(db)
    assert tl.events(sqlite3.connect(small_case / "case.db")) == every  # the application's plain connection
    assert [tl.events(db, limit=4, offset=o) for o in range(0, len(every), 4)] == [every[o:o + 4] for o in
                                                                                   range(0, len(every), 4)]
    assert _seen(tl.events(db, kinds=["dns", "http"])) == _expected(("dns", "http"))
    assert tl.count(db, kinds=["file"]) == len(_expected(("file",)))


def test_window_count_histogram_range(small_case: Path) -> None:
    db = open_case(small_case)
    start, end = "2024-03-01T10:00:05Z", "2024-03-01T10:00:05.3Z"
    inside = [e for e in _expected() if _moment(start) <= e[0] < _moment(end)]
    assert _seen(tl.events(db, start=start, end=end)) == inside
    assert tl.count(db, start=start, end=end) == len(inside)
    bars = tl.histogram(db, "2024-03-01T10:00:04Z", "2024-03-01T10:00:08Z", 8)
    half = 5 * 10**8
    assert [_moment(ts) for ts, _ in bars] == [_moment("2024-03-01T10:00:04Z") + i * half for i in range(8)]
    for ts, n in bars:
        assert n == sum(_moment(ts) <= e[0] < _moment(ts) + half for e in _expected()), ts
    first, last = tl.time_range(db)
    assert (_moment(first), _moment(last)) == (_expected()[0][0], _expected()[-1][0])
    assert tl.time_range(db, kinds=["dns"]) == ("2024-03-01T10:00:04.999999Z", "2024-03-01T10:00:05.1Z")


def test_export_jsonl_and_csv(small_case: Path) -> None:
    result = run_cli("export", "--case", small_case, "--what", "timeline", "--format", "jsonl")
    assert result.code == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(_moment(r["ts"]), r["kind"], r["object_id"], r["action"]) for r in rows] == _expected()
    result = run_cli("export", "--case", small_case, "--what", "timeline", "--format", "csv")
    assert result.code == 0 and result.stdout.splitlines()[0] == ",".join(tl.FIELDS)
    assert len(result.stdout.splitlines()) == len(rows) + 1
    refused = run_cli("export", "--case", small_case, "--what", "files", "--format", "body")
    assert refused.code != 0 and "timeline" in refused.stderr and "Traceback" not in refused.stderr


def _mactime_lines(body: Path) -> list[str]:
    out = subprocess.run(["mactime", "-b", str(body), "-d", "-y"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines()[1:] if line.strip()]  # after the header line


@pytest.fixture(scope="module")
def disk_case(disk_images: Images, tmp_path_factory: pytest.TempPathFactory) -> Path:
    case = tmp_path_factory.mktemp("timeline-disks") / "case"
    result = run_cli("scan", disk_images.mbr, disk_images.bare_fat, "--case", case, "--quiet", "--no-yara")
    assert result.code == 0, result.stderr
    return case


def test_body_file_reads_like_fls(disk_images: Images, disk_case: Path, tmp_path: Path) -> None:
    """mactime lists as many entries from our body file as from fls -m's on the same images: FAT12,
    FAT16, FAT32 and ext4. (On NTFS, fls -m adds lines for $FILE_NAME times, which cybertriage does
    not read, and the disk reader has no times for a deleted entry pytsk3 gives no metadata for.)"""
    ours = tmp_path / "cybertriage.body"
    result = run_cli("export", "--case", disk_case, "--what", "timeline", "--format", "body", "-o", ours)
    assert result.code == 0, result.stderr
    reference = tmp_path / "fls.body"
    with reference.open("w") as out:
        for image in (disk_images.mbr, disk_images.bare_fat):
            for offset in images.filesystem_offsets(image):
                listing = subprocess.run(["fls", "-r", "-m", "/", "-o", str(offset // images.SECTOR), str(image)],
                                         capture_output=True, text=True, check=True).stdout
                out.write(listing)
    assert len(_mactime_lines(ours)) == len(_mactime_lines(reference))
    # and the same times, sizes and MACB letters (mode and names differ: ours carry the evidence's name)
    assert sorted(line.split(",")[:3] for line in _mactime_lines(ours)) == sorted(
        line.split(",")[:3] for line in _mactime_lines(reference))


def test_known_good_files_hidden_if_asked(small_case: Path, tmp_path: Path) -> None:
    """Where the case marks files of known-good hash sets (files.known), they and their findings can be left out."""
    copy = tmp_path / "case.db"
    copy.write_bytes((small_case / "case.db").read_bytes())
    db = sqlite3.connect(copy)
    if "known" not in {row[1] for row in db.execute("PRAGMA table_info(files)")}:
        db.execute("ALTER TABLE files ADD COLUMN known TEXT")
    db.execute("UPDATE files SET known = 'good' WHERE id = 3")
    db.commit()
    every = tl.events(db)
    kept = [e for e in every if not (e.kind == "file" and e.object_id == 3) and e.description != "on file 3"]
    assert len(kept) < len(every) and tl.events(db, hide_known_good=True) == kept
    assert tl.count(db, hide_known_good=True) == len(kept)


def test_scan_leaves_the_time_indexes(disk_case: Path) -> None:
    """A scan drops the time indexes while it inserts and makes them again at its end."""
    db = sqlite3.connect(disk_case / "case.db")
    names = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"files_mtime_key", "files_atime_key", "files_ctime_key", "files_crtime_key", "dns_ts_key"} <= names
    plan = " ".join(row[3] for row in db.execute(
        f"EXPLAIN QUERY PLAN SELECT id FROM files WHERE {tl.key_sql('mtime')} >= ? ORDER BY {tl.key_sql('mtime')}", ["0"]))
    assert "files_mtime_key" in plan
