"""Event logs against libyal's tools: EVTX files (plaso's, the evtx crate's, python-evtx's and EVTX-ATTACK-SAMPLES',
see tests/data/artefacts/evtx/SOURCE.md) against `evtxexport -f xml`, plaso's legacy SysEvent.Evt against
`evtexport`, damaged copies the tests make from them, and a whole scan's export."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from cybertriage.analyzers.artefacts.event_logs import Event, EventLogs, describe
from cybertriage.analyzers.base import Finding, Item, Settings
from cybertriage.analyzers.results import Artefact
from cybertriage.evidence.base import BytesContent, EvidenceObject
from tests.conftest import export, run_cli, scan_cancelled_after

DATA = Path(__file__).resolve().parents[2] / "data" / "artefacts" / "evtx"
EVTX_FILES = sorted(path.name for path in DATA.glob("*.evtx"))
NS = "{http://schemas.microsoft.com/win/2004/08/events/event}"
CHUNK = 65536


def item_of(name: str, data: bytes) -> Item:
    obj = EvidenceObject(path=f"/Windows/System32/winevt/Logs/{name}", name=name, size=len(data),
                         content=BytesContent(data))
    return Item(obj, head=data[:1024 * 1024], data=data, content_read=True)


@pytest.fixture(scope="module")
def analyzer() -> EventLogs:
    return EventLogs(Settings())


def parsed(analyzer: EventLogs, name: str, data: bytes | None = None) -> tuple[list[Artefact], list[Finding], Item]:
    item = item_of(name, (DATA / name).read_bytes() if data is None else data)
    out = list(analyzer.analyze(item))
    return ([o for o in out if isinstance(o, Artefact)], [o for o in out if isinstance(o, Finding)], item)


def evtxexport_events(path: Path) -> list[dict]:
    """Each record as evtxexport's XML gives it: System fields, and EventData / UserData fields by name."""
    out = subprocess.run(["evtxexport", "-f", "xml", str(path)], capture_output=True, text=True,
                         errors="replace").stdout
    root = ET.fromstring("<Events>" + out.split("\n", 1)[1] + "</Events>")
    events = []
    for event in root:
        system = event.find(f"{NS}System")
        data: dict[str, str | None] = {}
        for item in event.iterfind(f"{NS}EventData/{NS}Data"):
            if item.get("Name"):
                data[item.get("Name")] = item.text
        user_data = event.find(f"{NS}UserData")
        if user_data is not None:
            for element in user_data:
                for child in element:
                    data[child.tag.split("}")[-1]] = child.text
        events.append({
            "record_id": int(system.findtext(f"{NS}EventRecordID")),
            "event_id": int(system.findtext(f"{NS}EventID")),
            "channel": system.findtext(f"{NS}Channel"),
            "provider": system.find(f"{NS}Provider").get("Name"),
            "computer": system.findtext(f"{NS}Computer"),
            "time": system.find(f"{NS}TimeCreated").get("SystemTime"),
            "data": data,
        })
    return events


def to_microseconds(text: str) -> str:
    """evtxexport's 100 ns SystemTime cut to microseconds, as cybertriage keeps times."""
    whole, _, fraction = text.rstrip("Z").partition(".")
    fraction = fraction[:6].rstrip("0")
    return whole + (f".{fraction}" if fraction else "") + "Z"


_NUMBER = re.compile(r"0x[0-9a-fA-F]+|[1-9][0-9]*|0")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z")


def same_value(ours: object, theirs: str | None) -> bool:
    """A field as evtxexport prints it: hex numbers zero-padded or in decimal, times to 100 ns, GUIDs in braces."""
    if theirs is None or ours is None:
        return (ours in (None, "")) == (theirs in (None, ""))
    ours_text = str(ours).lower() if isinstance(ours, bool) else str(ours)
    if "\ufffd" in theirs:  # bytes that are no text, each tool replacing them its own way
        return True
    if _NUMBER.fullmatch(theirs) and _NUMBER.fullmatch(ours_text):  # evtxexport prints some hex types in decimal
        return int(theirs, 0) == int(ours_text, 0)
    if _TIME.fullmatch(theirs):  # evtxexport to 100 ns, the evtx crate to the microsecond
        return ours_text[:26] == theirs[:26]
    ours_text, theirs = " ".join(ours_text.split()), " ".join(theirs.split())  # XML reads \r\n as \n
    return ours_text == theirs or ours_text.strip("{}").lower() == theirs.strip("{}").lower()


