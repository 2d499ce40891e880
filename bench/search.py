#!/usr/bin/env python3
"""Benchmark: text extraction and the content index (`cybertriage search`), against `grep -r -c`.

Not a test. It writes a folder of mixed documents (plain text, UTF-16 text, HTML, DOCX by python-docx, PDF by
reportlab) whose words come from a fixed vocabulary with planted rare terms, then:

  1. scans it twice, alternating --repeat times: `cybertriage scan` as it is, and the same scan with the text
     analyzer left out (the rest unchanged), so the difference is what extraction and indexing cost;
     prints indexing throughput (MB of documents and documents per second over the whole scan, and over the
     extra time), the size of the extracted text and of the index;
  2. runs 20 queries through `case.search.search` on a read-only connection (median and 95th percentile), and the
     same terms with `grep -r -c -i -F` over the extracted text written out as one file per document;
  3. with --disk IMAGE (bench/disk_triage.py's image), scans it with and without the text analyzer, alternating,
     and prints how much the text analyzer slows the disk triage (target: at most 25 %).

The issue's size is 100,000 documents of 2 GB; the default here is 3,000 documents (about 60 MB) so that a run
takes minutes; --docs and --doc-kib make it larger. Figures go to WORK/search-result.json.

Usage (from the repository root):  .venv/bin/python bench/search.py [--docs N] [--disk IMAGE] [--repeat N]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEFAULT_WORK = REPO / "bench" / "work"
MB = 1_000_000
# Scan without the text analyzer: the same command line, with the analyzer taken out of the registry.
WITHOUT_TEXT = ("import sys; from cybertriage.analyzers import registry; registry.ANALYZERS.pop('text'); "
                "from cybertriage.cli import main; sys.exit(main(sys.argv[1:]))")
PLANTED = ["nightjar", "okonkwo", "marmaduke", "quixotic", "zanzibar", "lindqvist", "brightwater", "harbourside",
           "kowalski", "vasquez"]
COMMON = ["invoice", "meeting", "transfer", "account"]


def vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(3, 10))) for _ in range(20_000)] + COMMON * 200


def paragraphs(rng: random.Random, words: list[str], size: int) -> list[str]:
    out, total = [], 0
    while total < size:
        line = " ".join(rng.choices(words, k=rng.randint(8, 20)))
        if rng.random() < 0.02:
            line += " " + rng.choice(PLANTED)
        out.append(line)
        total += len(line) + 1
    return out


def write_documents(folder: Path, count: int, kib: int, seed: int) -> dict[str, int]:
    """The evidence folder: `count` documents of about `kib` KiB of text each, in five formats."""
    import docx
    from reportlab.pdfgen import canvas

    rng = random.Random(seed)
    words = vocabulary(rng)
    kinds: dict[str, int] = {}
    for number in range(count):
        kind = ("txt", "utf16.txt", "html", "docx", "pdf")[number % 5]
        lines = paragraphs(rng, words, int(kib * 1024 * rng.uniform(0.5, 1.5)))
        path = folder / f"d{number // 500:03d}" / f"doc{number:06d}.{kind}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if kind == "txt":
            path.write_text("\n".join(lines), encoding="utf-8")
        elif kind == "utf16.txt":
            path.write_text("\n".join(lines), encoding="utf-16")
        elif kind == "html":
            path.write_text("<html><body>" + "".join(f"<p>{line}</p>" for line in lines) + "</body></html>")
        elif kind == "docx":
            document = docx.Document()
            for line in lines:
                document.add_paragraph(line)
            document.save(str(path))
        else:
            page = canvas.Canvas(str(path), pageCompression=1)
            for start in range(0, len(lines), 40):
                for row, line in enumerate(lines[start:start + 40]):
                    page.drawString(20, 800 - 19 * row, line[:110])
                page.showPage()
            page.save()
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


def scan(evidence: Path, case: Path, with_text: bool, yara: bool) -> tuple[float, float]:
    """One scan in a child process: its wall time and its CPU time (user + system, the scan and its children)."""
    if case.exists():
        shutil.rmtree(case)
    command = [sys.executable, "-m", "cybertriage"] if with_text else [sys.executable, "-c", WITHOUT_TEXT]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # Keyword lists off on both sides: without extracted text the keyword analyzer would search raw content instead,
    # and the two scans would do different keyword work.
    done = subprocess.run([*command, "scan", str(evidence), "--case", str(case), "--quiet", "--jobs", "2",
                           "--builtin-keywords", "none", *([] if yara else ["--no-yara"])],
                          cwd=REPO, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise SystemExit(f"scan failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def alternate(evidence: Path, work: Path, name: str, repeat: int, yara: bool) -> dict[str, list[float]]:
    """Scans with and without the text analyzer, in turn: wall times under `with`/`without`, CPU times under
    `with_cpu`/`without_cpu` (steadier than wall time on a machine others share)."""
    times: dict[str, list[float]] = {"with": [], "without": [], "with_cpu": [], "without_cpu": []}
    for _ in range(repeat):
        for side in ("without", "with"):
            seconds, cpu = scan(evidence, work / f"{name}-case-{side}", side == "with", yara)
            times[side].append(seconds)
            times[f"{side}_cpu"].append(cpu)
            print(f"  {name} scan {side} text: {seconds:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    return times


def index_figures(case: Path) -> dict[str, float]:
    db = sqlite3.connect(case / "case.db")
    try:
        texts, chars = db.execute("SELECT count(*), sum(chars) FROM texts").fetchone()
        page = db.execute("PRAGMA page_size").fetchone()[0]
        try:
            fts = db.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'content_fts%'").fetchone()[0]
        except sqlite3.OperationalError:  # SQLite built without dbstat: the shadow tables' rows instead
            fts = db.execute("SELECT sum(length(block)) FROM content_fts_data").fetchone()[0]
        return {"texts": texts, "text_chars": chars or 0,
                "index_bytes": fts or 0, "page_size": page, "case_db_bytes": (case / "case.db").stat().st_size}
    finally:
        db.close()


def queries(case: Path, work: Path) -> dict[str, object]:
    """20 queries through the search the CLI and the application run, and the same terms by grep over the text."""
    from cybertriage.case.search import content_text

    figures = query_latency(case)
    connection = sqlite3.connect(f"{(case / 'case.db').resolve().as_uri()}?mode=ro", uri=True)
    texts = work / "search-texts"
    if texts.exists():
        shutil.rmtree(texts)
    texts.mkdir()
    for (sha256,) in connection.execute("SELECT sha256 FROM texts"):
        found = content_text(connection, sha256)
        if found:
            (texts / f"{sha256}.txt").write_text(found[0], encoding="utf-8")
    connection.close()
    grep_times = []
    for term in PLANTED + COMMON:
        started = time.perf_counter()
        subprocess.run(["grep", "-r", "-c", "-i", "-F", term, str(texts)], capture_output=True)
        grep_times.append(time.perf_counter() - started)
    return {**figures, "grep_terms": len(grep_times), "grep_median_ms": 1000 * statistics.median(grep_times),
            "grep_p95_ms": 1000 * sorted(grep_times)[int(0.95 * (len(grep_times) - 1))]}


def query_latency(case: Path) -> dict[str, object]:
    """20 queries (planted rare words, common words, OR, a phrase, prefixes, NOT) through the search the CLI and the
    application run, on a read-only connection: median and 95th percentile, each query's hits and time."""
    from cybertriage.case.search import search

    connection = sqlite3.connect(f"{(case / 'case.db').resolve().as_uri()}?mode=ro", uri=True)
    terms = [*PLANTED, *COMMON, "nightjar OR okonkwo", '"invoice meeting"', "quix*", "transfer NOT account",
             "zanzibar lindqvist", "kowal*"]
    latencies, each = [], {}
    for term in terms:
        started = time.perf_counter()
        hits = search(connection, term, limit=100)
        latencies.append(time.perf_counter() - started)
        each[term] = {"hits": len(hits), "ms": round(1000 * latencies[-1], 1)}
    connection.close()
    return {"queries": len(terms), "median_ms": 1000 * statistics.median(latencies),
            "p95_ms": 1000 * sorted(latencies)[int(0.95 * (len(latencies) - 1))], "each": each}


