"""Every command, and the application's readers, on a case kept in PostgreSQL (issue 26), against a real server
(the lab_postgres fixture: Debian's postgresql on a free port). The truth is the same evidence scanned into SQLite:
the PostgreSQL case must export the same rows (ids and processing times aside), write a report with the same
findings, verify, search to the same objects, and keep its audit log append-only in the server itself (psql)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import threading
from pathlib import Path

import pytest
import sqlite_utils

from cybertriage import lab
from cybertriage.case import browse, postgres
from cybertriage.case.search import search
from cybertriage.case.store import on_case_waiting, open_case, open_case_waiting, use_store
from cybertriage.case.stores import StoreAddress, store_of
from cybertriage.errors import CaseError
from tests.case_exports import differences, exports
from tests.conftest import REPO, run_cli

DEMO = REPO / "resources" / "demo"
EVIDENCE = [DEMO / "demo-disk.img", DEMO / "demo-windows.img", DEMO / "demo-capture.pcap"]
HEADLINE_CHARS = 50  # of a finding's headline in the report, before the first place it may wrap
SEARCHES = ["alice", "powershell", "invoice", "203.0.113.7", "cred*", "invoice NOT powershell", '"new invoice"',
            "bash_history", "alice OR ransom*"]


def scan(case: Path, *extra: str | Path, evidence: list[Path] = EVIDENCE) -> None:
    result = run_cli("scan", *evidence, "--case", case, "--quiet", *extra, timeout=600)
    assert (result.code, result.stderr) == (0, "")  # no warning either (a new case's custody.log once had one)


@pytest.fixture(scope="session")
def sqlite_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo disk, Windows image and capture scanned into SQLite: the reference."""
    case = tmp_path_factory.mktemp("sqlite") / "case"
    scan(case)
    return case


@pytest.fixture(scope="session")
def postgres_case(tmp_path_factory: pytest.TempPathFactory, lab_postgres: lab.LocalPostgres) -> Path:
    """The same evidence scanned into a PostgreSQL store."""
    case = tmp_path_factory.mktemp("postgres") / "case"
    scan(case, "--store", lab_postgres.url)
    assert store_of(case) is not None and not (case / "case.db").exists()
    return case


def psql(url: str, statement: str) -> subprocess.CompletedProcess:
    return subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-Atc", statement], capture_output=True, text=True,
                          timeout=60)


def test_every_export_has_the_rows_of_a_sqlite_scan(sqlite_case: Path, postgres_case: Path) -> None:
    assert differences(exports(sqlite_case), exports(postgres_case)) == {}


def findings_text(pdf: Path) -> tuple[str, list[str]]:
    """The report's summary-of-findings tables as pdftotext reads them (words in order: its layout's spacing
    follows the rest of the page), and each finding's headline (its
    severity and the start of its title; the number the store gave it left out), once each, sorted. The ids'
    widths move where a title wraps and where pages break (a finding that runs over a page is headed again), and
    findings of equal rank may come in either store's order."""
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    summary = " ".join(text[text.index("Summary of findings"):text.index("\n Findings\n")].split())
    headlines = sorted({re.sub(r"#\d+ ", "", line.strip())[:HEADLINE_CHARS] for line in text.splitlines()
                        if re.match(r"\s*#\d+ (CRITICAL|HIGH|MEDIUM|LOW|INFO) ", line)})
    return summary, headlines


def test_the_report_has_the_findings_of_a_sqlite_scan(sqlite_case: Path, postgres_case: Path, tmp_path: Path) -> None:
    written = {}
    for name, case in (("sqlite", sqlite_case), ("postgres", postgres_case)):
        pdf, html = tmp_path / f"{name}.pdf", tmp_path / f"{name}.html"
        result = run_cli("report", "--case", case, "--pdf", pdf, "--html", html)
        assert result.code == 0, result.stderr
        assert html.stat().st_size > 0
        written[name] = findings_text(pdf)
    summary, headlines = written["postgres"]
    assert "The case holds 46 findings" in summary
    assert len(headlines) >= 30
    assert written["postgres"] == written["sqlite"]


