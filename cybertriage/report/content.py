"""What a report says, gathered from a case without Qt and without a page format.

`collect` reads the case through a connection that cannot write (the report must
not change what it reports on), inside one read transaction so every count and
list comes from the same moment, then hashes the database file. document.py
words it as sections, paragraphs and tables, which the PDF and HTML writers render.

Everything that came from evidence (paths, titles, matched data, rule meta) is
untrusted: `text_safety.visible` turns control, bidirectional-override and other invisible
characters into `\\u202e`-style text, and each writer escapes the result for its
own markup.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlite_utils

from .. import __version__
from ..case import browse, queries
from ..case import timeline as case_timeline
from ..case.custody import ReportSeal, check_chain, report_seal
from ..case.host_profile import HostProfile
from ..case.outputs import PendingFile, Protected, checksum_path, safe_destination
from ..case.store import read_case
from ..correlate import chain
from ..errors import UsageError
from ..evidence.integrity import file_sha256
from ..formatting import utc_iso, utc_now
from ..severity import SEVERITY_RANK
from ..text_safety import spreadsheet_safe, visible
from .artefacts import ArtefactOverview, collect_artefacts, collect_profiles
from .keywords import KeywordOverview, collect_keywords
from .pictures import PictureOverview, collect_pictures

SECTIONS = ("evidence", "methodology", "summary", "findings", "system", "artefacts", "keywords", "network", "pe", "pictures",
            "timeline", "tags", "audit", "integrity")
NETWORK_TABLES = ("flows", "hosts", "dns", "http", "tls", "credentials")
# Columns of a credentials table shown, in order, where the table has them.
CREDENTIAL_COLUMNS = ("ts", "src", "dst", "protocol", "proto", "service", "where", "host", "username", "user",
                      "password", "secret", "token", "hash")
SECRET_MARKERS = ("pass", "secret", "token", "hash", "cookie", "auth")
MASK = "••••••••"
MAX_STRINGS_SHOWN = 20
MAX_PROBLEMS_SHOWN = 10
MAX_AUDIT_ENTRIES = 2000
NETWORK_ROWS = 25
PE_FILES = 100
TIMELINE_ANCHORS = 50
TIMELINE_FETCH = 20_000
CORRELATIONS_SHOWN = 100


@dataclass
class ReportDetails:
    """What the examiner adds to a report, and what it includes.

    Case name and number default to the case's `case_info` table (keys `case_name`
    and `case_number`), then to the case folder's name and nothing.
    """

    case_name: str | None = None
    case_number: str | None = None
    examiner: str | None = None
    agency: str | None = None
    notes: str | None = None
    sections: tuple[str, ...] = SECTIONS  # any of SECTIONS; the cover page is always there
    show_credentials: bool = False  # False: passwords, tokens and hashes of credentials are masked
    show_known_good: bool = False  # False: files in known-good hash sets (and their findings) are left out
    max_findings: int = 500  # findings shown in detail; all of them go to the CSV appendix past this
    timeline_window_seconds: int = 3600  # file times this close to a high/critical finding's file times
    timeline_limit: int = 300  # timeline events shown in all

    def __post_init__(self) -> None:
        unknown = set(self.sections) - set(SECTIONS)
        if unknown:
            raise UsageError(f"unknown report sections: {', '.join(sorted(unknown))} (known: {', '.join(SECTIONS)})")
        if self.max_findings < 0 or self.timeline_limit < 0 or self.timeline_window_seconds < 0:
            raise UsageError("report limits cannot be negative")

    def includes(self, section: str) -> bool:
        return section in self.sections


@dataclass
class TimelineCluster:
    """The case timeline (case/timeline.py: file MACB times, network events and findings, across
    every evidence item) around one or more high/critical or correlation findings."""

    evidence_ids: list[int]  # the evidence items the events come from
    start: str
    end: str
    anchors: list[dict[str, Any]]  # the findings whose times opened this window
    events: list[dict[str, Any]]  # ts, kind, what (MACB letters or the network action), text, evidence_id, anchor
    total: int  # events in the window before the excerpt was cut to size


@dataclass
class Correlation:
    """A link correlation found between evidence items, with the chain it follows spelled out."""

    id: int
    severity: str
    rule: str
    title: str
    steps: list[tuple[str, str, str]]  # (what, time or '', description), in the order of the chain


@dataclass
class NetworkTable:
    """One list of the network section: what an examiner reads of the captures, bounded.

    `rows` hold one value per column (text, a number, or None); `count` is how many items
    there are in all, of which the first `len(rows)` are shown. `wide` names the columns too
    long for a row of a printed page (hashes, certificate names), which the PDF sets on a line
    of their own beneath the row.
    """

    name: str  # talkers, dns, http, tls, credentials
    title: str
    count: int
    noun: str  # what one item is, plural: "pairs of endpoints"
    order: str  # how the shown items were chosen: "most bytes first"
    columns: list[str]
    rows: list[list[Any]]
    wide: tuple[str, ...] = ()
    masked: list[str] = field(default_factory=list)

    @property
    def note(self) -> str:
        """The sentence both reports print under the list's title (tests read the count back)."""
        shown = len(self.rows)
        text = f"{self.count:,} {self.noun}"
        if self.count > shown:
            text += f"; the first {shown:,} shown, {self.order}"
        elif shown > 1:
            text += f", {self.order}"
        if self.masked:
            text += f"; {', '.join(self.masked)} masked (the report was made without showing credentials)"
        return text + "."