@pytest.mark.parametrize("name", EVTX_FILES)
def test_evtx_records_equal_evtxexport(analyzer: EventLogs, name: str) -> None:
    rows, _, item = parsed(analyzer, name)
    reference = evtxexport_events(DATA / name)
    assert len(rows) == len(reference) > 0
    assert all(row.type == "evtx.event" for row in rows)
    ours = sorted(rows, key=lambda row: row.values["record_id"])
    theirs = sorted(reference, key=lambda event: event["record_id"])
    compared = 0
    for row, event in zip(ours, theirs):
        values = row.values
        assert (values["record_id"], values["event_id"], values["channel"], values["provider"], values["computer"]) \
            == (event["record_id"], event["event_id"], event["channel"], event["provider"], event["computer"])
        assert row.ts == to_microseconds(event["time"])
        for key, text in event["data"].items():
            assert same_value(values["data"].get(key), text), (values["record_id"], key, values["data"].get(key), text)
            compared += 1
    assert compared > 0 or name == "plaso-System.evtx"


def reference_named(name: str, event_id: int) -> list[dict]:
    return [event for event in evtxexport_events(DATA / name) if event["event_id"] == event_id]


def rows_of(analyzer: EventLogs, name: str, event_id: int) -> list[Artefact]:
    rows, _, _ = parsed(analyzer, name)
    return sorted((row for row in rows if row.values["event_id"] == event_id), key=lambda row: row.values["record_id"])


def test_logons_and_failed_logons(analyzer: EventLogs) -> None:
    name = "evtx-rs-Security_with_size_t.evtx"
    for event_id, categories in ((4624, {"logon", "rdp"}), (4625, {"logon_failed"})):
        rows, reference = rows_of(analyzer, name, event_id), reference_named(name, event_id)
        assert len(rows) == len(reference) > 0
        for row, event in zip(rows, reference):
            assert row.values["category"] in categories
            assert row.values["logon_type"] == int(event["data"]["LogonType"])
            assert row.values["user"] == (event["data"]["TargetUserName"] if event["data"]["TargetUserName"] != "-"
                                          else "")
            address = event["data"]["IpAddress"]
            assert row.values["source_address"] == ("" if address in ("-", None) else address)
            assert f"type {row.values['logon_type']}" in row.summary
    failed = rows_of(analyzer, name, 4625)[0]
    assert failed.summary.startswith("Failed logon of ") and failed.values["status"]


def test_rdp_logon_type_10(analyzer: EventLogs) -> None:
    name = "attack-DE_RDP_Tunneling_4624.evtx"
    reference = [event for event in reference_named(name, 4624) if event["data"]["LogonType"] == "10"]
    rdp = [row for row in rows_of(analyzer, name, 4624) if row.values["category"] == "rdp"]
    assert [row.values["record_id"] for row in rdp] == [event["record_id"] for event in reference]
    assert rdp and all(row.summary.startswith("RDP logon of ") for row in rdp)
    assert [row.values["source_address"] for row in rdp] == [event["data"]["IpAddress"] for event in reference]


def test_rdp_user_authenticated_1149(analyzer: EventLogs) -> None:
    name = "evtx-rs-TerminalServices-RemoteConnectionManager.evtx"
    rows, reference = rows_of(analyzer, name, 1149), reference_named(name, 1149)
    assert len(rows) == len(reference) == 5
    for row, event in zip(rows, reference):
        assert row.values["category"] == "rdp"
        assert (row.values["user"], row.values["domain"], row.values["source_address"]) == \
            (event["data"]["Param1"] or "", event["data"]["Param2"] or "", event["data"]["Param3"] or "")
        assert row.summary.startswith("RDP user authenticated ")
        assert not event["data"]["Param3"] or row.summary.endswith(f"from {event['data']['Param3']}")


