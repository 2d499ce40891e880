"""The PE analyzer against pev (readpe, pehash, pescan) and binutils' objdump on the corpus (tests/data/corpus),
on variants crafted from it with pefile, and on a thousand mutated copies that must not break it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path

import pefile
import pytest

from cybertriage.analyzers import ANALYZERS
from cybertriage.analyzers.base import SEVERITIES, Finding, Item, Settings
from cybertriage.analyzers.pe import PeAnalysis
from cybertriage.analyzers.results import ContentType, Hashes, PeSummary
from cybertriage.evidence.base import EvidenceObject
from tests.conftest import export, run_cli

PE_MIME = "application/vnd.microsoft.portable-executable"
CORPUS_PES = ["HelloWorld.TablesStream.ExtraData.exe", "HelloWorld.exe", "NetFrameworkConsole.exe", "No_SEH.exe",
              "TLSCallback_x64.dll", "TLSCallback_x86.exe", "TestCetCompatAndEhCont.exe", "firefox_x64.exe",
              "firefox_x86.exe"]
# From the corpus MANIFEST, section 4: (kind, .NET, security directory size) and the upstream
# PeNet tests' TLS callback addresses.
MANIFEST = {
    "HelloWorld.TablesStream.ExtraData.exe": ("EXE", True, 0), "HelloWorld.exe": ("EXE", True, 0),
    "NetFrameworkConsole.exe": ("EXE", True, 0), "No_SEH.exe": ("EXE", False, 0), "TLSCallback_x64.dll": ("DLL", False, 0),
    "TLSCallback_x86.exe": ("EXE", False, 0), "TestCetCompatAndEhCont.exe": ("EXE", False, 0),
    "firefox_x64.exe": ("EXE", False, 7632), "firefox_x86.exe": ("EXE", False, 7632),
}
UPSTREAM_TLS = {"TLSCallback_x64.dll": ["0x180001000"], "TLSCallback_x86.exe": ["0x4111cc"]}
RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


def _tool(*command: str | Path, env: dict[str, str] | None = None) -> str:
    assert shutil.which(str(command[0])), f"{command[0]} missing (run `make system-packages`: Debian packages pev, binutils)"
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})})
    return done.stdout


def _readpe(path: Path, *options: str) -> dict:
    return json.loads(_tool("readpe", "-f", "json", *options, path))


def _number(text: str) -> int:
    """readpe's '0x1000 (4096 bytes)' or '4096 (...)' as an int."""
    return int(text.split()[0], 0)


def _analyse(data: bytes, name: str = "sample.exe", mime: str | None = PE_MIME, mtime: str | None = None,
             analyzer: PeAnalysis | None = None, sha256: str | None = None) -> tuple[Item, list[Finding]]:
    obj = EvidenceObject(path=f"/evidence/{name}", name=name, size=len(data), mtime=mtime)
    item = _item(obj, data, mime)
    if sha256:
        item.add(Hashes(sha256=sha256))  # as the hashing analyzer, which runs first, leaves it
    findings = list((analyzer or PeAnalysis(Settings())).analyze(item))
    for finding in findings:
        assert finding.analyzer == "pe" and finding.severity in SEVERITIES
    json.dumps(_pe(item))  # the case stores it as JSON
    return item, findings


def _item(obj: EvidenceObject, data: bytes | None, mime: str | None, head: bytes | None = None) -> Item:
    """An object read in full, typed by libmagic as `mime` (as the file type analyzer, which runs first, leaves it)."""
    item = Item(obj, head=data[:1024 * 1024] if head is None else head, data=data, content_read=True)
    if mime:
        item.add(ContentType(mime))
    return item


def _pe(item: Item) -> dict | None:
    """The PE summary the analyzer left on the item, if any."""
    found = item.result(PeSummary)
    return found.summary if found is not None else None


def _rules(findings: list[Finding]) -> dict[str, str]:
    return {f.rule: f.severity for f in findings}


@pytest.fixture(scope="module")
def corpus(corpus_dir: Path) -> dict[str, Path]:
    return {name: corpus_dir / "pe" / name for name in CORPUS_PES}


@pytest.fixture(scope="module")
def analysed(corpus: dict[str, Path]) -> dict[str, tuple[Item, list[Finding]]]:
    return {name: _analyse(path.read_bytes(), name) for name, path in corpus.items()}


# -- facts against independent tools --------------------------------------------------------------------


