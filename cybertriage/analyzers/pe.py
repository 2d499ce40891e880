"""Windows PE files (pefile): what an examiner asks of an executable, and the signs that should worry them.

The facts go in a `PeSummary` result, a JSON-ready dict; findings are the few indicators worth a look.
Every PE from evidence is treated as hostile: pefile reads the headers only (`fast_load`), then one
data directory at a time, with a per-file deadline checked between the steps and inside every loop,
and every walk capped. A file that breaks the parser keeps what was read before the break, and the
ledger says why the rest is missing.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import math
import re
import struct
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, overload

import pefile

from ..evidence.base import EvidenceObject, iso_utc
from .base import Analyzer, Finding, Item, Settings
from .results import ContentType, Hashes, PeSummary

PE_MIME = "application/vnd.microsoft.portable-executable"
DOS_MIME = "application/x-dosexec"  # libmagic's name for an MZ file whose PE header it did not see

TIME_LIMIT = 5.0  # seconds of parsing per file; what is left after that is reported as not examined
PARSED_KEPT = 64  # parsed executables remembered by sha256
# Caps on what is walked and listed. pefile has its own (MAX_SECTIONS 2048, MAX_IMPORT_SYMBOLS 8192,
# MAX_RESOURCE_ENTRIES 32768, max_symbol_exports 8192), which bound its parsing; these bound our work.
MAX_SECTIONS = 96  # Windows XP's loader limit; newer loaders take more, real files seldom have over 20
MAX_IMPORT_DLLS = 256
MAX_FUNCTIONS_PER_DLL = 512
MAX_IMPORTS_LISTED = 2048
MAX_EXPORTS_LISTED = 512
MAX_RESOURCES = 4096
MAX_EMBEDDED = 16
MAX_TLS_CALLBACKS = 64
MAX_DEBUG_ENTRIES = 32
MAX_HEADERS = 4 * 1024 * 1024  # the most a file cut off in its headers is padded to (65535 sections of 40 bytes)
MAX_TEXT = 260  # characters kept of any string read from the file
# Shannon entropy costs about 80 ms per MiB in pure Python, so a big section or overlay is measured on
# evenly spaced blocks adding up to ENTROPY_SAMPLE bytes (plenty to tell packed data from code), and a
# file gets ENTROPY_BUDGET bytes in all.
ENTROPY_SAMPLE = 64 * 1024
ENTROPY_BLOCKS = 16
ENTROPY_BUDGET = 4 * 1024 * 1024

HIGH_ENTROPY = 7.2  # bits per byte; compressed or encrypted data sits near 8, code near 6
HIGH_ENTROPY_MIN_SIZE = 1024
FEW_IMPORTS = 3  # a native executable that imports this few functions resolves the rest itself
OVERLAY_MIN = 16 * 1024  # appended data worth mentioning (the certificate table does not count)
CLOCK_SKEW = dt.timedelta(days=1)  # a FAT mtime is local time; a build machine's clock may be off

# Section names that packers and protectors leave behind (lower case), and the tool they name.
PACKER_SECTIONS = {
    "upx0": "UPX", "upx1": "UPX", "upx2": "UPX", "upx!": "UPX", ".upx0": "UPX", ".upx1": "UPX",
    ".aspack": "ASPack", ".adata": "ASPack", ".mpress1": "MPRESS", ".mpress2": "MPRESS",
    ".petite": "Petite", ".themida": "Themida", ".winlice": "WinLicense",
    ".vmp0": "VMProtect", ".vmp1": "VMProtect", ".vmp2": "VMProtect",
    ".enigma1": "Enigma Protector", ".enigma2": "Enigma Protector",
    "pec2": "PECompact", "pecompact2": "PECompact", ".nsp0": "NsPack", ".nsp1": "NsPack", ".nsp2": "NsPack",
    "nsp0": "NsPack", "nsp1": "NsPack", ".rlpack": "RLPack", ".packed": "RLPack", ".yp": "Y0da Protector",
    ".y0da": "Y0da Protector", ".perplex": "Perplex", "fsg!": "FSG", ".maskpe": "MaskPE", "kkrunchy": "kkrunchy",
    ".spack": "Simple Pack", ".ccg": "CCG", ".boom": "The Boomerang", ".bydwing": "Upack", ".upack": "Upack",
    ".svkp": "SVKP", "mew": "MEW", "pebundle": "PEBundle", "pelocknt": "PELock", ".neolit": "NeoLite",
    ".neolite": "NeoLite", "procrypt": "ProCrypt", ".taz": "PESpin",
}
# MSVC's incremental-link section of debug builds is writable, executable and empty on disk.
BENIGN_WX_SECTIONS = {".textbss"}

SECTION_FLAGS = (  # IMAGE_SCN_* bits (the 4-bit alignment field is left out), named as the PE spec does
    (0x00000020, "CNT_CODE"), (0x00000040, "CNT_INITIALIZED_DATA"), (0x00000080, "CNT_UNINITIALIZED_DATA"),
    (0x00000200, "LNK_INFO"), (0x00000800, "LNK_REMOVE"), (0x00001000, "LNK_COMDAT"), (0x00008000, "GPREL"),
    (0x01000000, "LNK_NRELOC_OVFL"), (0x02000000, "MEM_DISCARDABLE"), (0x04000000, "MEM_NOT_CACHED"),
    (0x08000000, "MEM_NOT_PAGED"), (0x10000000, "MEM_SHARED"), (0x20000000, "MEM_EXECUTE"),
    (0x40000000, "MEM_READ"), (0x80000000, "MEM_WRITE"),
)
FILE_EXECUTABLE, FILE_DLL = 0x0002, 0x2000
KERNEL_IMPORTS = {"ntoskrnl.exe", "hal.dll", "ndis.sys", "bootvid.dll", "kdcom.dll", "fltmgr.sys"}
VERSION_KEYS = ("CompanyName", "ProductName", "FileDescription", "OriginalFilename", "InternalName", "FileVersion")
DEBUG_TYPES = {1: "COFF", 2: "CODEVIEW", 3: "FPO", 4: "MISC", 5: "EXCEPTION", 6: "FIXUP", 7: "OMAP_TO_SRC",
               8: "OMAP_FROM_SRC", 9: "BORLAND", 10: "RESERVED10", 11: "CLSID", 12: "VC_FEATURE", 13: "POGO",
               14: "ILTCG", 15: "MPX", 16: "REPRO", 20: "EX_DLLCHARACTERISTICS"}  # REPRO: the timestamp is a hash
SIGNED_DATA_OID = bytes.fromhex("06092a864886f70d010702")  # PKCS#7 signedData, as DER
RUN_KEY_TEXT = "text:CurrentVersion\\Run"  # a pseudo-import: the Run key's path is written in the file

# Behaviours read from the import table. A behaviour is seen when, for one of its alternatives, every
# set of functions has at least one member imported. Names are compared in lower case without the
# A/W suffix (CreateProcessW is CreateProcess). Severity is for a file without a signature: a file
# that carries an Authenticode signature gets "low" (browsers and security tools do all of this).
ALLOCATE_REMOTE = {"VirtualAllocEx", "VirtualAlloc2", "NtAllocateVirtualMemory", "ZwAllocateVirtualMemory"}
WRITE_REMOTE = {"WriteProcessMemory", "NtWriteVirtualMemory", "ZwWriteVirtualMemory"}
RUN_REMOTE = {"CreateRemoteThread", "CreateRemoteThreadEx", "NtCreateThreadEx", "ZwCreateThreadEx", "RtlCreateUserThread",
              "QueueUserAPC", "NtQueueApcThread", "ZwQueueApcThread", "NtQueueApcThreadEx", "SetThreadContext",
              "NtSetContextThread", "Wow64SetThreadContext"}
MAP_REMOTE = ({"NtCreateSection", "ZwCreateSection"}, {"NtMapViewOfSection", "ZwMapViewOfSection", "MapViewOfFile2"})
HOLLOW = ({"NtUnmapViewOfSection", "ZwUnmapViewOfSection"}, WRITE_REMOTE,
          {"SetThreadContext", "NtSetContextThread", "Wow64SetThreadContext"}, {"ResumeThread", "NtResumeThread"})
BEHAVIOURS_TABLE: tuple[tuple[str, str, str, tuple[tuple[set[str], ...], ...]], ...] = (
    ("process-injection", "Imports for injecting code into another process", "high", (
        (ALLOCATE_REMOTE, WRITE_REMOTE, RUN_REMOTE), (*MAP_REMOTE, RUN_REMOTE), HOLLOW)),
    ("credential-access", "Imports for reading stored credentials or logon sessions", "high", (
        ({"LsaEnumerateLogonSessions"},), ({"LsaRetrievePrivateData"},), ({"CredEnumerate"},),
        ({"SamConnect", "SamIConnect"},), ({"MiniDumpWriteDump"}, {"OpenProcess"}))),
    ("keylogging", "Imports for hooking or polling the keyboard", "medium", (
        ({"SetWindowsHookEx"},), ({"GetAsyncKeyState", "GetKeyboardState"}, {"GetForegroundWindow"}),
        ({"RegisterRawInputDevices"}, {"GetRawInputData"}))),
    ("anti-debugging", "Imports for detecting or evading a debugger", "medium", (
        ({"CheckRemoteDebuggerPresent"},), ({"NtQueryInformationProcess", "ZwQueryInformationProcess"},),
        ({"NtSetInformationThread", "ZwSetInformationThread"},))),
    ("ransomware-crypto", "Imports for encrypting files found by walking folders", "medium", (
        ({"CryptEncrypt", "BCryptEncrypt", "NCryptEncrypt"}, {"FindFirstFile", "FindFirstFileEx"}, {"FindNextFile"}),)),
    ("download-execute", "Imports for downloading and running a program", "medium", (
        ({"URLDownloadToFile", "URLDownloadToCacheFile"},),
        ({"InternetOpenUrl", "InternetReadFile", "WinHttpReadData"}, {"WinExec", "ShellExecute", "ShellExecuteEx",
                                                                      "CreateProcess"}))),
    ("persistence", "Imports for installing a service or a Run key", "medium", (
        ({"CreateService"},), ({"RegSetValueEx", "RegSetKeyValue", "SHSetValue"}, {RUN_KEY_TEXT}))),
)
_RUN_KEY = b"currentversion\\run"
RUN_KEY_PATTERN = re.compile(re.escape(_RUN_KEY) + b"|" + re.escape(b"".join(bytes([c, 0]) for c in _RUN_KEY)),
                             re.IGNORECASE)


def _api(name: str) -> str:
    """An imported function's name as the behaviour table spells it: lower case, no A/W suffix."""
    if len(name) > 2 and name[-1] in "AW" and (name[-2].islower() or name[-2].isdigit()):
        name = name[:-1]
    return name.lower()


