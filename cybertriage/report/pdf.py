"""The PDF report (reportlab platypus): what a case holds, laid out for a case file.

Every string from evidence goes through `_t` (visible + escaped for Paragraph
markup); long hashes and paths are set in DejaVu Sans Mono and split where they
must. "Page N of M" needs the page count, so the canvas keeps each page's state
and draws the footers when the document is saved (reportlab's canvasmaker pattern).
"""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as pdfcanvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from ..assets import asset_dir
from ..case.outputs import write_with_checksum
from ..formatting import exact_size
from ..severity import SEVERITIES_WORST_FIRST
from ..text_safety import visible
from .content import (
    ANALYZERS_UNRECORDED,
    RUN_INTEL_KEYS,
    SEAL_NOTE,
    NetworkTable,
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

FONT, FONT_BOLD, MONO, MONO_BOLD = "DejaVuSans", "DejaVuSans-Bold", "DejaVuSansMono", "DejaVuSansMono-Bold"
FONT_FILES = {FONT: "DejaVuSans.ttf", FONT_BOLD: "DejaVuSans-Bold.ttf", MONO: "DejaVuSansMono.ttf",
              MONO_BOLD: "DejaVuSansMono-Bold.ttf"}
SEVERITY_COLOURS = {"critical": colors.HexColor("#7f0000"), "high": colors.HexColor("#d32f2f"),
                    "medium": colors.HexColor("#ef6c00"), "low": colors.HexColor("#e0a000"),
                    "info": colors.HexColor("#607d8b")}
SEVERITY_TINTS = {"critical": colors.HexColor("#f3d6d6"), "high": colors.HexColor("#fbe3e3"),
                  "medium": colors.HexColor("#fdebd9"), "low": colors.HexColor("#fdf5d6"),
                  "info": colors.HexColor("#e6ecef")}
SEVERITY_TEXT = {**SEVERITY_COLOURS, "low": colors.HexColor("#9a6b00")}  # yellow text is unreadable on white
GRID = colors.HexColor("#b0b7bf")
LABEL_BG = colors.HexColor("#eef1f4")
ROW_TINT = colors.HexColor("#f6f8fa")
# DejaVu has no CJK glyphs. Such runs are set in Adobe's standard CJK fonts, which a PDF names but does
# not embed: the text stays right when copied or searched, and viewers with CJK fonts (Acrobat, most
# desktops) draw it; a viewer without them shows boxes, as it would for DejaVu's missing glyphs.
CJK_SONG, CJK_KOREAN = "STSong-Light", "HYSMyeongJo-Medium"
CJK_START = 0x1100
CJK_RANGES = [(0x1100, 0x11FF, CJK_KOREAN), (0x2E80, 0x312F, CJK_SONG), (0x3130, 0x318F, CJK_KOREAN),
              (0x3190, 0x9FFF, CJK_SONG), (0xAC00, 0xD7AF, CJK_KOREAN), (0xF900, 0xFAFF, CJK_SONG),
              (0xFE30, 0xFE4F, CJK_SONG), (0xFF00, 0xFFEF, CJK_SONG), (0x20000, 0x3FFFF, CJK_SONG)]
PAGE = A4
MARGIN = 18 * mm
WIDTH = PAGE[0] - 2 * MARGIN
LABEL_WIDTH = 34 * mm


def write_pdf(case_dir: Path, out: Path, details: ReportDetails | None = None, *, force: bool = False) -> Path:
    """Write the PDF report of the case in `case_dir` to `out`, and `out.sha256` beside it.

    When the case holds more findings than `details.max_findings`, every finding also
    goes to OUT.findings.csv beside the report (named, with its sha256, in the report).
    Returns `out`. Raises UsageError when there is no case or `out` cannot be written.
    """
    out = check_destinations(Path(case_dir), Path(out), force=force)  # never the case, its evidence or a link
    data = collect(Path(case_dir), details, appendix=appendix_path(out), force=force)
    write_with_checksum(out, render_pdf(data), force=force)
    logger.info("PDF report written to %s", out)
    return out


def render_pdf(data: ReportData) -> bytes:
    """The report as PDF bytes."""
    _register_fonts()
    buffer = io.BytesIO()
    details = data.details
    header = " · ".join(visible(x) for x in (f"Case {details.case_number}" if details.case_number else None,
                                               details.case_name) if x)
    doc = _Document(buffer, header=header, footer=f"cybertriage {data.tool_version} · generated {data.generated_at}",
                    title=f"Forensic triage report: {visible(details.case_name)}", author=visible(details.examiner or ""),
                    subject=f"Case {visible(details.case_number or '-')}", creator=f"cybertriage {data.tool_version}",
                    keywords=data.seal.keywords)  # read back by `cybertriage verify --report`
    story: list[Flowable] = []
    story += _cover(data)
    sections = [("evidence", _evidence), ("methodology", _methodology), ("summary", _summary),
                ("findings", _findings), ("network", _network), ("pe", _pe), ("timeline", _timeline),
                ("tags", _tags), ("audit", _audit), ("integrity", _integrity)]
    for name, build in sections:
        if details.includes(name):
            story += build(data)
    doc.build(story, canvasmaker=_NumberedCanvas)
    return buffer.getvalue()


# -- fonts, styles, page furniture ---------------------------------------------------------


def _register_fonts() -> None:
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    folder = asset_dir("resources") / "fonts"
    for name, file in FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)
    pdfmetrics.registerFontFamily(MONO, normal=MONO, bold=MONO_BOLD, italic=MONO, boldItalic=MONO_BOLD)
    for name in (CJK_SONG, CJK_KOREAN):
        pdfmetrics.registerFont(UnicodeCIDFont(name))


