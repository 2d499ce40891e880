"""`cybertriage` command line: scan evidence into a case, export it, describe it.

Exit codes: 0 everything asked for was done; 1 some evidence could not be read or
examined in full (the case records what and why), or `verify` found evidence that does not
match; 2 usage error; 3 the case database cannot be written (disk full, read-only folder:
what was committed before stays intact); 130 cancelled.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import getpass
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__, lab
from .assets import asset_dir
from .case import add_tag, audit, open_case, queries, timeline
from .case.custody import check_chain, write_transaction
from .case.host_profile import HostProfile, device_name, host_profiles
from .case.intel_store import ENV_VARIABLE
from .case.store import read_case, record_reading
from .case.stores import store_of
from .errors import CaseError, CybertriageError, UsageError
from .formatting import human_size, utc_now
from .severity import SEVERITIES, SEVERITIES_WORST_FIRST
from .text_safety import spreadsheet_safe, visible

if TYPE_CHECKING:  # the scanning machinery, the intel package and the passes load only for the commands using them
    from . import intel
    from .pipeline import Progress, Scan

EXIT_OK, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_CASE, EXIT_CANCELLED = 0, 1, 2, 3, 130
PROBLEMS_SHOWN = 10
MASK = "********"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cybertriage",
        description="Forensic triage: every file on seized evidence with its hashes, true type and YARA "
                    "findings, in one SQLite case database.",
        epilog="Exit codes: 0 done; 1 some evidence unreadable or examined only in part, or not as recorded "
               "(verify); 2 usage error; 3 the case cannot be written (disk full, read-only); 130 cancelled.")
    parser.add_argument("--version", action="store_true", help="print the version and the bundled rule set's sha256")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    scan = commands.add_parser(
        "scan", help="add evidence to a case and analyse it",
        description="Add disk images (raw, split raw .001/.002…, E01), folders of loose files and packet captures "
                    "(pcap, pcapng) to a case and analyse them: every file's hashes, true type, extension mismatch, "
                    "YARA and zip members; a capture's flows, DNS, HTTP, TLS, SMTP, FTP and cleartext credentials, "
                    "with the objects it carried analysed as files. The kind of evidence is told from its content. "
                    "Evidence already fully processed in the case is skipped.")
    scan.add_argument("evidence", nargs="+", type=Path, metavar="EVIDENCE",
                      help="disk image (first segment for split/E01 sets), folder, or packet capture")
    scan.add_argument("--case", required=True, type=Path, metavar="DIR", help="case folder (created if needed)")
    lab.add_scan_options(scan)
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
    scan.add_argument("--sigma", action="append", type=Path, default=[], metavar="PATH",
                      help="extra Sigma rule file or folder for event logs, added to the bundled rules (repeatable)")
    scan.add_argument("--carve", action=argparse.BooleanOptionalAction, default=None,
                      help="carve deleted files from each volume's unallocated space with PhotoRec (apt testdisk) "
                           "once its files are examined; they appear under $Carved/ (default: off: the copy of the unallocated "
                           "space needs room in the case folder)")
    scan.add_argument("--carve-slack", action=argparse.BooleanOptionalAction, default=False,
                      help="carve each volume's file slack with PhotoRec, with or without --carve: the bytes between "
                           "the end of every allocated file and the end of its last block, where older deleted content "
                           "can remain; they appear under $Carved/slack/ (default: off: every file's block list is read "
                           "again and its slack copied into the case folder, 41 MB and about a second more for the "
                           "10,000 files of the 1.1 GB disk benchmark)")
    scan.add_argument("--keywords", action="append", type=Path, default=[], metavar="FILE",
                      help="keyword list, UTF-8, one term a line: a literal (any case, UTF-16 text too), re:REGEX "
                           "(Python syntax, time-limited), or ~TERM (any accents, a typing error allowed); named by "
                           "the file's name (repeatable)")
    scan.add_argument("--builtin-keywords", default="all", metavar="LISTS",
                      help="built-in keyword lists, checksums checked: all (default), none, or some of card-numbers, "
                           "ibans, phone-numbers, e-mail-addresses, bitcoin-addresses, ethereum-addresses, "
                           "separated by commas")
    scan.add_argument("--quiet", action="store_true", help="no progress bar and no summary")
    _add_scan_intel_options(scan)

    export = commands.add_parser(
        "export", help="write a table of the case as JSON lines or CSV",
        description="Export files, findings, Windows and user-activity artefacts (artifacts: registry, event logs, "
                    "prefetch, shortcuts, browsers), the network records of packet captures (flows, dns, http, tls), the "
                    "pictures with a GPS position (gps; also as a KML or GeoJSON map) or "
                    "the case timeline, one JSON object per line (jsonl) or CSV with a header; the timeline's file "
                    "times also as a Sleuth Kit body file (--format body) for mactime.")
    export.add_argument("--case", required=True, type=Path, metavar="DIR")
    export.add_argument("--what", required=True, choices=sorted([*queries.EXPORTS, "timeline"]))
    export.add_argument("--format", default="jsonl", choices=["jsonl", "csv", "body", "kml", "geojson"],
                        help="kml and geojson: with --what gps, the pictures with a GPS position as a map")
    export.add_argument("-o", "--output", type=Path, metavar="FILE", help="write here instead of standard output")
    export.add_argument("--force", action="store_true", help="replace FILE if it exists")
    export.add_argument("--show-credentials", action="store_true",
                        help="write captured passwords as seen (masked by default)")
    export.add_argument("--type", action="append", default=[], metavar="TYPE", dest="types",
                        help="with --what artifacts: only this artefact type or those under it, e.g. registry.run, "
                             "evtx, browser (repeatable)")

    report = commands.add_parser(
        "report", help="write the case report: PDF (and optionally self-contained HTML)",
        description="A court-ready PDF of the case: evidence with hashes and verification, methodology, "
                    "findings by severity, timeline excerpt, chain of custody, and the sha256 of the case "
                    "database. OUT.sha256 is written beside each report; past --max-findings the full list "
                    "goes to OUT.findings.csv.")
    report.add_argument("--case", required=True, type=Path, metavar="DIR")
    report.add_argument("--pdf", required=True, type=Path, metavar="OUT.pdf")
    report.add_argument("--html", type=Path, metavar="OUT.html", help="also write a self-contained HTML report")
    report.add_argument("--force", action="store_true", help="replace reports (and their .sha256) that exist")
    report.add_argument("--case-number", help="case number for the cover and page headers")
    report.add_argument("--examiner", help="examiner's name for the cover")
    report.add_argument("--agency", help="agency or unit for the cover")
    report.add_argument("--notes", help="examiner's notes, printed in the report")
    report.add_argument("--max-findings", type=int, default=500, metavar="N",
                        help="findings shown in detail (default 500); all of them go to the CSV appendix")
    report.add_argument("--show-credentials", action="store_true",
                        help="print captured credentials unmasked (masked by default)")
    report.add_argument("--show-known-good", action="store_true",
                        help="list files in known-good hash sets too (left out of file lists and counts by default)")

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

    extract = commands.add_parser(
        "extract", help="write files of the case to a folder, each checked against its recorded sha256",
        description="Write the bytes of files (ids as `export --what files` shows them), read back from the "
                    "evidence, into a folder under safe names, check each written file's sha256 against the "
                    "case, and write export-manifest.csv beside them. Exit 1 if any file failed or did not verify.")
    extract.add_argument("--case", required=True, type=Path, metavar="DIR")
    extract.add_argument("--file", required=True, type=int, action="append", metavar="ID", help="id of a file (repeatable)")
    extract.add_argument("-o", "--output", required=True, type=Path, metavar="DIR", help="destination folder")

    info = commands.add_parser("info", help="describe a case: evidence, hashes, counts, runs",
                               description="Evidence list with integrity hashes and verification, counts, "
                                           "the completeness ledger, and the run history.")
    info.add_argument("--case", required=True, type=Path, metavar="DIR")
    search = commands.add_parser("search", help="search the text of every file, paths, artefacts and network text",
                                 description="An FTS5 query over the case's content index (words, \"a phrase\", "
                                             "OR, NOT, prefix*): each matching object with a snippet, best first.")
    search.add_argument("--case", required=True, type=Path, metavar="DIR")
    search.add_argument("query", metavar="QUERY")
    search.add_argument("--json", action="store_true", help="the hits as a JSON array")
    search.add_argument("--limit", type=int, default=50, metavar="N", help="at most N hits (default: %(default)s)")
    _add_intel_commands(commands)
    _verify_parser(commands)
    lab.add_worker_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.version:
            print(f"cybertriage {__version__}")
            from .analyzers import rule_files, ruleset_sha256

            print(f"bundled rules sha256 {ruleset_sha256(rule_files([asset_dir('rules')]))}")
            return EXIT_OK
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        code = {"scan": _scan, "export": _export, "report": _report, "tag": _tag, "extract": _extract,
                "info": _info, "search": _search, "hashset": _hashset, "ioc": _ioc, "verify": _verify,
                "worker": lab.worker_command}[args.command](args)
        sys.stdout.flush()  # a reader that went away shows here, inside the handler below, not at exit
        return code
    except UsageError as error:
        print(f"cybertriage: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except CaseError as error:
        print(f"cybertriage: error: {error}", file=sys.stderr)
        return EXIT_CASE
    except CybertriageError as error:
        print(f"cybertriage: error: {error}", file=sys.stderr)
        return EXIT_INCOMPLETE
    except BrokenPipeError:  # the reader went away (`export | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # else exit's flush complains again
        return EXIT_OK
    except KeyboardInterrupt:  # a second Ctrl-C: stop now; committed batches stay, the run is resumed next time
        print("cybertriage: interrupted", file=sys.stderr)
        return EXIT_CANCELLED


# -- scan ------------------------------------------------------------------------------


def _scan(args: argparse.Namespace) -> int:
    from .analyzers import Settings
    from .analyzers.keyword_lists import builtin_lists, read_keyword_file
    from .pipeline import Scan, ScanOptions

    if args.jobs < 1 or args.yara_max_size < 1 or args.yara_timeout < 1:
        raise UsageError("--jobs, --yara-max-size and --yara-timeout must be at least 1")
    rule_paths = None if args.no_yara else (asset_dir("rules"), *args.rules)
    carve = ScanOptions.carve if args.carve is None else args.carve
    options = ScanOptions(jobs=args.jobs, verify_images=not args.no_verify, carve=carve, carve_slack=args.carve_slack,
                          settings=Settings(yara_timeout=args.yara_timeout, rule_paths=rule_paths,
                                            keep_limit=args.yara_max_size * 1024 * 1024, intel=_scan_intel(args),
                                            sigma_paths=tuple(args.sigma), keyword_files=tuple(args.keywords),
                                            builtin_keywords=builtin_lists(args.builtin_keywords)))
    for path in args.keywords:
        read_keyword_file(path)  # a usage error, naming the line, before the scan starts
    lab.prepare_scan(args)
    cancel = threading.Event()
    scan = Scan(args.case, args.evidence, options, cancel, broker=args.broker, worker_timeout=args.worker_timeout,
                unit_bytes=args.unit_mb * 1024 * 1024)

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
        rate = f", {human_size(p.bytes_done / elapsed)}/s" if elapsed > 1 else ""
        name = p.evidence if p.units else Path(p.evidence).name[:28]
        if p.units is not None:  # a scan spread over workers: name is "units D/N", stage who has which
            fraction = p.units[0] / p.units[1] if p.units[1] else 0.0
            counts = f"{p.objects_done} objects, {human_size(p.bytes_done)} read"
        elif p.bytes_total:
            fraction = p.bytes_done / p.bytes_total
            counts = f"{human_size(p.bytes_done)} of {human_size(p.bytes_total)}"
        else:
            fraction = p.objects_done / p.objects_found if p.objects_found and p.listing_done else 0.0
            more = "" if p.listing_done else "+"
            counts = f"{p.objects_done}/{p.objects_found}{more} objects, {human_size(p.bytes_done)} read"
        filled = int(fraction * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        line = f"\r{name} {p.stage} [{bar}] {fraction:4.0%} {counts}{rate}"
        if p.units is not None:  # which worker has which unit is long: after the bar
            line = f"\r{name} [{bar}] {fraction:4.0%} {p.stage}; {counts}"
        self.stream.write(line[:120].ljust(120))
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r" + " " * 120 + "\r")
        self.stream.flush()


def _print_summary(scan: Scan, case_dir: Path) -> None:
    print(f"{'evidence':40} {'status':18} {'files':>8}  " + " ".join(f"{s:>8}" for s in SEVERITIES_WORST_FIRST))
    for o in scan.outcomes:
        counts = " ".join(f"{o.findings.get(s, 0):>8}" for s in SEVERITIES_WORST_FIRST)
        print(f"{_clip(Path(o.path).name, 40):40} {o.status:18} {o.files:>8}  {counts}")
    db = open_case(case_dir)
    top = list(queries.findings_worst_first(db, limit=15))
    if top:
        print("\nTop findings (severity, score of the object, what, where):")
        for row in top:
            score = "-" if row["score"] is None else row["score"]
            print(f"  {row['severity']:9} {score:>3}  {_clip(visible(row['title']), 58):58} "
                  f"{_clip(visible(row['object']), 60)}")
    for profile in host_profiles(db):
        print(f"\nWindows computer in {visible(Path(profile.evidence).name)} (from its registry):")
        _print_profile(profile, "  ")
    address = store_of(case_dir)
    where = f" (its tables in {address.url}, schema {address.schema})" if address else ""
    print(f"\nCase: {(case_dir / 'case.db').resolve() if address is None else case_dir.resolve()}{where}")


USERS_SHOWN, DEVICES_SHOWN = 20, 20


def _print_profile(profile: HostProfile, indent: str) -> None:
    """The computer's profile, users and devices as `scan` and `info` print them."""
    for label, text in profile.labelled():
        print(f"{indent}{label + ':':34} {visible(text)}")
    for interface in profile.interfaces:
        address = interface.get("ip_address") or interface.get("dhcp_ip_address") or "-"
        print(f"{indent}{'Network interface:':34} {visible(str(address))} "
              f"{visible(str(interface.get('domain') or interface.get('dhcp_domain') or ''))}".rstrip())
    print(f"{indent}{len(profile.users)} user account(s):")
    for user in profile.users[:USERS_SHOWN]:
        facts = ", ".join(f"{key.replace('_', ' ')} {user[key]}" for key in
                          ("last_logon", "logon_count", "profile_path") if user.get(key) not in (None, ""))
        print(f"{indent}  {visible(str(user.get('name') or '-'))} {visible(str(user.get('sid') or ''))}"
              + (f" ({visible(facts)})" if facts else ""))
    if profile.devices:
        print(f"{indent}{len(profile.devices)} storage device(s):")
        for device in profile.devices[:DEVICES_SHOWN]:
            facts = ", ".join(f"{label} {device[key]}" for key, label in (
                ("serial", "serial"), ("drive_letter", "drive"), ("volume_name", "volume"),
                ("first_connected", "first connected"), ("last_connected", "last connected")) if device.get(key))
            print(f"{indent}  {visible(device_name(device))}" + (f" ({visible(facts)})" if facts else ""))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- export and info -----------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    from .case.outputs import PendingFile, Protected, safe_destination

    if args.format == "body" and args.what != "timeline":
        raise UsageError("--format body is the Sleuth Kit body file of the file times: use it with --what timeline")
    if args.format in ("kml", "geojson") and args.what != "gps":
        raise UsageError(f"--format {args.format} is a map of the pictures with a GPS position: use it with --what gps")
    db = read_case(args.case)
    destination = safe_destination(args.output, Protected.of_case(args.case), force=args.force) if args.output else None
    if args.types and args.what != "artifacts":
        raise UsageError("--type chooses artefact types: use it with --what artifacts")
    fields, rows = (timeline.FIELDS, timeline.rows) if args.what == "timeline" else queries.EXPORTS[args.what]
    if args.types:
        rows = functools.partial(queries.artifacts, types=args.types)
    if args.what == "credentials" and not args.show_credentials:
        rows = _masked(rows)
    try:
        pending = PendingFile(destination) if destination else None
        with pending or contextlib.nullcontext():
            _write_export(db, args.format, fields, rows, pending.text if pending else sys.stdout)
            if pending:
                pending.put_in_place(force=args.force)
    except OSError as error:
        if destination is None:
            raise  # standard output went away (BrokenPipeError) or failed: not a destination to name
        raise UsageError(f"cannot write {destination}: {error.strerror or error}") from None
    db.close()
    not_logged = record_reading(args.case, "export", {
        "what": args.what, "format": args.format, "destination": str(destination) if destination else "standard output",
        "sha256": pending.sha256 if pending else None, "show_credentials": args.show_credentials})
    if not_logged:  # a case archived read-only can still be read
        print(f"cybertriage: warning: this export is not in the audit log: {not_logged}", file=sys.stderr)
    return EXIT_OK