@dataclass(frozen=True)
class Behaviour:
    id: str
    title: str
    severity: str
    alternatives: tuple[tuple[frozenset[str], ...], ...]

    def seen(self, imported: dict[str, str]) -> list[str] | None:
        """The imported functions (as the file spells them) that show this behaviour, or None."""
        for alternative in self.alternatives:
            hits = [sorted(imported[name] for name in group if name in imported) for group in alternative]
            if all(hits):
                return [name for names in hits for name in names]
        return None


BEHAVIOURS = tuple(
    Behaviour(id_, title, severity, tuple(tuple(frozenset(_api(n) if not n.startswith("text:") else n for n in group)
                                                for group in alternative) for alternative in alternatives))
    for id_, title, severity, alternatives in BEHAVIOURS_TABLE
)


class _OutOfTime(Exception):
    pass


@dataclass
class _Context:
    """One file under analysis: the parser, the summary being filled, and the limits."""

    pe: pefile.PE
    data: bytes
    deadline: float
    summary: dict[str, Any] = field(default_factory=dict)
    imported: dict[str, str] = field(default_factory=dict)  # _api(name) -> name as imported
    entropy_budget: int = ENTROPY_BUDGET

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise _OutOfTime()

    def directory(self, name: str) -> tuple[int, int]:
        """(RVA or file offset, size) of a data directory; (0, 0) when the header has no such entry."""
        index = pefile.DIRECTORY_ENTRY[name]
        entries = self.pe.OPTIONAL_HEADER.DATA_DIRECTORY
        if index >= len(entries):
            return 0, 0
        return entries[index].VirtualAddress, entries[index].Size

    def parse(self, name: str) -> None:
        """Let pefile parse one data directory (it cannot be interrupted, so the deadline is checked first)."""
        self.check()
        self.pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY[name]])

    def entropy(self, start: int, size: int) -> float | None:
        """Shannon entropy (bits per byte) of data[start:start+size], sampled beyond ENTROPY_SAMPLE;
        None once the file's budget is spent."""
        view = memoryview(self.data)[max(start, 0):max(start, 0) + max(size, 0)]
        if not len(view):
            return None
        if len(view) > ENTROPY_SAMPLE:
            block = ENTROPY_SAMPLE // ENTROPY_BLOCKS
            step = (len(view) - block) // (ENTROPY_BLOCKS - 1)
            sample = b"".join(view[i * step:i * step + block] for i in range(ENTROPY_BLOCKS))
        else:
            sample = view.tobytes()
        if len(sample) > self.entropy_budget:
            return None
        self.entropy_budget -= len(sample)
        total = len(sample)
        return round(abs(sum(n / total * math.log2(n / total) for n in collections.Counter(sample).values())), 3)


