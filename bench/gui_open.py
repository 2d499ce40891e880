#!/usr/bin/env python3
"""Benchmark: opening a large case in the desktop application.

Not a test. It generates (or reuses) a case database with 1,000,000 file rows and 100,000
findings — one NTFS-like volume of a Windows disk: folders of system files, program files and
user documents, with realistic names, sizes, hashes, times and a few scored objects — written
through the core's schema (so the full-text indexes are filled by its triggers), all rows in one
transaction with executemany. Then, in a fresh process each time (offscreen Qt), it measures:

  start → window     from the process start to the main window shown, no case open
  open → findings    from `open_case` to the first findings rows painted in the Findings tab
  open → files       from `open_case` to the first rows of the volume's root folder painted
  open → snapshot    from `open_case` to the whole snapshot shown: every finding listed, dashboard counts
  peak RSS           the process's maximum resident set size

and prints the median of --repeat runs. The case goes in bench/work/ (git ignores it).

Then, in the same process, as an examiner would: three header clicks on the findings table and a word in its search
box, the 100,000-file folder sorted by size and `*.ps1` typed in the Files tab's name filter, the Timeline tab opened
and its tallest bar clicked; a 50 ms timer on the GUI thread records the longest it was kept waiting meanwhile.
With --json OUT.json the figures are written for automation (seconds; median of the runs, the worst gap and the
highest peak RSS): open_first_rows_s, open_complete_s, findings_sort_s, findings_search_s, files_sort_s,
files_filter_s, timeline_open_s, timeline_range_s, max_gui_gap_ms, peak_rss_mb.

Usage (from the repository root):
  .venv/bin/python bench/gui_open.py [--files N] [--findings N] [--repeat N] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_WORK = REPO / "bench" / "work"
GENERATOR_VERSION = 2  # bump when the generated rows change, so old cases are rebuilt
VOLUME = 1048576  # the volume's byte offset, as on an MBR disk

EXTENSIONS = {  # extension: (mime, log10 of a typical size)
    "dll": ("application/x-dosexec", 5.3), "exe": ("application/x-dosexec", 5.6), "sys": ("application/x-dosexec", 4.8),
    "txt": ("text/plain", 3.2), "log": ("text/plain", 4.5), "xml": ("text/xml", 3.8), "ini": ("text/plain", 2.8),
    "jpg": ("image/jpeg", 5.7), "png": ("image/png", 4.6), "pdf": ("application/pdf", 5.5),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", 4.9),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 4.7),
    "zip": ("application/zip", 6.0), "mp4": ("video/mp4", 7.3), "html": ("text/html", 4.2), "js": ("text/javascript", 4.4),
    "json": ("application/json", 3.6), "lnk": ("application/octet-stream", 3.1), "db": ("application/x-sqlite3", 5.9),
}
SCRIPTS = {"ps1": ("text/plain", 3.4)}  # PowerShell scripts, one file in 500: what `*.ps1` finds across the case
BIG_FOLDER, BIG_FILES = "/Windows/WinSxS", 100_000  # a folder as crowded as a real component store
WORDS = ("report", "invoice", "backup", "setup", "update", "photo", "scan", "notes", "draft", "final", "config",
         "system", "service", "helper", "client", "server", "data", "cache", "temp", "archive", "project", "budget",
         "holiday", "contract", "driver", "network", "security", "policy", "manual", "readme")
TOP = ("Windows/System32", "Windows/SysWOW64", "Windows/WinSxS", "Program Files", "Program Files (x86)", "ProgramData",
       "Users/alex/Documents", "Users/alex/Pictures", "Users/alex/Downloads", "Users/alex/AppData/Local",
       "Users/alex/AppData/Roaming", "Users/sam/Documents", "Users/sam/Desktop", "Users/Public")
RULES = (("yara", "Ransom_Note_Generic", "critical"), ("yara", "PowerShell_Download_Cradle", "high"),
         ("yara", "Mimikatz_Strings", "critical"), ("yara", "Suspicious_Base64_PE", "medium"),
         ("hashes", "known-bad-sha256", "critical"), ("signature", "executable-disguised", "high"),
         ("signature", "extension-mismatch", "medium"), ("pe", "packed-upx", "medium"), ("pe", "unsigned-driver", "low"),
         ("pe", "recent-compile-time", "info"), ("indicators", "url-in-document", "low"), ("archive", "encrypted-member", "info"))
TYPES = {**EXTENSIONS, **SCRIPTS}
RANKS = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}


def iso(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def generate(case: Path, files: int, findings: int, seed: int) -> None:
    """Write the case: the core's schema, then every row in one transaction."""
    sys.path.insert(0, str(REPO))
    from cybertriage.case import open_case

    rng = random.Random(seed)
    db = open_case(case, create=True)
    conn = db.conn
    conn.execute("PRAGMA cache_size = -1000000")  # 1 GB: the indexes are built in memory, written once
    conn.execute("PRAGMA synchronous = OFF")  # a generated case: nothing to lose
    started = time.perf_counter()
    # Indexes and full-text triggers are set aside during the load and put back as the core made them:
    # an index built by one sort, and an FTS rebuild, are many times faster than a million row-by-row updates.
    set_aside = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger') "
                             "AND tbl_name IN ('files', 'findings') AND sql IS NOT NULL").fetchall()
    with conn:
        for kind, name, _ in set_aside:
            conn.execute(f"DROP {kind.upper()} [{name}]")
        conn.execute("INSERT INTO evidence (id, path, kind, format, size, sha256, verified, status, added_at, processed_at) "
                     "VALUES (1, '/evidence/laptop-ssd.E01', 'disk', 'ewf', 256060514304, ?, 'verified', 'done', "
                     "'2026-03-02T09:14:00Z', '2026-03-02T11:40:12Z')", [hashlib.sha256(b"laptop").hexdigest()])
        conn.execute("INSERT INTO partitions (evidence_id, offset, length, description, filesystem, status) "
                     "VALUES (1, ?, 256059465728, 'NTFS / exFAT (0x07)', 'NTFS', 'examined')", [VOLUME])
        rows, folders = [], []
        # folders: a few levels under each top folder, about one for every 50 files
        for top in TOP:
            parts = top.split("/")
            for depth in range(1, len(parts) + 1):
                folders.append("/" + "/".join(parts[:depth]))
        while len(folders) < files // 50:
            parent = rng.choice(folders[len(TOP) // 2 :]) if len(folders) > len(TOP) else "/" + rng.choice(TOP)
            name = f"{rng.choice(WORDS)}{rng.choice(['', '_', '-', ' '])}{rng.randrange(1000)}"
            folders.append(f"{parent}/{name}")
        folders = sorted(set(folders))
        exts = list(EXTENSIONS)
        big = 0
        base_time = 1_640_995_200  # 2022-01-01
        for number in range(1, files + 1):
            if number <= len(folders):
                path, kind, size, ext = folders[number - 1], "directory", None, None
            else:
                ext = "ps1" if rng.random() < 0.002 else rng.choice(exts)
                stem = f"{rng.choice(WORDS)}{rng.choice(['', '_', '-'])}{rng.randrange(100_000)}"
                # every ninth file in the crowded folder until it holds BIG_FILES, spread over the ids as a scan spreads them
                crowded = (number - len(folders)) % 9 == 0 and big < BIG_FILES
                big += crowded
                path, kind = f"{BIG_FOLDER if crowded else rng.choice(folders)}/{stem}.{ext}", "file"
                size = int(10 ** rng.gauss(TYPES[ext][1], 0.6))
            digest = rng.randbytes(32)
            mtime = base_time + rng.randrange(130_000_000)
            score = rng.choice((0,) * 40 + (10, 25, 40, 60, 85)) if kind == "file" else 0
            rows.append((number, 1, None, VOLUME, path, path.rsplit("/", 1)[1], ext, str(number + 40), kind,
                         int(rng.random() < 0.02), size,
                         digest[:16].hex() if size else None, digest[:20].hex() if size else None, digest.hex() if size else None,
                         TYPES[ext][0] if ext else None, None, int(score >= 60 and rng.random() < 0.3),
                         iso(mtime), iso(mtime + rng.randrange(10_000_000)), iso(mtime + 60), iso(mtime - rng.randrange(1_000_000)),
                         score, json.dumps([f"scored {score} by the bench generator"]) if score else None))
            if len(rows) == 50_000:
                _insert_files(conn, rows)
                rows = []
        _insert_files(conn, rows)
        scored = [r[0] for r in conn.execute("SELECT id FROM files WHERE kind = 'file' ORDER BY score DESC, id LIMIT ?",
                                              [findings])]
        out = []
        for number in range(1, findings + 1):
            analyzer, rule, severity = rng.choice(RULES)
            file_id = scored[(number * 7919) % len(scored)]
            path = conn.execute("SELECT path FROM files WHERE id = ?", [file_id]).fetchone()[0]
            out.append((number, 1, "file", file_id, path, analyzer, rule, severity, RANKS[severity],
                        f"{rule.replace('_', ' ').replace('-', ' ')} in {path.rsplit('/', 1)[1]}",
                        json.dumps({"strings": [{"offset": rng.randrange(4096), "identifier": "$a"}]}),
                        "2026-03-02T11:00:00Z"))
        conn.executemany("INSERT INTO findings (id, evidence_id, object_kind, object_id, object, analyzer, rule, severity, "
                         "severity_rank, title, detail, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", out)
        conn.execute("INSERT INTO case_info (key, value) VALUES ('name', 'gui_open benchmark'), ('number', 'BENCH-1M')")
        for _, _, sql in set_aside:
            conn.execute(sql)
        for table in ("files_fts", "findings_fts"):
            conn.execute(f"INSERT INTO [{table}] ([{table}]) VALUES ('rebuild')")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    print(f"generated {files:,} files and {findings:,} findings in {time.perf_counter() - started:.1f} s "
          f"({(case / 'case.db').stat().st_size / 1e9:.2f} GB)", flush=True)


def _insert_files(conn, rows: list[tuple]) -> None:
    conn.executemany("INSERT INTO files (id, evidence_id, parent_id, partition_offset, path, name, extension, inode, kind, "
                     "deleted, size, md5, sha1, sha256, mime, description, ext_mismatch, mtime, atime, ctime, crtime, "
                     "score, reasons) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)


def child(case: Path, settings_path: Path) -> None:
    """One measurement, in its own process: prints a JSON line of seconds since the process started."""
    start = float(os.environ["GUI_OPEN_STARTED"])
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    sys.path.insert(0, str(REPO))
    from PySide6.QtCore import QEventLoop, QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from cybertriage.gui.forms import style_sheet
    from cybertriage.gui.main_window import MainWindow

    app = QApplication([sys.argv[0]])
    app.setStyleSheet(style_sheet())
    window = MainWindow(QSettings(str(settings_path), QSettings.Format.IniFormat))
    window.window.resize(1400, 900)
    window.window.show()
    QEventLoop().processEvents()
    shown = time.time()

    # An event loop checked every 5 ms, not a processEvents spin: the spin's CPU would count as the window's.
    # (And PySide6 6.12's QCoreApplication.processEvents drops a reference to None on every call.)
    loop = QEventLoop()
    poll = QTimer(interval=5)

    def wait_for(condition, timeout: float = 60.0) -> None:
        limit = time.time() + timeout

        def check() -> None:
            if condition() or time.time() > limit:
                loop.quit()

        poll.timeout.connect(check)
        poll.start()
        loop.exec()
        poll.stop()
        poll.timeout.disconnect(check)
        if not condition():
            raise SystemExit(f"timed out waiting at line {condition.__code__.co_firstlineno} of {__file__}")

    # the longest the GUI thread left a 50 ms timer waiting, from the case's opening to the end
    ticks: list[float] = []
    busy: list[float] = []  # the GUI thread's own CPU time at each tick: a long wait it spent working, or waiting
    beat = QTimer(interval=50)
    beat.timeout.connect(lambda: (ticks.append(time.perf_counter()), busy.append(time.thread_time())))

    refreshed: list[tuple[float, float]] = []
    window.refreshed.connect(lambda: refreshed.append((time.time(), time.process_time())))
    beat.start()
    ticks.append(time.perf_counter())
    busy.append(time.thread_time())
    opened, opened_cpu = time.time(), time.process_time()
    window.open_case(case)
    window.tabs.setCurrentWidget(window.findings.view.parentWidget().parentWidget())
    wait_for(lambda: window.findings.model.rowCount() > 0)
    window.findings.view.viewport().repaint()  # painted: the first page of rows is read here
    findings, findings_cpu = time.time(), time.process_time()
    first_rows = window.findings.model.rowCount()

    window.show_tab("filesTab")
    tree = window.files.tree_model
    volume = tree.index(0, 0, tree.index(0, 0))
    window.files.tree.setCurrentIndex(volume)
    wait_for(lambda: window.files.model.rowCount() > 0)
    window.files.view.viewport().repaint()
    files, files_cpu = time.time(), time.process_time()
    files_rows = window.files.model.rowCount()
    wait_for(lambda: bool(refreshed))
    whole, whole_cpu = refreshed[0]
    figures = {"window": shown - start, "findings": findings - opened, "files": files - opened,
               "snapshot": whole - opened, "findings_cpu": findings_cpu - opened_cpu, "files_cpu": files_cpu - opened_cpu,
               "snapshot_cpu": whole_cpu - opened_cpu, "first_rows": first_rows,
               "findings_rows": window.findings.model.rowCount(), "files_rows": files_rows}
    phases = [("open", 0.0), ("findings", time.perf_counter())]
    figures.update(_findings_figures(window, wait_for, refreshed))
    phases.append(("files", time.perf_counter()))
    figures.update(_files_figures(window, wait_for))
    phases.append(("timeline", time.perf_counter()))
    figures.update(_timeline_figures(window, wait_for))
    beat.stop()
    # each wait between two ticks: how long, when it ended, and how much of it the GUI thread spent computing
    gaps = [(ticks[n + 1] - ticks[n], ticks[n + 1], busy[n + 1] - busy[n]) for n in range(len(ticks) - 1)]
    worst = max(gaps)
    figures["max_gui_gap_ms"], figures["max_gui_gap_cpu_ms"] = worst[0] * 1000, worst[2] * 1000
    # the longest wait that ended in each part of the run, [wall, GUI thread CPU] in ms, for whoever looks for it
    ends = [*(begin for _, begin in phases[1:]), float("inf")]
    figures["gui_gaps_ms"] = {name: [round(gap * 1000), round(cpu * 1000)] for (name, begin), finish in zip(phases, ends, strict=True)
                              for gap, _, cpu in [max((g for g in gaps if begin <= g[1] < finish), default=(0, 0, 0))]}
    figures["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(figures))
    window.dispose()


def _click_header(view, section: int) -> None:
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest

    header = view.horizontalHeader()
    QTest.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(header.sectionViewportPosition(section) + header.sectionSize(section) // 2, 5))


def _findings_figures(window, wait_for, refreshed: list) -> dict:
    """Three header clicks on the findings table, then words typed in its search box: each until the rows show."""
    from PySide6.QtTest import QTest

    from cybertriage.gui.models import FINDING_COLUMNS

    window.tabs.setCurrentWidget(window.findings.view.parentWidget().parentWidget())
    names = [column.name for column in FINDING_COLUMNS]
    model = window.findings.model
    sorts, settled = {}, {}
    for name in ("score", "rule", "title"):
        seen = len(refreshed)
        started = time.perf_counter()
        _click_header(window.findings.view, names.index(name))
        # the first rows in the new order, painted; then the whole order (the snapshot) before the next click
        wait_for(lambda: model.query.sort == name and model.shown_query == model.query and model.rowCount() > 0)  # noqa: B023
        window.findings.view.viewport().repaint()
        sorts[name] = time.perf_counter() - started
        wait_for(lambda: len(refreshed) > seen)  # noqa: B023
        settled[name] = time.perf_counter() - started
    seen = len(refreshed)
    search = window.findings.search
    search.setFocus()
    QTest.keyClicks(search, "mimikatz")
    started = time.perf_counter()  # from the last key, the pause before the search runs included
    wait_for(lambda: model.query.filter.text == "mimikatz" and model.shown_query == model.query and model.rowCount() > 0)
    window.findings.view.viewport().repaint()
    searched = time.perf_counter() - started
    wait_for(lambda: len(refreshed) > seen)
    return {"findings_sort_s": max(sorts.values()), "findings_sorts": sorts, "findings_sorts_whole": settled,
            "findings_search_s": searched, "findings_search_whole_s": time.perf_counter() - started,
            "findings_found": model.rowCount()}


def _files_figures(window, wait_for) -> dict:
    """The crowded folder sorted by size (a header click), then `*.ps1` typed in the name filter: each until the
    first rows are painted (and, for the filter, its count of matches shown)."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from cybertriage.gui.models import FILE_COLUMNS

    files = window.files
    window.show_tab("filesTab")
    folder = files._tree_index_for(1, VOLUME, BIG_FOLDER)
    files.tree.setCurrentIndex(folder)
    wait_for(lambda: files.model.rowCount() > 0)
    started = time.perf_counter()
    _click_header(files.view, [column.name for column in FILE_COLUMNS].index("size"))
    wait_for(lambda: files.model.query is not None and files.model.query.sort == "size" and files.model.rowCount() > 0)
    files.view.viewport().repaint()
    sort = time.perf_counter() - started
    wait_for(lambda: files.model.complete)
    folder_files = len(files.model.ids)
    files.filter_bar.name.setFocus()
    QTest.keyClicks(files.filter_bar.name, "*.ps1")
    started = time.perf_counter()
    QTest.keyClick(files.filter_bar.name, Qt.Key.Key_Return)
    wait_for(lambda: files.model.query is not None and files.model.query.filter.name == "*.ps1" and files.model.complete
             and files.model.rowCount() > 0)
    files.view.viewport().repaint()
    return {"files_sort_s": sort, "files_sorted": folder_files, "files_filter_s": time.perf_counter() - started,
            "files_matched": len(files.model.ids), "files_label": files.folder_label.text()}


def _timeline_figures(window, wait_for) -> dict:
    """The Timeline tab opened (histogram and first rows), then a click on its tallest bar, as the widget is."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    timeline = window.timeline
    started = time.perf_counter()
    window.tabs.setCurrentWidget(timeline.widget)

    def first_row_shown() -> bool:
        model = timeline.view.model()
        return model.rowCount() > 0 and model.data(model.index(0, 0)) not in (None, "…")

    wait_for(lambda: bool(timeline.histogram.bars) and first_row_shown(), timeout=180)
    timeline.view.viewport().repaint()
    opened = time.perf_counter() - started
    histogram = timeline.histogram
    tallest = max(range(len(histogram.bars)), key=lambda number: histogram.bars[number][1])
    # the middle of the tallest bar, where the widget draws it (and its own hit test agrees)
    point = histogram.bar_rect(tallest).center()
    assert histogram.bar_at(point) == tallest
    before = timeline.query
    started = time.perf_counter()
    QTest.mouseClick(histogram, Qt.MouseButton.LeftButton, pos=point)
    wait_for(lambda: timeline.query != before and timeline.view.model().query == timeline.query and first_row_shown(),
             timeout=180)
    timeline.view.viewport().repaint()
    return {"timeline_open_s": opened, "timeline_range_s": time.perf_counter() - started}


def measure(case: Path, work: Path) -> dict:
    settings = work / "gui_open-settings.ini"
    settings.unlink(missing_ok=True)
    env = {**os.environ, "GUI_OPEN_STARTED": repr(time.time()), "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, __file__, "--child", str(case), str(settings)], env=env,
                            capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise SystemExit(f"measurement failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--rebuild", action="store_true", help="generate the case again even if it exists")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write the figures (seconds) to this file")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    case = args.work / f"gui_open-v{GENERATOR_VERSION}-{args.files}-{args.findings}-s{args.seed}"
    if args.rebuild or not (case / "case.db").is_file():
        import shutil

        shutil.rmtree(case, ignore_errors=True)
        generate(case, args.files, args.findings, args.seed)
    runs = []
    for number in range(1, args.repeat + 1):
        load = os.getloadavg()[0]
        run = measure(case, args.work)
        runs.append(run)
        print(f"run {number}: window {run['window']:.2f} s, findings {run['findings']:.2f} s ({run['findings_cpu']:.2f} s CPU), "
              f"files {run['files']:.2f} s ({run['files_cpu']:.2f} s CPU), "
              f"snapshot {run['snapshot']:.2f} s ({run['snapshot_cpu']:.2f} s CPU), peak RSS {run['rss_mb']:.0f} MB; "
              f"load average before: {load:.1f} on {os.cpu_count()} CPUs")
        print(f"       findings sort {run['findings_sort_s']:.2f} s, search {run['findings_search_s']:.2f} s; "
              f"files sort {run['files_sort_s']:.2f} s, *.ps1 {run['files_filter_s']:.2f} s; timeline open "
              f"{run['timeline_open_s']:.2f} s, bar {run['timeline_range_s']:.2f} s;\n"
              f"       GUI gap {run['max_gui_gap_ms']:.0f} ms ({run['max_gui_gap_cpu_ms']:.0f} ms of it computing on the GUI "
              f"thread), longest by part {run['gui_gaps_ms']}")
    median = {key: statistics.median(run[key] for run in runs)
              for key in ("window", "findings", "files", "snapshot", "findings_cpu", "files_cpu", "snapshot_cpu", "rss_mb",
                          "findings_sort_s", "findings_search_s", "files_sort_s", "files_filter_s", "timeline_open_s",
                          "timeline_range_s")}
    worst_gap = max(run["max_gui_gap_ms"] for run in runs)
    print(f"\ncase: {args.files:,} files, {args.findings:,} findings ({(case / 'case.db').stat().st_size / 1e9:.2f} GB); "
          f"median of {len(runs)} runs, offscreen Qt; CPU is the process's, all threads:")
    print(f"  start → window shown            {median['window'] * 1000:7.0f} ms")
    print(f"  open case → first findings rows {median['findings'] * 1000:7.0f} ms wall, {median['findings_cpu'] * 1000:5.0f} ms CPU"
          f"  ({runs[0]['first_rows']:,} findings listed at first)")
    print(f"  open case → first files rows    {median['files'] * 1000:7.0f} ms wall, {median['files_cpu'] * 1000:5.0f} ms CPU"
          f"  ({runs[0]['files_rows']:,} rows of the root folder)")
    print(f"  open case → whole snapshot      {median['snapshot'] * 1000:7.0f} ms wall, {median['snapshot_cpu'] * 1000:5.0f} ms CPU"
          f"  ({runs[0]['findings_rows']:,} findings listed, dashboard counts)")
    print(f"  findings sorted (worst of 3)    {median['findings_sort_s'] * 1000:7.0f} ms  first rows {runs[0]['findings_sorts']}"
          f", whole order {runs[0]['findings_sorts_whole']}")
    print(f"  findings searched               {median['findings_search_s'] * 1000:7.0f} ms  ({runs[0]['findings_found']:,} found; "
          f"whole snapshot {runs[0]['findings_search_whole_s']:.2f} s)")
    print(f"  files: folder sorted by size    {median['files_sort_s'] * 1000:7.0f} ms  ({runs[0]['files_sorted']:,} files)")
    print(f"  files: *.ps1 over the case      {median['files_filter_s'] * 1000:7.0f} ms  ({runs[0]['files_matched']:,} matches)")
    print(f"  timeline opened                 {median['timeline_open_s'] * 1000:7.0f} ms")
    print(f"  timeline bar clicked            {median['timeline_range_s'] * 1000:7.0f} ms")
    print(f"  longest GUI gap (worst run)     {worst_gap:7.0f} ms")
    print(f"  peak RSS                        {median['rss_mb']:7.0f} MB")
    if args.json:
        figures = {"open_first_rows_s": median["findings"], "open_complete_s": median["snapshot"],
                   "findings_sort_s": median["findings_sort_s"], "findings_search_s": median["findings_search_s"],
                   "files_sort_s": median["files_sort_s"], "files_filter_s": median["files_filter_s"],
                   "timeline_open_s": median["timeline_open_s"], "timeline_range_s": median["timeline_range_s"],
                   "max_gui_gap_ms": worst_gap, "peak_rss_mb": max(run["rss_mb"] for run in runs)}
        args.json.write_text(json.dumps({key: round(value, 3) for key, value in figures.items()}, indent=2) + "\n")
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