def _write_export(db: Any, output_format: str, fields: list[str], rows: Any, out: TextIO) -> None:
    if output_format == "body":
        for line in timeline.body_lines(db):
            out.write(line + "\n")
    elif output_format in ("kml", "geojson"):
        from .case.maps import write_geojson, write_kml

        (write_kml if output_format == "kml" else write_geojson)(rows(db), out)
    elif output_format == "jsonl":
        for row in rows(db):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    else:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        for row in rows(db):  # cells that a spreadsheet would run as formulas are written as text
            writer.writerow({k: spreadsheet_safe(json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v)
                             for k, v in row.items()})


def _report(args: argparse.Namespace) -> int:
    from .report import ReportDetails  # reportlab loads only when a report is asked for
    from .report.writing import write_reports

    details = ReportDetails(case_number=args.case_number, examiner=args.examiner, agency=args.agency,
                            notes=args.notes, max_findings=args.max_findings,
                            show_credentials=args.show_credentials, show_known_good=args.show_known_good)
    written = write_reports(args.case, args.pdf, args.html, details, force=args.force)
    for path in written.paths:
        print(f"Report: {path}")
    if written.not_logged:
        print(f"cybertriage: warning: this report is not in the audit log: {written.not_logged}", file=sys.stderr)
    return EXIT_OK