def test_log_cleared_1102_is_a_high_finding(analyzer: EventLogs) -> None:
    name = "attack-NTLM2SelfRelay-security_4624_4688_1102.evtx"
    (event,) = reference_named(name, 1102)
    rows, findings, _ = parsed(analyzer, name)
    (row,) = [row for row in rows if row.values["event_id"] == 1102]
    assert row.values["category"] == "log_cleared"
    assert (row.values["user"], row.values["domain"]) == (event["data"]["SubjectUserName"],
                                                          event["data"]["SubjectDomainName"])
    (finding,) = [finding for finding in findings if finding.rule == "log_cleared"]
    assert finding.severity == "high" and finding.analyzer == "event_logs"
    assert finding.detail["time"] == to_microseconds(event["time"]) and finding.detail["user"] == "admin"
    assert to_microseconds(event["time"]) in finding.title and "WIND10\\admin" in finding.title


def test_system_log_cleared_104_and_services_7045(analyzer: EventLogs) -> None:
    name = "evtx-rs-system.evtx"
    cleared, reference = rows_of(analyzer, name, 104), reference_named(name, 104)
    assert len(cleared) == len(reference) == 2
    for row, event in zip(cleared, reference):
        assert row.values["category"] == "log_cleared"
        assert row.values["log"] == event["data"]["Channel"] and row.values["user"] == event["data"]["SubjectUserName"]
    _, findings, _ = parsed(analyzer, name)
    assert sum(1 for finding in findings if finding.rule == "log_cleared") == 2
    services, reference = rows_of(analyzer, name, 7045), reference_named(name, 7045)
    assert len(services) == len(reference) == 57
    for row, event in zip(services, reference):
        assert row.values["category"] == "service_installed"
        assert (row.values["service"], row.values["image_path"]) == (event["data"]["ServiceName"],
                                                                    event["data"]["ImagePath"])
        assert row.summary.startswith(f"Service installed {event['data']['ServiceName']}")


def test_process_creation_4688_and_sysmon_1(analyzer: EventLogs) -> None:
    for name, event_id, image, parent in (
            ("attack-NTLM2SelfRelay-security_4624_4688_1102.evtx", 4688, "NewProcessName", "ParentProcessName"),
            ("python-evtx-issue_43-sysmon.evtx", 1, "Image", "ParentImage")):
        rows, reference = rows_of(analyzer, name, event_id), reference_named(name, event_id)
        assert len(rows) == len(reference) > 0
        for row, event in zip(rows, reference):
            assert row.values["category"] == "process"
            assert row.values["process"] == event["data"][image]
            assert row.values["parent"] == event["data"][parent]
            assert row.values["command_line"] == (event["data"].get("CommandLine") or "")
            assert row.summary.startswith(f"Process started {event['data'][image]}")


def test_user_created_and_task_created(analyzer: EventLogs) -> None:
    (row,), (event,) = (rows_of(analyzer, "evtx-rs-new-user-security.evtx", 4720),
                        reference_named("evtx-rs-new-user-security.evtx", 4720))
    assert row.values["category"] == "user_created" and row.values["user"] == event["data"]["TargetUserName"]
    assert row.summary.startswith("User created ")
    (row,), (event,) = (rows_of(analyzer, "attack-temp_scheduled_task_4698_4699.evtx", 4698),
                        reference_named("attack-temp_scheduled_task_4698_4699.evtx", 4698))
    assert row.values["category"] == "task_created" and row.values["task"] == event["data"]["TaskName"]
    command = re.search(r"<Command>([^<]*)</Command>", event["data"]["TaskContent"]).group(1)
    assert row.values["command"].startswith(command.strip()) and command.strip() in row.summary