@pytest.mark.parametrize("name", CORPUS_PES)
def test_headers_match_readpe_and_objdump(name: str, corpus, analysed) -> None:
    facts = _pe(analysed[name][0])
    assert facts["complete"] and not analysed[name][0].skipped
    coff = _readpe(corpus[name], "-h", "coff")["COFF/File header"]
    assert coff["Machine"] == f"{facts['machine']} IMAGE_FILE_MACHINE_{facts['machine_name']}"
    assert _number(coff["Date/time stamp"]) == facts["timestamp"]
    objdump = dict(line.split("\t", 1) for line in _tool("objdump", "-p", corpus[name], env={"TZ": "UTC"}).splitlines()
                   if "\t" in line and not line.startswith("\t"))
    stamp = dt.datetime.strptime(objdump["Time/Date"].strip(), "%a %b %d %H:%M:%S %Y")
    assert stamp.strftime("%Y-%m-%dT%H:%M:%SZ") == facts["compiled"]
    assert objdump["Magic"].split()[-1] == f"({facts['format']})"
    assert facts["bitness"] == (64 if facts["format"] == "PE32+" else 32)
    assert int(objdump["ImageBase"].strip(), 16) == int(facts["image_base"], 16)
    assert int(objdump["AddressOfEntryPoint"].strip(), 16) == int(facts["entry_point"]["rva"], 16)


@pytest.mark.parametrize("name", CORPUS_PES)
def test_sections_match_readpe_and_objdump(name: str, corpus, analysed) -> None:
    facts = _pe(analysed[name][0])
    readpe = _readpe(corpus[name], "-S")["Sections"]
    # objdump -h gives full names (readpe cuts them to 7 characters) and file offsets
    objdump = [f for f in map(str.split, _tool("objdump", "-h", corpus[name]).splitlines()) if f and f[0].isdigit()]
    assert len(facts["sections"]) == len(readpe) == len(objdump) == facts["section_count"]
    for ours, theirs, line in zip(facts["sections"], readpe, objdump, strict=True):
        assert ours["name"] == line[1] and ours["name"].startswith(theirs["Name"])
        assert ours["raw_size"] == _number(theirs["Size Of Raw Data"])
        assert ours["raw_offset"] == _number(theirs["Pointer To Raw Data"]) == int(line[5], 16)
        assert int(ours["virtual_address"], 16) == _number(theirs["Virtual Address"])
        assert ours["virtual_size"] == _number(theirs["Virtual Size"])
        assert ours["characteristics"] == theirs["Characteristics"]
        assert ["IMAGE_SCN_" + flag for flag in ours["flags"]] == theirs["Characteristic Names"]
        assert ours["entropy"] is None or 0 <= ours["entropy"] <= 8
    entry = int(facts["entry_point"]["rva"], 16)
    holder = [s for s in facts["sections"]
              if int(s["virtual_address"], 16) <= entry < int(s["virtual_address"], 16) + max(s["virtual_size"], s["raw_size"])]
    assert facts["entry_point"]["section"] == holder[0]["name"]


@pytest.mark.parametrize("name", CORPUS_PES)
def test_imports_exports_and_imphash_match_pev(name: str, corpus, analysed) -> None:
    facts = _pe(analysed[name][0])
    imports: dict[str, list[str]] = {}
    for library in _readpe(corpus[name], "-i")["Imported functions"]:
        imports.setdefault(library["Name"], []).extend(f["Name"] for f in library["Functions"])
    assert facts["imports"] == imports
    assert facts["imports_count"] == sum(map(len, imports.values())) and facts["imports_listed_in_full"]
    assert facts["imphash"] == json.loads(_tool("pehash", "-f", "json", corpus[name]))["file"]["imphash"]
    exported = _readpe(corpus[name], "-e")["Exported functions"]
    if not exported:
        assert "exports" not in facts
    else:
        (library,) = exported
        assert facts["exports"]["dll_name"] == library["Name"]
        assert facts["exports"]["names"] == [f["Name"] for f in library["Functions"]]
        assert facts["exports"]["count"] == len(library["Functions"])