def test_verify_passes_and_the_server_refuses_to_change_the_audit_log(postgres_case: Path,
                                                                       lab_postgres: lab.LocalPostgres) -> None:
    result = run_cli("verify", "--case", postgres_case)
    assert result.code == 0, result.stdout + result.stderr
    assert "CUSTODY    OK" in result.stdout
    schema = json.loads((postgres_case / "store.json").read_text())["schema"]
    entries = psql(lab_postgres.url, f"SELECT count(*) FROM {schema}.audit_log")
    assert entries.returncode == 0 and int(entries.stdout) > 3
    for statement in (f"UPDATE {schema}.audit_log SET action = 'x'", f"DELETE FROM {schema}.audit_log",
                      f"TRUNCATE {schema}.audit_log"):
        refused = psql(lab_postgres.url, statement)
        assert refused.returncode != 0 and "append-only" in refused.stderr, (statement, refused.stderr)
    assert psql(lab_postgres.url, f"SELECT count(*) FROM {schema}.audit_log").stdout == entries.stdout
    assert psql(lab_postgres.url, f"SELECT count(*) FROM {schema}.audit_log WHERE action = 'x'").stdout.strip() == "0"


def test_verify_names_a_disabled_audit_trigger(tmp_path: Path, lab_postgres: lab.LocalPostgres) -> None:
    """A trigger switched off in the server (not dropped) no longer protects the log, and verify says so."""
    case = tmp_path / "case"
    scan(case, "--store", lab_postgres.url, evidence=[DEMO / "demo-capture.pcap"])
    schema = json.loads((case / "store.json").read_text())["schema"]
    assert psql(lab_postgres.url, f"ALTER TABLE {schema}.audit_log DISABLE TRIGGER audit_log_no_update").returncode == 0
    result = run_cli("verify", "--case", case)
    assert result.code == 1
    assert "the trigger audit_log_no_update that refuses UPDATE on the audit log is missing or altered" in result.stdout
    assert "audit_log_no_delete" not in result.stdout


def search_hits(case: Path, query: str) -> list[tuple[str, str, str]]:
    result = run_cli("search", "--case", case, "--json", "--limit", "500", query)
    assert result.code == 0, result.stderr
    return sorted((hit["kind"], hit["path"], hit["evidence"]) for hit in json.loads(result.stdout))


@pytest.mark.parametrize("query", SEARCHES)
def test_search_finds_the_objects_a_sqlite_case_finds(sqlite_case: Path, postgres_case: Path, query: str) -> None:
    expected = search_hits(sqlite_case, query)
    assert expected or query == '"new invoice"'
    assert search_hits(postgres_case, query) == expected


def test_a_search_marks_the_words_it_found(postgres_case: Path) -> None:
    result = run_cli("search", "--case", postgres_case, "--json", "invoice")
    hits = json.loads(result.stdout)
    assert hits and all("[" in hit["snippet"] and "]" in hit["snippet"] for hit in hits)
    assert all("invoice" in marked.lower() for hit in hits for marked in re.findall(r"\[(.*?)\]", hit["snippet"]))


def file_id(case: Path, path: str) -> int:
    result = run_cli("export", "--case", case, "--what", "files", "--format", "jsonl")
    return next(row["id"] for row in map(json.loads, result.stdout.splitlines()) if row["path"] == path)


def test_tags_and_extraction(sqlite_case: Path, postgres_case: Path, tmp_path: Path) -> None:
    """The same file tagged in both cases exports the same tags; a file extracted from the PostgreSQL case has
    the sha256 the SQLite case recorded for it."""
    notes = "/Documents/meeting-notes.txt"
    for case in (sqlite_case, postgres_case):
        result = run_cli("tag", "--case", case, "--file", str(file_id(case, notes)), "--tag", "exhibit-1",
                         "--note", "minutes", "--examiner", "examiner-a")
        assert result.code == 0, result.stderr
    tags = {name: exports(case, ("tags",))["tags"] for name, case in (("sqlite", sqlite_case), ("postgres", postgres_case))}
    assert tags["postgres"] == tags["sqlite"]
    assert any('"object": "/Documents/meeting-notes.txt"' in row for row in tags["postgres"])
    result = run_cli("extract", "--case", postgres_case, "--file", str(file_id(postgres_case, notes)), "-o", tmp_path / "out")
    assert result.code == 0, result.stderr
    recorded = next(json.loads(row)["sha256"] for row in exports(sqlite_case, ("files",))["files"] if f'"path": "{notes}"' in row)
    assert hashlib.sha256((tmp_path / "out" / "meeting-notes.txt").read_bytes()).hexdigest() == recorded