@dataclass
class NetworkSummary:
    """How many records of each kind the case's captures hold."""

    captures: int
    records: dict[str, int]  # table name -> rows


@dataclass
class Appendix:
    """The full findings list, written beside the report when the report shows only the worst."""

    path: Path
    sha256: str
    rows: int


@dataclass
class ReportData:
    """Everything a report shows, read from one case at one moment."""

    details: ReportDetails  # with case name and number resolved
    case_dir: Path
    generated_at: str  # ISO 8601 UTC
    tool_version: str
    schema_version: int
    case_info: dict[str, str]
    evidence: list[dict[str, Any]]
    runs: list[dict[str, Any]]
    analyzers: list[dict[str, Any]]  # name, version, used, does
    analyzers_recorded: bool  # False: the list is this build's, the case did not record it per run
    severity_counts: dict[str, int]
    findings_total: int
    findings: list[dict[str, Any]]
    network: list[NetworkTable]
    network_summary: NetworkSummary | None
    pe: list[dict[str, Any]]
    pe_total: int
    timeline: list[TimelineCluster]
    tags: list[dict[str, Any]]  # the examiner's tags and notes, oldest first
    audit: list[dict[str, Any]]
    audit_total: int
    seal: ReportSeal  # the audit chain head and the content digest when the case was read (case/custody.py)
    custody_problems: list[str]  # what check_chain found wrong with the audit log and custody.log; [] if intact
    appendix: Appendix | None = None
    known_good_hidden: int = 0  # files in known-good hash sets left out of the file lists and counts
    known_good_findings_hidden: int = 0  # findings on those files left out

    @property
    def known_good_note(self) -> str | None:
        """The sentence both reports print where known-good files were left out (tests read it back)."""
        if not self.known_good_hidden:
            return None
        text = (f"{self.known_good_hidden:,} known-good file{'' if self.known_good_hidden == 1 else 's'} "
                "(in a known-good hash set such as the NSRL) left out of this report's file lists and counts")
        if self.known_good_findings_hidden:
            text += f", with {self.known_good_findings_hidden:,} findings on them"
        return text + "; the case database and its exports keep them."
    correlations: list[Correlation] = field(default_factory=list)  # shown with the findings
    profiles: list[HostProfile] = field(default_factory=list)  # the Windows computers their registries describe
    artefacts: ArtefactOverview = field(default_factory=ArtefactOverview)
    pictures: PictureOverview = field(default_factory=PictureOverview)
    keywords: KeywordOverview = field(default_factory=KeywordOverview)

    @property
    def findings_shown(self) -> int:
        return len(self.findings)

    @property
    def truncated(self) -> bool:
        return self.findings_total > len(self.findings)