@pytest.mark.parametrize("name", CORPUS_PES)
def test_manifest_facts_hold(name: str, corpus, analysed) -> None:
    facts = _pe(analysed[name][0])
    kind, dotnet, security = MANIFEST[name]
    assert facts["dotnet"] is dotnet
    assert facts["kind"] == (".NET " if dotnet else "") + kind.lower()
    directories = {k: v for d in _readpe(corpus[name], "-d")["Data directories"] for k, v in d.items()}
    readpe_security = _number(directories["IMAGE_DIRECTORY_ENTRY_SECURITY"].split("(")[1]) \
        if "IMAGE_DIRECTORY_ENTRY_SECURITY" in directories else 0
    assert facts["authenticode"]["size"] == security == readpe_security
    assert facts["authenticode"]["signed"] is (security > 0) and facts["authenticode"]["well_formed"] is (security > 0)
    assert facts["overlay"] is None  # firefox's only appended data is its certificate table
    scan = _tool("pescan", corpus[name])
    tls = next(line for line in scan.splitlines() if line.startswith("TLS directory:")).split(":", 1)[1].strip()
    callbacks = (facts.get("tls") or {}).get("callbacks", [])
    assert tls == (f"found - {len(callbacks)} function(s)" if "tls" in facts else "not found")
    if name in UPSTREAM_TLS:
        assert callbacks == UPSTREAM_TLS[name]
    assert facts["rich_hash"] == (pefile.PE(str(corpus[name])).get_rich_header_hash() or None)


def test_version_info(analysed) -> None:
    firefox = _pe(analysed["firefox_x64.exe"][0])["version_info"]
    assert firefox == {"CompanyName": "Mozilla Corporation", "ProductName": "Firefox", "FileDescription": "Firefox",
                       "OriginalFilename": "firefox.exe", "InternalName": "Firefox", "FileVersion": "62.0"}
    # upstream ResourcesTest.cs
    assert _pe(analysed["NetFrameworkConsole.exe"][0])["version_info"]["OriginalFilename"] == "NetFrameworkConsole.exe"


def test_benign_corpus_is_quiet(analysed) -> None:
    for name, (_, findings) in analysed.items():
        assert all(RANK[f.severity] <= RANK["low"] for f in findings), (name, findings)
    rules = {name: _rules(findings) for name, (_, findings) in analysed.items()}
    assert rules["TLSCallback_x86.exe"] == {"tls-callbacks": "info"}  # its .textbss is MSVC's, not a packer's
    assert rules["NetFrameworkConsole.exe"] == {}
    assert rules["firefox_x64.exe"]["behaviour-process-injection"] == "low"  # signed: lowered, still shown
    assert rules["firefox_x64.exe"]["original-filename-mismatch"] == "info"  # firefox_x64.exe is a renamed firefox.exe
    # a .NET deterministic build writes a hash for a timestamp: recorded, not reported
    assert rules["HelloWorld.exe"] == {} and _pe(analysed["HelloWorld.exe"][0])["timestamp_anomalies"] == ["future"]


# -- crafted variants ----------------------------------------------------------------------------------


def _craft(path: Path, change) -> bytes:
    pe = pefile.PE(str(path))
    change(pe)
    return bytes(pe.write())


def _section(pe: pefile.PE, name: bytes) -> pefile.SectionStructure:
    return next(s for s in pe.sections if s.Name.rstrip(b"\0") == name)


def _rename_imports(path: Path, renames: dict[str, str]) -> bytes:
    """The file with some imported names overwritten in place (each new name no longer than the old)."""
    pe = pefile.PE(str(path))
    data = bytearray(path.read_bytes())
    todo = dict(renames)
    for entry in pe.DIRECTORY_ENTRY_IMPORT:
        for symbol in entry.imports:
            if symbol.name and symbol.name.decode() in todo:
                new = todo.pop(symbol.name.decode()).encode()
                assert len(new) <= len(symbol.name)
                data[symbol.name_offset:symbol.name_offset + len(symbol.name)] = new.ljust(len(symbol.name), b"\0")
    assert not todo
    return bytes(data)


def test_zero_and_future_timestamps(corpus) -> None:
    def stamp(value: int):
        return lambda pe: setattr(pe.FILE_HEADER, "TimeDateStamp", value)

    zero = _craft(corpus["TLSCallback_x86.exe"], stamp(0))
    item, findings = _analyse(zero)
    assert _rules(findings)["timestamp-zero"] == "low" and _pe(item)["compiled"] is None
    future = int(time.time()) + 3 * 365 * 86400
    item, findings = _analyse(_craft(corpus["TLSCallback_x86.exe"], stamp(future)))
    assert _rules(findings)["timestamp-future"] == "medium" and _pe(item)["timestamp_anomalies"][0] == "future"