def test_ioc_match_finds_what_it_finds_in_sqlite(tmp_path: Path, lab_postgres: lab.LocalPostgres,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CYBERTRIAGE_INTEL_DB", str(tmp_path / "intel.db"))
    iocs = tmp_path / "iocs.csv"
    iocs.write_text("ipv4,203.0.113.7,demo c2\ndomain,invoice-portal.example,demo lure\n")
    assert run_cli("ioc", "import", iocs).code == 0
    said = {}
    for name, extra in (("sqlite", ()), ("postgres", ("--store", lab_postgres.url))):
        case = tmp_path / name
        scan(case, *extra, evidence=[DEMO / "demo-capture.pcap"])
        result = run_cli("ioc", "match", "--case", case)
        assert result.code == 0, result.stderr
        said[name] = (result.stdout, [re.sub(r"file\|\d+", "file|#", row) for row in exports(case, ("findings",))["findings"]])
    assert "IOC hits" in said["postgres"][0] and any('"analyzer": "ioc"' in row for row in said["postgres"][1])
    assert said["postgres"] == said["sqlite"]


def test_the_application_reads_a_postgres_case(sqlite_case: Path, postgres_case: Path) -> None:
    """browse.connect opens the store the folder names; the application's readers give what they give in SQLite."""
    from cybertriage.case import timeline

    answers = {}
    for name, case in (("sqlite", sqlite_case), ("postgres", postgres_case)):
        conn = browse.connect(case)
        try:
            words = browse.FindingFilter(text="powershell").where()
            found = conn.execute(f"SELECT g.title FROM findings g WHERE {words[0]}", words[1]).fetchall()
            events = list(timeline.events(browse_db(conn), None, None, None, 10_000, 0, match=browse.fts_query("invoice")))
            hits = search(conn, "invoice OR powershell", 500)  # the Search tab's, on its rows by name
            answers[name] = (sorted(row["title"] for row in found), browse.evidence_names(conn),
                             sorted((event.ts, event.kind, event.action, event.description) for event in events),
                             sorted((hit.kind, hit.path, hit.evidence) for hit in hits))
        finally:
            conn.close()
    assert answers["postgres"][0] and answers["postgres"][2] and len(answers["postgres"][3]) > 10
    assert answers["postgres"] == answers["sqlite"]


def browse_db(conn):  # the core's timeline reads through sqlite-utils, as the application's timeline does
    import sqlite_utils

    return sqlite_utils.Database(conn)


def test_bad_stores_are_one_line_and_exit_2(tmp_path: Path, sqlite_case: Path) -> None:
    unreachable = run_cli("scan", DEMO / "demo-capture.pcap", "--case", tmp_path / "a", "--store",
                          "postgresql://nobody@127.0.0.1:1/x")
    assert unreachable.code == 2
    assert len(unreachable.stderr.strip().splitlines()) == 1 and "Traceback" not in unreachable.stderr
    assert "cannot reach the case store" in unreachable.stderr
    assert not (tmp_path / "a").exists()
    password = run_cli("scan", DEMO / "demo-capture.pcap", "--case", tmp_path / "b", "--store",
                       "postgresql://nobody:secret@127.0.0.1:1/x")
    assert password.code == 2 and "PGPASSWORD" in password.stderr and len(password.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()
    kept_in_sqlite = run_cli("scan", DEMO / "demo-capture.pcap", "--case", sqlite_case, "--store",
                             "postgresql://nobody@127.0.0.1:1/x")
    assert kept_in_sqlite.code == 2 and "case.db" in kept_in_sqlite.stderr
    assert not (sqlite_case / "store.json").exists()


def test_a_new_case_opened_by_several_at_once_is_created_once(tmp_path: Path, lab_postgres: lab.LocalPostgres) -> None:
    """The scan and its workers may open a new case in the store at the same moment: each one opens it, and the
    case is created once (one created_at, one "case created" entry), as psql reads the server."""
    case = tmp_path / "case"
    use_store(case, lab_postgres.url)
    openers = 8
    together = threading.Barrier(openers)
    failures: list[BaseException] = []

    def open_it() -> None:
        together.wait()
        try:
            open_case(case).close()
        except BaseException as error:  # reported by the assertion below
            failures.append(error)

    threads = [threading.Thread(target=open_it) for _ in range(openers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    schema = json.loads((case / "store.json").read_text())["schema"]
    created = psql(lab_postgres.url, f"SELECT count(*) FROM {schema}.case_info WHERE key = 'created_at'")
    entries = psql(lab_postgres.url, f"SELECT count(*) FROM {schema}.audit_log WHERE action = 'case created'")
    assert (created.stdout.strip(), entries.stdout.strip()) == ("1", "1"), (created.stderr, entries.stderr)


def test_a_session_the_server_ends_while_a_worker_opens_the_case_or_takes_a_unit_is_waited_for(
        tmp_path: Path, lab_postgres: lab.LocalPostgres, monkeypatch: pytest.MonkeyPatch) -> None:
    """A restart ends every session: one that ends between the connection and the case's first statements, or in
    the middle of a worker's work, is opened again and the work done again (a unit's message taken at that moment
    was once lost, and the scan waited for it for ever)."""
    case = tmp_path / "case"
    use_store(case, lab_postgres.url)
    open_case(case).close()
    real_connect = postgres.connect
    ended: list[int] = []

    def end_session(pid: int) -> None:
        ended.append(pid)
        psql(lab_postgres.url, f"SELECT pg_terminate_backend({pid})")

    def connect_then_end(address: StoreAddress, case_dir: Path) -> postgres.PostgresCase:
        db = real_connect(address, case_dir)
        if not ended:
            end_session(db.conn.pg.info.backend_pid)
        return db

    monkeypatch.setattr(postgres, "connect", connect_then_end)
    db = open_case_waiting(case)
    assert len(ended) == 1 and db.execute("SELECT count(*) FROM case_info").fetchone()[0] > 0
    db.close()

    def count_tags(db: sqlite_utils.Database) -> int:
        if len(ended) == 1:
            end_session(db.conn.pg.info.backend_pid)
        return db.execute("SELECT count(*) FROM tags").fetchone()[0]

    assert on_case_waiting(case, count_tags) == 0 and len(ended) == 2


def test_every_text_has_its_words_once_the_scan_ends(postgres_case: Path, lab_postgres: lab.LocalPostgres) -> None:
    """The scan's writer leaves its texts' words for later (a second session while it scans, every core at its
    end): none is left without them, and they were made after the rows were inserted, as psql reads the server."""
    schema = json.loads((postgres_case / "store.json").read_text())["schema"]
    left = psql(lab_postgres.url, f"SELECT count(*) FROM {schema}.content_fts WHERE ct_vector IS NULL AND body IS NOT NULL")
    texts = psql(lab_postgres.url, f"SELECT count(*) FROM {schema}.content_fts WHERE body IS NOT NULL")
    made_later = psql(lab_postgres.url, "SELECT n_tup_upd FROM pg_stat_user_tables "
                                        f"WHERE schemaname = '{schema}' AND relname = 'content_fts'")
    assert left.stdout.strip() == "0" and int(texts.stdout) > 100, (left.stderr, texts.stderr)
    assert int(made_later.stdout) == int(texts.stdout), made_later.stderr


def test_texts_left_for_later_get_their_words_or_one_clear_error(tmp_path: Path, lab_postgres: lab.LocalPostgres,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A text a writer's session left for later is found by a search once fill_vectors has run; a fill that fails
    (here a broken statement) is one CaseError line, and leaves the text for the next fill."""
    case = tmp_path / "case"
    use_store(case, lab_postgres.url)
    db = open_case(case)
    try:
        db.leave_vectors_for_later()
        db.execute("INSERT INTO content_fts (rowid, body) VALUES (1, 'Alice paid the invoice')")
        address = store_of(case)
        assert address is not None
        monkeypatch.setattr(postgres, "fill_statement", lambda: "UPDATE no_such_table SET x = 1")
        with pytest.raises(CaseError) as failed:
            postgres.fill_vectors(address, case, sessions=2)
        assert str(failed.value).startswith("the texts' words for search could not be made: ")
        assert "\n" not in str(failed.value)
        monkeypatch.undo()
        query = "SELECT count(*) FROM content_fts WHERE content_fts MATCH 'invoice'"
        assert db.execute(query).fetchone()[0] == 0
        postgres.fill_vectors(address, case, sessions=2)
        assert db.execute(query).fetchone()[0] == 1
    finally:
        db.close()
