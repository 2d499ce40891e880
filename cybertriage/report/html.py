"""The HTML report: the report's document (document.py) as one self-contained file (inline CSS, a
little inline JS to sort tables).

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

from ..case.outputs import write_with_checksum
from ..severity import SEVERITIES_WORST_FIRST, SEVERITY_RANK
from ..text_safety import visible_html as _t  # evidence text as HTML: made visible, then escaped
from .content import ReportData, ReportDetails, appendix_path, check_destinations, collect, compact_json
from .document import (
    Block,
    Cell,
    FindingCard,
    FindingIndex,
    Heading,
    KeyValue,
    Lines,
    Mono,
    NetworkList,
    Paragraph,
    SeverityCounts,
    Table,
    Thumbnails,
    build_document,
)

logger = logging.getLogger(__name__)

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
    document = build_document(data)
    parts = ["<h1>Forensic triage report</h1>", f'<p class="sub">{_t(document.title)}</p>']
    parts += [_block(block) for block in document.cover]
    parts.append('<nav>' + "".join(f'<a href="#{s.name}">{s.title}</a>' for s in document.sections) + "</nav>")
    for section in document.sections:
        parts.append(f'<section id="{section.name}"><h2>{_t(section.title)}</h2>')
        parts += [_block(block) for block in section.blocks]
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


# -- the document's blocks -----------------------------------------------------------------

PARAGRAPH_CLASSES = {"body": "", "note": ' class="note"', "warning": ' class="sev-critical"'}


def _block(block: Block) -> str:
    """One block of the document as HTML."""
    if isinstance(block, Heading):
        return f"<h3>{_t(block.text)}</h3>"
    if isinstance(block, Paragraph):
        return f"<p{PARAGRAPH_CLASSES[block.style]}>" + "<br>".join(_t(line) for line in block.text.split("\n")) + "</p>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, KeyValue):
        klass = ' class="mono"' if block.title_mono else ""
        title = f"<h3{klass}>{_t(block.title)}</h3>" if block.title else ""
        return title + _kv(block.rows)
    if isinstance(block, FindingCard):
        return _finding_card(block)
    if isinstance(block, FindingIndex):
        return _finding_index(block)
    if isinstance(block, SeverityCounts):
        return _severity_counts(block.counts)
    if isinstance(block, NetworkList):
        return _network_list(block)
    if isinstance(block, Thumbnails):
        return _thumbnails(block)
    raise TypeError(f"no HTML for {type(block).__name__}")


def _thumbnails(block: Thumbnails) -> str:
    """Each picture as a PNG inside the page (a data: URI, which the page's policy allows), its caption below."""
    cells = []
    for caption, png, why in block.items:
        picture = (f'<img alt="" src="data:image/png;base64,{base64.b64encode(png).decode()}">' if png
                   else f'<p class="note">No thumbnail: {_t(why)}</p>')
        lines = "<br>".join(_t(line) for line in caption.split("\n") if line)
        cells.append(f'<figure style="display:inline-block;vertical-align:top;width:220px;margin:6px">{picture}'
                     f'<figcaption class="note mono">{lines}</figcaption></figure>')
    return "<div>" + "".join(cells) + "</div>"


def _cell(value: Cell) -> str:
    """A cell's content; a number or a severity also sets how the column sorts (see JS)."""
    if isinstance(value, Mono):
        return f'<span class="mono">{_t(value.text) or "-"}</span>'
    if isinstance(value, Lines):
        return "<br>".join(_cell(Mono(item)) if value.mono else _t(item) for item in value.items)
    if isinstance(value, Table):
        return _table(value, klass="strings")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _t(value)


def _td(value: Cell) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="num" data-sort="{value}">{value:,}</td>'
    return f"<td>{_cell(value)}</td>"


def _kv(rows: list[tuple[str, Cell]]) -> str:
    return '<table class="kv">' + "".join(f"<tr><th>{_t(k)}</th>{_td(v)}</tr>" for k, v in rows) + "</table>"


def _table(table: Table, table_id: str | None = None, klass: str = "") -> str:
    classes = " ".join(c for c in ("sortable" if table.sortable else "", klass) if c)
    attrs = (f' class="{classes}"' if classes else "") + (f' id="{table_id}"' if table_id else "")
    head = "<thead><tr>" + "".join(f"<th>{_t(h)}</th>" for h in table.columns) + "</tr></thead>"
    body = []
    for i, row in enumerate(table.rows):
        cells = "".join(_td(c) for c in row)
        body.append(f'<tr class="anchor">{cells}</tr>' if table.emphasis and table.emphasis[i] else f"<tr>{cells}</tr>")
    return f"<table{attrs}>{head}<tbody>" + "".join(body) + "</tbody></table>"


def _sev(severity: str) -> str:
    rank = SEVERITY_RANK.get(severity, -1)
    return f'<td data-sort="{rank}"><span class="sev sev-{_t(severity)}">{_t(severity)}</span></td>'


def _finding_index(index: FindingIndex) -> str:
    rows = "".join(
        f'<tr><td class="num" data-sort="{f["id"]}">{f["id"]:,}</td>{_sev(f["severity"])}'
        f'<td><a href="#finding-{f["id"]}">{_t(f["title"])}</a></td><td>{_cell(Mono(f["object"]))}</td>'
        f'<td>{_t(Path(f["evidence"]).name)}</td></tr>' for f in index.findings)
    head = "".join(f"<th>{h}</th>" for h in ("#", "Severity", "Title", "Object", "Evidence"))
    return f'<table class="sortable" id="findings-index"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def _finding_card(card: FindingCard) -> str:
    severity = card.severity if card.severity in SEVERITIES_WORST_FIRST else "info"
    return (f'<div class="finding {severity}" id="finding-{card.id}"><div class="fhead">#{card.id} '
            f'<span class="sev sev-{severity}">{_t(card.severity)}</span> {_t(card.title)}</div>{_kv(card.rows)}</div>')


def _severity_counts(counts: dict[str, int]) -> str:
    return ('<table id="severity-counts"><thead><tr><th>Severity</th><th>Findings</th></tr></thead><tbody>'
            + "".join(f'<tr data-severity="{s}"><td><span class="sev sev-{s}">{s}</span></td>'
                      f'<td class="num" data-count="{counts[s]}">{counts[s]:,}</td></tr>' for s in SEVERITIES_WORST_FIRST)
            + "</tbody></table>" + _bar_chart(counts))


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


def _network_list(block: NetworkList) -> str:
    """A network list's heading carries its total and rows shown (tests read them back)."""
    table = block.table
    rows = [[v if isinstance(v, int) and not isinstance(v, bool) else
             (Mono(compact_json(v)) if c in table.wide else compact_json(v) or "-")
             for c, v in zip(table.columns, row)] for row in table.rows]
    return (f'<h3 id="net-{_t(table.name)}" data-total="{table.count}" data-shown="{len(table.rows)}">'
            f'{_t(table.title)}</h3><p class="note">{_t(table.note)}</p>'
            + _table(Table(table.columns, rows, []), klass="net"))
