"""Scheduled tasks. Legacy .job files: plaso's wintask.job (Apache-2.0) against plaso's published expectations
(tests/parsers/winjob.py) and artemis' At1.job (MIT) against artemis' (forensics/src/artifacts/os/windows/tasks/job.rs).
XML files: two real ones from artemis' test data (MIT; a Windows 10 task in UTF-16 with an Exec
action, a Windows 11 one in UTF-8 under a UTF-16 declaration with a COM handler), checked against hand-read literals
of the XML (printed with `iconv`), and a task the test writes in the layout Windows exports (Microsoft's
'Task Scheduler Schema'), with a malicious command line from MITRE ATT&CK T1053.005 procedure examples."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cybertriage.analyzers.artefacts.tasks import ScheduledTask
from cybertriage.analyzers.base import Finding, Item, Settings
from cybertriage.analyzers.results import Artefact
from cybertriage.evidence.base import BytesContent, EvidenceObject
from tests.analyzers.artefacts.test_prefetch import sccainfo
from tests.analyzers.artefacts.test_shortcuts import lnkinfo
from tests.conftest import run_cli

DATA = Path(__file__).resolve().parents[2] / "data" / "artefacts" / "tasks"

WRITTEN = """<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Date>2023-04-01T09:15:02.5210000Z</Date>
    <Author>WORKSTATION\\bob</Author>
    <URI>\\OneDriveUpdater</URI>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
      <UserId>WORKSTATION\\bob</UserId>
    </LogonTrigger>
    <TimeTrigger>
      <StartBoundary>2023-04-01T09:20:00</StartBoundary>
      <Repetition><Interval>PT15M</Interval></Repetition>
    </TimeTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>S-1-5-21-1-2-3-1001</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <Hidden>true</Hidden>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>C:\\Users\\bob\\AppData\\Roaming\\OneDrive\\update.exe</Command>
    </Exec>
    <Exec>
      <Command>powershell.exe</Command>
      <Arguments>-NoP -W Hidden -Enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA</Arguments>
    </Exec>
  </Actions>