def _tag(args: argparse.Namespace) -> int:
    db = open_case(args.case)
    kind, object_id = ("file", args.file) if args.file is not None else ("finding", args.finding)
    tag_id = add_tag(db, kind, object_id, args.tag, args.note, args.examiner or getpass.getuser())
    print(f"Tag {tag_id}: {kind} {object_id} tagged {args.tag!r}")
    return EXIT_OK


def _extract(args: argparse.Namespace) -> int:
    from .case.extract import export_files

    export = export_files(args.case, args.file, args.output)  # the case is checked before anything is written
    for item in export.files:
        where = visible(item.exported_name) if item.exported_name else "-"
        print(f"{item.verified:16} {item.file_id:>8}  {where}  {item.sha256 or '-'}")
        if item.error:
            print(f"cybertriage: file {item.file_id} ({visible(item.case_path)}): {visible(item.error)}",
                  file=sys.stderr)
    print(f"Manifest: {export.manifest}")
    return EXIT_OK if all(item.verified == "verified" for item in export.files) else EXIT_INCOMPLETE


def _masked(rows: Any) -> Any:
    """Credentials with their passwords masked: exports travel further than the case does."""
    def mask(db: Any) -> Any:
        for row in rows(db):
            if row.get("password"):
                row["password"] = MASK
            yield row

    return mask