def evtexport_records(path: Path, mode: str = "items") -> list[dict]:
    out = subprocess.run(["evtexport", "-m", mode, str(path)], capture_output=True, text=True,
                         errors="replace").stdout
    records = []
    for block in out.split("\n\nEvent number")[1:]:
        fields = dict(re.findall(r"^([A-Za-z ]+?)\s*\t+: (.*)$", "Event number" + block, re.M))
        records.append(fields)
    return records


def evtexport_time(text: str) -> str:
    return dt.datetime.strptime(text, "%b %d, %Y %H:%M:%S UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def test_legacy_evt_equals_evtexport(analyzer: EventLogs) -> None:
    rows, findings, item = parsed(analyzer, "SysEvent.Evt")
    items = [row for row in rows if not row.values.get("recovered")]
    reference = evtexport_records(DATA / "SysEvent.Evt")
    assert len(items) == len(reference) == 6063
    assert all(row.type == "evt.event" and row.values["channel"] == "System" for row in rows)
    for row, record in zip(items, reference):
        values = row.values
        assert values["record_id"] == int(record["Event number"])
        assert values["event_identifier"] == int(record["Event identifier"].split("(")[1].rstrip(")"))
        assert values["event_id"] == values["event_identifier"] & 0xFFFF
        assert row.ts == evtexport_time(record["Written time"])
        assert (values["provider"], values["computer"]) == (record["Source name"], record["Computer name"])
        assert len(values["data"]["strings"]) == int(record["Number of strings"])
    recovered = [row for row in rows if row.values.get("recovered")]
    assert len(recovered) == len(evtexport_records(DATA / "SysEvent.Evt", "recovered"))
    assert not findings and not item.skipped


def test_truncated_evtx_keeps_every_whole_chunk(analyzer: EventLogs, tmp_path: Path) -> None:
    data = (DATA / "plaso-System.evtx").read_bytes()
    cut = 4096 + 5 * CHUNK + 20_000  # the file header, five whole chunks, part of the sixth
    whole = tmp_path / "whole.evtx"
    whole.write_bytes(data[:4096 + 5 * CHUNK])
    in_whole_chunks = len(evtxexport_events(whole))
    rows, _, item = parsed(analyzer, "System.evtx", data[:cut])
    assert len(rows) >= in_whole_chunks > 0
    assert [row.values["record_id"] for row in rows[:in_whole_chunks]] == \
        [event["record_id"] for event in evtxexport_events(whole)]
    assert any(stage == "event_logs" and "damaged" in reason for stage, reason in item.skipped)


def test_corrupt_chunk_keeps_the_other_chunks(analyzer: EventLogs) -> None:
    data = bytearray((DATA / "plaso-System.evtx").read_bytes())
    third = 4096 + 2 * CHUNK
    data[third:third + 8] = b"XXXXXXXX"  # the third chunk's signature
    full = len(evtxexport_events(DATA / "plaso-System.evtx"))
    rows, _, item = parsed(analyzer, "System.evtx", bytes(data))
    assert 0 < len(rows) < full
    assert len({row.values["record_id"] for row in rows}) == len(rows)
    assert any("damaged" in reason and "chunk" in reason for _, reason in item.skipped)


def test_unreadable_header_is_a_recorded_problem(analyzer: EventLogs) -> None:
    data = b"ElfFile\x00" + b"\xff" * 5000
    rows, findings, item = parsed(analyzer, "broken.evtx", data)
    assert not rows and not findings
    assert item.skipped and item.skipped[0][0] == "event_logs"


def test_not_an_event_log_is_left_alone(analyzer: EventLogs) -> None:
    rows, findings, item = parsed(analyzer, "notes.evtx", b"just text, not a log\n" * 10)
    assert not rows and not findings and not item.skipped


def test_scan_export_holds_every_record(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    names = ["attack-NTLM2SelfRelay-security_4624_4688_1102.evtx", "evtx-rs-new-user-security.evtx", "SysEvent.Evt"]
    for name in names:
        shutil.copy(DATA / name, evidence / name)
    case = tmp_path / "case"
    result = run_cli("scan", evidence, "--case", case)
    assert result.code == 0, result.stderr
    rows = export(case, "artifacts")
    counts = Counter((Path(row["source"]).name, row["type"]) for row in rows)
    assert counts[(names[0], "evtx.event")] == len(evtxexport_events(DATA / names[0]))
    assert counts[(names[1], "evtx.event")] == len(evtxexport_events(DATA / names[1]))
    legacy = len(evtexport_records(DATA / "SysEvent.Evt")) + len(evtexport_records(DATA / "SysEvent.Evt", "recovered"))
    assert counts[("SysEvent.Evt", "evt.event")] == legacy
    cleared = [row for row in rows if row["type"] == "evtx.event" and row["values"].get("category") == "log_cleared"]
    assert len(cleared) == 1 and cleared[0]["ts"] == "2022-05-01T04:40:18.084003Z"
    findings = export(case, "findings")
    assert any(finding["rule"] == "log_cleared" and finding["severity"] == "high" for finding in findings)
    assert any(finding["analyzer"] == "sigma" for finding in findings)


def test_time_limit_keeps_what_was_read() -> None:
    analyzer = EventLogs(Settings())
    analyzer.time_limit = 0.0
    rows, _, item = parsed(analyzer, "plaso-System.evtx")
    assert len(rows) < len(evtxexport_events(DATA / "plaso-System.evtx"))
    assert any(stage == "event_logs" and reason.startswith("timed out") for stage, reason in item.skipped)


def test_rdp_sessions_and_4697_without_a_public_sample() -> None:
    """No public log with a licence holds these; their field names are Microsoft's (LocalSessionManager's
    EventXML User/SessionID/Address, 4697's ServiceName/ServiceFileName), checked here on events built by hand."""
    session = Event(5, "2024-01-01T00:00:00Z", 21, "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
                    "Microsoft-Windows-TerminalServices-LocalSessionManager", "pc", 4, None,
                    {"User": "CORP\\bob", "SessionID": "3", "Address": "10.0.0.5"})
    named = describe(session)
    assert named is not None and named.category == "rdp"
    assert (named.fields["user"], named.fields["domain"], named.fields["source_address"]) == ("bob", "CORP", "10.0.0.5")
    assert named.summary == "RDP session logon of CORP\\bob from 10.0.0.5 (session 3)"
    service = Event(6, None, 4697, "Security", "Microsoft-Windows-Security-Auditing", "pc", 0, None,
                    {"ServiceName": "evil", "ServiceFileName": "C:\\Users\\bob\\AppData\\x.exe", "ServiceStartType": "2",
                     "SubjectUserName": "bob", "SubjectDomainName": "CORP"})
    named = describe(service)
    assert named is not None and named.category == "service_installed"
    assert named.fields["image_path"] == "C:\\Users\\bob\\AppData\\x.exe"
    other_provider = Event(7, None, 21, "Application", "SomeApp", "pc", 4, None, {"User": "x"})
    assert describe(other_provider) is None


def test_cancel_stops_reading_a_log_and_processing_again_reads_it_all(tmp_path: Path, monkeypatch) -> None:
    """Cancelling while a log's records are turned into rows stops reading it (a log of millions of records would
    otherwise go on to its end); the ledger says so, and processing again gives every record evtxexport reads."""
    import sqlite3

    name = "evtx-rs-sysmon.evtx"
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    shutil.copy(DATA / name, evidence / name)
    case = tmp_path / "case"
    scan, queued = scan_cancelled_after(monkeypatch, evidence, case, "_queue_artefact", 10)
    assert scan.outcomes[0].status == "cancelled" and queued == 10
    db = sqlite3.connect(case / "case.db")
    reasons = db.execute("SELECT stage, reasons FROM ledger WHERE reasons LIKE '%cancelled%'").fetchall()
    db.close()
    assert reasons == [(EventLogs.NAME, '{"cancelled: the rest of its records not examined": 1}')]

    assert run_cli("scan", evidence, "--case", case, "--quiet").code == 0
    rows = [row for row in export(case, "artifacts") if row["type"] == "evtx.event"]
    assert len(rows) == len(evtxexport_events(DATA / name)) > 10