def _style(name: str, **kw: Any) -> ParagraphStyle:
    base = {"fontName": FONT, "fontSize": 8.5, "leading": 11}
    return ParagraphStyle(name, **{**base, **kw})


BODY = _style("body", spaceAfter=4)
SMALL = _style("small", fontSize=7.5, leading=9.5, spaceBefore=2)
CELL = _style("cell", fontSize=7.5, leading=9.5)
CELL_BOLD = _style("cellbold", fontName=FONT_BOLD, fontSize=7.5, leading=9.5)
CELL_RIGHT = _style("cellright", fontSize=7.5, leading=9.5, alignment=TA_RIGHT)
MONO_CELL = _style("mono", fontName=MONO, fontSize=7, leading=9)
NET_CELL = _style("net", fontName=MONO, fontSize=6.3, leading=8)
NET_CELL_RIGHT = _style("netright", fontName=MONO, fontSize=6.3, leading=8, alignment=TA_RIGHT)
H1 = _style("h1", fontName=FONT_BOLD, fontSize=15, leading=19, spaceBefore=14, spaceAfter=8,
            textColor=colors.HexColor("#1a2b3c"))
H2 = _style("h2", fontName=FONT_BOLD, fontSize=10.5, leading=13, spaceBefore=8, spaceAfter=4,
            textColor=colors.HexColor("#1a2b3c"))
TITLE = _style("title", fontName=FONT_BOLD, fontSize=24, leading=30, spaceAfter=6)
SUBTITLE = _style("subtitle", fontSize=13, leading=17, spaceAfter=18, textColor=colors.HexColor("#3c4b5c"))


def _t(text: Any) -> str:
    """Untrusted text as Paragraph markup: invisible characters shown, markup characters escaped,
    CJK runs set in a CJK font."""
    shown = visible(text)
    if all(ord(c) < CJK_START for c in shown):
        return escape(shown)
    return "".join(escape(run) if font is None else f'<font name="{font}">{escape(run)}</font>'
                   for font, run in _font_runs(shown))


def _cjk_font(c: str) -> str | None:
    code = ord(c)
    for start, end, font in CJK_RANGES:
        if start <= code <= end:
            return font
    return None


def _font_runs(text: str) -> list[tuple[str | None, str]]:
    runs: list[tuple[str | None, str]] = []
    for font, chars in itertools.groupby(text, key=_cjk_font):
        runs.append((font, "".join(chars)))
    return runs


def _p(markup: str, style: ParagraphStyle = CELL) -> Paragraph:
    return Paragraph(markup, style)


@dataclass
class _Text:
    """Untrusted text for a table cell, laid out when the table knows the column's width: a plain
    string when it fits on one line (cheap: a report of 500 findings has thousands of cells), else
    a wrapping Paragraph."""

    text: str
    style: ParagraphStyle


def _mono(text: Any) -> _Text:
    return _Text(_clipped(visible(text)) or "-", MONO_CELL)


def _cell(text: Any) -> _Text:
    return _Text(_clipped(visible(text)) or "-", CELL)


def _clipped(text: str) -> str:
    """Evidence text cut to what one table cell can hold: a row taller than a page stops reportlab."""
    return text if len(text) <= CELL_TEXT_MAX else f"{text[:CELL_TEXT_MAX]}… ({len(text):,} characters)"


CELL_PADDING = 12  # reportlab's default 6 points left and right
CELL_TEXT_MAX = 800  # characters of one evidence string shown in a table cell; the case database keeps all


