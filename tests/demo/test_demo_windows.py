"""The demo's Windows computer: the image is what its script builds, and its scan with the demo capture holds every
kind of artefact the examiner asks about, the "it ran" and "downloaded, on the disk, in the capture" links, and the
report's System and Artefacts sections — each value checked against an independent tool reading the image's files
(Sleuth Kit's icat), never against cybertriage."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

from tests import images
from tests.analyzers.artefacts.test_prefetch import sccainfo
from tests.conftest import REPO, export, run_cli, sha256_of
from tests.demo.conftest import CAPTURE, DEMO, WINDOWS, WindowsDemo
from tests.test_correlate import _tshark

HOME = "/Users/alice"
SYSTEM, SOFTWARE = "/Windows/System32/config/SYSTEM", "/Windows/System32/config/SOFTWARE"
HISTORY = f"{HOME}/AppData/Local/Google/Chrome/User Data/Default/History"
DOWNLOADED = f"{HOME}/Downloads/a.ps1"
ONEDRIVE = "/Users/test/AppData/Local/Microsoft/OneDrive/OneDrive.exe"
LOGS = "/Windows/System32/winevt/Logs"


def reglookup(hive: Path, key: str) -> dict[str, str]:
    """The values of one key, name → value, as Debian's reglookup prints them (CSV: path,type,value,mtime; '%',
    ',' and control characters quoted as %XX)."""
    out = subprocess.run(["reglookup", "-H", "-p", key, str(hive)], capture_output=True, text=True, check=True).stdout
    values = {}
    for line in out.splitlines():
        path, kind, value = line.rsplit(",", 3)[:3]
        if kind != "KEY" and path.rsplit("/", 1)[0] == key:
            values[unquote(path.rsplit("/", 1)[1])] = unquote(value)
    return values


def subkeys(hive: Path, key: str) -> list[str]:
    out = subprocess.run(["reglookup", "-H", "-t", "KEY", "-p", key, str(hive)], capture_output=True, text=True,
                         check=True).stdout
    return [line.split(",")[0][len(key) + 1:] for line in out.splitlines() if line.count("/") == key.count("/") + 1]


def sqlite3(database: Path, query: str) -> list[list[str]]:
    out = subprocess.run(["sqlite3", "-readonly", "-separator", "\t", str(database), query], capture_output=True,
                         text=True, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def artefacts(demo: WindowsDemo, kind: str) -> list[dict]:
    return [row for row in export(demo.case, "artifacts") if row["type"] == kind]


def findings(demo: WindowsDemo, rule: str) -> list[dict]:
    return [row for row in export(demo.case, "findings") if row["rule"] == rule]


@pytest.mark.skipif(shutil.which("faketime") is None, reason="the build runs under faketime (Debian package faketime)")
def test_image_is_what_its_script_makes(tmp_path: Path) -> None:
    rebuilt = tmp_path / "demo-windows.img"
    subprocess.run([sys.executable, DEMO / "make_demo_windows.py", rebuilt], check=True, capture_output=True,
                   env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert sha256_of(rebuilt) == sha256_of(WINDOWS)


def test_one_ntfs_volume_holding_the_committed_test_files(windows_demo: WindowsDemo, tmp_path: Path) -> None:
    [volume] = images.mmls_partitions(WINDOWS)
    assert volume.description == "Windows"
    assert "NTFS" in subprocess.run(["fsstat", "-o", str(volume.start), WINDOWS], capture_output=True, text=True,
                                    check=True).stdout
    data = REPO / "tests" / "data" / "artefacts"
    committed = {"/Windows/Prefetch/ONEDRIVE.EXE-7E152375.pf": data / "prefetch" / "ONEDRIVE.EXE-7E152375.pf",
                 f"{LOGS}/Security.evtx": data / "evtx" / "attack-NTLM2SelfRelay-security_4624_4688_1102.evtx",
                 SOFTWARE: data / "registry" / "SOFTWARE-made"}
    for path, source in committed.items():
        assert sha256_of(windows_demo.extract(path, tmp_path / "file")) == sha256_of(source), path
    assert windows_demo.extract(SYSTEM, tmp_path / "SYSTEM").read_bytes() == subprocess.run(
        ["xz", "-dc", data / "registry" / "SYSTEM_WIN_10_1709.xz"], capture_output=True, check=True).stdout


def test_the_computer_is_the_system_hive_s(windows_demo: WindowsDemo, tmp_path: Path) -> None:
    hive = windows_demo.extract(SYSTEM, tmp_path / "SYSTEM")
    current = int(reglookup(hive, "/Select")["Current"], 16)
    name = reglookup(hive, f"/ControlSet{current:03d}/Control/ComputerName/ComputerName")["ComputerName"]
    rows = [row["values"] for row in artefacts(windows_demo, "registry.system") if "computer_name" in row["values"]]
    assert [row["computer_name"] for row in rows] == [name]
    owner = reglookup(windows_demo.extract(SOFTWARE, tmp_path / "SOFTWARE"), "/Microsoft/Windows NT/CurrentVersion")
    assert {row["values"].get("registered_owner") for row in artefacts(windows_demo, "registry.system")} >= {
        owner["RegisteredOwner"]}


def test_persistence_and_usb_devices_are_the_hives(windows_demo: WindowsDemo, tmp_path: Path) -> None:
    software = windows_demo.extract(SOFTWARE, tmp_path / "SOFTWARE")
    expected = {(name, command) for key in ("/Microsoft/Windows/CurrentVersion/Run",
                                            "/Microsoft/Windows/CurrentVersion/RunOnce")
                for name, command in reglookup(software, key).items()}
    runs = {(row["values"]["name"], row["values"]["command"]) for row in artefacts(windows_demo, "registry.run")
            if row["source"] == SOFTWARE}
    assert expected and expected <= runs
    system = windows_demo.extract(SYSTEM, tmp_path / "SYSTEM")
    serials = {instance.split("&")[0] for device in subkeys(system, "/ControlSet001/Enum/USBSTOR")
               for instance in subkeys(system, f"/ControlSet001/Enum/USBSTOR/{device}")}
    usb = {row["values"].get("serial") for row in artefacts(windows_demo, "registry.usb")
           if row["values"].get("source") == "USBSTOR"}
    assert serials and serials == usb


def test_prefetch_is_sccainfo_s(windows_demo: WindowsDemo, tmp_path: Path) -> None:
    names = [path for path in windows_demo.inodes if path.startswith("/Windows/Prefetch/")]
    rows = {row["source"]: row["values"] for row in artefacts(windows_demo, "prefetch")}
    assert sorted(rows) == sorted(names) and len(names) == 4
    for path in names:
        expected = sccainfo(windows_demo.extract(path, tmp_path / "file.pf"))
        assert (rows[path]["executable"], rows[path]["run_count"]) == (expected["executable"], expected["run_count"])
        assert rows[path]["last_run_times"] == [run for run in expected["runs"] if run]


def test_browser_history_is_the_sqlite3_cli_s(windows_demo: WindowsDemo, tmp_path: Path) -> None:
    history = windows_demo.extract(HISTORY, tmp_path / "History")
    urls = sqlite3(history, "SELECT u.url FROM visits v JOIN urls u ON u.id = v.url ORDER BY v.id")
    assert [row["values"]["url"] for row in sorted(artefacts(windows_demo, "browser.visit"),
                                                    key=lambda row: row["values"]["visit_id"])] == [u for [u] in urls]
    [(url, target, received, total)] = sqlite3(history, "SELECT c.url, d.target_path, d.received_bytes, d.total_bytes "
                                                        "FROM downloads d JOIN downloads_url_chains c ON c.id = d.id")
    [download] = artefacts(windows_demo, "browser.download")
    values = download["values"]
    assert (values["url"], values["target_path"], values["received_bytes"], values["total_bytes"]) == (
        url, target, int(received), int(total))
    on_disk = windows_demo.extract(DOWNLOADED, tmp_path / "a.ps1")
    assert target.lower().replace("\\", "/").endswith(DOWNLOADED.lower()) and on_disk.stat().st_size == int(total)


def test_event_logs_are_evtxexport_s(windows_demo: WindowsDemo, tmp_path: Path) -> None:
    rows = artefacts(windows_demo, "evtx.event")
    for name in ("Security.evtx", "System.evtx"):
        log = windows_demo.extract(f"{LOGS}/{name}", tmp_path / name)
        xml = subprocess.run(["evtxexport", "-f", "xml", log], capture_output=True, text=True, check=True).stdout
        expected = Counter(zip(map(int, re.findall(r"<EventRecordID>(\d+)</EventRecordID>", xml)),
                               map(int, re.findall(r"<EventID[^>]*>(\d+)</EventID>", xml))))
        got = Counter((row["values"]["record_id"], row["values"]["event_id"]) for row in rows
                      if row["source"] == f"{LOGS}/{name}")
        assert expected and got == expected, name
    security = {event for _, event in Counter((row["values"]["record_id"], row["values"]["event_id"]) for row in rows
                                              if row["source"] == f"{LOGS}/Security.evtx")}
    assert {4624, 4688, 1102} <= security
    sigma = [row for row in export(windows_demo.case, "findings") if row["analyzer"] == "sigma"]
    assert any(row["object"] == f"{LOGS}/Security.evtx" for row in sigma)


def test_tasks_recycle_bin_and_shortcuts(windows_demo: WindowsDemo, tmp_path: Path) -> None:
    tasks = {row["source"] for row in artefacts(windows_demo, "task")}
    assert tasks == {path for path in windows_demo.inodes if path.startswith("/Windows/System32/Tasks/")}
    assert any(row["rule"] == "persistence-suspicious" and row["object"] == "/Windows/System32/Tasks/OneDriveUpdater"
               for row in export(windows_demo.case, "findings"))
    [dollar_i] = [path for path in windows_demo.inodes if "/$I" in path]
    strings = subprocess.run(["strings", "-el", windows_demo.extract(dollar_i, tmp_path / "i")], capture_output=True,
                             text=True, check=True).stdout.split()
    [recycled] = artefacts(windows_demo, "recycle")
    assert recycled["values"]["original_path"] == strings[-1]
    assert recycled["values"]["data_file"] in windows_demo.inodes  # its $R file is on the volume
    shortcut = f"{HOME}/AppData/Roaming/Microsoft/Windows/Recent/NeroInfoTool.lnk"
    out = subprocess.run(["lnkinfo", windows_demo.extract(shortcut, tmp_path / "x.lnk")], capture_output=True,
                         text=True, check=True).stdout
    [local] = re.findall(r"\tLocal path\t+: (.*)", out)
    assert {row["values"].get("local_path") for row in artefacts(windows_demo, "lnk") if row["source"] == shortcut} \
        == {local}
    assert artefacts(windows_demo, "jumplist")


def test_the_flagged_program_that_ran(windows_demo: WindowsDemo, tmp_path: Path) -> None:
    program = windows_demo.extract(ONEDRIVE, tmp_path / "OneDrive.exe")
    rules = sorted(str(path) for path in (REPO / "rules").glob("*.yar"))
    assert subprocess.run(["yara", *rules, program], capture_output=True, text=True, check=True).stdout.strip()
    prefetch = sccainfo(windows_demo.extract("/Windows/Prefetch/ONEDRIVE.EXE-7E152375.pf", tmp_path / "o.pf"))
    assert any(name.upper().replace("\\", "/").endswith(ONEDRIVE.upper()) for name in prefetch["files"])
    [ran] = findings(windows_demo, "ran-flagged")
    assert ran["object"] == ONEDRIVE and ran["severity"] == "critical"
    assert ran["detail"]["evidence_of_running"] == ["prefetch"] and ran["detail"]["matched_by"] == ["path"]
    assert ran["title"].startswith("Ran, not only present")


def test_the_download_is_on_the_disk_and_in_the_capture(windows_demo: WindowsDemo, tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    subprocess.run(["tshark", "-r", CAPTURE, "-q", "--export-objects", f"http,{objects}"], check=True,
                   capture_output=True)
    assert sha256_of(windows_demo.extract(DOWNLOADED, tmp_path / "a.ps1")) == sha256_of(objects / "a.ps1")
    [(host, uri)] = _tshark(CAPTURE, 'http.request.uri == "/a.ps1"', "http.host", "http.request.uri")
    [link] = findings(windows_demo, "download-on-disk")
    assert link["object"] == DOWNLOADED and link["detail"]["url"] == f"http://{host}{uri}"
    [http_id] = link["detail"]["http_ids"]
    assert [item["kind"] for item in link["detail"]["links"]] == ["artifact", "http", "file"]
    assert sqlite3(windows_demo.case / "case.db", f"SELECT host, uri FROM http WHERE id = {int(http_id)}") == [
        [host, uri]]


def test_the_report_has_the_system_and_the_artefacts(windows_demo: WindowsDemo, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    result = run_cli("report", "--case", windows_demo.case, "--pdf", pdf)
    assert result.code == 0, result.stderr
    text = subprocess.run(["pdftotext", "-layout", pdf, "-"], capture_output=True, text=True, check=True).stdout
    hive = windows_demo.extract(SYSTEM, tmp_path / "SYSTEM")
    name = reglookup(hive, "/ControlSet001/Control/ComputerName/ComputerName")["ComputerName"]
    system = text.index("System and users", text.index("Summary of findings"))
    assert name in text[system:] and "Alice Example" in text[system:]
    assert re.search(r"^\s*Artefacts\s*$", text[system:], re.MULTILINE)
    assert ONEDRIVE.rsplit("/", 1)[1] in text and "a.ps1" in text


def test_without_the_capture_the_download_links_only_the_disk(tmp_path: Path) -> None:
    case = tmp_path / "case"
    result = run_cli("scan", WINDOWS, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    [link] = [row for row in export(case, "findings") if row["rule"] == "download-on-disk"]
    assert link["object"] == DOWNLOADED and link["detail"]["http_ids"] == []
    assert [item["kind"] for item in link["detail"]["links"]] == ["artifact", "file"]
    assert [row["object"] for row in export(case, "findings") if row["rule"] == "ran-flagged"] == [ONEDRIVE]