def _search(args: argparse.Namespace) -> int:
    from .case.search import count_matches, describe_hits, search

    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    db = read_case(args.case)
    hits = search(db.conn, args.query, args.limit)
    if args.json:
        print(json.dumps([hit.as_dict() for hit in hits], ensure_ascii=False))
        return EXIT_OK
    for hit in hits:
        print(f"{hit.kind}\t{visible(hit.evidence or '-')}\t{visible(hit.path)}")
        print(f"    {visible(' '.join(hit.snippet.split()))}")
    print(describe_hits(len(hits), count_matches(db.conn, args.query)), file=sys.stderr)
    return EXIT_OK


def _info(args: argparse.Namespace) -> int:
    db = read_case(args.case)  # never creates or changes anything, so a read-only case can be described
    address = store_of(args.case)
    print(f"Case {args.case.resolve()}" + (f" (its tables in {address.url}, schema {address.schema})" if address else ""))
    for item in queries.evidence_summary(db):
        print(f"\nEvidence {item['id']}: {visible(item['path'])}")
        print(f"  format {item['format'] or '-'}, size {item['size'] if item['size'] is not None else '-'} bytes, "
              f"status {item['status']}" + (f" ({visible(item['error'])})" if item["error"] else ""))
        print(f"  sha256 {item['sha256'] or '-'}")
        if item["stored_md5"] or item["stored_sha1"]:
            print(f"  stored md5 {item['stored_md5'] or '-'} sha1 {item['stored_sha1'] or '-'}")
        print(f"  verification: {item['verified'] or 'not done'}")
        for p in item["partitions"]:
            print(f"  partition at byte {p['offset']}: {p['description']}, {p['filesystem'] or '-'}, {p['status']}")
        findings = ", ".join(f"{item['findings'][s]} {s}" for s in SEVERITIES_WORST_FIRST if s in item["findings"]) or "none"
        print(f"  {item['files']} objects ({item['deleted']} deleted); findings: {findings}")
        if any(item["network"].values()):
            print("  network: " + ", ".join(f"{count} {table}" for table, count in item["network"].items()))
        artefacts = queries.artifact_counts(db, item["id"])
        if artefacts:
            print(f"  artefacts: {sum(artefacts.values())} (" + ", ".join(f"{n} {kind}" for kind, n in artefacts.items())
                  + ")")
        for profile in host_profiles(db):
            if profile.evidence_id == item["id"]:
                print("  Windows computer (from its registry):")
                _print_profile(profile, "    ")
        for stage in item["ledger"]:
            reasons = json.loads(stage["reasons"])
            why = "; ".join(f"{n} {r}" for r, n in reasons.items())
            print(f"  ledger {stage['stage']:8} attempted {stage['attempted']}, processed {stage['processed']}, "
                  f"skipped {stage['skipped']}" + (f" ({visible(why)})" if why else ""))
        _print_not_opened(item["ledger"])
        if item["problems"]:
            print(f"  {item['problems']} problems recorded:")
            for problem in queries.problems(db, item["id"], PROBLEMS_SHOWN):
                print(f"    {problem['stage']}: {visible(problem['object']) or '-'}: {visible(problem['message'])}")
            if item["problems"] > PROBLEMS_SHOWN:
                print(f"    … and {item['problems'] - PROBLEMS_SHOWN} more (table 'problems' in the case database)")
    print("\nRuns:")
    for run in queries.runs(db):
        print(f"  {run['id']}: {run['started']} → {run['finished'] or '-'} {run['status']}, "
              f"cybertriage {run['tool_version']}, rules sha256 {run['rules_sha256'] or '(YARA off)'}")
    broken = check_chain(db, args.case)
    print("\nChain of custody: " + ("; ".join(map(visible, broken)) + " (run `cybertriage verify`)" if broken else
                                    "every entry links to the one before it, and custody.log's heads are in the log"))
    print("\nAudit log (UTC time, user@host, action, detail):")
    for entry in queries.audit_entries(db):
        print(f"  {entry['ts']} {entry['user']}@{entry['host']} {entry['action']}: {visible(entry['detail'])}")
    return EXIT_OK