def _table(cells: list[list[Any]], widths: list[float], style: list[tuple], repeat: int = 0,
           padding: float = CELL_PADDING) -> Table:
    """A Table whose _Text cells become plain strings (with a FONT command) or Paragraphs;
    `padding` is the cells' left plus right padding."""
    commands = list(style)
    if padding != CELL_PADDING:
        commands += [("LEFTPADDING", (0, 0), (-1, -1), padding / 2), ("RIGHTPADDING", (0, 0), (-1, -1), padding / 2)]
    for r, row in enumerate(cells):
        for c, value in enumerate(row):
            if not isinstance(value, _Text):
                continue
            text, cell_style = value.text, value.style
            if (len(text) < 200 and all(ord(ch) < CJK_START for ch in text)
                    and pdfmetrics.stringWidth(text, cell_style.fontName, cell_style.fontSize) <= widths[c] - padding):
                row[c] = text
                commands.append(("FONT", (c, r), (c, r), cell_style.fontName, cell_style.fontSize, cell_style.leading))
                if cell_style.alignment == TA_RIGHT:
                    commands.append(("ALIGN", (c, r), (c, r), "RIGHT"))
            else:
                row[c] = Paragraph(_t(text), cell_style)
    table = Table(cells, colWidths=widths, repeatRows=repeat)
    table.setStyle(TableStyle(commands))
    return table