def test_compiled_after_mtime(corpus) -> None:
    data = corpus["TLSCallback_x86.exe"].read_bytes()  # compiled 2016-10-30
    assert "timestamp-after-mtime" not in _rules(_analyse(data, mtime="2016-11-02T10:00:00Z")[1])
    item, findings = _analyse(data, mtime="2012-05-01T10:00:00.123456789Z")
    assert _rules(findings)["timestamp-after-mtime"] == "low"
    assert _pe(item)["timestamp_anomalies"] == ["after-mtime"]


def test_copies_are_parsed_once_and_checked_each(corpus, monkeypatch) -> None:
    """A second copy of the same bytes reuses the parse; its own times and name are still checked."""
    data = corpus["TLSCallback_x86.exe"].read_bytes()  # compiled 2016-10-30
    opened = []

    class CountedPE(pefile.PE):
        def __init__(self, *args, **kwargs) -> None:
            opened.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(pefile, "PE", CountedPE)
    analyzer = PeAnalysis(Settings())
    sha256 = hashlib.sha256(data).hexdigest()
    first, first_findings = _analyse(data, mtime="2016-11-02T10:00:00Z", analyzer=analyzer, sha256=sha256)
    second, second_findings = _analyse(data, mtime="2012-05-01T10:00:00Z", analyzer=analyzer, sha256=sha256)
    assert len(opened) == 1 and not first.skipped and not second.skipped
    assert "timestamp-after-mtime" not in _rules(first_findings) and _rules(second_findings)["timestamp-after-mtime"] == "low"
    assert _pe(first)["timestamp_anomalies"] == [] and _pe(second)["timestamp_anomalies"] == ["after-mtime"]
    assert {k: v for k, v in _pe(first).items() if k != "timestamp_anomalies"} == \
        {k: v for k, v in _pe(second).items() if k != "timestamp_anomalies"}
    other = _analyse(data[:-1] + b"\1", analyzer=analyzer, sha256=hashlib.sha256(data[:-1] + b"\1").hexdigest())[0]
    assert len(opened) == 2 and _pe(other)["imphash"] == _pe(first)["imphash"]


def test_writable_executable_and_packer_sections(corpus) -> None:
    def writable(pe):
        _section(pe, b".text").Characteristics |= 0x80000000

    item, findings = _analyse(_craft(corpus["TLSCallback_x64.dll"], writable), "TLSCallback_x64.dll")
    assert _rules(findings)["writable-executable-section"] == "medium"
    assert findings[[f.rule for f in findings].index("writable-executable-section")].detail["sections"] == [".text"]

    def upx(pe):
        _section(pe, b".rdata").Name = b"UPX1\0\0\0\0"

    _, findings = _analyse(_craft(corpus["TLSCallback_x64.dll"], upx), "TLSCallback_x64.dll")
    assert _rules(findings)["packer-section"] == "medium"
    assert findings[[f.rule for f in findings].index("packer-section")].detail["packers"] == ["UPX"]


def test_high_entropy_section(corpus) -> None:
    def encrypt(pe):
        text = _section(pe, b".text")
        pe.set_bytes_at_offset(text.PointerToRawData, os.urandom(text.SizeOfRawData))

    item, findings = _analyse(_craft(corpus["TLSCallback_x86.exe"], encrypt), "TLSCallback_x86.exe")
    assert _rules(findings)["high-entropy-section"] == "medium"
    (dense,) = findings[[f.rule for f in findings].index("high-entropy-section")].detail["sections"]
    assert dense["name"] == ".text" and dense["entropy"] > 7.9


def test_entry_point_outside_code(corpus) -> None:
    def move(pe):
        pe.OPTIONAL_HEADER.AddressOfEntryPoint = _section(pe, b".rdata").VirtualAddress + 0x10

    item, findings = _analyse(_craft(corpus["TLSCallback_x86.exe"], move), "TLSCallback_x86.exe")
    assert _rules(findings)["entry-point-outside-code"] == "medium"
    assert _pe(item)["entry_point"]["section"] == ".rdata"


def test_tiny_import_table(corpus) -> None:
    def strip(pe):
        directory = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"]]
        directory.VirtualAddress = directory.Size = 0

    item, findings = _analyse(_craft(corpus["TLSCallback_x86.exe"], strip), "TLSCallback_x86.exe")
    assert _rules(findings)["few-imports"] == "medium" and _pe(item)["imports_count"] == 0
    # a .NET executable imports one function by design
    assert "few-imports" not in _rules(_analyse(corpus["HelloWorld.exe"].read_bytes(), "HelloWorld.exe")[1])