# -- hash sets and IOCs (the workstation's intel database) ----------------------------------

INTEL_DB_HELP = (f"intel database (default: ${ENV_VARIABLE} if set, else "
                 "$XDG_DATA_HOME/cybertriage/intel.db, i.e. ~/.local/share/cybertriage/intel.db)")


def _print_not_opened(ledger: list[dict[str, Any]]) -> None:
    """The objects that could hold others but were not opened, apart from the rest of the ledger (issue 19)."""
    from .evidence.containers.ledger import not_opened  # the container readers load only when a case has a ledger

    unopened = not_opened(ledger)
    if unopened:
        print(f"  not opened, though they could hold other objects: {sum(unopened.values())} ("
              + "; ".join(f"{n} {visible(reason)}" for reason, n in unopened.items()) + ")")


def _intel_db_option(parser: argparse.ArgumentParser, after_action: bool = False) -> None:
    """--intel-db, accepted before the action (`hashset --intel-db P import`) and after it (`hashset import
    --intel-db P`); after it, an absent option leaves the value given before it alone."""
    extra: dict[str, Any] = {"default": argparse.SUPPRESS} if after_action else {}
    parser.add_argument("--intel-db", type=Path, metavar="PATH", help=INTEL_DB_HELP, **extra)


def _add_scan_intel_options(scan: argparse.ArgumentParser) -> None:
    _intel_db_option(scan)
    scan.add_argument("--hashset", action="append", default=[], metavar="NAME|PATH",
                      help="match files against this hash set only (a set's name in the intel database; repeatable), "
                           "or use the intel database at PATH; by default every set of the intel database is used")
    scan.add_argument("--no-intel", action="store_true", help="use no hash sets and no IOC lists")


