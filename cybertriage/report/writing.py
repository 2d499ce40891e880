"""Writing a case's reports as `cybertriage report` and the application's report dialog both do: every
destination checked before anything is written, each report put in place whole with its `.sha256`, and
"report written" logged in the chain of custody afterwards, with each report's sha256."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..case.store import record_reading
from ..evidence.integrity import file_sha256
from .content import ReportDetails, check_destinations
from .html import write_html
from .pdf import write_pdf


@dataclass(frozen=True)
class WrittenReports:
    """The reports written, and why "report written" is not in the case's audit log (None when it is)."""

    paths: list[Path]
    not_logged: str | None


def write_reports(case_dir: Path, pdf: Path, html: Path | None, details: ReportDetails, *, force: bool = False,
                  origin: str = "command line") -> WrittenReports:
    """Write the PDF (and the HTML) report of the case in `case_dir`; UsageError, before anything is
    written, if a destination is the case, its evidence, a link, or an existing file without `force`."""
    for out in (pdf, html):
        if out is not None:
            check_destinations(case_dir, out, force=force)
    written = {"pdf": write_pdf(case_dir, pdf, details, force=force)}
    if html is not None:
        written["html"] = write_html(case_dir, html, details, force=force)
    entry: dict[str, object] = {"show_credentials": details.show_credentials, "sections": list(details.sections),
                                "from": origin, "html": None, "html_sha256": None}
    for kind, path in written.items():
        entry[kind] = str(path)
        entry[f"{kind}_sha256"] = file_sha256(path)  # the report as it now is on the disk
    return WrittenReports(list(written.values()), record_reading(case_dir, "report written", entry))