@overload
def _text(value: bytes | str) -> str: ...


@overload
def _text(value: None) -> None: ...


def _text(value: bytes | str | None) -> str | None:
    """A string read from the file, decoded for display and cut to a sane length."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.split(b"\0", 1)[0].decode("utf-8", "backslashreplace")
    return value[:MAX_TEXT]


def _hex(value: int) -> str:
    return f"0x{value:x}"


def _flags(characteristics: int) -> list[str]:
    return [word for bit, word in SECTION_FLAGS if characteristics & bit]


# -- the parsing steps, in order: cheap and telling first ------------------------------------------------


def _headers(ctx: _Context) -> None:
    pe, s = ctx.pe, ctx.summary
    header, optional = pe.FILE_HEADER, pe.OPTIONAL_HEADER
    s["machine"] = _hex(header.Machine)
    s["machine_name"] = pefile.MACHINE_TYPE.get(header.Machine, "UNKNOWN").removeprefix("IMAGE_FILE_MACHINE_")
    s["format"] = {0x10B: "PE32", 0x20B: "PE32+"}.get(optional.Magic, f"unknown magic {_hex(optional.Magic)}")
    s["bitness"] = {0x10B: 32, 0x20B: 64}.get(optional.Magic)
    s["kind"] = "dll" if header.Characteristics & FILE_DLL else "exe" if header.Characteristics & FILE_EXECUTABLE else "object"
    s["subsystem"] = pefile.SUBSYSTEM_TYPE.get(optional.Subsystem, str(optional.Subsystem)).removeprefix("IMAGE_SUBSYSTEM_")
    s["timestamp"] = header.TimeDateStamp
    s["compiled"] = iso_utc(header.TimeDateStamp)
    s["image_base"] = _hex(optional.ImageBase)
    s["entry_point"] = {"rva": _hex(optional.AddressOfEntryPoint), "section": None}
    s["data_directories"] = {
        entry.name.removeprefix("IMAGE_DIRECTORY_ENTRY_"): {"address": _hex(entry.VirtualAddress), "size": entry.Size}
        for entry in optional.DATA_DIRECTORY if entry.VirtualAddress or entry.Size}
    clr, clr_size = ctx.directory("IMAGE_DIRECTORY_ENTRY_COM_DESCRIPTOR")
    try:  # the CLR header starts with its own size, 72 bytes; a stray directory entry is not .NET
        s["dotnet"] = bool(clr and clr_size >= 72 and pe.get_dword_at_rva(clr) == 72)
    except Exception:
        s["dotnet"] = False
    rich = pe.parse_rich_header()  # what get_rich_header_hash() hashes after a full load
    s["rich_hash"] = hashlib.md5(rich["clear_data"]).hexdigest() if rich and rich.get("clear_data") else None


def _sections(ctx: _Context) -> None:
    pe, s = ctx.pe, ctx.summary
    s["section_count"] = pe.FILE_HEADER.NumberOfSections
    sections, end = [], 0
    for section in pe.sections[:MAX_SECTIONS]:
        ctx.check()
        offset, size = section.PointerToRawData, section.SizeOfRawData
        if size:
            end = max(end, offset + size)
        sections.append({
            "name": _text(section.Name), "virtual_address": _hex(section.VirtualAddress),
            "virtual_size": section.Misc_VirtualSize, "raw_offset": offset, "raw_size": size,
            "characteristics": _hex(section.Characteristics), "flags": _flags(section.Characteristics),
            "entropy": ctx.entropy(offset, min(size, len(ctx.data) - offset)) if offset < len(ctx.data) else None,
        })
        if size > ENTROPY_SAMPLE:
            sections[-1]["entropy_sampled"] = True
    s["sections"] = sections
    s["sections_truncated"] = len(pe.sections) > MAX_SECTIONS
    if end > len(ctx.data):
        s["truncated"] = {"file_size": len(ctx.data), "sections_end": end}
    entry = pe.OPTIONAL_HEADER.AddressOfEntryPoint
    holder = pe.get_section_by_rva(entry)
    if holder is not None and holder in pe.sections[:MAX_SECTIONS]:
        s["entry_point"]["section"] = sections[pe.sections.index(holder)]["name"]
        s["entry_point"]["section_index"] = pe.sections.index(holder)


def _authenticode(ctx: _Context) -> None:
    """The certificate table: its directory gives a file offset, not an RVA. The signer is named from
    the PKCS#7 certificates; the signature itself is not verified (no chain or digest check)."""
    offset, size = ctx.directory("IMAGE_DIRECTORY_ENTRY_SECURITY")
    present = bool(offset and size and offset + size <= len(ctx.data))
    well_formed = False
    signer = None
    if present and size >= 8:
        length, revision, kind = struct.unpack_from("<IHH", ctx.data, offset)
        blob = ctx.data[offset + 8:offset + 8 + 32]
        well_formed = (8 < length <= size and revision in (0x100, 0x200) and kind == 2  # WIN_CERT_TYPE_PKCS_SIGNED_DATA
                       and blob[:1] == b"\x30" and SIGNED_DATA_OID in blob)
        if well_formed:
            signer = _signer(bytes(ctx.data[offset + 8:offset + length]))
    ctx.summary["authenticode"] = {"signed": present, "offset": offset if present else None, "size": size if present else 0,
                                   "well_formed": well_formed, "verified": False, **(signer or {})}


