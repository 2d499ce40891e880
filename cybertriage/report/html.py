"""The HTML report: one self-contained file (inline CSS, a little inline JS to sort tables).

Every string from evidence goes through `_t` (visible + html.escape). The page's
Content-Security-Policy allows only its own style and script (by hash) and no
network at all, so even a name that slipped through could not load anything.
"""

from __future__ import annotations

import base64
import hashlib
import html
import logging
from pathlib import Path
from typing import Any

from ..case.outputs import write_with_checksum
from ..formatting import exact_size
from ..severity import SEVERITIES_WORST_FIRST, SEVERITY_RANK
from ..text_safety import visible_html as _t  # evidence text as HTML: made visible, then escaped
from .content import (
    ANALYZERS_UNRECORDED,
    RUN_INTEL_KEYS,
    SEAL_NOTE,
    SECTIONS,
    ReportData,
    ReportDetails,
    appendix_path,
    check_destinations,
    collect,
    compact_json,
    counts_sentence,
    custody_sentence,
    events_note,
    objects_text,
    run_intel,
    seal_rows,
)

logger = logging.getLogger(__name__)

SECTION_TITLES = {"evidence": "Evidence", "methodology": "Methodology", "summary": "Summary of findings",
                  "findings": "Findings", "network": "Network", "pe": "Windows executables (PE)",
                  "timeline": "Timeline excerpt", "tags": "Examiner tags and notes", "audit": "Audit log (chain of custody)",
                  "integrity": "Integrity"}
SEVERITY_COLOURS = {"critical": "#7f0000", "high": "#d32f2f", "medium": "#ef6c00", "low": "#f9a825", "info": "#607d8b"}

CSS = """
body{font-family:"DejaVu Sans",Verdana,Arial,sans-serif;font-size:14px;color:#1a1a1a;margin:0;background:#f5f6f8}
main{max-width:1100px;margin:0 auto;padding:24px 32px;background:#fff}
h1{font-size:26px;margin:8px 0 4px}h2{font-size:20px;margin:32px 0 10px;padding-top:8px;border-top:2px solid #1a2b3c}
h3{font-size:15px;margin:18px 0 6px}.sub{font-size:17px;color:#3c4b5c;margin:0 0 18px}
nav{margin:12px 0 20px;font-size:13px}nav a{margin-right:12px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:12.5px}
th,td{border:1px solid #b0b7bf;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#eef1f4}table.kv>tbody>tr>th{width:170px}th{white-space:nowrap}
table.strings{margin:0}table.strings th:nth-child(1){width:18%}table.strings th:nth-child(2){width:9%}
table.sortable th{cursor:pointer}table.sortable th:after{content:" \\2195";color:#999}
table.net td{overflow-wrap:anywhere}td.num{text-align:right;font-variant-numeric:tabular-nums}
.mono,code{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12px;overflow-wrap:anywhere}
.sev{font-weight:bold;text-transform:uppercase}
.sev-critical{color:#7f0000}.sev-high{color:#d32f2f}.sev-medium{color:#ef6c00}.sev-low{color:#b27d00}.sev-info{color:#607d8b}
.finding{margin:14px 0;border-left:4px solid #607d8b}.finding>table{margin:0}
.finding.critical{border-color:#7f0000}.finding.high{border-color:#d32f2f}.finding.medium{border-color:#ef6c00}
.finding.low{border-color:#f9a825}
.fhead{padding:5px 8px;background:#eef1f4;font-weight:bold}
.finding.critical .fhead{background:#f3d6d6}.finding.high .fhead{background:#fbe3e3}
.finding.medium .fhead{background:#fdebd9}.finding.low .fhead{background:#fdf5d6}
tr.anchor td{font-weight:bold}.note{color:#555;font-size:12.5px}
.chart{margin:6px 0 12px}#severity-counts{width:auto;min-width:280px}
@media print{body{background:#fff}main{max-width:none;padding:0}nav{display:none}.finding{break-inside:avoid}}
"""

JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var up = th.getAttribute("data-dir") !== "up";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("data-dir"); });
      th.setAttribute("data-dir", up ? "up" : "down");
      function key(row) {
        var cell = row.cells[col], v = cell.getAttribute("data-sort");
        if (v === null) { v = cell.textContent.trim(); }
        var n = Number(v.replace(/,/g, ""));
        return v !== "" && !isNaN(n) ? n : v.toLowerCase();
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        if (typeof x !== typeof y) { x = String(x); y = String(y); }
        return (x < y ? -1 : x > y ? 1 : 0) * (up ? 1 : -1);
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def write_html(case_dir: Path, out: Path, details: ReportDetails | None = None, *, force: bool = False) -> Path:
    """Write the HTML report of the case in `case_dir` to `out`, and `out.sha256` beside it.

    Same sections and counts as the PDF; past `details.max_findings` findings the full
    list goes to OUT.findings.csv beside it. Returns `out`.
    """
    out = check_destinations(Path(case_dir), Path(out), force=force)  # never the case, its evidence or a link
    data = collect(Path(case_dir), details, appendix=appendix_path(out), force=force)
    write_with_checksum(out, render_html(data).encode("utf-8"), force=force)
    logger.info("HTML report written to %s", out)
    return out


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


def render_html(data: ReportData) -> str:
    """The report as one HTML document."""
    d = data.details
    parts: list[str] = []
    parts += _cover(data)
    included = [s for s in SECTIONS if d.includes(s) and (s != "pe" or data.pe)]
    parts.append('<nav>' + "".join(f'<a href="#{s}">{SECTION_TITLES[s]}</a>' for s in included) + "</nav>")
    builders = {"evidence": _evidence, "methodology": _methodology, "summary": _summary, "findings": _findings,
                "network": _network, "pe": _pe, "timeline": _timeline, "tags": _tags, "audit": _audit,
                "integrity": _integrity}
    for section in included:
        parts.append(f'<section id="{section}"><h2>{SECTION_TITLES[section]}</h2>')
        parts += builders[section](data)
        parts.append("</section>")
    csp = f"default-src 'none'; style-src {_csp_hash(CSS)}; script-src {_csp_hash(JS)}; img-src data:"
    title = f"Forensic triage report: {_t(d.case_name)}" + (f" (case {_t(d.case_number)})" if d.case_number else "")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="generator" content="cybertriage {html.escape(data.tool_version)}">\n'
        f'<meta name="cybertriage-custody" content="{html.escape(data.seal.keywords)}">\n'
        f"<title>{title}</title>\n<style>{CSS}</style></head>\n<body><main>\n"
        + "\n".join(parts)
        + f"\n<footer class=\"note\">cybertriage {html.escape(data.tool_version)} · generated "
          f"{html.escape(data.generated_at)} UTC</footer>\n</main><script>{JS}</script></body></html>\n"
    )


# -- building blocks -----------------------------------------------------------------------


def _kv(rows: list[tuple[str, str]]) -> str:
    """A label/value table; values are HTML already."""
    return '<table class="kv">' + "".join(f"<tr><th>{_t(k)}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _table(header: list[str], rows: list[list[str]], sortable: bool = True, row_classes: list[str] | None = None,
           table_id: str | None = None, klass: str = "") -> str:
    """A table with a header; cells are HTML already (a cell may start with <td ...> to set attributes)."""
    classes = " ".join(c for c in ("sortable" if sortable else "", klass) if c)
    attrs = (f' class="{classes}"' if classes else "") + (f' id="{table_id}"' if table_id else "")
    head = "<thead><tr>" + "".join(f"<th>{_t(h)}</th>" for h in header) + "</tr></thead>"
    body = []
    for i, row in enumerate(rows):
        klass = row_classes[i] if row_classes else ""
        cells = "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row)
        body.append(f'<tr class="{klass}">{cells}</tr>' if klass else f"<tr>{cells}</tr>")
    return f"<table{attrs}>{head}<tbody>" + "".join(body) + "</tbody></table>"


def _mono(text: Any) -> str:
    return f'<span class="mono">{_t(text) or "-"}</span>'


def _num(value: int) -> str:
    return f'<td class="num" data-sort="{value}">{value:,}</td>'


def _sev(severity: str) -> str:
    rank = SEVERITY_RANK.get(severity, -1)
    return f'<td data-sort="{rank}"><span class="sev sev-{_t(severity)}">{_t(severity)}</span></td>'


# -- sections ------------------------------------------------------------------------------