def _scan_intel(args: argparse.Namespace) -> intel.Intel | None:
    """The hash sets and IOC lists the scan uses, from --intel-db/--hashset/--no-intel."""
    from . import intel

    if args.no_intel:
        if args.hashset:
            raise UsageError("--hashset and --no-intel contradict each other")
        return None
    databases = [Path(v) for v in args.hashset if Path(v).is_file()]
    names = [v for v in args.hashset if not Path(v).is_file()]
    if len(databases) > 1 or (databases and args.intel_db and databases[0] != args.intel_db):
        raise UsageError("one intel database per scan: --hashset names a second one")
    return intel.load_intel(databases[0] if databases else args.intel_db, names or None)


def _add_intel_commands(commands: Any) -> None:
    hashset = commands.add_parser(
        "hashset", help="import and list known-file hash sets (NSRL, known-bad lists)",
        description="Hash sets live in the workstation's intel database, outside any case, and every scan uses "
                    "them: a file in a known-good set (e.g. the NSRL RDS) is marked known and left out of the "
                    "report's file lists; a file in a known-bad set is a critical finding.")
    _intel_db_option(hashset)
    actions = hashset.add_subparsers(dest="action", metavar="ACTION", required=True)
    load = actions.add_parser(
        "import", help="import an NSRL RDS v3 database or a list of hashes",
        description="FILE is an NSRL RDS v3 SQLite database (its FILE view: sha256, sha1, md5, file_name), "
                    "known good by default; or a text/CSV list of MD5, SHA-1 or SHA-256 hashes, one per line, each "
                    "optionally followed by a name (md5sum/sha256sum output works; a CSV header may name hash and "
                    "name columns), known bad by default. A set of the same name is replaced.")
    load.add_argument("file", type=Path, metavar="FILE")
    load.add_argument("--name", help="the set's name (default: the file's name without extension)")
    load.add_argument("--known", choices=["good", "bad"], help="override what a match means")
    _intel_db_option(load, after_action=True)
    listing = actions.add_parser("list", help="the hash sets in the intel database, with their row counts")
    _intel_db_option(listing, after_action=True)
    match = actions.add_parser(
        "match", help="apply the hash sets to a case already scanned (e.g. after importing a new set)",
        description="Looks every hashed file of the case up in the hash sets, as a scan does: files in a set are "
                    "marked known, and a file in a known-bad set is a critical finding. Findings already recorded "
                    "are not added twice. The pass is recorded in the case's chain of custody.")
    match.add_argument("--case", required=True, type=Path, metavar="DIR")
    match.add_argument("--hashset", action="append", default=[], metavar="NAME",
                       help="use only this hash set (repeatable); by default every set of the intel database")
    _intel_db_option(match, after_action=True)

    ioc = commands.add_parser(
        "ioc", help="import, list and match IOC lists (CSV, STIX 2.1)",
        description="IOC lists live in the workstation's intel database; every scan matches them against the "
                    "case once its evidence is in (file hashes, DNS queries and answers, HTTP hosts and URLs, "
                    "TLS server names, flow endpoints, strings found in files). Each hit is a finding.")
    _intel_db_option(ioc)
    actions = ioc.add_subparsers(dest="action", metavar="ACTION", required=True)
    load = actions.add_parser(
        "import", help="import a CSV list or a STIX 2.1 bundle",
        description="CSV: type,value,description[,severity] per line (types md5, sha1, sha256, domain, ipv4, ipv6 "
                    "— CIDR allowed —, url, email; a header line is optional). STIX 2.1: the bundle's indicator "
                    "patterns on file hashes, domain names, IPv4/IPv6 addresses, URLs, e-mail addresses and "
                    "network-traffic endpoints; comparisons that cannot be matched are counted and listed. "
                    "A list of the same name is replaced.")
    load.add_argument("file", type=Path, metavar="FILE")
    load.add_argument("--name", help="the list's name (default: the file's name without extension)")
    load.add_argument("--severity", default="high", choices=SEVERITIES,
                      help="severity of the findings where the list gives none (default high)")
    _intel_db_option(load, after_action=True)
    listing = actions.add_parser("list", help="the IOC lists in the intel database, with their counts per type")
    _intel_db_option(listing, after_action=True)
    match = actions.add_parser(
        "match", help="match the IOC lists against a case again (e.g. after importing a new list)",
        description="Runs the IOC pass a scan runs at its end; hits already recorded are not added twice.")
    match.add_argument("--case", required=True, type=Path, metavar="DIR")
    _intel_db_option(match, after_action=True)