# Authenticode certificate sets are often not in DER's canonical order; cryptography then parses
# them as BER, which is what is wanted here, and warns each time.
warnings.filterwarnings("ignore", message="PKCS#7 certificates could not be parsed as DER", category=UserWarning)


def _signer(signed_data: bytes) -> dict[str, str] | None:
    """Subject and issuer of the signing certificate: the one that issued none of the others."""
    # Imported at the first signed file, not before a scan starts: cryptography's X.509 takes ~20–35 ms to load.
    from cryptography.hazmat.primitives.serialization import pkcs7

    try:
        certificates = pkcs7.load_der_pkcs7_certificates(signed_data)
    except (ValueError, TypeError):
        return None
    issuers = {c.issuer for c in certificates}
    leaves = [c for c in certificates if c.subject not in issuers] or certificates
    if not leaves:
        return None
    return {"signer": leaves[0].subject.rfc4514_string(), "signer_issuer": leaves[0].issuer.rfc4514_string()}


def _overlay(ctx: _Context) -> None:
    """Data after everything the headers describe, less the certificate table that usually sits there."""
    start = ctx.pe.get_overlay_data_start_offset()
    ctx.summary["overlay"] = None
    if start is None:
        return
    pieces = [(start, len(ctx.data))]
    signature = ctx.summary.get("authenticode") or {}
    if signature.get("signed") and signature["offset"] >= start:
        cut = signature["offset"]
        pieces = [(start, cut), (cut + signature["size"], len(ctx.data))]
    pieces = [(a, b) for a, b in pieces if b > a]
    size = sum(b - a for a, b in pieces)
    if not size:
        return
    largest = max(pieces, key=lambda piece: piece[1] - piece[0])  # padding before the certificate table is not it
    ctx.summary["overlay"] = {"offset": pieces[0][0], "size": size,
                              "entropy": ctx.entropy(largest[0], largest[1] - largest[0])}


