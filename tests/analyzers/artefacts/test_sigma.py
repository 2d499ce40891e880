"""Sigma over event logs: the bundled rules' matches against an independent route, the SQL the reference converter
(`sigma convert -t sqlite` from sigma-cli, its own pySigma; tests/data/artefacts/evtx/sigma_reference.json) gives
for them, run by the `sqlite3` CLI over a table built from `evtxexport -f xml`; and the examiner's own rules."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from cybertriage.analyzers.artefacts.event_logs import EventLogs
from cybertriage.analyzers.artefacts.sigma import SigmaRules, SigmaRun, bundled_rules
from cybertriage.analyzers.base import Finding, Settings
from tests.analyzers.artefacts.test_event_logs import DATA, evtxexport_events, item_of
from tests.conftest import run_cli

REFERENCE = json.loads((DATA / "sigma_reference.json").read_text())
EVTX_FILES = sorted(path.name for path in DATA.glob("*.evtx"))


@pytest.fixture(scope="module")
def analyzer() -> EventLogs:
    return EventLogs(Settings())


def sigma_findings(analyzer: EventLogs, name: str, data: bytes | None = None) -> tuple[dict[str, Finding], list]:
    item = item_of(name, (DATA / name).read_bytes() if data is None else data)
    found = {o.rule: o for o in analyzer.analyze(item) if isinstance(o, Finding) and o.analyzer == "sigma"}
    return found, item.skipped


def reference_table(name: str, folder: Path) -> Path:
    """The log's events as evtxexport reads them, one column per field, text compared without case (Zircolite's
    table); the record's own fields (EventID, Channel, …) over an EventData field of the same name."""
    events = evtxexport_events(DATA / name)
    rows = []
    for event in events:
        row = {key: value for key, value in event["data"].items()}
        row.update({"EventRecordID": event["record_id"], "EventID": event["event_id"], "Channel": event["channel"],
                    "Provider_Name": event["provider"], "Computer": event["computer"]})
        rows.append(row)
    columns: dict[str, str] = {}
    for row in rows:
        for key in row:
            columns.setdefault(key.lower(), key)
    database = folder / f"{name}.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE logs (" + ", ".join(f'"{c}" TEXT COLLATE NOCASE' for c in columns.values()) + ")")
        for row in rows:
            names = list(row)
            db.execute(f"INSERT INTO logs ({', '.join(chr(34) + n + chr(34) for n in names)}) "
                       f"VALUES ({', '.join('?' * len(names))})", [row[n] for n in names])
    db.close()
    return database


def reference_matches(database: Path, rule: dict) -> list[int]:
    """The record ids the reference SQL selects, run by the sqlite3 CLI on the rule's logsource's events."""
    matched: set[int] = set()
    for query in rule["sql"]:
        scoped = query.replace("SELECT * FROM logs WHERE ", "SELECT * FROM scope WHERE ", 1)
        script = (f"CREATE TEMP VIEW scope AS SELECT * FROM logs WHERE {rule['scope']};\n"
                  f"SELECT EventRecordID FROM ({scoped});\n")
        done = subprocess.run(["sqlite3", str(database)], input=script, capture_output=True, text=True)
        if "no such column" in done.stderr:  # a field this log never has: the rule cannot match it
            continue
        assert done.returncode == 0 and not done.stderr, done.stderr
        matched.update(int(line) for line in done.stdout.split())
    return sorted(matched)


def test_bundled_rules_all_convert() -> None:
    folder = bundled_rules()
    assert folder is not None
    compiled = SigmaRules(()).compiled()
    assert not compiled.problems
    assert len(compiled.rules) == len(list(folder.rglob("*.yml"))) > 300
    assert {rule.scope.name for rule in compiled.rules} >= {"process_creation", "service_security", "service_system"}


@pytest.mark.parametrize("name", EVTX_FILES)
def test_matches_equal_the_reference(analyzer: EventLogs, name: str, tmp_path: Path) -> None:
    found, skipped = sigma_findings(analyzer, name)
    assert not [reason for stage, reason in skipped if stage == "sigma"]
    database = reference_table(name, tmp_path)
    for rule_file, rule in REFERENCE.items():
        expected = reference_matches(database, rule)
        finding = found.get(rule["id"])
        if not expected:
            assert finding is None, (rule_file, finding)
            continue
        assert finding is not None, (rule_file, expected)
        assert finding.detail["count"] == len(expected)
        assert [event["record_id"] for event in finding.detail["events"]] == expected[:5]
        assert finding.detail["rule_id"] == rule["id"] and finding.detail["author"]


def test_reference_rules_match_somewhere(analyzer: EventLogs) -> None:
    """The comparison above is not empty: most of the checked rules match one of the test logs."""
    matched = set()
    for name in EVTX_FILES:
        matched |= set(sigma_findings(analyzer, name)[0])
    assert len(matched & {rule["id"] for rule in REFERENCE.values()}) >= 10
    log_cleared = matched & {"d99b79d2-0a6f-4f46-ad8b-260b6e17f982", "100ef69e-3327-481c-8e5c-6d80d9507556"}
    assert len(log_cleared) == 2


def test_finding_fields(analyzer: EventLogs) -> None:
    found, _ = sigma_findings(analyzer, "attack-NTLM2SelfRelay-security_4624_4688_1102.evtx")
    finding = found["d99b79d2-0a6f-4f46-ad8b-260b6e17f982"]
    assert finding.severity == "high" and finding.title == "Sigma: Security Eventlog Cleared"
    assert finding.detail["level"] == "high" and "attack.t1685.005" in finding.detail["tags"]
    (event,) = [e for e in evtxexport_events(DATA / "attack-NTLM2SelfRelay-security_4624_4688_1102.evtx")
                if e["event_id"] == 1102]
    assert finding.detail["events"] == [{"record_id": event["record_id"], "time": "2022-05-01T04:40:18.084003Z"}]
    informational = found["0badd08f-c6a3-4630-90d3-6875cca440be"]  # level informational
    assert informational.severity == "info"