def _cover(data: ReportData) -> list[str]:
    d = data.details
    rows = [
        ("Case number", _t(d.case_number) or "-"), ("Case name", _t(d.case_name) or "-"),
        ("Examiner", _t(d.examiner) or "-"), ("Agency", _t(d.agency) or "-"),
        ("Report generated", f"{html.escape(data.generated_at)} (UTC)"),
        ("Tool", f"cybertriage {html.escape(data.tool_version)} (case schema {data.schema_version})"),
        ("Case folder", _mono(str(data.case_dir.resolve()))),
        ("Case created", _t(data.case_info.get("created_at")) or "-"),
        ("Evidence items", str(len(data.evidence))),
        ("Findings", html.escape(counts_sentence(data.severity_counts, data.findings_total))),
    ]
    parts = ["<h1>Forensic triage report</h1>", f'<p class="sub">{_t(d.case_name)}</p>', _kv(rows)]
    if d.notes:
        parts.append("<h3>Notes</h3><p>" + _t(d.notes).replace("\\u000a", "<br>") + "</p>")
    parts.append('<p class="note">This report was produced from the case database without changing it. Times are '
                 "UTC. Text taken from evidence (file names, paths, matched data, rule text) is shown as it is, except "
                 "that control and invisible formatting characters, such as right-to-left overrides, are written out "
                 "as \\uXXXX instead of being obeyed.</p>")
    return parts


def _evidence(data: ReportData) -> list[str]:
    if not data.evidence:
        return ["<p>The case holds no evidence.</p>"]
    parts = []
    for item in data.evidence:
        rows = [("Path", _mono(item["path"])),
                ("Kind / format", f"{_t(item['kind'] or '-')} / {_t(item['format'] or '-')}"),
                ("Size", html.escape(exact_size(item["size"]) or "-")),
                ("SHA-256", _mono(item["sha256"] or "not computed"))]
        if len(item["segments"]) > 1:
            rows.append(("Segments", "<br>".join(_mono(s) for s in item["segments"])))
        if item["stored_md5"] or item["stored_sha1"] or item["computed_md5"] or item["computed_sha1"]:
            rows += [("Stored MD5", _mono(item["stored_md5"])), ("Computed MD5", _mono(item["computed_md5"])),
                     ("Stored SHA-1", _mono(item["stored_sha1"])), ("Computed SHA-1", _mono(item["computed_sha1"]))]
        rows += [("Verification", _t(item["verified"] or "not done")),
                 ("Status", _t(item["status"]) + (f": {_t(item['error'])}" if item["error"] else "")),
                 ("Added / processed", f"{_t(item['added_at'] or '-')} / {_t(item['processed_at'] or '-')}")]
        if item["partitions"]:
            rows.append(("Partitions", "<br>".join(
                f"at byte {p['offset']:,}: {_t(p['description'])}, {_t(p['filesystem'] or '-')}, {_t(p['status'])}"
                for p in item["partitions"])))
        rows += [("Objects", html.escape(objects_text(item))),
                 ("Findings", html.escape(", ".join(f"{item['findings'][s]} {s}" for s in SEVERITIES_WORST_FIRST
                                                    if item["findings"].get(s)) or "none"))]
        parts += [f"<h3>Evidence {item['id']}: {_t(Path(item['path']).name)}</h3>", _kv(rows)]
    return parts