def _import_table(ctx: _Context, entries: list[Any], key: str) -> None:
    listing: dict[str, list[str]] = {}
    listed = total = 0
    for entry in entries[:MAX_IMPORT_DLLS]:
        ctx.check()
        dll = _text(entry.dll) or "?"
        functions = listing.setdefault(dll, [])
        for symbol in entry.imports:
            total += 1
            name = _text(symbol.name) if symbol.name else f"#{symbol.ordinal}"
            if symbol.name:
                ctx.imported.setdefault(_api(name), name)
            if len(functions) < MAX_FUNCTIONS_PER_DLL and listed < MAX_IMPORTS_LISTED:
                functions.append(name)
                listed += 1
    ctx.summary[key] = listing
    ctx.summary[f"{key}_count"] = total
    ctx.summary[f"{key}_listed_in_full"] = listed == total and len(entries) <= MAX_IMPORT_DLLS


def _imports(ctx: _Context) -> None:
    pe, s = ctx.pe, ctx.summary
    declared = ctx.directory("IMAGE_DIRECTORY_ENTRY_IMPORT")[0]
    ctx.parse("IMAGE_DIRECTORY_ENTRY_IMPORT")
    entries = getattr(pe, "DIRECTORY_ENTRY_IMPORT", None)
    if entries is None and declared:
        s["imports_unreadable"] = True
    _import_table(ctx, entries or [], "imports")
    try:
        s["imphash"] = pe.get_imphash() or None
    except Exception:  # an ordinal pefile cannot name, or a DLL name that is not text
        s["imphash"] = None
    if ctx.directory("IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT")[0]:
        ctx.parse("IMAGE_DIRECTORY_ENTRY_DELAY_IMPORT")
        _import_table(ctx, getattr(pe, "DIRECTORY_ENTRY_DELAY_IMPORT", None) or [], "delay_imports")
    dlls = {dll.lower() for dll in s["imports"]}
    if dlls & KERNEL_IMPORTS:
        s["kind"] = "driver"
    if s.get("dotnet"):
        s["kind"] = ".NET dll" if s["kind"] == "dll" else ".NET exe"
    if {"regsetvalueex", "regsetkeyvalue", "shsetvalue"} & ctx.imported.keys():  # worth a search of the content
        ctx.check()
        if RUN_KEY_PATTERN.search(ctx.data):
            ctx.imported[RUN_KEY_TEXT] = "CurrentVersion\\Run (text)"
    s["behaviours"] = [{"id": b.id, "title": b.title, "functions": hits}
                       for b in BEHAVIOURS if (hits := b.seen(ctx.imported))]


def _exports(ctx: _Context) -> None:
    if not ctx.directory("IMAGE_DIRECTORY_ENTRY_EXPORT")[0]:
        return
    ctx.parse("IMAGE_DIRECTORY_ENTRY_EXPORT")
    exports = getattr(ctx.pe, "DIRECTORY_ENTRY_EXPORT", None)
    if exports is None:
        return
    names = []
    for symbol in exports.symbols[:MAX_EXPORTS_LISTED]:
        ctx.check()
        names.append(_text(symbol.name) if symbol.name else f"#{symbol.ordinal}")
    ctx.summary["exports"] = {"dll_name": _text(getattr(exports, "name", None)), "count": len(exports.symbols),
                              "names": names}


def _resource_leaves(ctx: _Context, root: Any) -> Iterator[tuple[list[Any], Any]]:
    """(path of directory entries, leaf entry) for every resource, depth-first, at most MAX_RESOURCES."""
    stack = [([entry], entry) for entry in reversed(root.entries)]
    count = 0
    while stack and count < MAX_RESOURCES:
        ctx.check()
        path, entry = stack.pop()
        directory = getattr(entry, "directory", None)
        if directory is not None and len(path) < 4:
            stack.extend((path + [child], child) for child in reversed(directory.entries))
        elif getattr(entry, "data", None) is not None:
            count += 1
            yield path, entry


def _label(entry: Any, types: bool = False) -> str:
    if entry.name is not None:
        return _text(str(entry.name)) or ""
    if types:
        return pefile.RESOURCE_TYPE.get(entry.id, str(entry.id))
    return str(entry.id)


def _embedded_pe(data: bytes, offset: int, size: int) -> bool | None:
    """True for a whole PE, False for an MZ program without one, None for anything else."""
    if size < 64 or data[offset:offset + 2] != b"MZ":
        return None
    header = int.from_bytes(data[offset + 0x3C:offset + 0x40], "little")
    if header + 4 <= size and data[offset + header:offset + header + 4] == b"PE\0\0":
        return True
    return False if b"This program cannot be run in DOS mode" in data[offset:offset + min(size, 512)] else None


def _resources(ctx: _Context) -> None:
    if not ctx.directory("IMAGE_DIRECTORY_ENTRY_RESOURCE")[0]:
        return
    ctx.parse("IMAGE_DIRECTORY_ENTRY_RESOURCE")
    root = getattr(ctx.pe, "DIRECTORY_ENTRY_RESOURCE", None)
    if root is None:
        return
    types: dict[str, int] = {}
    embedded: list[dict[str, object]] = []
    count = 0
    for path, leaf in _resource_leaves(ctx, root):
        count += 1
        kind = _label(path[0], types=True)
        types[kind] = types.get(kind, 0) + 1
        rva, size = leaf.data.struct.OffsetToData, leaf.data.struct.Size
        try:
            offset = ctx.pe.get_offset_from_rva(rva)
        except Exception:
            continue
        if offset is None or offset >= len(ctx.data) or len(embedded) >= MAX_EMBEDDED:
            continue
        size = min(size, len(ctx.data) - offset)
        whole = _embedded_pe(ctx.data, offset, size)
        if whole is not None:
            embedded.append({"type": kind, "name": "/".join(_label(e) for e in path[1:]), "offset": offset,
                             "size": size, "pe_header": whole})
    ctx.summary["resources"] = {"count": count, "types": types, "embedded_executables": embedded,
                                "walked_in_full": count < MAX_RESOURCES}
    version: dict[str, str] = {}
    for info in getattr(ctx.pe, "FileInfo", None) or []:
        for entry in info if isinstance(info, list) else [info]:
            for table in getattr(entry, "StringTable", None) or []:
                for key, value in table.entries.items():
                    name = _text(key)
                    if name in VERSION_KEYS and name not in version:
                        version[name] = _text(value) or ""
    if version:
        ctx.summary["version_info"] = version