EXAMINER_RULES = {
    "notepad_4688.yml": """
title: Notepad started (examiner's rule)
id: 0e5a2b58-1c4f-4e58-9d51-5a3a0d3b0001
status: test
logsource: {product: windows, category: process_creation}
detection:
  selection: {Image|endswith: '\\\\notepad.exe', ParentImage|endswith: '\\\\WmiPrvSE.exe'}
  condition: selection
level: medium
""",
    "task_4698.yml": """
title: Any scheduled task created (examiner's rule)
id: 0e5a2b58-1c4f-4e58-9d51-5a3a0d3b0002
status: test
logsource: {product: windows, service: security}
detection:
  selection: {EventID: 4698}
  condition: selection
level: low
tags: [attack.persistence]
""",
    "not_a_log.yml": """
title: A proxy rule (no event log holds it)
id: 0e5a2b58-1c4f-4e58-9d51-5a3a0d3b0003
logsource: {category: proxy}
detection:
  selection: {c-uri|contains: 'evil'}
  condition: selection
level: high
""",
    "broken.yml": "title: broken\nlogsource: {product: windows, service: security}\ndetection: {condition: nothing}\n",
}


def test_examiner_rules_and_broken_ones(tmp_path: Path) -> None:
    for file_name, text in EXAMINER_RULES.items():
        (tmp_path / file_name).write_text(text)
    analyzer = EventLogs(Settings(sigma_paths=(tmp_path,)))
    found, skipped = sigma_findings(analyzer, "attack-NTLM2SelfRelay-security_4624_4688_1102.evtx")
    (process,) = [e for e in evtxexport_events(DATA / "attack-NTLM2SelfRelay-security_4624_4688_1102.evtx")
                  if e["event_id"] == 4688 and e["data"]["NewProcessName"].lower().endswith("\\notepad.exe")]
    notepad = found["0e5a2b58-1c4f-4e58-9d51-5a3a0d3b0001"]  # Security 4688 read through its Sysmon field names
    assert notepad.detail["count"] == 1 and notepad.detail["events"][0]["record_id"] == process["record_id"]
    problems = [reason for stage, reason in skipped if stage == "sigma"]
    assert len(problems) == 2
    assert any("not_a_log.yml" in problem and "logsource" in problem for problem in problems)
    assert any("broken.yml" in problem for problem in problems)
    found, skipped = sigma_findings(analyzer, "attack-temp_scheduled_task_4698_4699.evtx")
    assert found["0e5a2b58-1c4f-4e58-9d51-5a3a0d3b0002"].detail["count"] == 1
    assert found["0e5a2b58-1c4f-4e58-9d51-5a3a0d3b0002"].severity == "low"
    assert not [reason for stage, reason in skipped if stage == "sigma"]  # told once, on the first log


def test_rules_are_converted_once_for_all_threads() -> None:
    rules = SigmaRules(())
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(rules.compiled())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 4 and all(compiled is seen[0] for compiled in seen)


def test_a_log_left_half_read_leaves_nothing_for_the_next(analyzer: EventLogs) -> None:
    """The thread's table is emptied whether a log's pass ends or stops early."""
    alone, _ = sigma_findings(EventLogs(Settings()), "evtx-rs-new-user-security.evtx")
    stopped = analyzer.analyze(item_of("System.evtx", (DATA / "plaso-System.evtx").read_bytes()))
    for _ in range(3000):  # past the first batch put in the table
        next(stopped)
    stopped.close()
    table = analyzer.sigma.take_table()
    assert table is analyzer.sigma._tables.table  # the thread's own table was given back: free again, and empty
    assert table.db.execute("SELECT count(*) FROM logs").fetchone() == (0,)
    analyzer.sigma.give_back(table)
    after, _ = sigma_findings(analyzer, "evtx-rs-new-user-security.evtx")
    again, _ = sigma_findings(analyzer, "evtx-rs-new-user-security.evtx")
    details = {rule: finding.detail for rule, finding in alone.items()}
    assert details and {rule: f.detail for rule, f in after.items()} == details
    assert {rule: f.detail for rule, f in again.items()} == details


def test_missing_examiner_rules_stop_the_scan_before_it_starts(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    (evidence / "notes.txt").write_text("nothing\n")
    result = run_cli("scan", evidence, "--case", tmp_path / "case", "--sigma", tmp_path / "no-such-rules")
    assert result.code != 0 and "Sigma rules not found" in result.stderr


def test_numbers_past_sqlite_integers_are_kept_as_text(tmp_path: Path) -> None:
    """A damaged record's huge numbers (found by mutating the test logs) neither stop the log nor its rules."""
    (tmp_path / "task_4698.yml").write_text(EXAMINER_RULES["task_4698.yml"])
    run = SigmaRun(SigmaRules((tmp_path,), bundled=False))
    run.add(1 << 64, "2024-01-01T00:00:00Z", 4698, "Security", "Microsoft-Windows-Security-Auditing", "pc", 0,
            {"SubjectLogonId": 1 << 70, "TaskName": "\\x", "Flag": True})
    run.add(7, "2024-01-01T00:00:01Z", 4698, "Security", "Microsoft-Windows-Security-Auditing", "pc", 0, {})
    (finding,) = run.findings()
    assert finding.detail["count"] == 2 and not run.problems