def _methodology(data: ReportData) -> list[str]:
    parts = ["<p>Each evidence item was opened read-only and its container files hashed (SHA-256). E01 images were "
             "verified against the MD5/SHA-1 the image stores of the acquired media, unless verification was turned "
             "off. Disk images were read through Sleuth Kit (partitions, then every filesystem, allocated and deleted "
             "files); folders were read file by file without following links. Each file's content was read once and "
             "given to every analyzer listed below.</p>",
             "<h3>Analyzers</h3>",
             _table(["Analyzer", "Version", "Used", "What it examines"],
                    [[_t(a["name"]), _t(a["version"]), _t(a["used"]), _t(a["does"])] for a in data.analyzers]),
             "" if data.analyzers_recorded else f'<p class="note">{html.escape(ANALYZERS_UNRECORDED)}</p>',
             "<h3>Runs</h3>"]
    if not data.runs:
        parts.append("<p>No run is recorded in this case.</p>")
    rows = []
    for run in data.runs:
        options = run["options"] if isinstance(run["options"], dict) else {}
        rows.append([str(run["id"]), _t(run["started"] or "-"), _t(run["finished"] or "-"), _t(run["status"]),
                     _t(run["tool_version"]), "on" if options.get("yara") else "off",
                     _mono(run["rules_sha256"] or "(YARA off)"),
                     "<br>".join(_mono(r) for r in options.get("rules") or []) or "-",
                     _mono(", ".join(f"{k}={compact_json(v)}" for k, v in options.items()
                                     if k not in ("rules", "yara", *RUN_INTEL_KEYS))),
                     "<br>".join(f"{_t(label)}:<br>" + "<br>".join(_mono(line) for line in lines)
                                 for label, lines in run_intel(options)) or "-"])
    if rows:
        parts.append(_table(["Run", "Started (UTC)", "Finished (UTC)", "Status", "Version", "YARA", "Rule set SHA-256",
                             "Rule paths", "Options", "Hash sets and IOC lists"], rows))
    parts += ["<h3>Completeness ledger</h3>",
              '<p class="note">Per evidence item and stage (latest run): how many objects were attempted, processed, '
              "and skipped, with the reasons for skipping.</p>"]
    for item in data.evidence:
        parts.append(f"<h3>Evidence {item['id']}: {_t(Path(item['path']).name)}, {item['problems']:,} problem(s) "
                     "recorded</h3>")
        if item["ledger"]:
            parts.append(_table(["Stage", "Attempted", "Processed", "Skipped", "Reasons skipped"], [
                [_t(s["stage"]), _num(s["attempted"]), _num(s["processed"]), _num(s["skipped"]),
                 "<br>".join(f"{n:,} {_t(r)}" for r, n in s["reasons"].items()) or "-"] for s in item["ledger"]]))
        else:
            parts.append("<p>No ledger recorded (the evidence was not analysed).</p>")
        if item["problem_list"]:
            parts.append(_table(["Stage", "Object", "Problem"], [[_t(p["stage"]), _mono(p["object"]), _t(p["message"])]
                                                                 for p in item["problem_list"]]))
            if item["problems"] > len(item["problem_list"]):
                parts.append(f'<p class="note">… and {item["problems"] - len(item["problem_list"]):,} more.</p>')
    return parts


def _summary(data: ReportData) -> list[str]:
    counts = data.severity_counts
    parts = [f"<p>{html.escape(counts_sentence(counts, data.findings_total))}</p>",
             f'<p class="known-good">{html.escape(data.known_good_note)}</p>' if data.known_good_note else "",
             '<table id="severity-counts"><thead><tr><th>Severity</th><th>Findings</th></tr></thead><tbody>'
             + "".join(f'<tr data-severity="{s}"><td><span class="sev sev-{s}">{s}</span></td>'
                       f'<td class="num" data-count="{counts[s]}">{counts[s]:,}</td></tr>' for s in SEVERITIES_WORST_FIRST)
             + "</tbody></table>", _bar_chart(counts)]
    if data.evidence:
        rows = [[f"{item['id']}: {_t(Path(item['path']).name)}", _num(item["files"] - item["known_good"])]
                + [_num(item["findings"].get(s, 0)) for s in SEVERITIES_WORST_FIRST] for item in data.evidence]
        parts += ["<h3>By evidence item</h3>",
                  _table(["Evidence", "Objects", *[s.capitalize() for s in SEVERITIES_WORST_FIRST]], rows)]
    return parts


def _bar_chart(counts: dict[str, int]) -> str:
    """An inline SVG bar chart (presentation attributes only: nothing the page's CSP would block)."""
    top = max(max(counts.values()), 1)
    width, height, bar, gap = 460, 170, 60, 30
    bars = []
    for i, severity in enumerate(SEVERITIES_WORST_FIRST):
        h = round(120 * counts[severity] / top)
        x = 20 + i * (bar + gap)
        bars.append(f'<rect x="{x}" y="{140 - h}" width="{bar}" height="{h}" fill="{SEVERITY_COLOURS[severity]}"/>'
                    f'<text x="{x + bar // 2}" y="{136 - h}" text-anchor="middle" font-size="11">{counts[severity]:,}</text>'
                    f'<text x="{x + bar // 2}" y="158" text-anchor="middle" font-size="11">{severity.capitalize()}</text>')
    return (f'<svg class="chart" width="{width}" height="{height}" role="img" aria-label="Findings by severity" '
            f'xmlns="http://www.w3.org/2000/svg"><line x1="10" y1="140" x2="{width - 10}" y2="140" stroke="#888"/>'
            + "".join(bars) + "</svg>")


