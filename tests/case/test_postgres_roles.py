"""An examiner's own login on a case kept in PostgreSQL, as a member of cybertriage_examiners: it reads the case and
adds to it, but the server refuses it any change to the audit log (the rights, not only the triggers), checked
with psql, PostgreSQL's own client."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cybertriage import lab
from cybertriage.case.postgres import EXAMINERS
from tests.conftest import REPO, run_cli

CAPTURE = REPO / "resources" / "demo" / "demo-capture.pcap"


def psql(url: str, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run(["psql", url, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql], capture_output=True,
                          text=True, timeout=30)


def test_an_examiners_login_adds_to_the_audit_log_but_never_changes_it(lab_postgres: lab.LocalPostgres,
                                                                        tmp_path: Path) -> None:
    case = tmp_path / "case"
    result = run_cli("scan", CAPTURE, "--case", case, "--store", lab_postgres.url, "--quiet")
    assert result.code == 0, result.stderr
    schema = json.loads((case / "store.json").read_text())["schema"]
    assert psql(lab_postgres.url, f"DROP ROLE IF EXISTS alice; CREATE ROLE alice LOGIN; "
                                  f"GRANT {EXAMINERS} TO alice").returncode == 0
    alice = lab_postgres.url.replace("cybertriage@", "alice@")
    read = psql(alice, f"SELECT count(*) > 0 FROM {schema}.audit_log; SELECT count(*) FROM {schema}.files")
    assert read.returncode == 0 and read.stdout.split() == ["t", "3"], read.stderr
    tag = psql(alice, f"INSERT INTO {schema}.tags (object_kind, object_id, tag, created_at) "
                      f"VALUES ('file', 1, 'seen by alice', '2026-12-07T00:00:00Z')")
    assert tag.returncode == 0, tag.stderr
    for change in (f"UPDATE {schema}.audit_log SET action = 'nothing happened'", f"DELETE FROM {schema}.audit_log",
                   f"TRUNCATE {schema}.audit_log"):
        refused = psql(alice, change)
        assert refused.returncode != 0 and "permission denied for table audit_log" in refused.stderr, change
    assert psql(alice, f"INSERT INTO {schema}.audit_log (id, ts, \"user\", host, action, detail, hash) "
                       f"SELECT max(id) + 1, 'now', 'alice', 'lab', 'x', '{{}}', 'x' FROM {schema}.audit_log"
                ).returncode == 0  # appending stays hers (the application's own appends chain it properly)