def _print_import(report: intel.ImportReport, what: str) -> None:
    print(f"{what} {report.name!r} ({report.format}): {report.rows:,} entries, sha256 {report.source_sha256}")
    extra = [f"{report.skipped:,} lines skipped"] if report.skipped else []
    if report.unsupported:
        extra.append(f"{report.unsupported:,} comparisons or patterns not supported")
    if report.approximated:
        extra.append(f"{report.approximated:,} patterns needing several observations matched part by part")
    if extra:
        print("  " + "; ".join(extra))
    for problem in report.problems:
        print(f"  {visible(problem)}", file=sys.stderr)
    if report.skipped > len(report.problems):
        print(f"  … and {report.skipped - len(report.problems):,} more", file=sys.stderr)


def _hashset(args: argparse.Namespace) -> int:
    from . import intel

    path = intel.resolve_path(args.intel_db)
    if args.action == "import":
        def progress(rows: int) -> None:
            if sys.stderr.isatty():
                print(f"\r{rows:,} rows", end="", file=sys.stderr, flush=True)

        try:
            report = intel.import_hash_set(path, args.file, args.name, args.known, progress)
        except KeyboardInterrupt:
            print(f"\ncybertriage: import cancelled; {path} is as it was", file=sys.stderr)
            return EXIT_CANCELLED
        if sys.stderr.isatty():
            print("\r" + " " * 30 + "\r", end="", file=sys.stderr)
        _print_import(report, "Hash set")
        print(f"Intel database: {path}")
        return EXIT_OK
    if args.action == "match":
        return _hashset_match(args, path)
    found = intel.load_intel(path)
    sets = found.hash_sets if found else ()
    print(f"Intel database: {path}" + ("" if found else " (none yet)"))
    for item in sets:
        print(f"  {item.name}: known {item.known}, {item.rows:,} hashes, {item.format}"
              f"{', ' + item.version if item.version else ''}, imported {item.imported_at}, sha256 {item.source_sha256}")
    if found and not sets:
        print("  no hash sets")
    return EXIT_OK


def _hashset_match(args: argparse.Namespace, path: Path) -> int:
    """The hash sets over a case already scanned, as `ioc match` runs the IOC lists again."""
    from . import intel

    found = intel.load_intel(path, args.hashset or None)
    if not found or not found.hash_sets:
        raise UsageError(f"no hash sets in {path} (import one with `cybertriage hashset import`)")
    return _match(args.case, found, "hashsets")