</Task>
"""


def analysed(name: str, data: bytes | None = None) -> tuple[list, Item]:
    data = (DATA / name).read_bytes() if data is None else data
    obj = EvidenceObject(path=f"/Windows/System32/Tasks/{name}", name=name, size=len(data),
                         content=BytesContent(data))
    item = Item(obj, head=data[:1024 * 1024], data=data, content_read=True)
    return list(ScheduledTask(Settings()).analyze(item)), item


def utf16_with_bom(text: str) -> bytes:
    return subprocess.run(["iconv", "-f", "utf-8", "-t", "utf-16"], input=text.replace("\n", "\r\n").encode(),
                          capture_output=True, check=True).stdout


def test_windows_10_task_in_utf16():
    [record], item = analysed("VSIX Auto Update")
    assert item.skipped == []
    values = record.values
    assert record.type == "task" and record.ts is None  # no registration date in this task
    assert values["uri"] == "\\Microsoft\\VisualStudio\\VSIX Auto Update"
    assert values["author"] == "Microsoft VisualStudio"
    assert values["user_id"] == "S-1-5-18"
    assert values["hidden"] is True and values["enabled"] is True
    assert values["triggers"] == [{"kind": "CalendarTrigger", "enabled": True, "start": "2019-10-21T12:26:22",
                                   "days_interval": "1"}]
    assert values["actions"] == [{"kind": "Exec", "command": (
        "C:\\Program Files (x86)\\Microsoft Visual Studio\\Installer\\resources\\app\\ServiceHub\\Services\\"
        "Microsoft.VisualStudio.Setup.Service\\VSIXAutoUpdate.exe")}]


def test_windows_11_com_handler_task():
    [record], item = analysed("SoftLandingCreativeManagementTask")
    assert item.skipped == []
    values = record.values
    assert values["uri"] == (
        "\\SoftLanding\\S-1-5-21-476446702-302789185-3387769606-1001\\SoftLandingCreativeManagementTask")
    assert values["run_level"] == "LeastPrivilege" and values["logon_type"] == "InteractiveToken"
    assert values["actions"] == [{"kind": "ComHandler", "class_id": "{F576B2F9-7850-4226-ADB0-E5993FED4F02}"}]
    assert [trigger["kind"] for trigger in values["triggers"]] == [
        "WnfStateChangeTrigger", "TimeTrigger", "TimeTrigger"]
    assert values["triggers"][2]["start"] == "2026-03-29T13:19:07Z"
    assert values["triggers"][2]["repeat_every"] == "PT24H"
    assert values["hidden"] is False


def test_malicious_task_is_a_finding():
    records, item = analysed("OneDriveUpdater", utf16_with_bom(WRITTEN))
    assert item.skipped == []
    [task] = [record for record in records if isinstance(record, Artefact)]
    findings = [record for record in records if isinstance(record, Finding)]
    assert task.ts == "2023-04-01T09:15:02.521Z"
    assert task.values["registered"] == "2023-04-01T09:15:02.5210000Z"
    assert task.values["run_level"] == "HighestAvailable" and task.values["hidden"] is True
    assert task.values["command_line"] == "C:\\Users\\bob\\AppData\\Roaming\\OneDrive\\update.exe"
    assert [trigger["kind"] for trigger in task.values["triggers"]] == ["LogonTrigger", "TimeTrigger"]
    assert task.values["triggers"][1] == {"kind": "TimeTrigger", "enabled": True, "start": "2023-04-01T09:20:00",
                                          "repeat_every": "PT15M"}
    assert len(findings) == 2
    assert all(f.analyzer == "tasks" and f.rule == "persistence-suspicious" and f.severity == "high"
               for f in findings)
    assert "AppData" in findings[0].title
    assert any("encoded PowerShell" in reason for reason in findings[1].detail["reasons"])


def test_ordinary_task_is_quiet():
    records, _ = analysed("VSIX Auto Update")
    assert not [record for record in records if isinstance(record, Finding)]


def test_recognised_by_content():
    data = (DATA / "VSIX Auto Update").read_bytes()
    assert analysed("anything", data)[0]
    assert analysed("notes.xml", b"<?xml version='1.0'?><Task><Actions/></Task>")[0] == []


def test_entity_expansion_is_refused():
    bomb = WRITTEN.replace('<?xml version="1.0" encoding="UTF-16"?>',
                           '<?xml version="1.0"?><!DOCTYPE Task [<!ENTITY a "aaaaaaaaaa">'
                           '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>').replace("bob</Author>", "&b;</Author>")
    records, item = analysed("bomb", bomb.encode())
    assert records == []
    [(stage, reason)] = item.skipped
    assert stage == "tasks" and "entity expansion refused" in reason


def test_truncated_task_is_a_recorded_problem():
    data = utf16_with_bom(WRITTEN)
    records, item = analysed("OneDriveUpdater", data[:len(data) // 2])
    assert records == []
    [(stage, reason)] = item.skipped
    assert stage == "tasks" and "ParseError" in reason


def test_job_file_against_plaso():
    [record], item = analysed("wintask.job")
    assert item.skipped == []
    values = record.values
    assert values["format"] == "job" and record.ts is None  # .job times are local: kept as written, not on the timeline
    program = "C:\\Program Files (x86)\\Google\\Update\\GoogleUpdate.exe"
    assert values["command_line"] == program + " /ua /installsource scheduler"
    assert values["actions"] == [{"kind": "Exec", "command": program, "arguments": "/ua /installsource scheduler"}]
    assert values["author"] == "Brian"
    assert values["description"].startswith("Keeps your Google software up to date. If this task is disabled")
    assert values["last_run_local"] == "2013-08-24T12:42:00.112"
    [trigger] = values["triggers"]
    assert trigger["kind"] == "daily" and trigger["start"] == "2013-07-12T15:42:00" and "end" not in trigger


def test_at_job_against_artemis():
    [record], item = analysed("At1.job")
    assert item.skipped == []
    assert record.values["job_id"] == "01402ff8-7371-4bba-a728-a7d4f012d5c6"
    assert record.values["author"] == "WORKGROUP\\DESKTOP-EIS938N$"
    assert record.values["command_line"] == "cmd.exe"
    assert record.values["description"] == "Created by NetScheduleJobAdd."


def test_job_with_lying_string_length_is_a_recorded_problem():
    data = bytearray((DATA / "wintask.job").read_bytes())
    data[0x46:0x48] = (0x7000).to_bytes(2, "little")
    records, item = analysed("wintask.job", bytes(data))
    assert records == []
    [(stage, reason)] = item.skipped
    assert stage == "tasks" and "runs past" in reason


# -- end to end: a triage collection of the Windows files this issue names -----------------------------------

def test_scan_of_a_triage_folder_exports_each_artefact(tmp_path):
    """prefetch, lnk, jumplist, recycle and task rows from `cybertriage scan` of a folder, through `export --what
    artifacts`, with the malicious task's finding in `export --what findings`; values against sccainfo, lnkinfo and
    plaso's published expectations, as the unit tests check them."""
    data = DATA.parent
    evidence = tmp_path / "C"
    layout = {
        "Windows/Prefetch/CMD.EXE-087B4001.pf": data / "prefetch/CMD.EXE-087B4001.pf",
        "Users/bob/Desktop/Nero InfoTool.lnk": data / "lnk/NeroInfoTool.lnk",
        "Users/bob/AppData/Roaming/Microsoft/Windows/Recent/AutomaticDestinations/"
        "9d1f905ce5044aee.automaticDestinations-ms": data / "lnk/9d1f905ce5044aee.automaticDestinations-ms",
        "$Recycle.Bin/S-1-5-21-1-2-3-1001/$I103S5F.jpg": data / "recycle/$I103S5F.jpg",
        "Windows/System32/Tasks/Microsoft/VisualStudio/VSIX Auto Update": DATA / "VSIX Auto Update",
    }
    for place, source in layout.items():
        (evidence / place).parent.mkdir(parents=True, exist_ok=True)
        (evidence / place).write_bytes(source.read_bytes())
    (evidence / "$Recycle.Bin/S-1-5-21-1-2-3-1001/$R103S5F.jpg").write_bytes(b"\xff\xd8\xff\xe0 not much of a jpeg")
    (evidence / "Windows/System32/Tasks/OneDriveUpdater").write_bytes(utf16_with_bom(WRITTEN))
    case = tmp_path / "case"
    scanned = run_cli("scan", evidence, "--case", case, "--quiet")
    assert scanned.code == 0, scanned.stderr
    exported = run_cli("export", "--case", case, "--what", "artifacts", "--format", "jsonl")
    assert exported.code == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    by_type: dict[str, list[dict]] = {}
    for row in rows:
        by_type.setdefault(row["type"], []).append(row)

    [prefetch] = by_type["prefetch"]
    expected = sccainfo(data / "prefetch/CMD.EXE-087B4001.pf")
    assert prefetch["source"].endswith("Windows/Prefetch/CMD.EXE-087B4001.pf")
    assert prefetch["values"]["run_count"] == expected["run_count"]
    assert prefetch["ts"] == expected["runs"][0]
    [shortcut] = by_type["lnk"]
    reference = lnkinfo((data / "lnk/NeroInfoTool.lnk").read_bytes(), tmp_path)
    assert shortcut["values"]["target_path"] == reference["local_path"]
    assert shortcut["ts"] == reference["target_modified"]
    assert {row["values"]["path"] for row in by_type["jumplist"]} == {
        "http://support.microsoft.com/kb/3124263",
        "http://go.microsoft.com/fwlink/?linkid=624682&clcid=0x409&campaign=ct!!31DAEFFBA6804D2599B337798559C7F4"}
    [deleted] = by_type["recycle"]
    assert deleted["values"]["original_path"] == "C:\\Users\\random\\Downloads\\bunnies.jpg"
    assert deleted["ts"] == "2016-06-29T21:37:45.618Z"
    assert deleted["values"]["data_file"].endswith("$Recycle.Bin/S-1-5-21-1-2-3-1001/$R103S5F.jpg")
    assert {row["values"]["uri"] for row in by_type["task"]} == {
        "\\Microsoft\\VisualStudio\\VSIX Auto Update", "\\OneDriveUpdater"}
    findings = run_cli("export", "--case", case, "--what", "findings", "--format", "jsonl")
    assert findings.code == 0, findings.stderr
    persistence = [json.loads(line) for line in findings.stdout.splitlines()
                   if json.loads(line).get("rule") == "persistence-suspicious"]
    assert len(persistence) == 2 and all(row["object"].endswith("Tasks/OneDriveUpdater") for row in persistence)