@pytest.mark.parametrize(("renames", "rule", "severity"), [
    ({"GetCurrentProcessId": "VirtualAllocEx", "QueryPerformanceCounter": "WriteProcessMemory",
      "GetSystemTimeAsFileTime": "CreateRemoteThread"}, "behaviour-process-injection", "high"),
    ({"GetCurrentProcessId": "CredEnumerateW"}, "behaviour-credential-access", "high"),
    ({"QueryPerformanceCounter": "SetWindowsHookExW"}, "behaviour-keylogging", "medium"),
    ({"SetUnhandledExceptionFilter": "CheckRemoteDebuggerPresent"}, "behaviour-anti-debugging", "medium"),
    ({"GetCurrentProcessId": "CryptEncrypt", "QueryPerformanceCounter": "FindFirstFileExW",
      "GetSystemTimeAsFileTime": "FindNextFileW"}, "behaviour-ransomware-crypto", "medium"),
    ({"QueryPerformanceCounter": "URLDownloadToFileW"}, "behaviour-download-execute", "medium"),
    ({"GetCurrentProcessId": "CreateServiceW"}, "behaviour-persistence", "medium"),
])
def test_behaviours_from_imports(corpus, tmp_path: Path, renames, rule, severity) -> None:
    data = _rename_imports(corpus["TLSCallback_x86.exe"], renames)
    crafted = tmp_path / "crafted.exe"
    crafted.write_bytes(data)
    imported = {f["Name"] for lib in _readpe(crafted, "-i")["Imported functions"] for f in lib["Functions"]}
    assert set(renames.values()) <= imported  # readpe reads the crafted table as we meant it
    item, findings = _analyse(data, "TLSCallback_x86.exe")
    behaviours = [f for f in findings if f.rule.startswith("behaviour-")]
    assert [(f.rule, f.severity) for f in behaviours] == [(rule, severity)]
    assert set(behaviours[0].detail["functions"]) == set(renames.values())


def test_persistence_through_a_run_key(corpus) -> None:
    data = _rename_imports(corpus["TLSCallback_x86.exe"], {"GetCurrentProcessId": "RegSetValueExW"})
    assert "behaviour-persistence" not in _rules(_analyse(data)[1])  # setting some value is not persistence
    key = "Software\\Microsoft\\Windows\\CurrentVersion\\Run".encode("utf-16-le")
    assert _rules(_analyse(data + key)[1])["behaviour-persistence"] == "medium"


def test_signed_file_behaviours_are_lowered(analysed) -> None:
    (finding,) = [f for f in analysed["firefox_x86.exe"][1] if f.rule == "behaviour-process-injection"]
    assert finding.severity == "low" and finding.detail["signed"] and "not verified" in finding.detail["note"]


def test_original_filename(corpus) -> None:
    data = corpus["NetFrameworkConsole.exe"].read_bytes()
    assert _analyse(data, "NETFRAMEWORKCONSOLE.EXE")[1] == []
    assert _analyse(data, "NetFrameworkConsole.dll")[1] == []
    _, findings = _analyse(data, "holiday.jpg")
    (finding,) = [f for f in findings if f.rule == "original-filename-mismatch"]
    assert finding.severity == "medium" and finding.detail["original_filename"] == "NetFrameworkConsole.exe"
    assert _rules(_analyse(data, "svchost.exe")[1]) == {"original-filename-mismatch": "medium"}


def test_embedded_executable_in_resources(corpus) -> None:
    payload = corpus["HelloWorld.exe"].read_bytes()
    pe = pefile.PE(str(corpus["firefox_x64.exe"]))
    leaves = [(lang.data.struct.OffsetToData, lang.data.struct.Size, kind.id)
              for kind in pe.DIRECTORY_ENTRY_RESOURCE.entries for name in kind.directory.entries
              for lang in name.directory.entries]
    rva, size, kind = max(leaves, key=lambda leaf: leaf[1])
    assert size >= len(payload)
    offset = pe.get_offset_from_rva(rva)
    data = bytearray(corpus["firefox_x64.exe"].read_bytes())
    data[offset:offset + len(payload)] = payload
    item, findings = _analyse(bytes(data), "firefox.exe")
    assert _rules(findings)["embedded-executable"] == "high"
    (embedded,) = _pe(item)["resources"]["embedded_executables"]
    assert embedded["offset"] == offset and embedded["pe_header"] and embedded["type"] == pefile.RESOURCE_TYPE[kind]