def compact_json(value: Any) -> str:
    """A JSON value as one line of text for a report cell (strings bare, the rest as JSON)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v) for v in value)
    return json.dumps(value, ensure_ascii=False, default=str)


def check_destinations(case_dir: Path, out: Path, *, force: bool) -> Path:
    """`out` as an absolute path, once it, its `.sha256` and its CSV appendix are safe to write (case/outputs.py):
    not the case or its evidence, not a link, not an existing file unless `force`."""
    protected = Protected.of_case(case_dir)
    for path in (out, checksum_path(out), appendix_path(out)):
        safe_destination(path, protected, force=force)
    return Path(os.path.abspath(out))


def appendix_path(out: Path) -> Path:
    """Where the CSV appendix of a report at `out` goes: OUT.findings.csv for OUT.pdf or OUT.html."""
    return out.with_name(out.stem + ".findings.csv")


# -- reading the case --------------------------------------------------------------------


def open_read_only(case_dir: Path) -> sqlite_utils.Database:
    """A connection to the case that refuses every write (and never migrates the schema)."""
    return read_case(case_dir)


def collect(case_dir: Path, details: ReportDetails | None = None, appendix: Path | None = None, *,
            force: bool = False) -> ReportData:
    """Read everything a report shows from the case in `case_dir`.

    When the case holds more findings than `details.max_findings`, and `appendix`
    is given, every finding is written there as CSV (see `appendix_path`), replacing an older one if `force`.
    """
    details = details or ReportDetails()
    db = open_read_only(case_dir)
    try:
        with queries.one_snapshot(db):  # one snapshot for every query below, even while a scan writes
            tables = queries.table_names(db)
            case_info = browse.case_info(db.conn)
            details = dataclasses.replace(
                details,
                case_name=details.case_name or case_info.get("case_name") or case_info.get("name") or case_dir.resolve().name,
                case_number=details.case_number or case_info.get("case_number") or case_info.get("number"),
                examiner=details.examiner or case_info.get("examiner"),
                agency=details.agency or case_info.get("agency"))
            hide = not details.show_known_good  # files in known-good hash sets, and findings on them
            evidence = _evidence(db, hide)
            runs = [_run(row) for row in queries.runs(db)]
            counts = queries.severity_counts(db, hide)
            findings = list(queries.findings_worst_first(db, details.max_findings, hide))
            _attach_files(db, findings)
            pe, pe_total = _pe_files(db, hide) if details.includes("pe") else ([], 0)
            analyzers, analyzers_recorded = _analyzers(runs)
            data = ReportData(
                details=details, case_dir=case_dir, generated_at=utc_now(), tool_version=__version__,
                schema_version=browse.schema_version(db.conn), case_info=case_info,
                evidence=evidence, runs=runs, analyzers=analyzers, analyzers_recorded=analyzers_recorded,
                severity_counts=counts,
                findings_total=sum(counts.values()), findings=findings,
                network=_network(db, tables, details.show_credentials) if details.includes("network") else [],
                network_summary=_network_summary(db, tables) if details.includes("network") else None,
                pe=pe, pe_total=pe_total,
                timeline=_timeline(db, details) if details.includes("timeline") else [],
                tags=list(queries.tags(db)) if details.includes("tags") else [],
                audit=queries.audit_entries(db, MAX_AUDIT_ENTRIES) if details.includes("audit") else [],
                audit_total=queries.row_count(db, "audit_log"), seal=report_seal(db), custody_problems=check_chain(db, case_dir),
                known_good_hidden=queries.known_good_count(db) if hide else 0,
                known_good_findings_hidden=sum(queries.severity_counts(db).values()) - sum(counts.values()),
                correlations=_correlations(db) if details.includes("findings") else [],
                profiles=collect_profiles(db) if details.includes("system") else [],
                pictures=collect_pictures(db, case_dir) if details.includes("pictures") else PictureOverview(),
                artefacts=collect_artefacts(db) if details.includes("artefacts") else ArtefactOverview(),
                keywords=collect_keywords(db) if details.includes("keywords") else KeywordOverview())
            if appendix is not None and data.truncated:
                rows = _write_appendix(db, appendix, force)
                data.appendix = Appendix(appendix, file_sha256(appendix), rows)
    finally:
        db.close()
    return data


def _evidence(db: sqlite_utils.Database, hide_known_good: bool) -> list[dict[str, Any]]:
    items = queries.evidence_summary(db)
    for item in items:
        item["known_good"] = queries.known_good_count(db, item["id"]) if hide_known_good else 0
        item["segments"] = json.loads(item["segments"]) if item.get("segments") else []
        for stage in item["ledger"]:
            stage["reasons"] = json.loads(stage["reasons"]) if stage["reasons"] else {}
        item["problem_list"] = queries.problems(db, item["id"], MAX_PROBLEMS_SHOWN)
    return items


def _run(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("options", "summary"):
        try:
            row[key] = json.loads(row[key]) if row.get(key) else None
        except ValueError:
            pass
    return row


ANALYZER_NOTES = {
    "hash": "MD5, SHA-1 and SHA-256 of every file's content",
    "filetype": "type from content (libmagic), compared with the name's extension",
    "pe": "headers, sections, imports, resources and signature of Windows executables",
    "yara": "YARA rules (the rule set's SHA-256 is recorded per run)",
    "hashset": "hashes looked up in the workstation's hash sets: known good (e.g. NSRL) or known bad",
    "archive": "archive members (zip, tar, 7z, rar, cab, ISO, gzip…), each examined as a file in turn",
}


def _analyzers(runs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """The analyzers behind the findings, and whether the case recorded them per run.

    A run that recorded its analyzers (options "analyzers": names, or name -> version)
    is reported as recorded; otherwise the list is this build's registry, with YARA
    marked by the runs' "yara" option.
    """
    recorded: dict[str, dict[str, Any]] = {}
    for run in runs:
        options = run["options"] if isinstance(run["options"], dict) else {}
        names = options.get("analyzers")
        if isinstance(names, list):
            names = dict.fromkeys(map(str, names))
        if isinstance(names, dict):
            for name, version in names.items():
                entry = recorded.setdefault(name, {"name": name, "version": version or "-", "runs": []})
                entry["runs"].append(run["id"])
    if recorded:
        return [{**e, "used": "runs " + ", ".join(map(str, e["runs"])), "does": ANALYZER_NOTES.get(e["name"], "")}
                for e in recorded.values()], True

    from ..analyzers import ANALYZERS, Settings  # imported here: the report needs them only for this list

    yara_runs = [bool((run["options"] or {}).get("yara")) for run in runs if isinstance(run["options"], dict)]
    found = []
    for name, cls in ANALYZERS.items():
        always = cls.enabled(Settings(rule_paths=())) and cls.enabled(Settings(rule_paths=None))
        if not yara_runs:
            used = "no run recorded"
        elif always or all(yara_runs):
            used = "on in every run"
        elif any(yara_runs):
            used = "on in runs with YARA"
        else:
            used = "off in every run"
        found.append({"name": name, "version": cls.VERSION, "used": used, "does": ANALYZER_NOTES.get(name, "")})
    return found, False


def _attach_files(db: sqlite_utils.Database, findings: list[dict[str, Any]]) -> None:
    """Give each file finding its file's full row (`file`): hashes, times, score and reasons where the schema has them."""
    files = queries.files_by_id(db, [f["object_id"] for f in findings if f["object_kind"] == "file"])
    for finding in findings:
        row = files.get(finding["object_id"]) if finding["object_kind"] == "file" else None
        if row is not None and isinstance(row.get("reasons"), str):
            try:
                row["reasons"] = json.loads(row["reasons"])
            except ValueError:
                row["reasons"] = [row["reasons"]]
        finding["file"] = row
        detail = finding["detail"] if isinstance(finding["detail"], dict) else {"detail": finding["detail"]}
        finding["detail"] = detail
        listed = detail.get("strings")
        strings = listed if isinstance(listed, list) else []
        finding["strings"] = [s for s in strings if isinstance(s, dict)][:MAX_STRINGS_SHOWN]
        finding["strings_total"] = len(strings)
        finding["reasons"] = _reasons(detail, row)
        finding["facts"] = _facts(detail)