def build_index(case: Path, count: int, words_per_doc: int, seed: int) -> None:
    """A case whose content index holds `count` documents' text, written through the case's own schema and the
    writer's insert (case.search.insert_texts), each text with a file row, as a scan leaves them. Words follow
    Zipf's law over the benchmark's vocabulary (a few very common, most rare); the planted terms are in about one
    document in 2,000 each."""
    from cybertriage.case import open_case
    from cybertriage.case.search import insert_texts

    rng = random.Random(seed)
    words = vocabulary(rng)
    weights = list(itertools.accumulate(1 / rank for rank in range(1, len(words) + 1)))
    partial = case.with_name(case.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    db = open_case(partial, create=True)
    conn = db.conn
    conn.execute("INSERT INTO evidence (id, path, status) VALUES (1, 'synthetic', 'done')")
    started = time.perf_counter()
    for first in range(0, count, 10_000):
        files, texts = [], []
        for number in range(first, min(count, first + 10_000)):
            text_words = rng.choices(words, cum_weights=weights, k=words_per_doc)
            if rng.random() < 0.005:
                text_words[rng.randrange(words_per_doc)] = rng.choice(PLANTED)
            body = " ".join(text_words)
            sha256 = hashlib.sha256(body.encode()).hexdigest()
            path = f"/Users/user{number % 50}/Documents/d{number // 1000:04d}/doc{number:07d}.txt"
            files.append((number + 1, path, path.rsplit("/", 1)[1], len(body), sha256))
            texts.append({"sha256": sha256, "how": "text", "chars": len(body), "body": body})
        conn.executemany("INSERT INTO files (id, evidence_id, path, name, kind, size, sha256) "
                         "VALUES (?, 1, ?, ?, 'file', ?, ?)", files)
        insert_texts(conn, texts)
        conn.commit()
        if first % 100_000 == 0:
            print(f"  {first + len(files):,} documents, {time.perf_counter() - started:.0f} s", flush=True)
    conn.execute("INSERT INTO content_fts (content_fts) VALUES ('optimize')")
    conn.commit()
    db.close()
    partial.rename(case)


def million(args: argparse.Namespace) -> dict[str, object]:
    """Query latency over an index of a million documents (built once, in bench/work)."""
    case = args.work / f"search-index-{args.million}x{args.million_words}w-seed{args.seed}"
    if not case.exists():
        print(f"building an index of {args.million:,} documents in {case} …", flush=True)
        started = time.perf_counter()
        build_index(case, args.million, args.million_words, args.seed)
        print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)
    figures = index_figures(case)
    figures["queries"] = query_latency(case)
    return figures


