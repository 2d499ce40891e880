"""`cybertriage` command line: scan evidence into a case, export it, describe it.

Exit codes: 0 everything asked for was done; 1 some evidence could not be read or
examined in full (the case records what and why); 2 usage error; 130 cancelled.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, TextIO

from . import __version__
from .analyzers import Settings, rule_files, ruleset_sha256
from .assets import asset_dir
from .case import add_tag, audit, open_case, queries, timeline
from .errors import CybertriageError, UsageError
from .pipeline import Progress, Scan, ScanOptions

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
PROBLEMS_SHOWN = 10
MASK = "********"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cybertriage",
        description="Forensic triage: every file on seized evidence with its hashes, true type and YARA "
                    "findings, in one SQLite case database.",
        epilog="Exit codes: 0 done; 1 some evidence unreadable or examined only in part; 2 usage error; "
               "130 cancelled.")
    parser.add_argument("--version", action="store_true", help="print the version and the bundled rule set's sha256")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    scan = commands.add_parser(
        "scan", help="add evidence to a case and analyse it",
        description="Add disk images (raw, split raw .001/.002…, E01), or folders of loose files, to a case "
                    "and analyse every file: hashes, true type, extension mismatch, YARA, zip members. "
                    "The kind of evidence is told from its content. Evidence already fully processed "
                    "in the case is skipped.")
    scan.add_argument("evidence", nargs="+", type=Path, metavar="EVIDENCE",
                      help="disk image (first segment for split/E01 sets) or folder")
    scan.add_argument("--case", required=True, type=Path, metavar="DIR", help="case folder (created if needed)")
    scan.add_argument("--rules", action="append", type=Path, default=[], metavar="PATH",
                      help="extra YARA rule file or folder, added to the bundled rules (repeatable)")
    scan.add_argument("--jobs", type=int, default=os.cpu_count() or 2, metavar="N",
                      help="analysis threads (default: number of cores)")
    scan.add_argument("--no-yara", action="store_true", help="skip YARA scanning")
    scan.add_argument("--no-verify", action="store_true",
                      help="skip verifying E01 images against their stored MD5/SHA-1 (a full read)")
    scan.add_argument("--yara-timeout", type=int, default=60, metavar="SECONDS",
                      help="give up YARA on one file after this long (default 60)")
    scan.add_argument("--yara-max-size", type=int, default=64, metavar="MiB",
                      help="YARA-scan files up to this size, whole, in memory (default 64 MiB; larger files "
                           "are hashed and recorded in the ledger as not scanned)")
    scan.add_argument("--quiet", action="store_true", help="no progress bar and no summary")

    export = commands.add_parser(
        "export", help="write a table of the case as JSON lines or CSV",
        description="Export files, findings, the network records of packet captures (flows, dns, http, tls) or "
                    "the case timeline, one JSON object per line (jsonl) or CSV with a header; the timeline's file "
                    "times also as a Sleuth Kit body file (--format body) for mactime.")
    export.add_argument("--case", required=True, type=Path, metavar="DIR")
    export.add_argument("--what", required=True, choices=sorted([*queries.EXPORTS, "timeline"]))
    export.add_argument("--format", default="jsonl", choices=["jsonl", "csv", "body"])
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here instead of standard output")
    export.add_argument("--show-credentials", action="store_true",
                        help="write captured passwords as seen (masked by default)")

    report = commands.add_parser(
        "report", help="write the case report: PDF (and optionally self-contained HTML)",
        description="A court-ready PDF of the case: evidence with hashes and verification, methodology, "
                    "findings by severity, timeline excerpt, chain of custody, and the sha256 of the case "
                    "database. OUT.sha256 is written beside each report; past --max-findings the full list "
                    "goes to OUT.findings.csv.")
    report.add_argument("--case", required=True, type=Path, metavar="DIR")
    report.add_argument("--pdf", required=True, type=Path, metavar="OUT.pdf")
    report.add_argument("--html", type=Path, metavar="OUT.html", help="also write a self-contained HTML report")
    report.add_argument("--case-number", help="case number for the cover and page headers")
    report.add_argument("--examiner", help="examiner's name for the cover")
    report.add_argument("--agency", help="agency or unit for the cover")
    report.add_argument("--notes", help="examiner's notes, printed in the report")
    report.add_argument("--max-findings", type=int, default=500, metavar="N",
                        help="findings shown in detail (default 500); all of them go to the CSV appendix")
    report.add_argument("--show-credentials", action="store_true",
                        help="print captured credentials unmasked (masked by default)")

    tag = commands.add_parser("tag", help="tag a file or a finding, with an examiner's note",
                              description="Bookmark a file or a finding (ids as `export` shows them) with a tag and "
                                          "a note; tags are shown in the report and logged in the chain of custody.")
    tag.add_argument("--case", required=True, type=Path, metavar="DIR")
    target = tag.add_mutually_exclusive_group(required=True)
    target.add_argument("--file", type=int, metavar="ID", help="id of the file")
    target.add_argument("--finding", type=int, metavar="ID", help="id of the finding")
    tag.add_argument("--tag", required=True, help="the tag, e.g. 'relevant' or 'exhibit-3'")
    tag.add_argument("--note", help="the examiner's note")
    tag.add_argument("--examiner", help="who tags (default: the OS user)")

    info = commands.add_parser("info", help="describe a case: evidence, hashes, counts, runs",
                               description="Evidence list with integrity hashes and verification, counts, "
                                           "the completeness ledger, and the run history.")
    info.add_argument("--case", required=True, type=Path, metavar="DIR")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.version:
            print(f"cybertriage {__version__}")
            print(f"bundled rules sha256 {ruleset_sha256(rule_files([asset_dir('rules')]))}")
            return EXIT_OK
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        return {"scan": _scan, "export": _export, "report": _report, "tag": _tag, "info": _info}[args.command](args)
    except UsageError as error:
        print(f"cybertriage: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except CybertriageError as error:
        print(f"cybertriage: error: {error}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except BrokenPipeError:
        return EXIT_OK


# -- scan ------------------------------------------------------------------------------


def _scan(args: argparse.Namespace) -> int:
    if args.jobs < 1 or args.yara_max_size < 1 or args.yara_timeout < 1:
        raise UsageError("--jobs, --yara-max-size and --yara-timeout must be at least 1")
    rule_paths = None if args.no_yara else (asset_dir("rules"), *args.rules)
    options = ScanOptions(jobs=args.jobs, verify_images=not args.no_verify,
                          settings=Settings(yara_timeout=args.yara_timeout, rule_paths=rule_paths,
                                            keep_limit=args.yara_max_size * 1024 * 1024))
    cancel = threading.Event()
    scan = Scan(args.case, args.evidence, options, cancel)

    def interrupt(signum: int, frame: Any) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, interrupt)
    bar = _ProgressBar(sys.stderr) if sys.stderr.isatty() and not args.quiet else None
    try:
        for progress in scan.run():
            if bar:
                bar.show(progress)
    finally:
        signal.signal(signal.SIGINT, previous)
        if bar:
            bar.clear()
    for outcome in scan.outcomes:
        if outcome.status in ("failed", "partial"):
            print(f"cybertriage: {outcome.path}: {outcome.status}: {outcome.message}", file=sys.stderr)
    if not args.quiet:
        _print_summary(scan, args.case)
    if cancel.is_set():
        return EXIT_CANCELLED
    if any(o.status in ("failed", "partial") for o in scan.outcomes):
        return EXIT_INCOMPLETE
    return EXIT_OK


class _ProgressBar:
    WIDTH = 24

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.stage: tuple[str, str] | None = None
        self.started = time.monotonic()

    def show(self, p: Progress) -> None:
        if p.stage == "finished":
            return
        if self.stage != (p.evidence, p.stage):
            self.stage, self.started = (p.evidence, p.stage), time.monotonic()
        elapsed = time.monotonic() - self.started
        rate = f", {_size(p.bytes_done / elapsed)}/s" if elapsed > 1 else ""
        name = Path(p.evidence).name[:28]
        if p.bytes_total:
            fraction = p.bytes_done / p.bytes_total
            counts = f"{_size(p.bytes_done)} of {_size(p.bytes_total)}"
        else:
            fraction = p.objects_done / p.objects_found if p.objects_found and p.listing_done else 0.0
            more = "" if p.listing_done else "+"
            counts = f"{p.objects_done}/{p.objects_found}{more} objects, {_size(p.bytes_done)} read"
        filled = int(fraction * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        line = f"\r{name} {p.stage} [{bar}] {fraction:4.0%} {counts}{rate}"
        self.stream.write(line[:120].ljust(120))
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r" + " " * 120 + "\r")
        self.stream.flush()


def _size(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} TB"


def _print_summary(scan: Scan, case_dir: Path) -> None:
    print(f"{'evidence':40} {'status':18} {'files':>8}  " + " ".join(f"{s:>8}" for s in SEVERITY_ORDER))
    for o in scan.outcomes:
        counts = " ".join(f"{o.findings.get(s, 0):>8}" for s in SEVERITY_ORDER)
        print(f"{_clip(Path(o.path).name, 40):40} {o.status:18} {o.files:>8}  {counts}")
    db = open_case(case_dir)
    top = list(queries.findings_worst_first(db, limit=15))
    if top:
        print("\nTop findings (severity, score of the object, what, where):")
        for row in top:
            score = "-" if row["score"] is None else row["score"]
            print(f"  {row['severity']:9} {score:>3}  {_clip(_printable(row['title']), 58):58} "
                  f"{_clip(_printable(row['object']), 60)}")
    print(f"\nCase: {(case_dir / 'case.db').resolve()}")


def _printable(text: str) -> str:
    """Evidence names may carry control or bidi-override characters: show them, don't obey them."""
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text or "")


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- export and info -----------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    if args.format == "body" and args.what != "timeline":
        raise UsageError("--format body is the Sleuth Kit body file of the file times: use it with --what timeline")
    db = open_case(args.case)
    fields, rows = (timeline.FIELDS, timeline.rows) if args.what == "timeline" else queries.EXPORTS[args.what]
    if args.what == "credentials" and not args.show_credentials:
        rows = _masked(rows)
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout
    try:
        if args.format == "body":
            for line in timeline.body_lines(db):
                out.write(line + "\n")
        elif args.format == "jsonl":
            for row in rows(db):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            writer = csv.DictWriter(out, fieldnames=fields)
            writer.writeheader()
            for row in rows(db):
                writer.writerow({k: json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                                 for k, v in row.items()})
    finally:
        if args.output:
            out.close()
    return EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from .report import ReportDetails, write_html, write_pdf  # reportlab loads only when a report is asked for

    details = ReportDetails(case_number=args.case_number, examiner=args.examiner, agency=args.agency,
                            notes=args.notes, max_findings=args.max_findings,
                            show_credentials=args.show_credentials)
    db = open_case(args.case)  # a missing or newer case is a usage error before anything is written
    # Logged first, so that the report's own chain of custody and database hash include it.
    audit(db, "report written", {"pdf": str(args.pdf.resolve()), "html": str(args.html.resolve()) if args.html else None,
                                 "show_credentials": args.show_credentials})
    db.close()
    written = [write_pdf(args.case, args.pdf, details)]
    if args.html:
        written.append(write_html(args.case, args.html, details))
    for path in written:
        print(f"Report: {path.resolve()}")
    return EXIT_OK


