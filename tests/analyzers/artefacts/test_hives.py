"""Registry hives (plaso's and regipy's public test hives, and a SOFTWARE hive made with hivex) against
`reglookup`: the system profile, accounts, devices and autostart entries hold the values reglookup reads, decoded
by these tests from its raw output. Renamed hives are told by their keys, transaction logs are not hives, dirty,
truncated and damaged hives keep what was read with the problem recorded, and one scan of a folder goes through the
command line to `export --what artifacts --type registry`."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import struct

import pytest

from cybertriage.analyzers.artefacts.hives import RegistryHives
from cybertriage.analyzers.base import Settings
from tests.analyzers.artefacts.hive_reference import (
    filetime,
    hive,
    iso,
    item_of,
    key_seconds,
    parsed,
    reglookup,
    rows_of,
    run,
)
from tests.conftest import run_cli

CURRENT_VERSION = "/Microsoft/Windows NT/CurrentVersion"


@pytest.mark.parametrize("name, kind_rows", [
    ("SYSTEM", {"registry.system", "registry.usb", "service", "registry.shimcache"}),
    ("SOFTWARE-made", {"registry.system", "registry.user", "registry.run", "registry.winlogon", "registry.ifeo",
                       "registry.usb"}),
    ("SAM", {"registry.user"}),
    ("NTUSER-WIN7.DAT", {"registry.run", "registry.userassist", "registry.recentdocs", "registry.runmru",
                         "registry.typedpaths", "registry.typedurls", "registry.officemru"}),
    ("win10-Amcache.hve", {"registry.amcache"}),
    ("UsrClass.dat", set()),
])
def test_each_hive_is_told_by_its_keys_whatever_its_name(name, kind_rows):
    data = hive(name).read_bytes()
    as_named = {row.type for row in parsed(name)[0]}
    renamed = {row.type for row in run("evidence.bin", data)[0]}
    assert as_named == renamed == kind_rows


def test_transaction_logs_and_other_files_are_not_hives():
    data = bytearray(hive("NTUSER-WIN7.DAT").read_bytes()[:8192])
    parser = RegistryHives(Settings())
    assert parser.recognise(item_of("NTUSER.DAT", bytes(data)))
    assert not parser.recognise(item_of("NTUSER.DAT.LOG1", bytes(data)))
    struct.pack_into("<I", data, 28, 1)  # a transaction log's base block: file type 1
    assert not parser.recognise(item_of("NTUSER.DAT", bytes(data)))
    assert not parser.recognise(item_of("SYSTEM", b"not a hive" * 1000))


def test_system_profile_equals_reglookup():
    selected = reglookup("SYSTEM", "/Select")["/Select"].dword("Current")
    control_set = f"ControlSet{selected:03d}"
    control = reglookup("SYSTEM", f"/{control_set}/Control")
    zone = control[f"/{control_set}/Control/TimeZoneInformation"]
    shutdown = control[f"/{control_set}/Control/Windows"].values["ShutdownTime"][1]
    [row] = rows_of("SYSTEM", "registry.system")
    values = row.values
    assert values["current_control_set"] == control_set
    assert values["computer_name"] == control[f"/{control_set}/Control/ComputerName/ComputerName"].text("ComputerName")
    # reglookup quotes this value's whole buffer: the name is the UTF-16 text up to its terminating NUL
    zone_name = zone.values["TimeZoneKeyName"][1].decode("utf-16-le", "replace").split("\x00")[0]
    assert values["time_zone"]["name"] == zone_name == "Eastern Standard Time"
    assert values["time_zone"]["bias_minutes"] == struct.unpack("<i", struct.pack("<I", zone.dword("Bias")))[0]
    assert values["time_zone"]["daylight_name"] == zone.text("DaylightName")
    assert values["last_shutdown"] == filetime(shutdown) == row.ts
    interfaces = reglookup("SYSTEM", f"/{control_set}/Services/Tcpip/Parameters/Interfaces")
    expected = {}
    for path, key in interfaces.items():
        if "EnableDHCP" in key.values:
            address = key.text("DhcpIPAddress" if key.dword("EnableDHCP") else "IPAddress")
            if address and address != "0.0.0.0":
                expected[path.rsplit("/", 1)[1]] = address
    assert {i["guid"]: i["ip_address"] for i in values["interfaces"] if "ip_address" in i} == expected
    assert expected


def test_software_profile_equals_reglookup():
    key = reglookup("SOFTWARE-made", CURRENT_VERSION)[CURRENT_VERSION]
    [row] = rows_of("SOFTWARE-made", "registry.system")
    installed = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=key.dword("InstallDate"))
    assert row.values == {
        "product_name": key.text("ProductName"), "edition_id": key.text("EditionID"),
        "display_version": key.text("DisplayVersion"), "release_id": key.text("ReleaseId"),
        "current_build": key.text("CurrentBuild"), "ubr": key.dword("UBR"), "install_date": iso(installed),
        "registered_owner": key.text("RegisteredOwner"), "registered_organization": key.text("RegisteredOrganization"),
        "system_root": key.text("SystemRoot"),
    }
    assert row.ts == iso(installed)


def test_profile_list_users_equal_reglookup():
    prefix = f"{CURRENT_VERSION}/ProfileList"
    keys = reglookup("SOFTWARE-made", prefix)
    expected = {path.rsplit("/", 1)[1]: key.text("ProfileImagePath") for path, key in keys.items() if path != prefix}
    got = {row.values["sid"]: row.values["profile_path"] for row in rows_of("SOFTWARE-made", "registry.user")}
    assert got == expected
    names = {row.values["sid"]: row.values["name"] for row in rows_of("SOFTWARE-made", "registry.user")}
    assert names["S-1-5-21-1111111111-2222222222-3333333333-1001"] == "alice"


def test_sam_accounts_equal_reglookup():
    keys = reglookup("SAM", "/SAM/Domains/Account")
    v = keys["/SAM/Domains/Account"].values["V"][1]
    domain = "S-1-5-21-" + "-".join(str(n) for n in struct.unpack("<3I", v[-12:]))
    # Names\<user>'s default value has the account's RID as its type, which reglookup prints as the type
    names = {int(key.values[""][0], 16): (path.rsplit("/", 1)[1], key.mtime)
             for path, key in keys.items() if path.startswith("/SAM/Domains/Account/Users/Names/")}
    expected = {}
    for path, key in keys.items():
        rid_text = path.rsplit("/", 1)[1]
        if path.startswith("/SAM/Domains/Account/Users/") and len(rid_text) == 8 and rid_text != "Names":
            f = key.values["F"][1]
            rid = int(rid_text, 16)
            user = {"sid": f"{domain}-{rid}", "name": names[rid][0], "last_logon": filetime(f, 8),
                    "last_password_change": filetime(f, 24), "logon_count": struct.unpack_from("<H", f, 66)[0],
                    "disabled": bool(struct.unpack_from("<H", f, 56)[0] & 1)}
            expected[rid] = {field: value for field, value in user.items() if value is not None}
    got = {row.values["rid"]: {field: value for field, value in row.values.items()
                               if field not in ("rid", "created", "full_name")}
           for row in rows_of("SAM", "registry.user")}
    assert got == expected
    assert len(expected) == 3
    for row in rows_of("SAM", "registry.user"):  # created: when the account's Names key was written
        assert row.values["created"][:19] == key_seconds(names[row.values["rid"]][1])


def test_usbstor_devices_equal_reglookup():
    prefix = "/ControlSet001/Enum/USBSTOR"
    keys = reglookup("SYSTEM_WIN_10_1709", prefix)
    times = "Properties/{83da6326-97a6-4088-9453-a1923f573b29}"
    expected = {}
    for path, key in keys.items():
        parts = path[len(prefix) + 1:].split("/")
        if len(parts) == 2:
            def at(number: str) -> str | None:
                found = keys.get(f"{path}/{times}/{number}")
                return filetime(found.values[""][1]) if found else None
            expected[tuple(parts)] = {"friendly_name": key.text("FriendlyName"), "first_connected": at("0064"),
                                      "last_connected": at("0066"), "last_removed": at("0067")}
    got = {(row.values["device"], row.values["instance"]):
           {field: row.values.get(field) for field in ("friendly_name", "first_connected", "last_connected",
                                                       "last_removed")}
           for row in rows_of("SYSTEM_WIN_10_1709", "registry.usb") if row.values["source"] == "USBSTOR"}
    assert got == expected
    [(device, instance)] = expected
    assert device == "Disk&Ven_SanDisk&Prod_Cruzer&Rev_1.20" and instance == "200608767007B7C08A6A&0"
    win7 = [row.values for row in rows_of("SYSTEM", "registry.usb") if row.values["source"] == "USBSTOR"]
    assert [(v["vendor"], v["product"], v["serial"]) for v in win7] == [("HP", "v100w", "AA951D0000007252")]


def test_usb_devices_equal_reglookup():
    prefix = "/ControlSet001/Enum/USB"
    keys = reglookup("SYSTEM_WIN_10_1709", prefix)
    expected = set()
    for path, key in keys.items():
        parts = path[len(prefix) + 1:].split("/")
        if len(parts) == 2 and parts[0].upper().startswith("VID_") and "&PID_" in parts[0].upper():
            vid, pid = parts[0].upper()[4:8], parts[0].upper()[13:17]
            expected.add((vid, pid, parts[1], key.text("FriendlyName") or key.text("DeviceDesc").split(";")[-1]))
    got = {(r.values["vid"], r.values["pid"], r.values["serial"], r.values["friendly_name"])
           for r in rows_of("SYSTEM_WIN_10_1709", "registry.usb") if r.values["source"] == "USB"}
    assert got == expected
    assert ("0781", "5530", "200608767007B7C08A6A", "USB Mass Storage Device") in got  # the SanDisk Cruzer


def test_mounted_devices_and_portable_devices_equal_reglookup():
    key = reglookup("SYSTEM_WIN_10_1709", "/MountedDevices")["/MountedDevices"]
    letters = {name[-2:]: raw for name, (kind, raw) in key.values.items() if name.startswith("\\DosDevices\\")}
    got = {row.values["drive_letter"]: row.values["device"] for row in rows_of("SYSTEM_WIN_10_1709", "registry.usb")
           if row.values["source"] == "MountedDevices" and "drive_letter" in row.values}
    for letter, raw in letters.items():
        if len(raw) == 12:
            signature, offset = struct.unpack("<IQ", raw)
            assert got[letter] == f"disk signature {signature:08X}, partition offset {offset}"
        else:
            assert got[letter] == raw.decode("utf-16-le").rstrip("\x00")
    assert set(got) == set(letters) and letters
    devices = reglookup("SOFTWARE-made", "/Microsoft/Windows Portable Devices/Devices")
    expected = {path.rsplit("/", 1)[1]: k.text("FriendlyName") for path, k in devices.items() if k.values}
    assert {row.values["device"]: row.values["friendly_name"] for row in rows_of("SOFTWARE-made", "registry.usb")} \
        == expected


def test_services_equal_reglookup():
    prefix = "/ControlSet001/Services"
    keys = reglookup("SYSTEM_WIN_10_1709", prefix)
    starts = {0: "boot", 1: "system", 2: "automatic", 3: "manual", 4: "disabled"}
    expected = {path.rsplit("/", 1)[1]: (key.text("ImagePath"), starts.get(key.dword("Start")), key.text("ObjectName"))
                for path, key in keys.items() if path.count("/") == 3 and "Type" in key.values}
    got = {row.values["name"]: (row.values.get("image_path"), row.values.get("start"), row.values.get("object_name"))
           for row in rows_of("SYSTEM_WIN_10_1709", "service")}
    assert got == expected
    assert len(expected) > 500


@pytest.mark.parametrize("name, prefix, key", [
    ("NTUSER-WIN7.DAT", "/Software/Microsoft/Windows/CurrentVersion", "Run"),
    ("NTUSER-WIN7.DAT", "/Software/Microsoft/Windows/CurrentVersion", "RunOnce"),
    ("SOFTWARE-made", "/Microsoft/Windows/CurrentVersion", "Run"),
    ("SOFTWARE-made", "/Microsoft/Windows/CurrentVersion", "RunOnce"),
    ("SOFTWARE-made", "/WOW6432Node/Microsoft/Windows/CurrentVersion", "Run"),
])
def test_run_keys_equal_reglookup(name, prefix, key):
    found = reglookup(name, f"{prefix}/{key}").get(f"{prefix}/{key}")
    expected = {value: found.text(value) for value in found.values} if found else {}
    where = f"{prefix}/{key}".strip("/").replace("/", "\\")
    got = {row.values["name"]: row.values["command"] for row in rows_of(name, "registry.run")
           if row.values["key"] == where}
    assert got == expected


def test_suspicious_autostart_entries_are_findings_and_ordinary_ones_are_not():
    findings = {(f.detail["type"], f.detail["name"]): f for f in parsed("SOFTWARE-made")[1]}
    assert set(findings) == {("registry.run", "Updater"), ("registry.run", "cleanup"),
                             ("registry.winlogon", "Userinit"), ("registry.ifeo", "sethc.exe")}
    updater = findings[("registry.run", "Updater")]
    assert (updater.analyzer, updater.rule, updater.severity) == ("registry", "persistence-suspicious", "high")
    assert updater.title.startswith("Autostart entry Updater: ") and "encoded PowerShell" in updater.title
    winlogon = reglookup("SOFTWARE-made", f"{CURRENT_VERSION}/Winlogon")[f"{CURRENT_VERSION}/Winlogon"]
    assert findings[("registry.winlogon", "Userinit")].detail["command"] == winlogon.text("Userinit")
    ifeo = reglookup("SOFTWARE-made", f"{CURRENT_VERSION}/Image File Execution Options")
    debugger = ifeo[f"{CURRENT_VERSION}/Image File Execution Options/sethc.exe"].text("Debugger")
    assert [row.values["command"] for row in rows_of("SOFTWARE-made", "registry.ifeo")] == [debugger]
    user_run = {f.detail["name"] for f in parsed("NTUSER-WIN7.DAT")[1]}
    assert user_run == {"Google Update"}  # its program sits in the user's AppData; Skype's does not


def test_a_dirty_hive_is_read_as_it_is_and_said_so():
    for name, dirty in (("SYSTEM_WIN_10_1709", True), ("win10-Amcache.hve", False), ("Amcache.hve", True),
                        ("SYSTEM", False)):
        problems = [reason for stage, reason in parsed(name)[2] if stage == "registry"]
        assert any("hive is dirty: transaction logs not applied" in p for p in problems) == dirty, name
        assert parsed(name)[0]


@pytest.mark.parametrize("name, cut", [("SYSTEM", 0.4), ("SYSTEM_WIN_10_1709", 0.5), ("win10-Amcache.hve", 0.7),
                                       ("NTUSER-WIN7.DAT", 0.5)])
def test_a_truncated_hive_keeps_what_was_read(name, cut):
    data = hive(name).read_bytes()
    whole = parsed(name)[0]
    rows, findings, item = run(name, data[:int(len(data) * cut)])
    assert len(rows) < len(whole)
    assert all(row in whole for row in rows)  # what was read is what the whole hive holds, nothing made up
    problems = [reason for stage, reason in item.skipped if stage == "registry"]
    expected_size = 4096 + struct.unpack_from("<I", data, 40)[0]  # the base block's hive bins data size
    assert f"hive is truncated: {int(len(data) * cut)} bytes of the {expected_size} its header gives; keys stored " \
           "past the end are not read" in problems
    if name != "NTUSER-WIN7.DAT":  # its root's subkey list is stored near the end: nothing below it is reachable
        assert rows
        assert any("unreadable past a damaged key" in p for p in problems), problems


def test_a_corrupt_cell_keeps_what_was_read():
    data = bytearray(hive("SYSTEM").read_bytes())
    damaged = 0
    start = data.find(b"USBSTOR")
    while start != -1:  # each key named USBSTOR: its key cell ('nk', 76 bytes before the name) gets a subkey
        nk = start - 76  # list offset pointing past the end of the hive
        if data[nk:nk + 2] == b"nk" and struct.unpack_from("<H", data, nk + 72)[0] == 7:
            struct.pack_into("<I", data, nk + 0x1C, 0x7FFFFFF0)
            damaged += 1
        start = data.find(b"USBSTOR", start + 1)
    assert damaged
    rows, findings, item = run("SYSTEM", bytes(data))
    whole = parsed("SYSTEM")[0]
    assert [row for row in whole if row.values.get("source") != "USBSTOR"] == rows
    [problem] = [reason for stage, reason in item.skipped if stage == "registry"]
    assert problem.startswith("SYSTEM hive: usbstor unreadable past a damaged key")


def test_out_of_time_is_a_recorded_problem():
    rows, findings, item = run("SYSTEM", hive("SYSTEM").read_bytes(), time_limit=0.0)
    assert any("timed out" in reason for stage, reason in item.skipped)


def test_scan_and_export_registry_artifacts(tmp_path):
    evidence = tmp_path / "evidence"
    (evidence / "Windows/System32/config").mkdir(parents=True)
    (evidence / "Users/nfury").mkdir(parents=True)
    shutil.copy(hive("SOFTWARE-made"), evidence / "Windows/System32/config/SOFTWARE")
    shutil.copy(hive("SAM"), evidence / "Windows/System32/config/SAM")
    shutil.copy(hive("NTUSER-WIN7.DAT"), evidence / "Users/nfury/NTUSER.DAT")
    case = tmp_path / "case"
    scanned = run_cli("scan", evidence, "--case", case, "--quiet")
    assert scanned.code == 0, scanned.stderr
    exported = run_cli("export", "--case", case, "--what", "artifacts", "--type", "registry", "--format", "jsonl")
    assert exported.code == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]
    runs = {(row["source"].lstrip("/"), row["values"]["name"]): row["values"]["command"]
            for row in rows if row["type"] == "registry.run"}
    expected = {}
    for source, name, prefix in (("Windows/System32/config/SOFTWARE", "SOFTWARE-made", "/Microsoft/Windows/CurrentVersion"),
                                 ("Windows/System32/config/SOFTWARE", "SOFTWARE-made",
                                  "/WOW6432Node/Microsoft/Windows/CurrentVersion"),
                                 ("Users/nfury/NTUSER.DAT", "NTUSER-WIN7.DAT", "/Software/Microsoft/Windows/CurrentVersion")):
        for key in ("Run", "RunOnce"):
            found = reglookup(name, f"{prefix}/{key}").get(f"{prefix}/{key}")
            expected.update({(source, value): found.text(value) for value in (found.values if found else {})})
    assert runs == expected
    users = {row["values"].get("name") for row in rows if row["type"] == "registry.user"}
    assert {"Administrator", "Guest", "gold_administrator", "alice"} <= users
    assert {row["type"] for row in rows} >= {"registry.system", "registry.userassist", "registry.officemru"}
    findings = run_cli("export", "--case", case, "--what", "findings", "--format", "jsonl")
    rules = [json.loads(line) for line in findings.stdout.splitlines()]
    assert sum(1 for f in rules if f.get("rule") == "persistence-suspicious") == 5


def test_a_key_claiming_millions_of_values_stops_only_what_needs_it():
    data = bytearray(hive("SYSTEM").read_bytes())
    nk = data.find(b"nk", data.find(b"TimeZoneInformation") - 76)
    assert data[nk + 76:nk + 76 + 19] == b"TimeZoneInformation"
    struct.pack_into("<I", data, nk + 0x24, 0x7FFFFFFF)  # the key's value count
    rows, findings, item = run("SYSTEM", bytes(data))
    assert [row for row in parsed("SYSTEM")[0] if row.type != "registry.system"] == rows
    [problem] = [reason for stage, reason in item.skipped if stage == "registry"]
    assert "system_profile unreadable past a damaged key (ValueError: key 'TimeZoneInformation' claims" in problem