def documents(args: argparse.Namespace) -> dict[str, object]:
    """The document folder scanned with and without text, its index and the queries."""
    evidence = args.work / f"search-docs-{args.docs}x{args.doc_kib}k-seed{args.seed}"
    if not evidence.exists():
        print(f"writing {args.docs} documents to {evidence} …", flush=True)
        partial = evidence.with_name(evidence.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir()
        write_documents(partial, args.docs, args.doc_kib, args.seed)
        partial.rename(evidence)
    size = sum(p.stat().st_size for p in evidence.rglob("*") if p.is_file())
    result: dict[str, object] = {"docs": args.docs, "bytes": size}
    times = alternate(evidence, args.work, "search", args.repeat, yara=False)
    with_s, without_s = min(times["with"]), min(times["without"])
    result.update({"scan_with_text_s": with_s, "scan_without_text_s": without_s,
                   "overall_mb_s": size / MB / with_s, "overall_docs_s": args.docs / with_s,
                   "extra_s": with_s - without_s,
                   "indexing_mb_s": size / MB / max(1e-9, with_s - without_s),
                   "indexing_docs_s": args.docs / max(1e-9, with_s - without_s)})
    result["index"] = index_figures(args.work / "search-case-with")
    result["queries"] = queries(args.work / "search-case-with", args.work)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=3000, help="documents to write and index; 0 for --disk alone")
    parser.add_argument("--doc-kib", type=int, default=16, help="text per document, KiB (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--disk", type=Path, help="bench/disk_triage.py's image: the slowdown of its scan")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--million", type=int, default=0, metavar="N",
                        help="also time the queries over an index of N documents (1000000 for the issue's target)")
    parser.add_argument("--million-words", type=int, default=150, help="words per document of that index")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    result: dict[str, object] = {}
    if args.docs:
        result.update(documents(args))
    if args.million:
        result["million"] = million(args)
    if args.disk:
        # The disk benchmark's own scan (YARA on, as disk_triage.py runs it), with and without the text analyzer
        disk = alternate(args.disk, args.work, "disk", args.repeat, yara=True)
        result["disk"] = {"with_s": min(disk["with"]), "without_s": min(disk["without"]),
                          "slowdown_pct": 100 * (min(disk["with"]) / min(disk["without"]) - 1),
                          "cpu_slowdown_pct": 100 * (min(disk["with_cpu"]) / min(disk["without_cpu"]) - 1),
                          "runs": disk}
    (args.work / "search-result.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