def _findings(data: ReportData) -> list[str]:
    if not data.findings_total:
        return ["<p>The analyzers reported no findings.</p>"]
    intro = f"{data.findings_total:,} findings, worst first (by severity, then by the triage score of their object)."
    if data.truncated:
        intro += f" The {data.findings_shown:,} worst are shown here."
        if data.appendix:
            intro += (f" Every finding is listed in <b>{_t(data.appendix.path.name)}</b> beside this report "
                      f"({data.appendix.rows:,} rows; its SHA-256 is in the integrity section).")
    parts = [f"<p>{intro}</p>", _table(
        ["#", "Severity", "Title", "Object", "Evidence"],
        [[_num(f["id"]), _sev(f["severity"]), f'<a href="#finding-{f["id"]}">{_t(f["title"])}</a>', _mono(f["object"]),
          _t(Path(f["evidence"]).name)] for f in data.findings], table_id="findings-index")]
    for f in data.findings:
        parts.append(_finding_block(f))
    return parts + _correlations(data)


def _correlations(data: ReportData) -> list[str]:
    """Links between evidence items, each with its chain (DNS lookup → download → file → findings)."""
    if not data.correlations:
        return []
    parts = ["<h3>Correlations</h3>", f"<p>{len(data.correlations):,} links between evidence items, each followed "
             "along its chain: the DNS lookup, the download, the copy the capture carried, the file on disk and the "
             "file's own findings.</p>"]
    for c in data.correlations:
        parts += [f'<p><a href="#finding-{c.id}">#{c.id}</a> {_sev(c.severity)} {_t(c.title)}</p>',
                  _table(["Step", "Time (UTC)", "What"], [[_t(label), _mono(ts), _mono(text)] for label, ts, text in
                                                          c.steps], sortable=False)]
    return parts


def _finding_block(f: dict[str, Any]) -> str:
    rows = [("Object", _mono(f["object"])), ("Evidence", _mono(f["evidence"])),
            ("Analyzer / rule", f"{_t(f['analyzer'])} / {_t(f['rule'])}")]
    file = f.get("file")
    if file is not None:
        state = " (deleted)" if file.get("deleted") else ""
        rows.append(("File", html.escape(f"{exact_size(file.get('size')) or '-'}, ") + _t(file.get("mime") or "type unknown")
                     + state))
        rows += [("MD5", _mono(file.get("md5"))), ("SHA-1", _mono(file.get("sha1"))), ("SHA-256", _mono(file.get("sha256")))]
        times = [f"{c} {file[c]}" for c in ("mtime", "atime", "ctime", "crtime") if file.get(c)]
        if times:
            rows.append(("Times (UTC)", _t(", ".join(times))))
        if file.get("score") is not None:
            rows.append(("Triage score", f"{int(file['score'])} of 100"))
    rows += [(label, _t(text)) for label, text in f["facts"]]
    if f["reasons"]:
        rows.append(("Reasons", "<br>".join(_t(r) for r in f["reasons"])))
    if f["strings"]:
        label = "Matched strings"
        if f["strings_total"] > len(f["strings"]):
            label += f" (first {len(f['strings'])} of {f['strings_total']})"
        rows.append((label, _table(["Identifier", "Offset", "Data"], [
            [_mono(s.get("identifier")), _mono(s.get("offset")), _mono(s.get("data"))] for s in f["strings"]],
            sortable=False, klass="strings")))
    severity = f["severity"] if f["severity"] in SEVERITIES_WORST_FIRST else "info"
    return (f'<div class="finding {severity}" id="finding-{f["id"]}"><div class="fhead">#{f["id"]} '
            f'<span class="sev sev-{severity}">{_t(f["severity"])}</span> {_t(f["title"])}</div>{_kv(rows)}</div>')


def _network(data: ReportData) -> list[str]:
    if not data.network:
        return ["<p>No packet capture in this case: there are no flows, DNS, HTTP or TLS records.</p>"]
    parts = [f"<p>{html.escape(data.network_summary.sentence)}</p>"] if data.network_summary else []
    for table in data.network:
        rows = [[_num(v) if isinstance(v, int) and not isinstance(v, bool) else
                 (_mono(compact_json(v)) if c in table.wide else _t(compact_json(v)) or "-")
                 for c, v in zip(table.columns, row)] for row in table.rows]
        parts += [f'<h3 id="net-{_t(table.name)}" data-total="{table.count}" data-shown="{len(table.rows)}">'
                  f"{_t(table.title)}</h3>", f'<p class="note">{_t(table.note)}</p>',
                  _table(table.columns, rows, klass="net")]
    return parts