def _reasons(detail: dict[str, Any], file: dict[str, Any] | None) -> list[str]:
    reasons = detail.get("reasons")
    found = [compact_json(r) for r in reasons] if isinstance(reasons, list) else ([compact_json(reasons)] if reasons else [])
    if file and isinstance(file.get("reasons"), list):
        found += [f"triage score: {compact_json(r)}" for r in file["reasons"]]
    return found


def _facts(detail: dict[str, Any]) -> list[tuple[str, str]]:
    """The finding's detail as (label, text) pairs: rule meta and tags for YARA, every key otherwise."""
    facts: list[tuple[str, str]] = []
    for key, value in detail.items():
        if key in ("strings", "reasons"):
            continue
        if value in (None, "", [], {}):
            continue
        if key == "meta" and isinstance(value, dict):
            facts += [(f"meta.{k}", _clip(compact_json(v))) for k, v in value.items() if k not in ("severity",)]
        else:
            facts.append((key, _clip(compact_json(value))))
    return facts


def _json_list(value: Any) -> Any:
    """Lists the capture analysis stores as JSON text (DNS answers, TTLs), as lists."""
    if isinstance(value, str) and value.startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _pe_files(db: sqlite_utils.Database, hide_known_good: bool) -> tuple[list[dict[str, Any]], int]:
    rows, total = queries.pe_files(db, PE_FILES, hide_known_good)
    for row in rows:
        try:
            pe = json.loads(row["pe"])
        except ValueError:
            pe = row["pe"]
        row["facts"] = pe_facts(pe) if isinstance(pe, dict) else [("pe", _clip(compact_json(pe)))]
    return rows, total


