"""What a report says, as one document: sections of headings, paragraphs, tables and label/value lists.

`build_document` turns the case's `ReportData` into a `Document` once; the PDF and HTML writers
only render its blocks, so every sentence and every table of the report is written here and
nowhere else. Text in the model is plain and may come from evidence: each renderer makes it
visible (text_safety) and escapes it for its own markup, exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..case.host_profile import device_name
from ..formatting import exact_size
from ..severity import SEVERITIES_WORST_FIRST
from .artefacts import ROWS_PER_GROUP
from .content import NetworkSummary, NetworkTable, ReportData, compact_json
from .keywords import OBJECTS_PER_TERM, TERMS_PER_LIST

SECTION_TITLES = {"evidence": "Evidence", "methodology": "Methodology", "summary": "Summary of findings",
                  "findings": "Findings", "system": "System and users", "artefacts": "Artefacts", "pictures": "Pictures",
                  "keywords": "Keyword hits",
                  "network": "Network", "pe": "Windows executables (PE)",
                  "timeline": "Timeline excerpt", "tags": "Examiner tags and notes", "audit": "Audit log (chain of custody)",
                  "integrity": "Integrity"}


# -- the model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mono:
    """Text set in a fixed-width font: hashes, paths, timestamps, matched data."""

    text: Any


@dataclass(frozen=True)
class Lines:
    """Several values in one cell, one per line."""

    items: list[str]
    mono: bool = False


# A cell: plain text, a number (right-aligned, with thousands separators), Mono, Lines or a nested Table.
Cell = Any


@dataclass
class Heading:
    """A heading inside a section; `minor` ones head a small group (a run, an evidence item's ledger)."""

    text: str
    minor: bool = False


@dataclass
class Paragraph:
    """Running text; a newline starts a new line. `style` is body, note (smaller) or warning."""

    text: str
    style: str = "body"


@dataclass
class Table:
    """Rows under a header. `widths` are relative column widths for a printed page; `emphasis` marks
    rows set in bold (a finding's own timeline events)."""

    columns: list[str]
    rows: list[list[Cell]]
    widths: list[float]
    sortable: bool = True
    emphasis: list[bool] = field(default_factory=list)


@dataclass
class KeyValue:
    """Labelled values, under an optional title (an evidence item, a run, an executable), kept on one page."""

    rows: list[tuple[str, Cell]]
    title: str | None = None
    title_mono: bool = False
    label_mm: float = 34


@dataclass
class FindingCard:
    """One finding: a heading in its severity's colour over its labelled details."""

    id: int
    severity: str
    title: str
    rows: list[tuple[str, Cell]]


@dataclass
class FindingIndex:
    """The findings as one sortable list linking to their cards (the HTML page's; the PDF has bookmarks)."""

    findings: list[dict[str, Any]]


@dataclass
class SeverityCounts:
    """The findings per severity, as a table beside a bar chart."""

    counts: dict[str, int]


@dataclass
class NetworkList:
    """One list of the network section, with its title and note (content.NetworkTable)."""

    table: NetworkTable


@dataclass
class Thumbnails:
    """Pictures shown small, each with its caption (path, tags) or why it could not be shown."""

    items: list[tuple[str, bytes | None, str]]  # caption, PNG, why not


Block = Heading | Paragraph | Table | KeyValue | FindingCard | FindingIndex | SeverityCounts | NetworkList | Thumbnails


@dataclass
class Section:
    name: str  # one of content.SECTIONS, also the HTML anchor
    title: str
    blocks: list[Block]


@dataclass
class Document:
    title: str  # the case name
    cover: list[Block]
    sections: list[Section]


# -- the wording both reports share --------------------------------------------------------------

SEAL_NOTE = (
    "The case's audit log is a hash chain: each entry holds the SHA-256 of the entry before it together with its "
    "own content, and the chain head after every action is also appended to custody.log in the case folder. "
    "The values below were read with the rest of this report. To show that this report still describes its case, "
    "run `cybertriage verify --case CASE_DIR --report THIS_FILE`: it checks that the audit entry named here still "
    "holds this link, and recomputes the content digest (evidence, partitions, files, findings and network records "
    "in canonical form, independent of how SQLite lays out its pages and of audit entries written later). "
    "The SHA-256 of this report itself is written beside it, in the file of the same name ending in .sha256 "
    "(a file cannot hold its own hash).")
METHOD = ("Each evidence item was opened read-only and its container files hashed (SHA-256). E01 images were "
          "verified against the MD5/SHA-1 the image stores of the acquired media, unless verification was turned "
          "off. Disk images were read through Sleuth Kit (partitions, then every filesystem, allocated and deleted "
          "files); folders were read file by file without following links. Each file's content was read once and "
          "given to every analyzer listed below.")
ANALYZERS_UNRECORDED = ("The case does not record which analyzers each run used; this is the list in the build of "
                        "cybertriage that made this report. A run by an older build may have used fewer.")
UNTRUSTED_TEXT = ("This report was produced from the case database without changing it. Times are UTC. Text taken "
                  "from evidence (file names, paths, matched data, rule text) is shown as it is, except that control "
                  "and invisible formatting characters, such as right-to-left overrides, are written out as \\uXXXX "
                  "instead of being obeyed.")


def custody_sentence(data: ReportData) -> str:
    """Whether the chain of custody checked out when the report was made."""
    if not data.custody_problems:
        return (f"Chain of custody checked when this report was made: each of the {data.audit_total:,} audit entries "
                "links to the one before it, and every chain head in custody.log is in the log.")
    return ("Chain of custody DOES NOT CHECK OUT: " + "; ".join(data.custody_problems)
            + ". Entries may have been removed or altered outside cybertriage.")


def seal_rows(data: ReportData) -> list[tuple[str, str]]:
    """The seal as the reports print it (the same values go into their metadata)."""
    return [("Last audit entry (sequence number)", str(data.seal.seq)),
            ("Its chain link (SHA-256)", data.seal.head),
            ("Content digest (SHA-256)", data.seal.digest)]


def counts_sentence(counts: dict[str, int], total: int) -> str:
    """The findings per severity in one sentence (tests read it back)."""
    return f"The case holds {total:,} findings: " + ", ".join(f"{counts[s]:,} {s}" for s in SEVERITIES_WORST_FIRST) + "."


def severity_list(counts: dict[str, int]) -> str:
    """'1 critical, 2 high', or 'none'."""
    return ", ".join(f"{counts[s]} {s}" for s in SEVERITIES_WORST_FIRST if counts.get(s)) or "none"


def objects_text(item: dict[str, Any]) -> str:
    """An evidence item's object count, saying how many known-good files were left out."""
    text = f"{item['files']:,} ({item['deleted']:,} deleted"
    if item.get("known_good"):
        text += f"; {item['known_good']:,} known good, left out of this report"
    return text + ")"


RUN_INTEL_KEYS = ("intel_db", "hash_sets", "ioc_lists")  # run options that run_intel spells out


def run_intel(options: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """The hash sets and IOC lists a run used, as (label, lines) for the methodology section."""
    found = []
    sets = [s for s in options.get("hash_sets") or [] if isinstance(s, dict)]
    if sets:
        found.append(("Hash sets", [
            f"{s.get('name')}: known {s.get('known')}, {s.get('rows') or 0:,} hashes, {s.get('format')}"
            + (f" {s['version']}" if s.get("version") else "") + f", source SHA-256 {s.get('source_sha256') or '-'}"
            for s in sets]))
    lists = [lst for lst in options.get("ioc_lists") or [] if isinstance(lst, dict)]
    if lists:
        found.append(("IOC lists", [
            f"{lst.get('name')}: {lst.get('format')}, {lst.get('rows') or 0:,} IOCs"
            + (f" ({lst['unsupported']:,} comparisons not supported)" if lst.get("unsupported") else "")
            + f", source SHA-256 {lst.get('source_sha256') or '-'}" for lst in lists]))
    return found


def events_note(shown: int, total: int) -> str:
    if total > shown:
        return f"{shown} of {total} events shown"
    return "1 event" if total == 1 else f"{total} events"


def network_sentence(summary: NetworkSummary) -> str:
    names = {"flows": "flows", "hosts": "hosts", "dns": "DNS records", "http": "HTTP requests", "tls": "TLS handshakes",
             "credentials": "credentials"}
    parts = [f"{n:,} {names.get(t, t)}" for t, n in summary.records.items()]
    return (f"{summary.captures:,} packet capture{'' if summary.captures == 1 else 's'} in the case, holding "
            + ", ".join(parts) + ".")


# -- building the document ---------------------------------------------------------------------


def build_document(data: ReportData) -> Document:
    """The report of `data`: the cover, then each section the examiner asked for, in SECTIONS order."""
    builders = {"evidence": _evidence, "methodology": _methodology, "summary": _summary, "findings": _findings,
                "system": _system, "artefacts": _artefacts, "keywords": _keywords, "network": _network, "pe": _pe,
                "pictures": _pictures,
                "timeline": _timeline, "tags": _tags, "audit": _audit, "integrity": _integrity}
    present = {"pe": bool(data.pe), "system": bool(data.profiles), "artefacts": bool(data.artefacts.counts)}
    sections = [Section(name, SECTION_TITLES[name], build(data)) for name, build in builders.items()
                if data.details.includes(name) and present.get(name, True)]
    return Document(data.details.case_name or "", _cover(data, sections), sections)


def _cover(data: ReportData, sections: list[Section]) -> list[Block]:
    d = data.details
    rows: list[tuple[str, Cell]] = [
        ("Case number", d.case_number or "-"), ("Case name", d.case_name or "-"), ("Examiner", d.examiner or "-"),
        ("Agency", d.agency or "-"), ("Report generated", f"{data.generated_at} (UTC)"),
        ("Tool", f"cybertriage {data.tool_version} (case schema {data.schema_version})"),
        ("Case folder", Mono(str(data.case_dir.resolve()))), ("Case created", data.case_info.get("created_at") or "-"),
        ("Evidence items", str(len(data.evidence))),
        ("Findings", counts_sentence(data.severity_counts, data.findings_total))]
    blocks: list[Block] = [KeyValue(rows, label_mm=40)]
    if d.notes:
        blocks += [Heading("Notes"), Paragraph(d.notes)]
    return blocks + [Paragraph(f"{UNTRUSTED_TEXT} Sections: {', '.join(s.name for s in sections)}.", "note")]


def _evidence(data: ReportData) -> list[Block]:
    if not data.evidence:
        return [Paragraph("The case holds no evidence.")]
    blocks: list[Block] = []
    for item in data.evidence:
        rows: list[tuple[str, Cell]] = [
            ("Path", Mono(item["path"])), ("Kind / format", f"{item['kind'] or '-'} / {item['format'] or '-'}"),
            ("Size", exact_size(item["size"]) or "-"), ("SHA-256", Mono(item["sha256"] or "not computed"))]
        if len(item["segments"]) > 1:
            rows.append(("Segments", Lines(item["segments"], mono=True)))
        if item["stored_md5"] or item["stored_sha1"] or item["computed_md5"] or item["computed_sha1"]:
            rows += [("Stored MD5", Mono(item["stored_md5"])), ("Computed MD5", Mono(item["computed_md5"])),
                     ("Stored SHA-1", Mono(item["stored_sha1"])), ("Computed SHA-1", Mono(item["computed_sha1"]))]
        rows += [("Verification", item["verified"] or "not done"),
                 ("Status", item["status"] + (f": {item['error']}" if item["error"] else "")),
                 ("Added / processed", f"{item['added_at'] or '-'} / {item['processed_at'] or '-'}")]
        if item["partitions"]:
            rows.append(("Partitions", Lines([f"at byte {p['offset']:,}: {p['description']}, {p['filesystem'] or '-'}, "
                                              f"{p['status']}" for p in item["partitions"]])))
        rows += [("Objects", objects_text(item)), ("Findings", severity_list(item["findings"]))]
        blocks.append(KeyValue(rows, title=f"Evidence {item['id']}: {Path(item['path']).name}"))
    return blocks


def _methodology(data: ReportData) -> list[Block]:
    blocks: list[Block] = [
        Paragraph(METHOD), Heading("Analyzers"),
        Table(["Analyzer", "Version", "Used", "What it examines"],
              [[a["name"], a["version"], a["used"], a["does"]] for a in data.analyzers], [1.3, 1, 2.2, 6])]
    if not data.analyzers_recorded:
        blocks.append(Paragraph(ANALYZERS_UNRECORDED, "note"))
    blocks.append(Heading("Runs"))
    if not data.runs:
        blocks.append(Paragraph("No run is recorded in this case."))
    for run in data.runs:
        options = run["options"] if isinstance(run["options"], dict) else {}
        rows: list[tuple[str, Cell]] = [
            ("Started / finished", f"{run['started'] or '-'} / {run['finished'] or '-'} (UTC)"),
            ("Status", run["status"]), ("Tool version", f"cybertriage {run['tool_version'] or '-'}"),
            ("YARA", "on" if options.get("yara") else "off"), ("Rule set SHA-256", Mono(run["rules_sha256"] or "(YARA off)")),
            ("Rule paths", Lines(options.get("rules") or ["-"], mono=True)),
            ("Options", Mono(", ".join(f"{k}={compact_json(v)}" for k, v in options.items()
                                       if k not in ("rules", "yara", *RUN_INTEL_KEYS)) or "-"))]
        rows += [(label, Lines(lines, mono=True)) for label, lines in run_intel(options)]
        blocks.append(KeyValue(rows, title=f"Run {run['id']}"))
    blocks += [Heading("Completeness ledger"), Paragraph(
        "Per evidence item and stage (latest run): how many objects were attempted, processed, and skipped, "
        "with the reasons for skipping. Problems are recorded in full in the case database's problems table.")]
    for item in data.evidence:
        blocks.append(Heading(f"Evidence {item['id']}: {Path(item['path']).name}, {item['problems']:,} problem(s) "
                              "recorded", minor=True))
        if item["ledger"]:
            blocks.append(Table(["Stage", "Attempted", "Processed", "Skipped", "Reasons skipped"], [
                [s["stage"], s["attempted"], s["processed"], s["skipped"],
                 Lines([f"{n:,} {r}" for r, n in s["reasons"].items()] or ["-"])] for s in item["ledger"]],
                [1.6, 1.3, 1.3, 1.3, 5]))
        else:
            blocks.append(Paragraph("No ledger recorded (the evidence was not analysed)."))
        blocks += _not_opened(item["ledger"])
        if item["problem_list"]:
            blocks.append(Table(["Stage", "Object", "Problem"], [[p["stage"], Mono(p["object"]), p["message"]]
                                                                 for p in item["problem_list"]], [1.2, 4, 4]))
            if item["problems"] > len(item["problem_list"]):
                blocks.append(Paragraph(f"… and {item['problems'] - len(item['problem_list']):,} more.", "note"))
    return blocks


def _summary(data: ReportData) -> list[Block]:
    blocks: list[Block] = [Paragraph(counts_sentence(data.severity_counts, data.findings_total))]
    if data.known_good_note:
        blocks.append(Paragraph(data.known_good_note))
    blocks.append(SeverityCounts(data.severity_counts))
    if data.evidence:
        rows = [[f"{item['id']}: {Path(item['path']).name}", item["files"] - item["known_good"]]
                + [item["findings"].get(s, 0) for s in SEVERITIES_WORST_FIRST] for item in data.evidence]
        blocks += [Heading("By evidence item"),
                   Table(["Evidence", "Objects", *[s.capitalize() for s in SEVERITIES_WORST_FIRST]], rows,
                         [4.4, 1.3, 1.1, 1.1, 1.2, 1.1, 1.1])]
    return blocks


def _findings(data: ReportData) -> list[Block]:
    if not data.findings_total:
        return [Paragraph("The analyzers reported no findings.")]
    intro = f"{data.findings_total:,} findings, worst first (by severity, then by the triage score of their object)."
    if data.truncated:
        intro += f" The {data.findings_shown:,} worst are shown here."
        if data.appendix:
            intro += (f" Every finding is listed in {data.appendix.path.name} beside this report "
                      f"({data.appendix.rows:,} rows; its SHA-256 is in the integrity section).")
    blocks: list[Block] = [Paragraph(intro), FindingIndex(data.findings)]
    blocks += [_finding_card(f) for f in data.findings]
    if data.truncated:
        blocks.append(Paragraph(f"{data.findings_total - data.findings_shown:,} further findings are not shown here"
                                + (f"; see {data.appendix.path.name}." if data.appendix else ".")))
    if data.correlations:
        blocks += [Heading("Correlations"), Paragraph(
            f"{len(data.correlations):,} links between evidence items, each followed along its chain: the DNS lookup, "
            "the download, the copy the capture carried, the file on disk and the file's own findings.")]
        for c in data.correlations:
            blocks += [Paragraph(f"#{c.id} {c.severity}: {c.title}", "note"),
                       Table(["Step", "Time (UTC)", "What"], [[label, Mono(ts), Mono(text)] for label, ts, text in c.steps],
                             [2.4, 4.2, 8.2], sortable=False)]
    return blocks


def _finding_card(f: dict[str, Any]) -> FindingCard:
    rows: list[tuple[str, Cell]] = [("Object", Mono(f["object"])), ("Evidence", Mono(f["evidence"])),
                                    ("Analyzer / rule", f"{f['analyzer']} / {f['rule']}")]
    file = f.get("file")
    if file is not None:
        state = " (deleted)" if file.get("deleted") else ""
        rows.append(("File", f"{exact_size(file.get('size')) or '-'}, {file.get('mime') or 'type unknown'}{state}"))
        rows += [("MD5", Mono(file.get("md5"))), ("SHA-1", Mono(file.get("sha1"))), ("SHA-256", Mono(file.get("sha256")))]
        times = [f"{c} {file[c]}" for c in ("mtime", "atime", "ctime", "crtime") if file.get(c)]
        if times:
            rows.append(("Times (UTC)", ", ".join(times)))
        if file.get("score") is not None:
            rows.append(("Triage score", f"{file['score']} of 100"))
    rows += list(f["facts"])
    if f["reasons"]:
        rows.append(("Reasons", Lines(f["reasons"])))
    if f["strings"]:
        label = "Matched strings"
        if f["strings_total"] > len(f["strings"]):
            label += f" (first {len(f['strings'])} of {f['strings_total']})"
        rows.append((label, Table(["Identifier", "Offset", "Data"], [
            [Mono(s.get("identifier")), Mono(f"@{s.get('offset')}"), Mono(s.get("data"))] for s in f["strings"]],
            [26, 14, 96], sortable=False)))  # millimetres on an A4 page
    return FindingCard(f["id"], f["severity"], f["title"], rows)


def _system(data: ReportData) -> list[Block]:
    blocks: list[Block] = [Paragraph(
        "What each Windows computer's registry says about it. Times are UTC; the time zone is the one the computer "
        "recorded, shown for reference and applied to no time in this report.")]
    for profile in data.profiles:
        rows: list[tuple[str, Cell]] = [("Evidence", Mono(profile.evidence)), *profile.labelled()]
        blocks.append(KeyValue(rows, title=str(profile.fields.get("computer_name") or "Windows computer"), label_mm=50))
        if profile.interfaces:
            blocks.append(Heading("Network interfaces", minor=True))
            blocks.append(Table(["Address", "Subnet", "Gateway", "DHCP server", "Domain"],
                                [[Mono(_first(i, "ip_address", "dhcp_ip_address")), _first(i, "subnet", "dhcp_subnet"),
                                  _first(i, "gateway", "dhcp_gateway"), _first(i, "dhcp_server"),
                                  _first(i, "domain", "dhcp_domain")] for i in profile.interfaces],
                                [34, 30, 34, 34, 48]))
        blocks.append(Heading(f"User accounts ({len(profile.users)})", minor=True))
        blocks.append(Table(["Name", "SID", "Created", "Last logon", "Logons"],
                            [[_first(u, "name"), Mono(_first(u, "sid", "rid")), Mono(_first(u, "created")),
                              Mono(_first(u, "last_logon")), _first(u, "logon_count")] for u in profile.users],
                            [30, 62, 34, 34, 20]))
        if profile.devices:
            blocks.append(Heading(f"Storage devices ({len(profile.devices)})", minor=True))
            blocks.append(Table(["Device", "Serial number", "Drive", "Volume", "First connected", "Last connected"],
                                [[device_name(d), Mono(_first(d, "serial")), _first(d, "drive_letter"),
                                  _first(d, "volume_name"), Mono(_first(d, "first_connected")),
                                  Mono(_first(d, "last_connected", "ts"))] for d in profile.devices],
                                [44, 42, 13, 21, 30, 30]))
    return blocks


def _artefacts(data: ReportData) -> list[Block]:
    overview = data.artefacts
    total = sum(overview.counts.values())
    blocks: list[Block] = [
        Paragraph(f"{total:,} artefacts were read from the evidence's registry hives, event logs, prefetch files, "
                  "shortcuts and jump lists, Recycle Bin records, scheduled tasks and browser databases. Each group "
                  f"below shows at most {ROWS_PER_GROUP} of them; `cybertriage export --what artifacts` writes them "
                  "all with every field."),
        Table(["Type", "Artefacts"], [[kind, count] for kind, count in overview.counts.items()], [80, 30])]
    for shown in overview.groups:
        blocks.append(Heading(shown.group.title))
        blocks.append(Paragraph(shown.group.note, "note"))
        blocks.append(Table(["Time (UTC)", "Type", "What", "Source"],
                            [[Mono(row["ts"] or ""), row["type"], row["summary"] or "", Mono(row["source"] or "")]
                             for row in shown.rows], [33, 31, 76, 40]))
    return blocks


def _keywords(data: ReportData) -> list[Block]:
    overview = data.keywords
    if not overview.lists:
        return [Paragraph("No keyword hits: no keyword list was searched (scan --keywords FILE; the built-in lists "
                          "are on unless --builtin-keywords none) or none of their terms is in the objects' text.")]
    blocks: list[Block] = [
        Paragraph(f"{overview.hits:,} keyword hits in the text of the objects (the text extracted from documents, "
                  "PDFs, mail and binaries, or the raw content where none was). For each list, its terms with the most "
                  f"hits first (at most {TERMS_PER_LIST}), its hits in how many objects, and the first {OBJECTS_PER_TERM} "
                  "objects it hit; "
                  "`cybertriage export --what keyword-hits` writes every hit with its offset and snippet."),
        Table(["List", "Terms", "Hits"], [[shown.name, shown.terms_total, shown.hits] for shown in overview.lists],
              [80, 30, 30])]
    for shown in overview.lists:
        blocks.append(Heading(f"{shown.name}: {shown.terms_total:,} terms, {shown.hits:,} hits"))
        rows: list[list[Cell]] = []
        for term in shown.terms:
            for number, first in enumerate(term.first):
                rows.append([term.term if number == 0 else "", f"{term.hits:,} in {term.objects:,}" if number == 0
                             else "", Mono(first["path"]), first["snippet"] or ""])
        blocks.append(Table(["Term", "Hits", "Object", "First hit"], rows, [34, 18, 50, 78]))
    return blocks


def _pictures(data: ReportData) -> list[Block]:
    overview = data.pictures
    blocks: list[Block] = []
    if overview.places:
        blocks += [
            Paragraph(f"{overview.places_total:,} pictures record where they were taken (EXIF GPS). Times are UTC "
                      "where the camera recorded its offset from UTC, else the camera's local time as written, marked "
                      "(local). `cybertriage export --what gps --format kml` writes every position for Google Earth, "
                      "--format geojson for QGIS."),
            Table(["Picture", "Taken", "Latitude", "Longitude", "Altitude (m)", "Camera"],
                  [[Mono(row["path"]), Mono(_taken(row["exif"])), Mono(f"{row['exif']['latitude']:.6f}"),
                    Mono(f"{row['exif']['longitude']:.6f}"), _altitude(row["exif"]),
                    " ".join(filter(None, (row["exif"].get("make"), row["exif"].get("model"))))]
                   for row in overview.places], [52, 30, 20, 20, 14, 30])]
        if overview.places_total > len(overview.places):
            blocks.append(Paragraph(f"The first {len(overview.places):,} of {overview.places_total:,} are listed.",
                                    "note"))
    else:
        blocks.append(Paragraph("No picture in this case records a GPS position."))
    if overview.tagged:
        blocks += [Heading(f"Tagged pictures ({overview.tagged_total:,})"),
                   Paragraph("Thumbnails of the pictures the examiner tagged, and only of those.", "note"),
                   Thumbnails([(f"{item.path}\n{item.tags}", item.png, item.why) for item in overview.tagged])]
    return blocks


def _taken(exif: dict[str, Any]) -> str:
    taken = exif.get("taken") or ""
    return f"{taken} (local)" if taken and exif.get("taken_local") else taken


def _altitude(exif: dict[str, Any]) -> str:
    return "" if exif.get("altitude") is None else f"{exif['altitude']:g}"


def _first(values: dict[str, Any], *keys: str) -> str:
    for key in keys:
        if values.get(key) not in (None, ""):
            return str(values[key])
    return ""


def _network(data: ReportData) -> list[Block]:
    if not data.network:
        return [Paragraph("No packet capture in this case: there are no flows, DNS, HTTP or TLS records.")]
    blocks: list[Block] = [Paragraph(network_sentence(data.network_summary))] if data.network_summary else []
    return blocks + [NetworkList(table) for table in data.network]


def _pe(data: ReportData) -> list[Block]:
    note = f"{data.pe_total:,} file{'' if data.pe_total == 1 else 's'} with PE details"
    note += f"; the first {len(data.pe)} shown." if data.pe_total > len(data.pe) else "."
    blocks: list[Block] = [Paragraph(note)]
    for row in data.pe:
        rows: list[tuple[str, Cell]] = [("Evidence", Mono(row["evidence"])), ("Size", exact_size(row["size"]) or "-"),
                                        ("SHA-256", Mono(row["sha256"])), *row["facts"]]
        blocks.append(KeyValue(rows, title=row["path"], title_mono=True))
    return blocks


def _timeline(data: ReportData) -> list[Block]:
    window = data.details.timeline_window_seconds
    blocks: list[Block] = [Paragraph(
        f"The case timeline within {window / 3600:g} h of the times of high and critical findings and of "
        "correlations: file modified, accessed, changed and born (MACB) times, network events and findings, "
        "across every evidence item, in time order (UTC). The events of the findings themselves, and of their "
        "files, are in bold.")]
    if not data.timeline:
        return blocks + [Paragraph("No high or critical finding or correlation with a recorded time.")]
    names = {item["id"]: Path(item["path"]).name for item in data.evidence}
    for cluster in data.timeline:
        anchors = "; ".join(f"#{a['id']} {a['severity']}: {a['object']}" for a in cluster.anchors[:5])
        if len(cluster.anchors) > 5:
            anchors += f"; and {len(cluster.anchors) - 5} more"
        shown = events_note(len(cluster.events), cluster.total)
        sources = ", ".join(f"{i} ({names.get(i, '?')})" for i in cluster.evidence_ids) or "-"
        blocks += [Heading(f"{cluster.start} to {cluster.end}"),
                   Paragraph(f"Around {anchors}. {shown}, from evidence {sources}.", "note"),
                   Table(["Time (UTC)", "Event", "Ev.", "What"],
                         [[Mono(e["ts"]), Mono(e["what"]), e["evidence_id"], Mono(e["text"])] for e in cluster.events],
                         [4.2, 2.0, 0.8, 7.8], emphasis=[e["anchor"] for e in cluster.events])]
    return blocks


def _tags(data: ReportData) -> list[Block]:
    if not data.tags:
        return [Paragraph("No file or finding has been tagged in this case.")]
    return [Paragraph(f"{len(data.tags):,} tags, oldest first. Tags and notes are the examiner's words; paths and "
                      "titles come from the evidence."),
            Table(["Time (UTC)", "Tag", "On", "Note", "Examiner"],
                  [[Mono(t["created_at"]), t["tag"], f"{t['object_kind']} {t['object_id']}: {t['object'] or '-'}"
                    + (f" — {t['title']}" if t["title"] else ""), t["note"] or "", t["examiner"] or "-"]
                   for t in data.tags], [3.0, 1.8, 5.2, 3.6, 1.6])]


def _audit(data: ReportData) -> list[Block]:
    note = f"{data.audit_total:,} entries" + (f"; the first {len(data.audit)} shown" if data.audit_total > len(data.audit)
                                              else "")
    return [Paragraph(f"Every action recorded in the case, oldest first ({note})."),
            Table(["Time (UTC)", "User", "Action", "Detail"],
                  [[Mono(e["ts"]), f"{e['user'] or '-'}@{e['host'] or '-'}", e["action"], Mono(e["detail"])]
                   for e in data.audit], [3.0, 1.5, 1.7, 7])]


def _integrity(data: ReportData) -> list[Block]:
    files: list[list[Cell]] = []
    if data.appendix:
        files.append([Mono(data.appendix.path.name), Mono(data.appendix.sha256)])
    files += [[f"Evidence {item['id']}: {Path(item['path']).name}", Mono(item["sha256"] or "not computed")]
              for item in data.evidence]
    return [Paragraph(custody_sentence(data), "warning" if data.custody_problems else "body"), Paragraph(SEAL_NOTE),
            Table(["Case at the time of this report", "Value"], [[name, Mono(value)] for name, value in seal_rows(data)],
                  [4.5, 9], sortable=False),
            Table(["File", "SHA-256"], files, [3, 5.2], sortable=False)]


def _not_opened(ledger: list[dict[str, Any]]) -> list[Block]:
    """The objects that could hold others (archives, mail stores, documents, virtual disks, unallocated space) but
    were not opened, counted with their reasons (issue 19): their content is not in the findings."""
    from ..evidence.containers.ledger import not_opened

    unopened = not_opened(ledger)
    if not unopened:
        return []
    return [Paragraph(f"{sum(unopened.values()):,} object(s) that could hold others were not opened, so what they "
                      "hold is not examined: " + "; ".join(f"{n:,} {reason}" for reason, n in unopened.items()) + ".")]