def test_overlays(corpus) -> None:
    for name in ("TLSCallback_x64.dll", "firefox_x64.exe"):  # firefox: after its certificate table
        data = corpus[name].read_bytes()
        item, findings = _analyse(data + bytes(64 * 1024), name)
        assert _rules(findings)["overlay"] == "info"
        assert _pe(item)["overlay"]["size"] == 64 * 1024
        assert _pe(item)["overlay"]["offset"] == len(data)
        item, findings = _analyse(data + os.urandom(8 * 1024), name)
        assert _rules(findings)["high-entropy-overlay"] == "low" and "overlay" not in _rules(findings)
    assert "overlay" not in _rules(_analyse(data + bytes(100), name)[1])  # padding is not worth a line


def test_truncated_copies(corpus) -> None:
    for name in ("TLSCallback_x86.exe", "firefox_x64.exe", "HelloWorld.exe"):
        data = corpus[name].read_bytes()
        for cut in (600, len(data) // 2):
            item, findings = _analyse(data[:cut], name)
            facts = _pe(item)
            assert facts["machine"] == ("0x8664" if "x64" in name else "0x14c")
            assert _rules(findings)["truncated"] == "low"
            assert facts["truncated"]["file_size"] == cut
            assert "few-imports" not in _rules(findings)  # an import table cut off is unread, not small


def test_which_objects_are_examined(corpus) -> None:
    data = corpus["TLSCallback_x86.exe"].read_bytes()
    assert _pe(_analyse(data, mime="application/x-dosexec")[0]) is not None  # a PE header libmagic did not see
    dos = b"MZ" + bytes(62) + b"\xb4\x4c\xcd\x21" * 16  # a DOS program: no PE header
    item, findings = _analyse(dos, "old.exe", mime="application/x-dosexec")
    assert _pe(item) is None and not findings and not item.skipped
    assert _pe(_analyse(data, mime="application/octet-stream")[0]) is None
    assert _pe(_analyse(b"hello", mime=PE_MIME)[0]) is None
    obj = EvidenceObject(path="/big.exe", name="big.exe", size=100 * 1024 * 1024)
    item = _item(obj, None, PE_MIME, head=data)
    assert list(PeAnalysis(Settings()).analyze(item)) == []
    assert item.skipped == [("pe", "larger than the in-memory limit")]


def test_deadline_gives_partial_results(corpus) -> None:
    analyzer = PeAnalysis(Settings())
    analyzer.time_limit = 0
    item, findings = _analyse(corpus["firefox_x64.exe"].read_bytes(), analyzer=analyzer)
    assert _pe(item)["complete"] is False
    assert item.skipped == [("pe", "timed out after 0 s: partial results")]


def test_malformed_headers(corpus) -> None:
    data = bytearray(corpus["TLSCallback_x86.exe"].read_bytes())
    header = int.from_bytes(data[0x3C:0x40], "little")
    data[header + 24:header + 26] = b"\x0b\x03"  # no optional header has this magic number
    item, findings = _analyse(bytes(data))
    assert _pe(item)["format"] == "unknown magic 0x30b" and _pe(item)["bitness"] is None
    item, findings = _analyse(bytes(data[:header + 20]))  # cut inside the COFF header: nothing to read
    assert _pe(item)["complete"] is False and findings == []
    assert item.skipped == [("pe", "malformed PE: PEFormatError: 'File Header missing'")]


# -- fuzzing --------------------------------------------------------------------------------------------


def _mutant(base: bytes, rng: random.Random) -> bytes:
    data = bytearray(base)
    header = int.from_bytes(base[0x3C:0x40], "little")
    table_end = header + 24 + int.from_bytes(base[header + 20:header + 22], "little") + 40 * base[header + 6]
    for _ in range(rng.randint(1, 12)):
        at = rng.randrange(2, table_end)  # keep "MZ": the rest of the headers and the section table are fair game
        if rng.random() < 0.3 and at + 4 <= table_end:
            data[at:at + 4] = rng.choice([0, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0x1000, len(base)]).to_bytes(4, "little")
        else:
            data[at] = rng.randrange(256)
    for _ in range(rng.choice([0, 0, 4])):  # and sometimes the directories inside the sections
        data[rng.randrange(len(data))] = rng.randrange(256)
    if rng.random() < 0.3:
        del data[rng.randrange(64, len(data)):]
    return bytes(data)


def test_fuzzed_copies_never_crash_or_hang(corpus) -> None:
    rng = random.Random(20261125)
    bases = [corpus[name].read_bytes() for name in ("TLSCallback_x64.dll", "HelloWorld.exe", "TLSCallback_x86.exe")]
    analyzer = PeAnalysis(Settings())
    slowest, outcomes = 0.0, {"complete": 0, "partial": 0}
    started = time.monotonic()
    for index in range(1000):
        data = _mutant(bases[index % len(bases)], rng)
        begun = time.monotonic()
        item, _ = _analyse(data, analyzer=analyzer)  # no exception escapes; findings and facts are well-formed
        slowest = max(slowest, time.monotonic() - begun)
        outcomes["complete" if (_pe(item) or {}).get("complete") else "partial"] += 1
    assert slowest < analyzer.time_limit, slowest
    assert time.monotonic() - started < 60
    assert outcomes["complete"] > 100 and outcomes["partial"] > 10, outcomes  # the mutations reach both paths


# -- through the command line -----------------------------------------------------------------------------


def test_registered_after_the_file_type() -> None:
    order = list(ANALYZERS)
    assert order.index("pe") > order.index("filetype")


def test_scan_reports_pe_findings(corpus, tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    for name, path in corpus.items():
        shutil.copy(path, evidence / name)
    (evidence / "injector.exe").write_bytes(_rename_imports(corpus["TLSCallback_x86.exe"], {
        "GetCurrentProcessId": "VirtualAllocEx", "QueryPerformanceCounter": "WriteProcessMemory",
        "GetSystemTimeAsFileTime": "CreateRemoteThread"}))
    shutil.copy(corpus["NetFrameworkConsole.exe"], evidence / "holiday.jpg")
    (evidence / "cut.exe").write_bytes(corpus["firefox_x64.exe"].read_bytes()[:600])
    case = tmp_path / "case"
    result = run_cli("scan", evidence, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    found: dict[str, dict[str, str]] = {}
    for row in export(case, "findings"):
        found.setdefault(row["object"], {})[f"{row['analyzer']}:{row['rule']}"] = row["severity"]
    assert found["/injector.exe"]["pe:behaviour-process-injection"] == "high"
    assert found["/holiday.jpg"]["pe:original-filename-mismatch"] == "medium"
    assert found["/holiday.jpg"]["filetype:executable-disguised"] == "high"
    assert found["/cut.exe"]["pe:truncated"] == "low"
    assert found["/TLSCallback_x64.dll"] == {"pe:tls-callbacks": "info"}
    for name in CORPUS_PES:
        assert all(RANK[s] <= RANK["low"] for rule, s in found.get(f"/{name}", {}).items() if rule.startswith("pe:"))
    db = sqlite3.connect(case / "case.db")
    errors = db.execute("SELECT object, message FROM problems WHERE message LIKE 'analyzer error%'").fetchall()
    assert errors == [], errors


def test_signer_named_as_openssl_reads_the_certificate_table(corpus_dir: Path, tmp_path: Path) -> None:
    """The signer's subject is one of the certificates `openssl pkcs7` finds in the same table."""
    path = corpus_dir / "pe" / "firefox_x64.exe"
    data = path.read_bytes()
    pe = pefile.PE(data=data, fast_load=True)
    security = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]]
    table = tmp_path / "signature.p7"
    table.write_bytes(data[security.VirtualAddress + 8 : security.VirtualAddress + security.Size])
    printed = subprocess.run(["openssl", "pkcs7", "-inform", "DER", "-in", str(table), "-print_certs", "-noout"],
                             capture_output=True, text=True, check=True).stdout
    subjects = [line.removeprefix("subject=").strip() for line in printed.splitlines() if line.startswith("subject=")]
    item = _item(EvidenceObject(path="/firefox.exe", name="firefox.exe", size=len(data)), data,
                 "application/vnd.microsoft.portable-executable", head=data[:65536])
    list(PeAnalysis(Settings()).analyze(item))
    signer = _pe(item)["authenticode"]["signer"]
    assert "CN=Mozilla Corporation" in signer
    assert any("CN = Mozilla Corporation" in subject or "CN=Mozilla Corporation" in subject for subject in subjects)
