"""The PDF report (reportlab platypus): the report's document (document.py) laid out for a case file.

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
    Image,
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
from ..severity import SEVERITIES_WORST_FIRST
from ..text_safety import visible
from .content import NetworkTable, ReportData, ReportDetails, appendix_path, check_destinations, collect, compact_json
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
    SeverityCounts,
    Thumbnails,
    build_document,
)
from .document import Paragraph as TextParagraph
from .document import Table as TextTable

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
    document = build_document(data)
    story: list[Flowable] = [Spacer(1, 25 * mm), Paragraph("Forensic triage report", TITLE),
                             Paragraph(_t(document.title), SUBTITLE)]
    for block in document.cover:
        story += [*_block(block), Spacer(1, 6 * mm)]
    story.append(PageBreak())
    for section in document.sections:
        story += [CondPageBreak(60 * mm), Paragraph(escape(section.title), H1)]
        for block in section.blocks:
            story += _block(block)
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


@dataclass
class _Text:
    """Untrusted text for a table cell, laid out when the table knows the column's width: a plain
    string when it fits on one line (cheap: a report of 500 findings has thousands of cells), else
    a wrapping Paragraph."""

    text: str
    style: ParagraphStyle


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
        self._startPage()  # type: ignore[attr-defined]  # reportlab's own fresh page (private: typeshed leaves it out)

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self.setFont(FONT, 7.5)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawRightString(PAGE[0] - MARGIN, 10 * mm, f"Page {self.getPageNumber()} of {total}")
            super().showPage()
        super().save()


class _Document(SimpleDocTemplate):
    """A4 pages with the case in the header and the tool in the footer; H1 headings become PDF bookmarks."""

    def __init__(self, buffer: io.BytesIO, header: str, footer: str, **kw: Any) -> None:
        super().__init__(buffer, pagesize=PAGE, leftMargin=MARGIN, rightMargin=MARGIN, topMargin=MARGIN + 4 * mm,
                         bottomMargin=MARGIN, **kw)
        self.header, self.footer = header, footer
        self._bookmarks = 0

    def build(self, story: list[Flowable], **kw: Any) -> None:  # type: ignore[override]  # its own page furniture
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


def _severity_tag(severity: str) -> str:
    colour = SEVERITY_TEXT.get(severity, colors.black).hexval()[2:]
    return f'<font color="#{colour}"><b>{escape(severity.upper())}</b></font>'


# -- the document's blocks -----------------------------------------------------------------

PARAGRAPH_STYLES = {"body": BODY, "note": SMALL, "warning": BODY}
H3 = _style("h3", fontName=FONT_BOLD, spaceBefore=4, spaceAfter=2, keepWithNext=1)
PE_TITLE = _style("pe", fontName=MONO_BOLD, fontSize=7.5, spaceBefore=5, spaceAfter=2)
MONO_BOLD_CELL = _style("monobold", fontName=MONO_BOLD, fontSize=7, leading=9)


def _block(block: Block) -> list[Flowable]:
    """One block of the document as flowables."""
    if isinstance(block, Heading):
        return [Paragraph(_t(block.text), H3)] if block.minor else [CondPageBreak(35 * mm), Paragraph(_t(block.text), H2)]
    if isinstance(block, TextParagraph):
        markup = "<br/>".join(_t(line) for line in block.text.split("\n"))
        if block.style == "warning":
            markup = f'<font color="#b00020">{markup}</font>'
        return [Paragraph(markup, PARAGRAPH_STYLES[block.style])]
    if isinstance(block, TextTable):
        return [_grid(block)]
    if isinstance(block, KeyValue):
        table = _kv(block.rows, block.label_mm * mm)
        if not block.title:
            return [table]
        return [KeepTogether([Paragraph(_t(block.title), PE_TITLE if block.title_mono else H2), table])]
    if isinstance(block, FindingCard):
        return _finding_card(block)
    if isinstance(block, FindingIndex):
        return []  # the PDF's bookmarks and page numbers lead to the findings
    if isinstance(block, SeverityCounts):
        return [_severity_counts(block.counts)]
    if isinstance(block, NetworkList):
        network = block.table
        return [CondPageBreak(35 * mm), Paragraph(escape(network.title), H2), Paragraph(escape(network.note), SMALL),
                Spacer(1, 1.5 * mm), _network_table(network)]
    if isinstance(block, Thumbnails):
        return [_thumbnails(block)]
    raise TypeError(f"no PDF for {type(block).__name__}")


THUMBNAILS_PER_ROW = 4


def _thumbnails(block: Thumbnails) -> Table:
    """The pictures in rows of four, each at most 40 mm on its longer side over its caption."""
    side = 40 * mm
    cells: list[list[Flowable]] = []
    for caption, png, why in block.items:
        cell: list[Flowable] = []
        if png:
            picture = Image(io.BytesIO(png))
            scale = side / max(picture.imageWidth, picture.imageHeight)
            picture.drawWidth, picture.drawHeight = picture.imageWidth * scale, picture.imageHeight * scale
            cell.append(picture)
        else:
            cell.append(Paragraph(f"No thumbnail: {_t(why)}", SMALL))
        cell.append(Paragraph("<br/>".join(_t(line) for line in caption.split("\n") if line), MONO_CELL))
        cells.append(cell)
    rows = [cells[n : n + THUMBNAILS_PER_ROW] for n in range(0, len(cells), THUMBNAILS_PER_ROW)]
    rows[-1] += [[]] * (THUMBNAILS_PER_ROW - len(rows[-1]))
    table = Table(rows, colWidths=[WIDTH / THUMBNAILS_PER_ROW] * THUMBNAILS_PER_ROW)
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return table


def _cell(value: Cell, width: float, bold: bool = False) -> Any:
    """A cell of the model as a table cell `width` points wide: _Text, a Paragraph or a nested table."""
    if isinstance(value, Mono):
        return _Text(_clipped(visible(value.text)) or "-", MONO_BOLD_CELL if bold else MONO_CELL)
    if isinstance(value, Lines):
        return Paragraph("<br/>".join(_t(item) for item in value.items) or "-", MONO_CELL if value.mono else CELL)
    if isinstance(value, TextTable):
        return _strings(value, width)
    if isinstance(value, int) and not isinstance(value, bool):
        return _Text(f"{value:,}", CELL_RIGHT)
    return _Text(_clipped(visible(value)) or "-", CELL_BOLD if bold else CELL)


def _clipped(text: str) -> str:
    """Evidence text cut to what one table cell can hold: a row taller than a page stops reportlab."""
    return text if len(text) <= CELL_TEXT_MAX else f"{text[:CELL_TEXT_MAX]}… ({len(text):,} characters)"


def _strings(table: TextTable, width: float) -> Table:
    """A table inside a cell (a finding's matched strings): no header and no grid of its own."""
    total = sum(table.widths)
    widths = [w * width / total for w in table.widths]
    return _table([[_cell(c, w) for c, w in zip(row, widths)] for row in table.rows], widths,
                  [("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                   ("RIGHTPADDING", (0, 0), (-1, -1), 2), ("TOPPADDING", (0, 0), (-1, -1), 0),
                   ("BOTTOMPADDING", (0, 0), (-1, -1), 1)])


def _kv(rows: Iterable[tuple[str, Cell]], label_width: float = LABEL_WIDTH) -> Table:
    """A two-column table of label and value."""
    value_width = WIDTH - label_width - CELL_PADDING
    cells = [[_Text(visible(label), CELL_BOLD), _cell(value, value_width)] for label, value in rows]
    return _table(cells, [label_width, WIDTH - label_width], [
        ("GRID", (0, 0), (-1, -1), 0.4, GRID), ("BACKGROUND", (0, 0), (0, -1), LABEL_BG),
        ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ])


GRID_STYLE = [("GRID", (0, 0), (-1, -1), 0.4, GRID), ("BACKGROUND", (0, 0), (-1, 0), LABEL_BG),
              ("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 2),
              ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]


def _grid(table: TextTable, width: float = WIDTH) -> Table:
    """A table with a header row repeated on every page it runs onto; emphasised rows in bold."""
    total = sum(table.widths)
    widths = [w * width / total for w in table.widths]
    cells: list[list[Any]] = [[_Text(h, CELL_BOLD) for h in table.columns]]
    for i, row in enumerate(table.rows):
        bold = bool(table.emphasis) and table.emphasis[i]
        cells.append([_cell(c, w - CELL_PADDING, bold) for c, w in zip(row, widths)])
    return _table(cells, widths, GRID_STYLE, repeat=1)


def _severity_counts(counts: dict[str, int]) -> Table:
    """The findings per severity as a small table beside a bar chart."""
    cells: list[list[Any]] = [[_Text("Severity", CELL_BOLD), _Text("Findings", CELL_BOLD)]]
    cells += [[Paragraph(_severity_tag(s), CELL), _Text(f"{counts[s]:,}", CELL_RIGHT)] for s in SEVERITIES_WORST_FIRST]
    table = _table(cells, [35 * mm, 25 * mm], GRID_STYLE)
    layout = Table([[table, _bar_chart(counts)]], colWidths=[65 * mm, WIDTH - 65 * mm])
    layout.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return layout


def _bar_chart(counts: dict[str, int]) -> Drawing:
    drawing = Drawing(WIDTH - 70 * mm, 48 * mm)
    chart = VerticalBarChart()
    chart.x, chart.y = 28, 18
    chart.width = drawing.width - 40  # type: ignore[assignment]  # reportlab takes floats; typeshed's stub says int
    chart.height = drawing.height - 28  # type: ignore[assignment]  # as above
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


def _finding_card(card: FindingCard) -> list[Flowable]:
    """One finding as one table: a heading row in the severity's tint (repeated if the table runs onto
    the next page), then label/value rows."""
    severity = card.severity
    head = Paragraph(f"<b>#{card.id}</b>  {_severity_tag(severity)}  <b>{_t(card.title)}</b>", CELL)
    value_width = WIDTH - LABEL_WIDTH - CELL_PADDING
    cells = [[head, ""]] + [[_Text(visible(label), CELL_BOLD), _cell(value, value_width)] for label, value in card.rows]
    return [CondPageBreak(45 * mm), _table(cells, [LABEL_WIDTH, WIDTH - LABEL_WIDTH], [
        ("SPAN", (0, 0), (1, 0)), ("BACKGROUND", (0, 0), (1, 0), SEVERITY_TINTS.get(severity, LABEL_BG)),
        ("LINEBEFORE", (0, 0), (0, 0), 3, SEVERITY_COLOURS.get(severity, colors.black)),
        ("GRID", (0, 1), (-1, -1), 0.4, GRID), ("BOX", (0, 0), (-1, 0), 0.4, GRID),
        ("BACKGROUND", (0, 1), (0, -1), LABEL_BG), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ], repeat=1), Spacer(1, 4 * mm)]


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
