"""The column descriptions against what a scanned case holds (read with the sqlite3 CLI) and what the
exports write (the CLI's csv header and jsonl rows, against docs/DESIGN.md's fields and the sqlite3 CLI's values)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cybertriage.case import columns
from cybertriage.case.columns import Kind
from tests.conftest import export, run_cli

CAPTURES = ("http_get", "ftp_ipv4", "smtp", "tls_tls1.2", "dns_tkey", "wikipedia")
EXPORTED = (columns.FILES, columns.FINDINGS, columns.TAGS, columns.ARTIFACTS, *columns.NETWORK)
# export fields that are not columns of the table itself: the evidence's path, and what tags and findings join in
JOINED = {"findings": {"evidence", "score"}, "tags": {"evidence", "object", "title"}}
# stored as JSON lists but exported as their text since the first export: a change of the export, not of this
AS_TEXT = {("tls", "cert_chain_sha256")}
# docs/DESIGN.md, "Field names that must exist" and the second wave's artefacts export
DESIGN_FIELDS = {
    "files": ["evidence", "partition_offset", "path", "deleted", "size", "md5", "sha1", "sha256", "mime", "mtime",
              "atime", "ctime", "crtime"],
    "findings": ["id", "evidence", "severity", "analyzer", "rule", "title", "object", "detail"],
    "flows": ["src", "sport", "dst", "dport", "proto", "first_seen", "last_seen", "packets", "bytes", "app"],
    "dns": ["ts", "src", "dst", "query", "qtype", "answers", "rcode"],
    "http": ["ts", "src", "dst", "method", "host", "uri", "user_agent", "status", "content_type", "body_sha256"],
    "tls": ["ts", "src", "dst", "sni", "version", "ja3", "ja3s"],
    "artifacts": ["id", "evidence", "type", "ts", "source", "summary", "values"],
}


def sqlite(case: Path, query: str) -> list[dict[str, Any]]:
    """Rows as the sqlite3 command-line shell reads them (`-json`), not through the package."""
    out = subprocess.run(["sqlite3", "-json", "-readonly", str(case / "case.db"), query],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    """Captures for every network table, and registry hives for artefacts with fields; one file tagged."""
    folder = Path(__file__).parents[1] / "data" / "artefacts" / "registry"
    where = tmp_path_factory.mktemp("columns") / "case"
    result = run_cli("scan", *(corpus_dir / "pcap" / f"{name}.pcap" for name in CAPTURES), folder, "--case", where,
                     "--quiet")
    assert result.code <= 1, result.stderr
    assert run_cli("tag", "--case", where, "--file", "1", "--tag", "exhibit").code == 0
    return where


def test_every_exported_column_is_a_column_of_its_table(case):
    for table in EXPORTED:
        stored = {row["name"] for row in sqlite(case, f"PRAGMA table_info([{table.name}])")}
        assert stored, table.name
        joined = JOINED.get(table.name, {"evidence"})
        assert set(table.export_names) - joined <= stored, table.name
        shown = {column.name for column in table.shown}
        assert shown - {"tags"} <= stored | joined, table.name


def test_the_export_header_is_the_described_order_and_holds_the_design_fields(case):
    for table in EXPORTED:
        result = run_cli("export", "--case", case, "--what", table.name, "--format", "csv")
        assert result.code == 0, result.stderr
        header = next(csv.reader(io.StringIO(result.stdout)))
        assert header == table.export_names
        assert set(DESIGN_FIELDS.get(table.name, [])) <= set(header), table.name


def _json_kind(case: Path, table: str, column: str) -> tuple[int, int, int, int]:
    """How many values are stored, and how many of them are JSON arrays, JSON objects, 0 or 1."""
    type_of = f"CASE WHEN json_valid([{column}]) THEN json_type([{column}]) END"  # json_type fails on other text
    row = sqlite(case, f"""SELECT count(*) AS stored,
        coalesce(sum({type_of} = 'array'), 0) AS arrays, coalesce(sum({type_of} = 'object'), 0) AS objects,
        coalesce(sum(typeof([{column}]) = 'integer' AND [{column}] IN (0, 1)), 0) AS bits
        FROM [{table}] WHERE [{column}] IS NOT NULL AND [{column}] != ''""")[0]
    return row["stored"], row["arrays"], row["objects"], row["bits"]


def test_json_and_yes_no_kinds_are_what_the_case_stores(case):
    checked = set()
    for table in EXPORTED:
        for column in table.exported:
            if column.name in JOINED.get(table.name, {"evidence"}):
                continue
            stored, arrays, objects, bits = _json_kind(case, table.name, column.name)
            if column.kind is Kind.JSON_LIST:
                assert arrays == stored, (table.name, column.name)
            elif column.kind in (Kind.JSON_OBJECT, Kind.JSON_OBJECT_OR_NONE):
                assert objects == stored, (table.name, column.name)
            elif column.kind in (Kind.YES_NO, Kind.FLAG):
                assert bits == stored, (table.name, column.name)
            elif (table.name, column.name) not in AS_TEXT:  # every value a JSON list or object: it must say so
                assert not stored or (arrays < stored and objects < stored), (table.name, column.name)
            if stored:
                checked.add(column.kind)
    assert {Kind.JSON_LIST, Kind.JSON_OBJECT, Kind.YES_NO, Kind.FLAG} <= checked  # the case exercised each


def test_exported_values_are_the_stored_ones_decoded(case):
    for table in (columns.DNS, columns.SMTP, columns.TLS, columns.HTTP, columns.CREDENTIALS, columns.ARTIFACTS):
        stored = sqlite(case, f"SELECT t.*, e.path AS evidence FROM [{table.name}] t "
                              "JOIN evidence e ON e.id = t.evidence_id ORDER BY t.evidence_id, t.id")
        rows = export(case, table.name)
        assert len(rows) == len(stored) > 0, table.name
        for row, raw in zip(rows, stored, strict=True):
            assert list(row) == table.export_names
            for column in table.exported:
                value = raw[column.name]
                if column.kind is Kind.JSON_LIST:
                    assert row[column.name] == (json.loads(value) if value else [])
                elif column.kind is Kind.JSON_OBJECT:
                    assert row[column.name] == (json.loads(value) if value else {})
                elif column.kind is Kind.YES_NO:
                    assert row[column.name] is (None if value is None else value == 1)
                elif isinstance(value, float):  # the shell writes 15 significant digits
                    assert row[column.name] == pytest.approx(value), (table.name, column.name)
                elif column.name != "password":  # masked unless asked for
                    assert row[column.name] == value, (table.name, column.name)


def test_files_flags_and_descriptions_are_decoded(case):
    stored = {row["id"]: row for row in sqlite(case, "SELECT id, deleted, ext_mismatch, reasons, pe FROM files")}
    for row in export(case, "files"):
        raw = stored[row["id"]]
        assert row["deleted"] is bool(raw["deleted"]) and row["ext_mismatch"] is bool(raw["ext_mismatch"])
        assert row["reasons"] == (json.loads(raw["reasons"]) if raw["reasons"] else [])
        assert row["pe"] == (json.loads(raw["pe"]) if raw["pe"] else None)


@pytest.mark.parametrize(("kind", "value", "shown"), [
    (Kind.YES_NO, 1, "yes"), (Kind.YES_NO, 0, "no"), (Kind.YES_NO, None, ""),
    (Kind.FLAG, 1, "yes"), (Kind.FLAG, 0, ""),
    (Kind.SIZE, 1536, "1.5 KiB"), (Kind.SIZE, 512, "512 B"),  # numfmt --to=iec-i --suffix=B: 1.5KiB, 512B
    (Kind.JSON_LIST, '["a.example", "b.example"]', "a.example, b.example"), (Kind.JSON_LIST, "[]", ""),
    (Kind.TEXT, "[not a list]", "[not a list]"), (Kind.TEXT, "gpj\u202eexe", "gpj\\u202eexe"),
    (Kind.INTEGER, 443, "443"), (Kind.EVIDENCE, "disk.E01", "disk.E01"),
])
def test_a_kind_shows_its_values_one_way(kind, value, shown):
    assert kind.shown(value) == shown


def test_the_application_shows_described_columns_with_titles():
    for table in (*EXPORTED, columns.TIMELINE):
        for column in table.shown:
            assert column.title, (table.name, column.name)
        assert len(set(table.shown_names)) == len(table.shown_names)
        assert len({column.name for column in table.columns}) == len(table.columns), table.name
