"""Reports of a case: a court-ready PDF and a self-contained HTML page, read from the case only.

    from cybertriage.report import ReportDetails, write_html, write_pdf
    write_pdf(case_dir, Path("report.pdf"), ReportDetails(case_number="2025-0042", examiner="J. Doe"))

Both write `OUT.sha256` beside the report and, when the case holds more findings
than `ReportDetails.max_findings`, the full list as `OUT.findings.csv`.
"""

from ..text_safety import visible
from .content import SECTIONS, ReportData, ReportDetails, appendix_path, collect
from .html import write_html
from .pdf import write_pdf

__all__ = ["SECTIONS", "ReportData", "ReportDetails", "appendix_path", "collect", "visible", "write_html", "write_pdf"]