def _pe(data: ReportData) -> list[str]:
    parts = [f"<p>{data.pe_total:,} file{'' if data.pe_total == 1 else 's'} with PE details"
             + (f"; the first {len(data.pe)} shown.</p>" if data.pe_total > len(data.pe) else ".</p>")]
    for row in data.pe:
        rows = [("Evidence", _mono(row["evidence"])), ("Size", html.escape(exact_size(row["size"]) or "-")),
                ("SHA-256", _mono(row["sha256"]))] + [(k, _t(v)) for k, v in row["facts"]]
        parts += [f'<h3 class="mono">{_t(row["path"])}</h3>', _kv(rows)]
    return parts


def _timeline(data: ReportData) -> list[str]:
    window = data.details.timeline_window_seconds
    parts = [f"<p>The case timeline within {window / 3600:g} h of the times of high and critical findings and of "
             "correlations: file modified, accessed, changed and born (MACB) times, network events and findings, "
             "across every evidence item, in time order (UTC). The events of the findings themselves, and of their "
             "files, are in bold.</p>"]
    if not data.timeline:
        return parts + ["<p>No high or critical finding or correlation with a recorded time.</p>"]
    names = {item["id"]: Path(item["path"]).name for item in data.evidence}
    for cluster in data.timeline:
        anchors = "; ".join(f"#{a['id']} {a['severity']}: {a['object']}" for a in cluster.anchors[:5])
        if len(cluster.anchors) > 5:
            anchors += f"; and {len(cluster.anchors) - 5} more"
        shown = events_note(len(cluster.events), cluster.total)
        sources = ", ".join(f"{i} ({names.get(i, '?')})" for i in cluster.evidence_ids) or "-"
        parts += [f"<h3>{_t(cluster.start)} to {_t(cluster.end)}</h3>",
                  f'<p class="note">Around {_t(anchors)}. {shown}, from evidence {_t(sources)}.</p>',
                  _table(["Time (UTC)", "Event", "Evidence", "What"],
                         [[_mono(e["ts"]), _mono(e["what"]), _num(e["evidence_id"]), _mono(e["text"])]
                          for e in cluster.events],
                         row_classes=["anchor" if e["anchor"] else "" for e in cluster.events])]
    return parts


def _tags(data: ReportData) -> list[str]:
    if not data.tags:
        return ["<p>No file or finding has been tagged in this case.</p>"]
    return [f"<p>{len(data.tags):,} tags, oldest first. Tags and notes are the examiner's words; paths and titles come "
            "from the evidence.</p>",
            _table(["Time (UTC)", "Tag", "On", "Note", "Examiner"],
                   [[_mono(t["created_at"]), _t(t["tag"]),
                     _t(f"{t['object_kind']} {t['object_id']}: {t['object'] or '-'}"
                        + (f" — {t['title']}" if t["title"] else "")), _t(t["note"] or ""), _t(t["examiner"] or "-")]
                    for t in data.tags])]


def _audit(data: ReportData) -> list[str]:
    note = f"{data.audit_total:,} entries" + (f"; the first {len(data.audit)} shown" if data.audit_total > len(data.audit)
                                              else "")
    return [f"<p>Every action recorded in the case, oldest first ({note}).</p>",
            _table(["Time (UTC)", "User", "Action", "Detail"],
                   [[_mono(e["ts"]), _t(f"{e['user'] or '-'}@{e['host'] or '-'}"), _t(e["action"]), _mono(e["detail"])]
                    for e in data.audit])]


def _integrity(data: ReportData) -> list[str]:
    seal = _table(["Case at the time of this report", "Value"], [[_t(name), _mono(value)] for name, value in seal_rows(data)],
                  sortable=False)
    rows: list[list[str]] = []
    if data.appendix:
        rows.append([_mono(data.appendix.path.name), _mono(data.appendix.sha256)])
    rows += [[_t(f"Evidence {item['id']}: {Path(item['path']).name}"), _mono(item["sha256"] or "not computed")]
             for item in data.evidence]
    warning = ' class="sev-critical"' if data.custody_problems else ""
    return [f"<p{warning}>{_t(custody_sentence(data))}</p>",
            f"<p>{_t(SEAL_NOTE)} The SHA-256 of this page itself is written beside it, in the file of the same name "
            "ending in .sha256.</p>", seal, _table(["File", "SHA-256"], rows, sortable=False)]