class _NumberedCanvas(pdfcanvas.Canvas):
    """Holds every page until the end, then stamps 'Page N of M' on each."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pages: list[dict[str, Any]] = []

    def showPage(self) -> None:  # noqa: N802 (reportlab's name)
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.setFont(FONT, 7.5)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawRightString(PAGE[0] - MARGIN, 10 * mm, f"Page {self._pageNumber} of {total}")
            super().showPage()
        super().save()


class _Document(SimpleDocTemplate):
    """A4 pages with the case in the header and the tool in the footer; H1 headings become PDF bookmarks."""

    def __init__(self, buffer: io.BytesIO, header: str, footer: str, **kw: Any) -> None:
        super().__init__(buffer, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN + 4 * mm,
                         bottomMargin=MARGIN, **kw)
        self.header, self.footer = header, footer
        self._bookmarks = 0

    def build(self, story: list[Flowable], **kw: Any) -> None:  # type: ignore[override]
        super().build(story, onFirstPage=self._furniture, onLaterPages=self._furniture, **kw)

    def _furniture(self, canvas: pdfcanvas.Canvas, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7.5)
        canvas.setFillColor(colors.HexColor("#555555"))
        if canvas.getPageNumber() > 1:
            canvas.drawString(MARGIN, PAGE[1] - MARGIN + 2 * mm, _clip(self.header, 110))
            canvas.drawRightString(PAGE[0] - MARGIN, PAGE[1] - MARGIN + 2 * mm, "Forensic triage report")
            canvas.setStrokeColor(GRID)
            canvas.line(MARGIN, PAGE[1] - MARGIN + 0.5 * mm, PAGE[0] - MARGIN, PAGE[1] - MARGIN + 0.5 * mm)
        canvas.drawString(MARGIN, 10 * mm, self.footer)
        canvas.restoreState()

    def afterFlowable(self, flowable: Flowable) -> None:  # noqa: N802 (reportlab's name)
        if isinstance(flowable, Paragraph) and flowable.style.name == H1.name:
            self._bookmarks += 1
            key = f"section{self._bookmarks}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(flowable.getPlainText(), key, level=0)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _kv(rows: Iterable[tuple[str, Any]], label_width: float = LABEL_WIDTH) -> Table:
    """A two-column table of label and value (values are flowables or plain trusted text)."""
    cells = [[_Text(visible(label), CELL_BOLD), value if isinstance(value, (Flowable, _Text)) else _p(str(value))]
             for label, value in rows]
    return _table(cells, [label_width, WIDTH - label_width], [
        ("GRID", (0, 0), (-1, -1), 0.4, GRID), ("BACKGROUND", (0, 0), (0, -1), LABEL_BG),
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ])


def _grid(header: list[str], rows: list[list[Any]], widths: list[float], repeat: bool = True,
          row_colours: list[Any] | None = None, width: float = WIDTH, padding: float = CELL_PADDING) -> Table:
    """A table with a header row; cells are flowables or trusted text."""
    cells: list[list[Any]] = [[_Text(h, CELL_BOLD) for h in header]]
    cells += [[c if isinstance(c, (Flowable, _Text)) else _p(str(c)) for c in row] for row in rows]
    total = sum(widths)
    style = [("GRID", (0, 0), (-1, -1), 0.4, GRID), ("BACKGROUND", (0, 0), (-1, 0), LABEL_BG),
             ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 2),
             ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]
    for i, colour in enumerate(row_colours or []):
        if colour is not None:
            style.append(("BACKGROUND", (0, i + 1), (-1, i + 1), colour))
    return _table(cells, [w * width / total for w in widths], style, 1 if repeat else 0, padding)


def _h1(text: str) -> list[Flowable]:
    return [CondPageBreak(60 * mm), Paragraph(escape(text), H1)]


def _severity_tag(severity: str) -> str:
    colour = SEVERITY_TEXT.get(severity, colors.black).hexval()[2:]
    return f'<font color="#{colour}"><b>{escape(severity.upper())}</b></font>'


def _counts_text(counts: dict[str, int]) -> str:
    shown = [f"{counts[s]} {s}" for s in SEVERITIES_WORST_FIRST if counts.get(s)]
    return ", ".join(shown) or "none"


# -- sections ------------------------------------------------------------------------------


def _cover(data: ReportData) -> list[Flowable]:
    d = data.details
    story: list[Flowable] = [Spacer(1, 25 * mm), Paragraph("Forensic triage report", TITLE),
                             Paragraph(_t(d.case_name), SUBTITLE)]
    rows = [
        ("Case number", _cell(d.case_number)),
        ("Case name", _cell(d.case_name)),
        ("Examiner", _cell(d.examiner)),
        ("Agency", _cell(d.agency)),
        ("Report generated", _p(f"{escape(data.generated_at)} (UTC)")),
        ("Tool", _p(f"cybertriage {escape(data.tool_version)} (case schema {data.schema_version})")),
        ("Case folder", _mono(str(data.case_dir.resolve()))),
        ("Case created", _cell(data.case_info.get("created_at"))),
        ("Evidence items", _p(str(len(data.evidence)))),
        ("Findings", _p(f"{data.findings_total:,}: {escape(_counts_text(data.severity_counts))}")),
    ]
    story.append(_kv(rows, 40 * mm))
    if d.notes:
        story += [Spacer(1, 6 * mm), Paragraph("Notes", H2),
                  Paragraph(_t(d.notes).replace("\\u000a", "<br/>"), BODY)]
    included = [name for name in ("evidence", "methodology", "summary", "findings", "network", "pe", "timeline",
                                  "audit", "integrity") if d.includes(name)]
    story += [Spacer(1, 8 * mm), Paragraph(
        "This report was produced from the case database without changing it. Times are UTC. Text taken from "
        "evidence (file names, paths, matched data, rule text) is shown as it is, except that control and "
        "invisible formatting characters, such as right-to-left overrides, are written out as \\uXXXX instead "
        f"of being obeyed. Sections: {escape(', '.join(included))}.", SMALL), PageBreak()]
    return story


def _evidence(data: ReportData) -> list[Flowable]:
    story = _h1("Evidence")
    if not data.evidence:
        return story + [Paragraph("The case holds no evidence.", BODY)]
    for item in data.evidence:
        rows: list[tuple[str, Any]] = [
            ("Path", _mono(item["path"])),
            ("Kind / format", _cell(f"{item['kind'] or '-'} / {item['format'] or '-'}")),
            ("Size", _cell(exact_size(item["size"]) or "-")),
            ("SHA-256", _mono(item["sha256"] or "not computed")),
        ]
        if len(item["segments"]) > 1:
            rows.append(("Segments", _p("<br/>".join(_t(s) for s in item["segments"]), MONO_CELL)))
        if item["stored_md5"] or item["stored_sha1"] or item["computed_md5"] or item["computed_sha1"]:
            rows += [("Stored MD5", _mono(item["stored_md5"])), ("Computed MD5", _mono(item["computed_md5"])),
                     ("Stored SHA-1", _mono(item["stored_sha1"])), ("Computed SHA-1", _mono(item["computed_sha1"]))]
        rows += [
            ("Verification", _cell(item["verified"] or "not done")),
            ("Status", _p(_t(item["status"]) + (f": {_t(item['error'])}" if item["error"] else ""))),
            ("Added / processed", _cell(f"{item['added_at'] or '-'} / {item['processed_at'] or '-'}")),
        ]
        if item["partitions"]:
            rows.append(("Partitions", _p("<br/>".join(
                f"at byte {p['offset']:,}: {_t(p['description'])}, {_t(p['filesystem'] or '-')}, {_t(p['status'])}"
                for p in item["partitions"]))))
        rows += [("Objects", _cell(objects_text(item))),
                 ("Findings", _cell(_counts_text(item["findings"])))]
        story += [KeepTogether([Paragraph(f"Evidence {item['id']}: {_t(Path(item['path']).name)}", H2), _kv(rows)])]
    return story


def _methodology(data: ReportData) -> list[Flowable]:
    story = _h1("Methodology")
    story.append(Paragraph(
        "Each evidence item was opened read-only and its container files hashed (SHA-256). E01 images were "
        "verified against the MD5/SHA-1 the image stores of the acquired media, unless verification was turned "
        "off. Disk images were read through Sleuth Kit (partitions, then every filesystem, allocated and deleted "
        "files); folders were read file by file without following links. Each file's content was read once and "
        "given to every analyzer listed below.", BODY))
    story += [Paragraph("Analyzers", H2), _grid(
        ["Analyzer", "Version", "Used", "What it examines"],
        [[_cell(a["name"]), _cell(a["version"]), _cell(a["used"]), _cell(a["does"])] for a in data.analyzers],
        [1.3, 1, 2.2, 6])]
    if not data.analyzers_recorded:
        story.append(Paragraph(escape(ANALYZERS_UNRECORDED), SMALL))
    story.append(Paragraph("Runs", H2))
    if not data.runs:
        story.append(Paragraph("No run is recorded in this case.", BODY))
    for run in data.runs:
        options = run["options"] if isinstance(run["options"], dict) else {}
        rules = options.get("rules") or []
        rows = [
            ("Started / finished", _cell(f"{run['started'] or '-'} / {run['finished'] or '-'} (UTC)")),
            ("Status", _cell(run["status"])),
            ("Tool version", _cell(f"cybertriage {run['tool_version'] or '-'}")),
            ("YARA", _cell("on" if options.get("yara") else "off")),
            ("Rule set SHA-256", _mono(run["rules_sha256"] or "(YARA off)")),
            ("Rule paths", _p("<br/>".join(_t(r) for r in rules) or "-", MONO_CELL)),
            ("Options", _mono(", ".join(f"{k}={compact_json(v)}" for k, v in options.items()
                                        if k not in ("rules", "yara", *RUN_INTEL_KEYS)) or "-")),
        ]
        rows += [(label, _p("<br/>".join(_t(line) for line in lines), MONO_CELL)) for label, lines in run_intel(options)]
        story.append(KeepTogether([Paragraph(f"Run {run['id']}", _style("h3", fontName=FONT_BOLD, spaceBefore=4,
                                                                       spaceAfter=2)), _kv(rows)]))
    story.append(Paragraph("Completeness ledger", H2))
    story.append(Paragraph(
        "Per evidence item and stage (latest run): how many objects were attempted, processed, and skipped, "
        "with the reasons for skipping. Problems are recorded in full in the case database's problems table.",
        BODY))
    for item in data.evidence:
        rows = [[_cell(s["stage"]), _Text(f"{s['attempted']:,}", CELL_RIGHT),
                 _Text(f"{s['processed']:,}", CELL_RIGHT), _Text(f"{s['skipped']:,}", CELL_RIGHT),
                 _p("<br/>".join(f"{n:,} {_t(r)}" for r, n in s["reasons"].items()) or "-")] for s in item["ledger"]]
        block: list[Flowable] = [Paragraph(f"Evidence {item['id']}: {_t(Path(item['path']).name)}, "
                                           f"{item['problems']:,} problem(s) recorded", _style("h3b", fontName=FONT_BOLD,
                                                                                             spaceBefore=4, spaceAfter=2))]
        if rows:
            block.append(_grid(["Stage", "Attempted", "Processed", "Skipped", "Reasons skipped"], rows, [1.6, 1.3, 1.3, 1.3, 5]))
        else:
            block.append(Paragraph("No ledger recorded (the evidence was not analysed).", BODY))
        if item["problem_list"]:
            block.append(Spacer(1, 2 * mm))
            block.append(_grid(["Stage", "Object", "Problem"],
                               [[_cell(p["stage"]), _mono(p["object"]), _cell(p["message"])] for p in item["problem_list"]],
                               [1.2, 4, 4]))
            if item["problems"] > len(item["problem_list"]):
                block.append(Paragraph(f"… and {item['problems'] - len(item['problem_list']):,} more.", SMALL))
        story.append(KeepTogether(block))
    return story


def _summary(data: ReportData) -> list[Flowable]:
    story = _h1("Summary of findings")
    counts = data.severity_counts
    story.append(Paragraph(escape(counts_sentence(counts, data.findings_total)), BODY))
    if data.known_good_note:
        story.append(Paragraph(escape(data.known_good_note), BODY))
    table = _grid(["Severity", "Findings"], [[_p(_severity_tag(s)), _Text(f"{counts[s]:,}", CELL_RIGHT)]
                                             for s in SEVERITIES_WORST_FIRST], [35, 25], repeat=False, width=60 * mm)
    chart = _bar_chart(counts)
    layout = Table([[table, chart]], colWidths=[65 * mm, WIDTH - 65 * mm])
    layout.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    story.append(layout)
    if data.evidence:
        rows = [[_cell(f"{item['id']}: {Path(item['path']).name}"), _Text(f"{item['files'] - item['known_good']:,}", CELL_RIGHT)]
                + [_Text(f"{item['findings'].get(s, 0):,}", CELL_RIGHT) for s in SEVERITIES_WORST_FIRST] for item in data.evidence]
        story += [Paragraph("By evidence item", H2),
                  _grid(["Evidence", "Objects", *[s.capitalize() for s in SEVERITIES_WORST_FIRST]], rows,
                        [4.4, 1.3, 1.1, 1.1, 1.2, 1.1, 1.1])]
    return story


def _bar_chart(counts: dict[str, int]) -> Drawing:
    drawing = Drawing(WIDTH - 70 * mm, 48 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y = 28, 18
    chart.width, chart.height = drawing.width - 40, drawing.height - 28
    chart.data = [[counts[s] for s in SEVERITIES_WORST_FIRST]]
    chart.categoryAxis.categoryNames = [s.capitalize() for s in SEVERITIES_WORST_FIRST]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    top = max(counts.values()) if counts else 0
    if top < 5:
        chart.valueAxis.valueMax = 5
        chart.valueAxis.valueStep = 1
    chart.barLabelFormat = "%d"
    chart.barLabels.fontName = FONT
    chart.barLabels.fontSize = 7
    chart.barLabels.nudge = 6
    chart.bars.strokeColor = None
    for i, severity in enumerate(SEVERITIES_WORST_FIRST):
        chart.bars[(0, i)].fillColor = SEVERITY_COLOURS[severity]
    drawing.add(chart)
    return drawing


def _findings(data: ReportData) -> list[Flowable]:
    story = _h1("Findings")
    if not data.findings_total:
        return story + [Paragraph("The analyzers reported no findings.", BODY)]
    intro = f"{data.findings_total:,} findings, worst first (by severity, then by the triage score of their object)."
    if data.truncated:
        intro += f" The {data.findings_shown:,} worst are shown here."
        if data.appendix:
            intro += (f" Every finding is listed in <b>{_t(data.appendix.path.name)}</b> beside this report "
                      f"({data.appendix.rows:,} rows; its SHA-256 is in the integrity section).")
    story.append(Paragraph(intro, BODY))
    for finding in data.findings:
        story += _finding_block(finding)
    if data.truncated:
        story.append(Paragraph(f"{data.findings_total - data.findings_shown:,} further findings are not shown here"
                               + (f"; see {_t(data.appendix.path.name)}." if data.appendix else "."), BODY))
    return story + _correlations(data)


def _correlations(data: ReportData) -> list[Flowable]:
    """Links between evidence items, each with its chain (DNS lookup → download → file → findings)."""
    if not data.correlations:
        return []
    story: list[Flowable] = [CondPageBreak(35 * mm), Paragraph("Correlations", H2), Paragraph(
        f"{len(data.correlations):,} links between evidence items, each followed along its chain: the DNS lookup, "
        "the download, the copy the capture carried, the file on disk and the file's own findings.", BODY)]
    for c in data.correlations:
        story += [Paragraph(f"#{c.id} {c.severity}: {_t(c.title)}", SMALL), Spacer(1, 1 * mm),
                  _grid(["Step", "Time (UTC)", "What"], [[_cell(label), _mono(ts), _mono(text)]
                                                         for label, ts, text in c.steps], [2.4, 4.2, 8.2])]
    return story


def _finding_block(f: dict[str, Any]) -> list[Flowable]:
    """One finding as one table: a heading row in the severity's tint (repeated if the table runs onto
    the next page), then label/value rows."""
    severity = f["severity"]
    rows: list[tuple[str, Any]] = [
        ("Object", _mono(f["object"])),
        ("Evidence", _mono(f["evidence"])),
        ("Analyzer / rule", _cell(f"{f['analyzer']} / {f['rule']}")),
    ]
    file = f.get("file")
    if file is not None:
        state = " (deleted)" if file.get("deleted") else ""
        rows.append(("File", _cell(f"{exact_size(file.get('size')) or '-'}, {file.get('mime') or 'type unknown'}{state}")))
        rows += [("MD5", _mono(file.get("md5"))), ("SHA-1", _mono(file.get("sha1"))), ("SHA-256", _mono(file.get("sha256")))]
        times = [f"{c} {file[c]}" for c in ("mtime", "atime", "ctime", "crtime") if file.get(c)]
        if times:
            rows.append(("Times (UTC)", _cell(", ".join(times))))
        if file.get("score") is not None:
            rows.append(("Triage score", _cell(f"{file['score']} of 100")))
    for label, text in f["facts"]:
        rows.append((label, _cell(text)))
    if f["reasons"]:
        rows.append(("Reasons", _p("<br/>".join(_t(r) for r in f["reasons"]))))
    if f["strings"]:
        strings = _table([[_mono(s.get("identifier")), _mono(f"@{s.get('offset')}"), _mono(s.get("data"))]
                          for s in f["strings"]],
                         [26 * mm, 14 * mm, WIDTH - LABEL_WIDTH - 40 * mm - CELL_PADDING],
                         [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                          ("RIGHTPADDING", (0, 0), (-1, -1), 2), ("TOPPADDING", (0, 0), (-1, -1), 0),
                          ("BOTTOMPADDING", (0, 0), (-1, -1), 1)])
        label = "Matched strings"
        if f["strings_total"] > len(f["strings"]):
            label += f" (first {len(f['strings'])} of {f['strings_total']})"
        rows.append((label, strings))
    head = _p(f"<b>#{f['id']}</b>  {_severity_tag(severity)}  <b>{_t(f['title'])}</b>")
    cells = [[head, ""]] + [[_Text(visible(label), CELL_BOLD), value] for label, value in rows]
    return [CondPageBreak(45 * mm), _table(cells, [LABEL_WIDTH, WIDTH - LABEL_WIDTH], [
        ("SPAN", (0, 0), (1, 0)), ("BACKGROUND", (0, 0), (1, 0), SEVERITY_TINTS.get(severity, LABEL_BG)),
        ("LINEBEFORE", (0, 0), (0, 0), 3, SEVERITY_COLOURS.get(severity, colors.black)),
        ("GRID", (0, 1), (-1, -1), 0.4, GRID), ("BOX", (0, 0), (-1, 0), 0.4, GRID),
        ("BACKGROUND", (0, 1), (0, -1), LABEL_BG), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ], repeat=1), Spacer(1, 4 * mm)]


def _network(data: ReportData) -> list[Flowable]:
    story = _h1("Network")
    if not data.network:
        return story + [Paragraph("No packet capture in this case: there are no flows, DNS, HTTP or TLS records.", BODY)]
    if data.network_summary:
        story.append(Paragraph(escape(data.network_summary.sentence), BODY))
    for table in data.network:
        story += [CondPageBreak(35 * mm), Paragraph(escape(table.title), H2), Paragraph(escape(table.note), SMALL),
                  Spacer(1, 1.5 * mm), _network_table(table)]
    return story


def _network_value(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return visible(compact_json(value)) or "-"


def _network_table(table: NetworkTable) -> Table:
    """The list's narrow columns as a row; its wide columns (hashes, certificate names) as a line of
    "label: value" spanning the row beneath, so a hash is never split. First and last seen share a
    column, one above the other, so full timestamps fit."""
    columns = list(table.columns)
    narrow = [i for i, c in enumerate(columns) if c not in table.wide]
    wide = [i for i, c in enumerate(columns) if c in table.wide]
    seen = [columns.index(c) for c in ("First seen (UTC)", "Last seen (UTC)") if c in columns]
    if len(seen) == 2:
        narrow.remove(seen[1])
    header = ["First / last seen (UTC)" if len(seen) == 2 and i == seen[0] else columns[i] for i in narrow]
    cells: list[list[Any]] = [[_Text(h, CELL_BOLD) for h in header]]
    style: list[tuple] = [("GRID", (0, 0), (-1, -1), 0.4, GRID), ("BACKGROUND", (0, 0), (-1, 0), LABEL_BG),
                          ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 2),
                          ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]
    for n, row in enumerate(table.rows):
        line: list[Any] = []
        for i in narrow:
            if len(seen) == 2 and i == seen[0]:
                line.append(Paragraph(f"{_t(_network_value(row[i]))}<br/>{_t(_network_value(row[seen[1]]))}", NET_CELL))
            else:
                line.append(_Text(_network_value(row[i]), NET_CELL_RIGHT if isinstance(row[i], int) else NET_CELL))
        cells.append(line)
        lines = [f"<b>{escape(columns[i])}:</b> {_t(compact_json(row[i]))}" for i in wide if row[i] not in (None, "")]
        if n % 2:
            style.append(("BACKGROUND", (0, len(cells) - 1), (-1, len(cells) - 1 + bool(lines)), ROW_TINT))
        if lines:
            cells.append([Paragraph("<br/>".join(lines), NET_CELL)] + [""] * (len(narrow) - 1))
            style.append(("SPAN", (0, len(cells) - 1), (-1, len(cells) - 1)))
    widths = [NETWORK_WIDTHS.get(h, 60) for h in header]
    total = sum(widths)
    return _table(cells, [w * WIDTH / total for w in widths], style, repeat=1, padding=5)


# Widths in points of the network lists' columns (scaled to the page): a full timestamp in NET_CELL
# takes 107 points with padding.
NETWORK_WIDTHS = {"Endpoint A": 118, "Endpoint B": 118, "Flows": 30, "Packets": 40, "Bytes": 46,
                  "First / last seen (UTC)": 112, "App": 29, "Query": 150, "Type": 40, "Lookups": 46, "Answers": 145,
                  "First seen (UTC)": 112, "Time (UTC)": 112, "Method": 40, "Host and URI": 168, "Status": 38,
                  "Content type": 82, "Body size": 47, "Server name (SNI)": 120, "Server": 92, "Handshakes": 58,
                  "Certificate valid (UTC)": 111, "ts": 112, "src": 80, "dst": 80, "protocol": 45, "proto": 40,
                  "username": 80, "password": 80, "Address": 85, "MAC addresses": 80, "Names": 95,
                  "Open ports": 48, "Bytes out": 42, "Bytes in": 42}


def _pe(data: ReportData) -> list[Flowable]:
    if not data.pe:
        return []
    story = _h1("Windows executables (PE)")
    note = f"{data.pe_total:,} file{'' if data.pe_total == 1 else 's'} with PE details"
    note += f"; the first {len(data.pe)} shown." if data.pe_total > len(data.pe) else "."
    story.append(Paragraph(note, BODY))
    for row in data.pe:
        rows = [("Evidence", _mono(row["evidence"])), ("Size", _cell(exact_size(row["size"]) or "-")),
                ("SHA-256", _mono(row["sha256"]))] + [(k, _cell(v)) for k, v in row["facts"]]
        story.append(KeepTogether([Paragraph(_t(row["path"]), _style("pe", fontName=MONO_BOLD, fontSize=7.5,
                                                                     spaceBefore=5, spaceAfter=2)), _kv(rows)]))
    return story


def _timeline(data: ReportData) -> list[Flowable]:
    story = _h1("Timeline excerpt")
    window = data.details.timeline_window_seconds
    story.append(Paragraph(
        f"The case timeline within {window // 3600 if window % 3600 == 0 else window / 3600:g} h of the times of high "
        "and critical findings and of correlations: file modified, accessed, changed and born (MACB) times, network "
        "events and findings, across every evidence item, in time order (UTC). The events of the findings "
        "themselves, and of their files, are in bold.", BODY))
    if not data.timeline:
        return story + [Paragraph("No high or critical finding or correlation with a recorded time.", BODY)]
    names = {item["id"]: Path(item["path"]).name for item in data.evidence}
    for cluster in data.timeline:
        anchors = "; ".join(f"#{a['id']} {a['severity']}: {a['object']}" for a in cluster.anchors[:5])
        if len(cluster.anchors) > 5:
            anchors += f"; and {len(cluster.anchors) - 5} more"
        heading = Paragraph(f"{cluster.start} to {cluster.end}", H2)
        shown = events_note(len(cluster.events), cluster.total)
        sources = ", ".join(f"{i} ({names.get(i, '?')})" for i in cluster.evidence_ids) or "-"
        rows = []
        for event in cluster.events:
            style = _style("tb", fontName=MONO_BOLD, fontSize=7, leading=9) if event["anchor"] else MONO_CELL
            rows.append([_mono(event["ts"]), _mono(event["what"]), _mono(event["evidence_id"]),
                         _p(_t(event["text"]), style)])
        story += [CondPageBreak(35 * mm), heading,
                  Paragraph(f"Around {_t(anchors)}. {shown}, from evidence {_t(sources)}.", SMALL), Spacer(1, 1.5 * mm),
                  _grid(["Time (UTC)", "Event", "Ev.", "What"], rows, [4.2, 2.0, 0.8, 7.8])]
    return story


def _tags(data: ReportData) -> list[Flowable]:
    story = _h1("Examiner tags and notes")
    if not data.tags:
        story.append(Paragraph("No file or finding has been tagged in this case.", BODY))
        return story
    story.append(Paragraph(f"{len(data.tags):,} tags, oldest first. Tags and notes are the examiner's words; "
                           "paths and titles come from the evidence.", BODY))
    rows = [[_mono(t["created_at"]), _cell(t["tag"]), _cell(f"{t['object_kind']} {t['object_id']}: {t['object'] or '-'}"
                                                           + (f" — {t['title']}" if t["title"] else "")),
             _cell(t["note"] or ""), _cell(t["examiner"] or "-")] for t in data.tags]
    story.append(_grid(["Time (UTC)", "Tag", "On", "Note", "Examiner"], rows, [3.0, 1.8, 5.2, 3.6, 1.6]))
    return story


def _audit(data: ReportData) -> list[Flowable]:
    story = _h1("Audit log (chain of custody)")
    story.append(Paragraph(
        f"Every action recorded in the case, oldest first ({data.audit_total:,} entries"
        + (f"; the first {len(data.audit)} shown" if data.audit_total > len(data.audit) else "") + ").", BODY))
    rows = [[_mono(e["ts"]), _cell(f"{e['user'] or '-'}@{e['host'] or '-'}"), _cell(e["action"]),
             _mono(e["detail"])] for e in data.audit]
    story.append(_grid(["Time (UTC)", "User", "Action", "Detail"], rows, [3.0, 1.5, 1.7, 7]))
    return story


def _integrity(data: ReportData) -> list[Flowable]:
    story = _h1("Integrity")
    colour = "000000" if not data.custody_problems else "b00020"
    story.append(Paragraph(f'<font color="#{colour}">{_t(custody_sentence(data))}</font>', BODY))
    story.append(Paragraph(SEAL_NOTE + " The SHA-256 of this PDF itself is written beside it, in the file of the "
                           "same name ending in .sha256 (a file cannot hold its own hash).", BODY))
    story.append(_grid(["Case at the time of this report", "Value"], [[_cell(name), _mono(value)]
                                                                       for name, value in seal_rows(data)], [4.5, 9]))
    rows: list[list[Any]] = []
    if data.appendix:
        rows.append([_mono(data.appendix.path.name), _mono(data.appendix.sha256)])
    rows += [[_cell(f"Evidence {item['id']}: {Path(item['path']).name}"), _mono(item["sha256"] or "not computed")]
             for item in data.evidence]
    story.append(_grid(["File", "SHA-256"], rows, [3, 5.2], repeat=True))
    return story