def _tag(args: argparse.Namespace) -> int:
    db = open_case(args.case)
    kind, object_id = ("file", args.file) if args.file is not None else ("finding", args.finding)
    tag_id = add_tag(db, kind, object_id, args.tag, args.note, args.examiner or getpass.getuser())
    print(f"Tag {tag_id}: {kind} {object_id} tagged {args.tag!r}")
    return EXIT_OK


def _masked(rows: Any) -> Any:
    """Credentials with their passwords masked: exports travel further than the case does."""
    def mask(db: Any) -> Any:
        for row in rows(db):
            if row.get("password"):
                row["password"] = MASK
            yield row

    return mask


def _info(args: argparse.Namespace) -> int:
    db = open_case(args.case)
    print(f"Case {args.case.resolve()}")
    for item in queries.evidence_summary(db):
        print(f"\nEvidence {item['id']}: {_printable(item['path'])}")
        print(f"  format {item['format'] or '-'}, size {item['size'] if item['size'] is not None else '-'} bytes, "
              f"status {item['status']}" + (f" ({_printable(item['error'])})" if item["error"] else ""))
        print(f"  sha256 {item['sha256'] or '-'}")
        if item["stored_md5"] or item["stored_sha1"]:
            print(f"  stored md5 {item['stored_md5'] or '-'} sha1 {item['stored_sha1'] or '-'}")
        print(f"  verification: {item['verified'] or 'not done'}")
        for p in item["partitions"]:
            print(f"  partition at byte {p['offset']}: {p['description']}, {p['filesystem'] or '-'}, {p['status']}")
        findings = ", ".join(f"{item['findings'][s]} {s}" for s in SEVERITY_ORDER if s in item["findings"]) or "none"
        print(f"  {item['files']} objects ({item['deleted']} deleted); findings: {findings}")
        if any(item["network"].values()):
            print("  network: " + ", ".join(f"{count} {table}" for table, count in item["network"].items()))
        for stage in item["ledger"]:
            reasons = json.loads(stage["reasons"])
            why = "; ".join(f"{n} {r}" for r, n in reasons.items())
            print(f"  ledger {stage['stage']:8} attempted {stage['attempted']}, processed {stage['processed']}, "
                  f"skipped {stage['skipped']}" + (f" ({_printable(why)})" if why else ""))
        if item["problems"]:
            print(f"  {item['problems']} problems recorded:")
            shown = db.query("SELECT stage, object, message FROM problems WHERE evidence_id = ? ORDER BY id LIMIT ?",
                             [item["id"], PROBLEMS_SHOWN])
            for problem in shown:
                print(f"    {problem['stage']}: {_printable(problem['object']) or '-'}: {_printable(problem['message'])}")
            if item["problems"] > PROBLEMS_SHOWN:
                print(f"    … and {item['problems'] - PROBLEMS_SHOWN} more (table 'problems' in the case database)")
    print("\nRuns:")
    for run in db.query("SELECT * FROM runs ORDER BY id"):
        print(f"  {run['id']}: {run['started']} → {run['finished'] or '-'} {run['status']}, "
              f"cybertriage {run['tool_version']}, rules sha256 {run['rules_sha256'] or '(YARA off)'}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