def _tls(ctx: _Context) -> None:
    """The TLS callback array: pointer-sized VAs up to a null one, read with bounds at every step."""
    if not ctx.directory("IMAGE_DIRECTORY_ENTRY_TLS")[0]:
        return
    ctx.parse("IMAGE_DIRECTORY_ENTRY_TLS")
    tls = getattr(ctx.pe, "DIRECTORY_ENTRY_TLS", None)
    if tls is None:
        return
    width = 8 if ctx.summary.get("bitness") == 64 else 4
    base = ctx.pe.OPTIONAL_HEADER.ImageBase
    array = tls.struct.AddressOfCallBacks
    callbacks: list[str] = []
    ctx.summary["tls"] = {"callbacks_address": _hex(array), "callbacks": callbacks}
    if not array or array < base:
        return
    for index in range(MAX_TLS_CALLBACKS):
        ctx.check()
        try:
            raw = ctx.pe.get_data(array - base + index * width, width)
        except Exception:  # the array lies outside the file: nothing more to read
            break
        if len(raw) < width:
            break
        address = int.from_bytes(raw, "little")
        if not address:
            break
        callbacks.append(_hex(address))
    else:
        ctx.summary["tls"]["callbacks_truncated"] = True


def _debug(ctx: _Context) -> None:
    if not ctx.directory("IMAGE_DIRECTORY_ENTRY_DEBUG")[0]:
        return
    ctx.parse("IMAGE_DIRECTORY_ENTRY_DEBUG")
    entries = getattr(ctx.pe, "DIRECTORY_ENTRY_DEBUG", None) or []
    types, pdb = [], None
    for entry in entries[:MAX_DEBUG_ENTRIES]:
        ctx.check()
        types.append(DEBUG_TYPES.get(entry.struct.Type, str(entry.struct.Type)))
        name = getattr(entry.entry, "PdbFileName", None) if entry.entry is not None else None
        if name and pdb is None:
            pdb = _text(name)
    ctx.summary["debug"] = {"types": types, "pdb": pdb, "reproducible": "REPRO" in types}


STEPS: tuple[Callable[[_Context], None], ...] = (
    _headers, _sections, _authenticode, _overlay, _imports, _exports, _tls, _debug, _resources)


# -- from the facts to the findings ---------------------------------------------------------------------