def _ioc(args: argparse.Namespace) -> int:
    from . import intel
    from .intel.ioc import kind_counts

    path = intel.resolve_path(args.intel_db)
    if args.action == "import":
        _print_import(intel.import_iocs(path, args.file, args.name, args.severity), "IOC list")
        print(f"Intel database: {path}")
        return EXIT_OK
    found = intel.load_intel(path)
    if args.action == "list":
        print(f"Intel database: {path}" + ("" if found else " (none yet)"))
        for item in found.ioc_lists if found else ():
            counts = ", ".join(f"{n:,} {kind}" for kind, n in kind_counts(path, item.id).items())
            print(f"  {item.name}: {item.rows:,} IOCs ({counts}), {item.format}, imported {item.imported_at}, "
                  f"sha256 {item.source_sha256}" + (f"; {item.unsupported} unsupported" if item.unsupported else ""))
        if found and not found.ioc_lists:
            print("  no IOC lists")
        return EXIT_OK
    if not found or not found.ioc_lists:
        raise UsageError(f"no IOC lists in {path} (import one with `cybertriage ioc import`)")
    return _match(args.case, found, "ioc")


def _match(case: Path, found: intel.Intel, name: str) -> int:
    """One post-scan pass over a case already scanned, then scoring, as a scan runs them; exit 1 if it failed."""
    from .passes import PassContext, chosen_passes, run_passes

    db = open_case(case)
    context = PassContext(found, utc_now())
    with write_transaction(db):  # waits for a running scan's writes instead of failing on a locked case
        outcomes = run_passes(db, context, chosen_passes(context, {name}))
    for outcome in outcomes:
        if outcome.result is None:
            print(f"cybertriage: {outcome.step.ACTION} failed: {outcome.error}", file=sys.stderr)
        elif outcome.step.NAME == name:
            print(outcome.result.summary)
    return EXIT_OK if all(outcome.result for outcome in outcomes) else EXIT_INCOMPLETE
# -- verify ------------------------------------------------------------------------------


def _verify_parser(commands: Any) -> None:
    verify = commands.add_parser(
        "verify", help="re-read every evidence item and compare it with what the case recorded",
        description="Re-read every evidence item of the case (read-only) and recompute the sha256 of its files "
                    "(for a folder, of each file in it; for an E01 also the MD5/SHA-1 its acquisition stored), "
                    "compare with the values the case recorded when the evidence was added, and print one line "
                    "per evidence item: OK, MISMATCH, MISSING, NOT HASHED, UNREADABLE or DAMAGED (E01 chunks whose "
                    "checksum fails, named by sector). The check is recorded "
                    "in the case's audit log.",
        epilog="Exit codes: 0 every evidence item is as recorded; 1 at least one is not; 2 usage error.")
    verify.add_argument("--case", required=True, type=Path, metavar="DIR")
    verify.add_argument("--report", type=Path, metavar="OUT.pdf",
                        help="also say whether this report (PDF or HTML) still describes the case: the audit entry it "
                             "ended with and the digest of the case's content it printed, recomputed now")


def _verify(args: argparse.Namespace) -> int:
    from .case.custody import read_seal
    from .case.store import CaseInUse, case_held
    from .case.verify import check_report, custody_problems, verify_case

    seal = None
    if args.report:
        try:
            seal = read_seal(args.report)
        except (OSError, ValueError) as error:
            raise UsageError(str(error)) from None
    db = open_case(args.case)
    try:
        with case_held(args.case):  # no scan may add to the case while it is judged
            problems = custody_problems(db, args.case)
            verdicts = verify_case(db)
            report = check_report(db, seal) if seal else None
            for v in verdicts:
                print(f"{v.status:10} {visible(v.path)}: {visible(v.detail)}")
            if not verdicts:
                print("no evidence in this case")
            for problem in problems:
                print(f"{'CUSTODY':10} {visible(problem)}")
            if not problems:
                print(f"{'CUSTODY':10} OK: every audit entry linked to the one before it, as custody.log recorded; "
                      "evidence hashes as logged; carried objects hash to their names")
            if report:
                print(f"{'REPORT':10} {visible(str(args.report))} "
                      f"{'describes the case' if report.describes else 'NO LONGER describes the case'}: {report.detail}")
            ok = not problems and all(v.ok for v in verdicts) and (report is None or report.describes)
            audit(db, "evidence verified", {
                "all_ok": ok, "custody": problems,
                "results": [{"evidence": v.path, "status": v.status, "detail": v.detail} for v in verdicts],
                **({"report": str(args.report.resolve()), "report_describes_case": report.describes,
                    "report_detail": report.detail} if report else {})})
    except CaseInUse:
        print(f"cybertriage: a scan of {args.case} is running: nothing verified, nothing recorded; "
              "verify the case when the scan has finished", file=sys.stderr)
        return EXIT_INCOMPLETE
    return EXIT_OK if ok else EXIT_INCOMPLETE


if __name__ == "__main__":
    sys.exit(main())