PE_SKIPPED = {"complete", "timestamp", "data_directories", "sections_truncated", "imports_listed_in_full", "sections",
              "imports", "imports_count", "authenticode", "resources", "version_info", "entry_point", "machine",
              "machine_name", "format", "kind", "bitness", "compiled", "timestamp_anomalies", "behaviours", "subsystem",
              "dotnet", "section_count"}
FACT_CHARS = 600


def _clip(text: str, limit: int = FACT_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _memory_flags(flags: Any) -> str:
    """R/W/X of a section from its MEM_READ/MEM_WRITE/MEM_EXECUTE flags."""
    names = set(flags) if isinstance(flags, list) else set()
    return "".join(letter if f"MEM_{word}" in names else "-" for letter, word in (("r", "READ"), ("w", "WRITE"), ("x", "EXECUTE")))


def pe_facts(pe: dict[str, Any]) -> list[tuple[str, str]]:
    """The PE analyzer's details as a few readable (label, text) lines, each bounded in length."""
    facts: list[tuple[str, str]] = []
    kind = " ".join(str(pe[k]) for k in ("format", "kind") if pe.get(k))
    machine = pe.get("machine_name") or pe.get("machine")
    if kind or machine:
        facts.append(("Type", ", ".join(x for x in (kind, f"machine {machine}" if machine else "",
                                                     f"subsystem {pe['subsystem']}" if pe.get("subsystem") else "") if x)))
    if pe.get("compiled") or pe.get("timestamp") is not None:
        anomalies = pe.get("timestamp_anomalies") or []
        facts.append(("Compiled", f"{pe.get('compiled') or pe.get('timestamp')}"
                      + (f" ({', '.join(map(str, anomalies))})" if anomalies else "")))
    entry = pe.get("entry_point")
    if isinstance(entry, dict):
        facts.append(("Entry point", f"{entry.get('rva')} in {entry.get('section') or 'no section'}"))
    signature = pe.get("authenticode")
    if isinstance(signature, dict):
        facts.append(("Authenticode", "signature present" + (", verified" if signature.get("verified") else ", not verified")
                      if signature.get("signed") else "not signed"))
    sections = pe.get("sections")
    if isinstance(sections, list) and sections:
        facts.append(("Sections", _clip("; ".join(
            f"{s.get('name')} entropy {s.get('entropy')} {_memory_flags(s.get('flags'))}"
            for s in sections if isinstance(s, dict)))))
    imports = pe.get("imports")
    if isinstance(imports, dict):
        count = pe.get("imports_count", sum(len(v) for v in imports.values() if isinstance(v, list)))
        facts.append(("Imports", _clip(f"{count} from {len(imports)} DLLs: " + "; ".join(
            f"{dll} ({', '.join(map(str, names[:8]))}{', …' if len(names) > 8 else ''})" if isinstance(names, list) else str(dll)
            for dll, names in imports.items()))))
    behaviours = pe.get("behaviours")
    if behaviours:
        facts.append(("Behaviours", _clip(compact_json(behaviours))))
    resources = pe.get("resources")
    if isinstance(resources, dict):
        embedded = resources.get("embedded_executables") or []
        facts.append(("Resources", f"{resources.get('count', 0)}: " + ", ".join(
            f"{k} {v}" for k, v in (resources.get("types") or {}).items())
            + (f"; {len(embedded)} embedded executable(s)" if embedded else "")))
    version = pe.get("version_info")
    if isinstance(version, dict) and version:
        facts.append(("Version info", _clip("; ".join(f"{k}: {v}" for k, v in version.items()))))
    for key, value in pe.items():
        if key not in PE_SKIPPED and value not in (None, [], {}, ""):
            facts.append((key, _clip(compact_json(value))))
    return facts


def _has(db: sqlite_utils.Database, tables: set[str], name: str, columns: Iterable[str]) -> bool:
    return name in tables and queries.has_columns(db, name, columns)


def _network_summary(db: sqlite_utils.Database, tables: set[str]) -> NetworkSummary | None:
    records = {name: queries.row_count(db, name) for name in NETWORK_TABLES if name in tables}
    if not any(records.values()):
        return None
    captures = queries.capture_count(db)
    return NetworkSummary(captures, records)


def _network(db: sqlite_utils.Database, tables: set[str], show_credentials: bool) -> list[NetworkTable]:
    """Hosts, top talkers, DNS names, HTTP transfers, TLS servers and credentials, each bounded to NETWORK_ROWS."""
    found = []
    for build in (_hosts, _talkers, _dns_names, _http_transfers, _tls_servers):
        table = build(db, tables)
        if table is not None and table.count:
            found.append(table)
    credentials = _credentials(db, tables, show_credentials)
    if credentials is not None and credentials.count:
        found.append(credentials)
    return found


def _hosts(db: sqlite_utils.Database, tables: set[str]) -> NetworkTable | None:
    """Each address once per capture: who it is (link address, names) and what it served."""
    if not _has(db, tables, "hosts", ("address", "macs", "names", "open_ports", "bytes_out", "bytes_in", "first_seen",
                                      "last_seen")):
        return None
    total = queries.row_count(db, "hosts")
    rows = [[r["address"], ", ".join(_json_list(r["macs"]) or []) or None, _shortened(_json_list(r["names"]) or []),
             _shortened(_json_list(r["open_ports"]) or []), r["bytes_out"], r["bytes_in"], r["first_seen"], r["last_seen"]]
            for r in queries.busiest_hosts(db, NETWORK_ROWS)]
    return NetworkTable("hosts", "Hosts", total, "addresses (per capture)", "most bytes first (sent and received)",
                        ["Address", "MAC addresses", "Names", "Open ports", "Bytes out", "Bytes in", "First seen (UTC)",
                         "Last seen (UTC)"], rows)


def _shortened(values: list[Any]) -> str | None:
    """'a, b, c, and 4 more' (a list cell of a network table, bounded)."""
    if not values:
        return None
    most = MAX_ANSWERS
    text = ", ".join(str(v) for v in values[:most])
    return text + (f", and {len(values) - most} more" if len(values) > most else "")


def _talkers(db: sqlite_utils.Database, tables: set[str]) -> NetworkTable | None:
    if not _has(db, tables, "flows", ("src", "dst", "packets", "bytes", "first_seen", "last_seen", "app")):
        return None
    pairs, total = queries.top_talkers(db, NETWORK_ROWS)
    rows = [[r["a"], r["b"], r["flows"], r["packets"], r["bytes"], r["first_seen"], r["last_seen"],
             ", ".join(sorted(set((r["apps"] or "").split(",")) - {""}))]
            for r in pairs]
    return NetworkTable("talkers", "Top talkers", total, "pairs of endpoints", "most bytes first (both directions)",
                        ["Endpoint A", "Endpoint B", "Flows", "Packets", "Bytes", "First seen (UTC)",
                         "Last seen (UTC)", "App"], rows)


MAX_ANSWERS = 8


def _dns_names(db: sqlite_utils.Database, tables: set[str]) -> NetworkTable | None:
    if not _has(db, tables, "dns", ("query", "qtype", "answers", "ts", "rcode")):
        return None
    names, total = queries.dns_names(db, NETWORK_ROWS)
    rows = []
    for r in names:
        answers: list[str] = []
        for text in (r["answers"] or "").split("\n"):
            value = _json_list(text)
            for answer in value if isinstance(value, list) else [value] if value else []:
                if str(answer) not in answers:
                    answers.append(str(answer))
        shown = ", ".join(answers[:MAX_ANSWERS]) + (f", and {len(answers) - MAX_ANSWERS} more"
                                                     if len(answers) > MAX_ANSWERS else "")
        rcodes = sorted(set((r["rcodes"] or "").split(",")) - {"", "NOERROR"})
        if rcodes:
            shown = "; ".join(x for x in (shown, ", ".join(rcodes)) if x)
        rows.append([r["query"], r["qtype"], r["lookups"], shown, r["first_seen"]])
    return NetworkTable("dns", "DNS names looked up", total, "distinct names (query and type)",
                        "most lookups first", ["Query", "Type", "Lookups", "Answers", "First seen (UTC)"], rows)


def _http_transfers(db: sqlite_utils.Database, tables: set[str]) -> NetworkTable | None:
    if not _has(db, tables, "http", ("ts", "method", "host", "uri", "status", "content_type", "body_size",
                                     "body_sha256", "evidence_id")):
        return None
    total = queries.row_count(db, "http")
    rows = []
    carried = _has(db, tables, "files", ("sha256", "origin"))
    for r in queries.http_downloads_first(db, NETWORK_ROWS):
        file = queries.carried_file(db, r["body_sha256"], r["evidence_id"]) if carried and r["body_sha256"] else None
        rows.append([r["ts"], r["method"], (r["host"] or "") + (r["uri"] or ""), r["status"], r["content_type"],
                     r["body_size"], r["body_sha256"],
                     f"file #{file['id']}: {file['path']}" if file else None])
    return NetworkTable("http", "HTTP requests and downloads", total, "HTTP requests",
                        "those with a response body (downloads) first, then by time",
                        ["Time (UTC)", "Method", "Host and URI", "Status", "Content type", "Body size", "Body SHA-256",
                         "Carried file"], rows, wide=("Body SHA-256", "Carried file"))


def _tls_servers(db: sqlite_utils.Database, tables: set[str]) -> NetworkTable | None:
    columns = ("ts", "sni", "dst", "dport", "ja3", "ja3s", "cert_subject", "cert_issuer", "cert_not_before",
               "cert_not_after")
    if not _has(db, tables, "tls", columns):
        return None
    servers, total = queries.tls_servers(db, NETWORK_ROWS)
    rows = [[r["sni"] or "(no SNI)", r["servers"], r["handshakes"], r["first_seen"],
             f"{r['cert_not_before'] or '?'} to {r['cert_not_after'] or '?'}" if r["cert_not_before"] or r["cert_not_after"]
             else None, r["ja3"], r["ja3s"], r["cert_subject"], r["cert_issuer"]]
            for r in servers]
    return NetworkTable("tls", "TLS server names", total, "distinct server names (SNI with fingerprints and certificate)",
                        "most handshakes first",
                        ["Server name (SNI)", "Server", "Handshakes", "First seen (UTC)", "Certificate valid (UTC)",
                         "JA3", "JA3S", "Certificate subject", "Certificate issuer"], rows,
                        wide=("JA3", "JA3S", "Certificate subject", "Certificate issuer"))


def _credentials(db: sqlite_utils.Database, tables: set[str], show_credentials: bool) -> NetworkTable | None:
    if "credentials" not in tables:
        return None
    present = queries.columns(db, "credentials")
    columns = [c for c in CREDENTIAL_COLUMNS if c in present] or [c for c in present if c != "id"][:8]
    total = queries.row_count(db, "credentials")
    rows = queries.credentials_in_order(db, NETWORK_ROWS)
    masked: list[str] = []
    if not show_credentials:
        masked = [c for c in columns if any(marker in c.lower() for marker in SECRET_MARKERS)]
        for row in rows:
            for column in masked:
                if row.get(column):
                    row[column] = MASK
    return NetworkTable("credentials", "Credentials", total, "credentials seen", "in the order seen", columns,
                        [[_json_list(row.get(c)) for c in columns] for row in rows], masked=masked)


def _timeline(db: sqlite_utils.Database, details: ReportDetails) -> list[TimelineCluster]:
    """The case timeline within the window of each high/critical or correlation finding's times (the
    time the timeline gives the finding, and its file's MACB times), windows that overlap merged."""
    window = dt.timedelta(seconds=details.timeline_window_seconds)
    anchors = queries.timeline_anchors(db, SEVERITY_RANK["high"], TIMELINE_ANCHORS, not details.show_known_good)
    spans: list[list[Any]] = []  # [start, end, anchors]
    for anchor in anchors:
        for moment in _anchor_moments(anchor):
            spans.append([moment - window, moment + window, [anchor]])
    merged: list[list[Any]] = []
    for span in sorted(spans, key=lambda s: s[0]):
        if merged and span[0] <= merged[-1][1]:
            last = merged[-1]
            last[1] = max(last[1], span[1])
            last[2] += [a for a in span[2] if a not in last[2]]
        else:
            merged.append(span)
    clusters: list[TimelineCluster] = []
    for start, end, cluster_anchors in merged:
        anchor_objects = {(a["object_kind"], a["object_id"]) for a in cluster_anchors} | {
            ("finding", a["id"]) for a in cluster_anchors}
        end_exclusive = utc_iso(end + dt.timedelta(microseconds=1))
        total = case_timeline.count(db, utc_iso(start), end_exclusive, hide_known_good=not details.show_known_good)
        fetched = case_timeline.events(db, utc_iso(start), end_exclusive, limit=TIMELINE_FETCH,
                                       hide_known_good=not details.show_known_good)
        events: list[dict[str, Any]] = [
            {"ts": e.ts, "kind": e.kind, "what": _what(e), "text": e.description, "evidence_id": e.evidence_id,
             "anchor": (e.object_kind, e.object_id) in anchor_objects, "moment": _parse_time(e.ts)}
            for e in fetched]
        evidence_ids = sorted({e.evidence_id for e in fetched})
        clusters.append(TimelineCluster(evidence_ids, utc_iso(start), utc_iso(end), cluster_anchors, events, total))
    share = max(20, details.timeline_limit // max(1, len(clusters)))
    budget = details.timeline_limit
    kept = []
    for cluster in clusters:
        if budget <= 0:
            break
        cap = min(share, budget)
        moments = [m for a in cluster.anchors for m in _anchor_moments(a)]
        if len(cluster.events) > cap:  # keep the anchors' own events and those nearest the anchors' times
            order = sorted(range(len(cluster.events)), key=lambda i: (
                not cluster.events[i]["anchor"], min(abs(cluster.events[i]["moment"] - m) for m in moments)))
            cluster.events = [cluster.events[i] for i in sorted(order[:cap])]  # still in timeline order
        for event in cluster.events:
            del event["moment"]
        budget -= len(cluster.events)
        kept.append(cluster)
    return kept


def _what(event: case_timeline.TimelineEvent) -> str:
    """The timeline's action as a report prints it: file times as mactime's MACB column."""
    if event.kind == "file":
        return "".join(c if c.lower() in event.action else "." for c in "MACB")
    return f"{event.kind} {event.action}"


def _anchor_moments(anchor: dict[str, Any]) -> list[dt.datetime]:
    columns = ("ts", *queries.FILE_TIMES)
    return [m for c in columns if (m := _parse_time(anchor.get(c))) is not None]


# -- correlations -----------------------------------------------------------------------------

def _correlations(db: sqlite_utils.Database) -> list[Correlation]:
    """Correlation findings with the chain of each one's links (correlate.py) spelled out, in the
    order the chain runs: DNS lookup, download, carried copy, file on disk, the file's findings."""
    out = []
    for row in queries.correlation_findings(db, CORRELATIONS_SHOWN):
        steps = [(label, ts, visible(text)) for label, ts, text in chain(db, row["detail"].get("links", []))]
        out.append(Correlation(row["id"], row["severity"], row["rule"], row["title"], steps))
    return out




def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def _write_appendix(db: sqlite_utils.Database, path: Path, force: bool) -> int:
    """Every finding as CSV, in the report's order; text made visible and safe from spreadsheet formulas."""
    count = 0
    try:
        with PendingFile(path) as pending:
            writer = csv.writer(pending.text)
            writer.writerow(queries.APPENDIX_COLUMNS)
            for rows in queries.findings_for_appendix(db):
                writer.writerows([_cell(v) for v in row] for row in rows)
                count += len(rows)
            pending.put_in_place(force=force)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}") from None
    return count


def _cell(value: Any) -> Any:
    return spreadsheet_safe(visible(value) if isinstance(value, str) else value)