def _names(names: list[str], shown: int = 3) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _stem(name: str) -> str:
    """A file name without folders, stream, case or extension ('HelloWorld.EXE' → 'helloworld')."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].split(":", 1)[0].lower()
    base = base.removesuffix(".mui")
    stem, dot, _ = base.rpartition(".")
    return stem if dot and stem else base


def _when(iso: str | None) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.timezone.utc) if iso else None
    except ValueError:
        return None


def _timestamp_anomalies(s: dict[str, Any], obj: EvidenceObject) -> list[str]:
    if "timestamp" not in s or (s.get("debug") or {}).get("reproducible"):
        return []  # the field holds a hash of the build's inputs
    if s["timestamp"] == 0:
        return ["zero"]
    compiled, anomalies = _when(s.get("compiled")), []
    if compiled is None:
        return []
    if compiled > dt.datetime.now(dt.timezone.utc) + CLOCK_SKEW:
        anomalies.append("future")
    mtime = _when(obj.mtime)
    if mtime is not None and compiled > mtime + CLOCK_SKEW:
        anomalies.append("after-mtime")
    return anomalies


def _packing(s: dict[str, Any], obj: EvidenceObject) -> Iterator[Finding]:
    sections = s.get("sections") or []
    packers = {sec["name"]: PACKER_SECTIONS[sec["name"].lower()] for sec in sections
               if sec["name"] and sec["name"].lower() in PACKER_SECTIONS}
    if packers:
        tools = sorted(set(packers.values()))
        yield Finding("pe", "packer-section", "medium", f"Section names of a packer ({', '.join(tools)})",
                      {"sections": sorted(packers), "packers": tools})
    resources = int((s.get("data_directories", {}).get("RESOURCE") or {}).get("address", "0x0"), 16)
    dense = [sec for sec in sections if (sec["entropy"] or 0) > HIGH_ENTROPY and sec["raw_size"] > HIGH_ENTROPY_MIN_SIZE
             # compressed icons and images make a resource section dense: embedded PEs are checked apart
             and not (resources and int(sec["virtual_address"], 16) <= resources
                      < int(sec["virtual_address"], 16) + max(sec["virtual_size"], sec["raw_size"]))]
    if dense:
        yield Finding("pe", "high-entropy-section", "medium", "Packed or encrypted section"
                      + ("s " if len(dense) > 1 else " ") + _names([sec["name"] for sec in dense]),
                      {"sections": [{"name": sec["name"], "entropy": sec["entropy"], "raw_size": sec["raw_size"]}
                                    for sec in dense], "threshold": HIGH_ENTROPY})


def _layout(s: dict[str, Any], obj: EvidenceObject) -> Iterator[Finding]:
    sections = s.get("sections") or []
    wx = [sec["name"] for sec in sections if {"MEM_WRITE", "MEM_EXECUTE"} <= set(sec["flags"])
          and not (sec["name"] in BENIGN_WX_SECTIONS and sec["raw_size"] == 0)]
    if wx:
        yield Finding("pe", "writable-executable-section", "medium", f"Writable and executable section {_names(wx)}",
                      {"sections": wx})
    entry = s.get("entry_point")
    if entry and sections and not (entry["rva"] == "0x0" and s.get("kind", "").endswith("dll")):
        index = entry.get("section_index")
        holder = sections[index] if index is not None else None
        if holder is None or not ({"CNT_CODE", "MEM_EXECUTE"} & set(holder["flags"])):
            where = f"section {holder['name']}" if holder else "no section"
            yield Finding("pe", "entry-point-outside-code", "medium", f"Entry point in {where}, not in code",
                          {"entry_point": entry["rva"], "section": holder["name"] if holder else None,
                           "flags": holder["flags"] if holder else None})
    if "truncated" in s:
        yield Finding("pe", "truncated", "low", "PE file is truncated: its sections run past the end of the file",
                      s["truncated"])


def _imports_found(s: dict[str, Any], obj: EvidenceObject) -> Iterator[Finding]:
    if s.get("kind") == "exe" and "imports_count" in s and not s.get("imports_unreadable"):
        if s["imports_count"] <= FEW_IMPORTS:
            yield Finding("pe", "few-imports", "medium",
                          f"Executable imports only {s['imports_count']} function(s): it may resolve the rest at run time",
                          {"imports": s["imports"]})
    signed = bool((s.get("authenticode") or {}).get("well_formed"))
    for seen in s.get("behaviours") or []:
        behaviour = next(b for b in BEHAVIOURS if b.id == seen["id"])
        detail = {"functions": seen["functions"], "signed": signed}
        if signed:
            detail["note"] = "severity lowered: the file carries an Authenticode signature (not verified here)"
        yield Finding("pe", f"behaviour-{behaviour.id}", "low" if signed else behaviour.severity,
                      f"{behaviour.title} ({_names(seen['functions'], 4)})", detail)


def _timestamps(s: dict[str, Any], obj: EvidenceObject) -> Iterator[Finding]:
    anomalies = s.get("timestamp_anomalies") or []
    detail = {"timestamp": s.get("timestamp"), "compiled": s.get("compiled"), "mtime": obj.mtime}
    if "zero" in anomalies:
        yield Finding("pe", "timestamp-zero", "low", "Compile timestamp is zero (wiped, or set by the build tool)", detail)
    elif s.get("dotnet"):
        return  # Roslyn's deterministic builds write a hash in this field, often without a REPRO entry to say so
    elif "future" in anomalies:
        yield Finding("pe", "timestamp-future", "medium", f"Compile timestamp in the future ({s.get('compiled')})", detail)
    elif "after-mtime" in anomalies:
        yield Finding("pe", "timestamp-after-mtime", "low",
                      f"Compiled ({s.get('compiled')}) after the file was last modified ({obj.mtime})", detail)


def _identity(s: dict[str, Any], obj: EvidenceObject) -> Iterator[Finding]:
    original = ((s.get("version_info") or {}).get("OriginalFilename") or "").strip()
    if not original or not obj.name:
        return
    mine, theirs = _stem(obj.name), _stem(original)
    if not theirs or mine == theirs:
        return
    # a copy with a suffix (firefox_x64.exe, setup (1).exe) is a renamed file, not a disguise
    related = len(theirs) >= 3 and len(mine) >= 3 and (theirs in mine or mine in theirs)
    yield Finding("pe", "original-filename-mismatch", "info" if related else "medium",
                  f"Named {obj.name.rsplit('/', 1)[-1]}, but its version info says {original}",
                  {"name": obj.name, "original_filename": original,
                   "internal_name": (s.get("version_info") or {}).get("InternalName")})


def _contents(s: dict[str, Any], obj: EvidenceObject) -> Iterator[Finding]:
    embedded = (s.get("resources") or {}).get("embedded_executables") or []
    if embedded:
        yield Finding("pe", "embedded-executable", "high", f"Executable hidden in {len(embedded)} resource(s)",
                      {"resources": embedded})
    callbacks = (s.get("tls") or {}).get("callbacks") or []
    if callbacks:
        yield Finding("pe", "tls-callbacks", "info", f"{len(callbacks)} TLS callback(s) run before the entry point",
                      {"callbacks": callbacks})
    overlay = s.get("overlay")
    if overlay and overlay["size"] >= HIGH_ENTROPY_MIN_SIZE and (overlay["entropy"] or 0) > HIGH_ENTROPY:
        yield Finding("pe", "high-entropy-overlay", "low",
                      f"{overlay['size']} bytes of compressed or encrypted data appended", overlay)
    elif overlay and overlay["size"] >= OVERLAY_MIN:
        yield Finding("pe", "overlay", "info", f"{overlay['size']} bytes appended after the PE image", overlay)


FINDINGS: tuple[Callable[[dict[str, Any], EvidenceObject], Iterator[Finding]], ...] = (
    _packing, _layout, _imports_found, _timestamps, _identity, _contents)


def _headers_end(data: bytes) -> int | None:
    """Where the section table ends, as the COFF header tells; None when that header is cut off too."""
    header = int.from_bytes(data[0x3C:0x40], "little")
    if len(data) < header + 24:
        return None
    sections, optional = struct.unpack_from("<H12xH", data, header + 6)
    return header + 24 + optional + 40 * sections


def _open(data: bytes, summary: dict[str, Any]) -> pefile.PE:
    """pefile's parser, also for a file cut off inside its headers (a carved or partly recovered file):
    pefile rejects a short section table outright, so that is padded with zeros, which end the table."""
    try:
        return pefile.PE(data=data, fast_load=True)
    except pefile.PEFormatError:
        end = _headers_end(data)
        if end is None or end <= len(data) or end > MAX_HEADERS:
            raise
    summary["headers_truncated"] = True
    return pefile.PE(data=data + bytes(end - len(data)), fast_load=True)


def _why(error: Exception) -> str:
    return f"{type(error).__name__}: {str(error)[:200]}"


def _pe_header(data: bytes) -> bool:
    """Whether an MZ file has a PE signature where its DOS header points."""
    if len(data) < 0x40 or data[:2] != b"MZ":
        return False
    offset = int.from_bytes(data[0x3C:0x40], "little")
    return data[offset:offset + 4] == b"PE\0\0"


class PeAnalysis(Analyzer):
    """Windows PE executables, DLLs and drivers: structure, imports, signature and indicators."""

    NAME = "pe"
    time_limit: float = TIME_LIMIT

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        # The same executable often comes many times (copies on a disk, downloads in a capture): its bytes are
        # parsed once. Only the checks against the file's own name and times are made for each copy.
        self._parsed: collections.OrderedDict[str, tuple[dict[str, Any], list[tuple[str, str]]]] = \
            collections.OrderedDict()
        self._lock = threading.Lock()

    def analyze(self, item: Item) -> Iterable[Finding]:
        obj = item.obj
        if obj.kind not in ("file", "virtual") or not item.content_read or not item.head.startswith(b"MZ"):
            return
        content_type = item.result(ContentType)
        mime = content_type.mime if content_type is not None else None
        if mime != PE_MIME and not (mime == DOS_MIME and _pe_header(item.data or item.head)):
            return
        if item.data is None:
            item.skipped.append((self.NAME, "larger than the in-memory limit"))
            return
        if not _pe_header(item.data):  # pefile would say so too, after a full garbage collection
            item.add(PeSummary({"complete": False}))
            item.skipped.append((self.NAME, "malformed PE: no PE signature where the DOS header points"))
            return
        hashes = item.result(Hashes)
        sha256 = hashes.sha256 if hashes is not None else None
        parsed = self._parsed.get(sha256) if sha256 else None
        if parsed is None:
            parsed = self._parse(item.data)
            if sha256 and not any(reason.startswith("timed out") for _, reason in parsed[1]):
                with self._lock:
                    self._parsed[sha256] = parsed
                    if len(self._parsed) > PARSED_KEPT:
                        self._parsed.popitem(last=False)
        summary = dict(parsed[0])  # the copy gets this file's timestamp anomalies
        item.add(PeSummary(summary))
        item.skipped.extend(parsed[1])
        summary["timestamp_anomalies"] = _timestamp_anomalies(summary, obj)
        for handler in FINDINGS:
            try:
                yield from handler(summary, obj)
            except Exception as error:  # a half-filled summary from a broken file: report what can be
                item.skipped.append((self.NAME, f"indicator {handler.__name__.strip('_')} not evaluated: {error}"))

    def _parse(self, data: bytes) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The facts of a PE file's bytes (a PE signature where the DOS header points), and what could not be read."""
        summary: dict[str, Any] = {"complete": False}
        skipped: list[tuple[str, str]] = []
        started = time.monotonic()
        pe: pefile.PE | None = None
        try:
            pe = _open(data, summary)
            ctx = _Context(pe, data, started + self.time_limit, summary)
            complete = True
            for step in STEPS:
                ctx.check()
                try:
                    step(ctx)
                except _OutOfTime:
                    raise
                except Exception as error:  # one damaged directory: the others may still be read
                    if step is _headers:
                        raise
                    complete = False
                    skipped.append((self.NAME, f"malformed PE: {step.__name__.strip('_')}: {_why(error)}"))
            summary["complete"] = complete
        except _OutOfTime:
            skipped.append((self.NAME, f"timed out after {self.time_limit:g} s: partial results"))
        except Exception as error:  # hostile input: pefile and our reading of it fail in many ways
            skipped.append((self.NAME, f"malformed PE: {_why(error)}"))
        finally:
            if pe is not None:
                summary["parser_warnings"] = len(pe.get_warnings())
                pe.__data__ = b""  # pefile's objects form cycles: do not let them hold the content
        return summary, skipped
