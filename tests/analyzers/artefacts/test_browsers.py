"""Browser history (plaso's Chrome and Firefox test databases, and files these tests make) against the `sqlite3`
command-line shell: counts, URLs, paths and sizes as the shell reads them, and times as its own datetime() turns
the raw columns into UTC (never converted by the code under test). Damaged, foreign and changed databases are
read for what they hold, with the problem recorded; one scan of a folder laid out like user profiles goes through
the command line to `export --what artifacts --type browser`."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from cybertriage.analyzers.artefacts.base import Deadline, OutOfTime
from cybertriage.analyzers.artefacts.browsers import BrowserHistory
from cybertriage.analyzers.artefacts.browsers_common import BrowserDatabase, Origin, origin
from cybertriage.analyzers.base import Item, Settings
from cybertriage.evidence.base import BytesContent, EvidenceObject
from tests.conftest import run_cli

DATA = Path(__file__).resolve().parents[2] / "data" / "artefacts" / "browsers"
CHROME = "Users/alice/AppData/Local/Google/Chrome/User Data/Default"
EDGE = "Users/alice/AppData/Local/Microsoft/Edge/User Data/Profile 1"
FIREFOX = "Users/bob/AppData/Roaming/Mozilla/Firefox/Profiles/x8x2kd0e.default-release"
WEBKIT = "/1000000 - 11644473600, 'unixepoch'"  # sqlite3: WebKit microseconds since 1601 to seconds since 1970
PRTIME = "/1000000, 'unixepoch'"
# ui/base/page_transition_types.h (Chromium), toolkit/components/places/nsINavHistoryService.idl (Firefox)
CHROMIUM_CORE = {0: "link", 1: "typed", 2: "auto_bookmark", 3: "auto_subframe", 4: "manual_subframe",
                 5: "generated", 6: "auto_toplevel", 7: "form_submit", 8: "reload", 9: "keyword",
                 10: "keyword_generated"}
FIREFOX_VISIT = {1: "link", 2: "typed", 3: "bookmark", 4: "embed", 5: "redirect_permanent",
                 6: "redirect_temporary", 7: "download", 8: "framed_link", 9: "reload"}


def shell(database: Path | str, sql: str) -> list[dict]:
    """Rows as the sqlite3 shell reads them: read-only, and as an immutable file, so that a WAL-mode database gets
    no -shm or -wal file made beside it in the test data."""
    name = f"{database.resolve().as_uri()}?immutable=1" if isinstance(database, Path) else database
    done = subprocess.run(["sqlite3", "-readonly", "-json", name, sql], capture_output=True, text=True, check=True)
    return json.loads(done.stdout) if done.stdout.strip() else []


def shell_write(database: Path, sql: str) -> None:
    subprocess.run(["sqlite3", str(database), sql], capture_output=True, text=True, check=True)


def iso(seconds_text: str | None, fraction: int | None = 0) -> str | None:
    """sqlite3's datetime() text ('2011-04-07 12:03:11') and the microseconds it drops, as ISO 8601 UTC."""
    if seconds_text is None:
        return None
    micro = f".{fraction:06d}".rstrip("0") if fraction else ""
    return seconds_text.replace(" ", "T") + micro + "Z"


def parse(source: Path, evidence_path: str, analyzer: BrowserHistory | None = None) -> tuple[list, list]:
    """The records and problems the analyzer gives for a file known to the evidence as `evidence_path`."""
    data = source.read_bytes()
    name = evidence_path.rsplit("/", 1)[-1]
    obj = EvidenceObject(path=evidence_path, name=name, size=len(data), content=BytesContent(data))
    item = Item(obj, head=data[:1024 * 1024], data=data, content_read=True)
    records = list((analyzer or BrowserHistory(Settings())).analyze(item))
    return records, item.skipped


def of_type(records: list, kind: str) -> list:
    return [record for record in records if record.type == kind]


# -- Chromium ------------------------------------------------------------------------------------------------

def test_chrome_visits_equal_the_shell() -> None:
    records, problems = parse(DATA / "History", f"{CHROME}/History")
    assert problems == []
    expected = shell(DATA / "History", f"""
        SELECT datetime(v.visit_time{WEBKIT}) AS t, v.visit_time % 1000000 AS f, u.url, u.title,
               v.transition & 255 AS core, (v.transition & 0x10000000) != 0 AS chain_start, v.from_visit
        FROM visits v LEFT JOIN urls u ON u.id = v.url ORDER BY v.id""")
    visits = of_type(records, "browser.visit")
    assert len(visits) == len(expected) == 69
    for visit, row in zip(visits, expected, strict=True):
        assert visit.ts == visit.values["visited"] == iso(row["t"], row["f"])
        assert (visit.values["url"], visit.values["title"]) == (row["url"], row["title"])
        assert visit.values["transition"] == CHROMIUM_CORE[row["core"]]
        assert ("chain_start" in visit.values["transition_qualifiers"]) == bool(row["chain_start"])
        assert visit.values["from_visit"] == row["from_visit"]
        assert visit.values["browser"] == "chrome" and visit.values["family"] == "chromium"
        assert visit.values["profile"] == CHROME
    assert visits[0].summary == f"Visited {expected[0]['url']} ({expected[0]['title']})"


def test_chrome_old_downloads_and_searches_equal_the_shell() -> None:
    records, _ = parse(DATA / "History", f"{CHROME}/History")
    expected = shell(DATA / "History", "SELECT url, full_path, datetime(start_time, 'unixepoch') AS t, received_bytes, "
                                       "total_bytes, state FROM downloads ORDER BY id")
    downloads = of_type(records, "browser.download")
    assert len(downloads) == len(expected) == 2
    for download, row in zip(downloads, expected, strict=True):
        assert download.ts == iso(row["t"])
        assert (download.values["url"], download.values["target_path"]) == (row["url"], row["full_path"])
        assert download.values["total_bytes"] == row["total_bytes"]
        assert download.values["received_bytes"] == row["received_bytes"]
        assert download.values["state"] == "complete" and row["state"] == 1  # DownloadState::COMPLETE
    searches = shell(DATA / "History", "SELECT k.term, u.url, datetime(u.last_visit_time" + WEBKIT + ") AS t, "
                                       "u.last_visit_time % 1000000 AS f FROM keyword_search_terms k "
                                       "LEFT JOIN urls u ON u.id = k.url_id ORDER BY k.rowid")
    found = of_type(records, "browser.search")
    assert [(s.values["term"], s.values["url"], s.ts) for s in found] == \
           [(row["term"], row["url"], iso(row["t"], row["f"])) for row in searches]
    assert found[0].summary.startswith(f'Searched for "{searches[0]["term"]}"')


def test_chrome_download_with_url_chain_equals_the_shell() -> None:
    source = DATA / "History-59.0.3071.86"
    records, problems = parse(source, f"{EDGE}/History")
    assert problems == []
    (row,) = shell(source, f"""
        SELECT (SELECT url FROM downloads_url_chains c WHERE c.id = d.id ORDER BY chain_index DESC LIMIT 1) AS url,
               target_path, datetime(start_time{WEBKIT}) AS t0, start_time % 1000000 AS f0,
               datetime(end_time{WEBKIT}) AS t1, end_time % 1000000 AS f1, received_bytes, total_bytes, state,
               danger_type, mime_type FROM downloads d""")
    (download,) = of_type(records, "browser.download")
    values = download.values
    assert (values["url"], values["target_path"], values["mime_type"]) == (row["url"], row["target_path"],
                                                                           row["mime_type"])
    assert download.ts == values["started"] == iso(row["t0"], row["f0"])
    assert values["ended"] == iso(row["t1"], row["f1"])
    assert (values["received_bytes"], values["total_bytes"]) == (row["received_bytes"], row["total_bytes"])
    # download_constants.h: state 1 COMPLETE, danger type 4 MAYBE_DANGEROUS_CONTENT
    assert (row["state"], row["danger_type"]) == (1, 4)
    assert (values["state"], values["danger_type"]) == ("complete", "maybe_dangerous_content")
    assert values["browser"] == "edge" and values["profile"] == EDGE


def test_chrome_cookies_equal_the_shell_without_their_values() -> None:
    source = DATA / "Cookies-68.0.3440.106"
    records, problems = parse(source, f"{EDGE}/Network/Cookies")
    assert problems == []
    expected = shell(source, f"""
        SELECT host_key, name, datetime(creation_utc{WEBKIT}) AS t, creation_utc % 1000000 AS f,
               datetime(expires_utc{WEBKIT}) AS e, expires_utc % 1000000 AS ef, value FROM cookies ORDER BY rowid""")
    cookies = of_type(records, "browser.cookie")
    assert [(c.values["host"], c.values["name"], c.ts, c.values["expires"]) for c in cookies] == \
           [(r["host_key"], r["name"], iso(r["t"], r["f"]), iso(r["e"], r["ef"])) for r in expected]
    assert len(cookies) == 5
    assert cookies[0].values["profile"] == EDGE  # the profile holds Network/, not Network itself
    for cookie, row in zip(cookies, expected, strict=True):
        if row["value"]:
            assert row["value"] not in json.dumps(cookie.values) + cookie.summary


def test_chrome_autofill_keeps_only_the_length_of_values() -> None:
    source = DATA / "Web Data"
    records, problems = parse(source, f"{CHROME}/Web Data")
    assert problems == []
    expected = shell(source, "SELECT name, value, length(value) AS n, count, datetime(date_created, 'unixepoch') "
                             "AS c, datetime(date_last_used, 'unixepoch') AS l FROM autofill ORDER BY rowid")
    entries = of_type(records, "browser.autofill")
    assert len(entries) == len(expected) == 3
    for entry, row in zip(entries, expected, strict=True):
        assert entry.values["field"] == row["name"] and entry.values["count"] == row["count"]
        assert entry.values["value"] == f"•••• ({row['n']} characters)"
        assert (entry.values["first_used"], entry.values["last_used"], entry.ts) == (iso(row["c"]), iso(row["l"]),
                                                                                     iso(row["l"]))
        assert row["value"] not in json.dumps(entry.values, ensure_ascii=False) + entry.summary


def test_chromium_bookmarks_with_their_folders(tmp_path: Path) -> None:
    added = 13_161_017_331_811_123
    document = {"checksum": "0", "version": 1, "roots": {
        "bookmark_bar": {"type": "folder", "name": "Bookmarks bar", "children": [
            {"type": "url", "name": "Plaso", "url": "https://github.com/log2timeline/plaso", "date_added": str(added)},
            {"type": "folder", "name": "Tools", "children": [
                {"type": "url", "name": "sqlite", "url": "https://sqlite.org/cli.html", "date_added": "0"}]}]},
        "other": {"type": "folder", "name": "Other bookmarks", "children": []}}}
    bookmarks = tmp_path / "Bookmarks"
    bookmarks.write_text(json.dumps(document), encoding="utf-8")
    records, problems = parse(bookmarks, f"{CHROME}/Bookmarks")
    assert problems == []
    (row,) = shell(":memory:", f"SELECT datetime({added}{WEBKIT}) AS t, {added} % 1000000 AS f")
    assert [(r.values["name"], r.values["url"], r.values["folder"], r.ts) for r in records] == [
        ("Plaso", "https://github.com/log2timeline/plaso", "Bookmarks bar", iso(row["t"], row["f"])),
        ("sqlite", "https://sqlite.org/cli.html", "Bookmarks bar/Tools", None)]


@pytest.mark.parametrize(("path", "browser", "profile"), [
    ("/C/Users/a/AppData/Local/Google/Chrome/User Data/Profile 2/History", "chrome",
     "/C/Users/a/AppData/Local/Google/Chrome/User Data/Profile 2"),
    ("Users/a/AppData/Local/Microsoft/Edge/User Data/Default/Network/Cookies", "edge",
     "Users/a/AppData/Local/Microsoft/Edge/User Data/Default"),
    ("Users/a/AppData/Local/BraveSoftware/Brave-Browser/User Data/Default/Web Data", "brave",
     "Users/a/AppData/Local/BraveSoftware/Brave-Browser/User Data/Default"),
    ("Users/a/AppData/Roaming/Opera Software/Opera Stable/History", "opera",
     "Users/a/AppData/Roaming/Opera Software/Opera Stable"),
    ("home/a/.config/google-chrome/Default/History", "chrome", "home/a/.config/google-chrome/Default"),
    ("Users/a/Library/Application Support/Google/Chrome/Default/Bookmarks", "chrome",
     "Users/a/Library/Application Support/Google/Chrome/Default"),
    ("evidence/loose/History", "chromium", "evidence/loose"),
], ids=["chrome", "edge", "brave", "opera", "chrome-linux", "chrome-macos", "unknown"])
def test_the_path_tells_the_browser_and_profile(path: str, browser: str, profile: str) -> None:
    """The user-data folders each browser's documentation gives for its profiles."""
    assert origin(path, "chromium") == Origin("chromium", browser, profile)


# -- Firefox -------------------------------------------------------------------------------------------------

def test_firefox_visits_and_bookmarks_equal_the_shell() -> None:
    source = DATA / "places.sqlite"
    records, problems = parse(source, f"{FIREFOX}/places.sqlite")
    assert problems == []
    visits = shell(source, f"""SELECT datetime(v.visit_date{PRTIME}) AS t, v.visit_date % 1000000 AS f, p.url,
                               p.title, v.visit_type FROM moz_historyvisits v LEFT JOIN moz_places p
                               ON p.id = v.place_id ORDER BY v.id""")
    assert [(r.ts, r.values["url"], r.values["title"], r.values["transition"])
            for r in of_type(records, "browser.visit")] == \
           [(iso(v["t"], v["f"]), v["url"], v["title"], FIREFOX_VISIT[v["visit_type"]]) for v in visits]
    # The folder path by a recursive query over the parents, the untitled root left out.
    bookmarks = shell(source, f"""
        WITH RECURSIVE up(id, ancestor, path, depth) AS (
            SELECT b.id, b.parent, '', 0 FROM moz_bookmarks b WHERE b.type = 1
            UNION ALL
            SELECT up.id, f.parent, CASE WHEN coalesce(f.title, '') = '' THEN up.path
                                         WHEN up.path = '' THEN f.title ELSE f.title || '/' || up.path END,
                   up.depth + 1
            FROM up JOIN moz_bookmarks f ON f.id = up.ancestor)
        SELECT b.id, b.title, p.url, datetime(b.dateAdded{PRTIME}) AS t, b.dateAdded % 1000000 AS f,
               (SELECT path FROM up WHERE up.id = b.id ORDER BY depth DESC LIMIT 1) AS folder
        FROM moz_bookmarks b LEFT JOIN moz_places p ON p.id = b.fk WHERE b.type = 1 ORDER BY b.id""")
    found = of_type(records, "browser.bookmark")
    assert len(found) == len(bookmarks) == 91
    assert [(r.values["name"], r.values["url"], r.values["folder"], r.ts) for r in found] == \
           [(b["title"], b["url"], b["folder"], iso(b["t"], b["f"])) for b in bookmarks]
    assert {r.values["browser"] for r in records} == {"firefox"}
    assert {r.values["profile"] for r in records} == {FIREFOX}


def test_firefox_cookies_equal_the_shell() -> None:
    source = DATA / "firefox_10_cookies.sqlite"
    records, problems = parse(source, f"{FIREFOX}/cookies.sqlite")
    assert problems == []
    expected = shell(source, f"""SELECT host, name, datetime(creationTime{PRTIME}) AS t, creationTime % 1000000 AS f,
                                 datetime(expiry, 'unixepoch') AS e FROM moz_cookies ORDER BY rowid""")
    assert len(expected) == 13
    assert [(r.values["host"], r.values["name"], r.ts, r.values["expires"]) for r in records] == \
           [(c["host"], c["name"], iso(c["t"], c["f"]), iso(c["e"])) for c in expected]


def test_firefox_old_downloads_equal_the_shell() -> None:
    source = DATA / "downloads.sqlite"
    records, problems = parse(source, f"{FIREFOX}/downloads.sqlite")
    assert problems == []
    (row,) = shell(source, f"""SELECT source, target, datetime(startTime{PRTIME}) AS t, startTime % 1000000 AS f,
                               datetime(endTime{PRTIME}) AS e, endTime % 1000000 AS ef, maxBytes, state
                               FROM moz_downloads""")
    (download,) = records
    assert download.values["url"] == row["source"]
    assert download.values["target_uri"] == row["target"] == "file:///D:/plaso-static-1.0.1-win32-vs2008.zip"
    assert download.values["target_path"] == "D:/plaso-static-1.0.1-win32-vs2008.zip"
    assert (download.ts, download.values["ended"]) == (iso(row["t"], row["f"]), iso(row["e"], row["ef"]))
    assert download.values["total_bytes"] == row["maxBytes"]
    assert row["state"] == 1 and download.values["state"] == "complete"  # nsIDownloadManager DOWNLOAD_FINISHED


FIREFOX_ANNOTATIONS = """
CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR, rev_host LONGVARCHAR,
  visit_count INTEGER DEFAULT 0, hidden INTEGER DEFAULT 0 NOT NULL, typed INTEGER DEFAULT 0 NOT NULL,
  frecency INTEGER DEFAULT -1 NOT NULL, last_visit_date INTEGER, guid TEXT, foreign_count INTEGER DEFAULT 0 NOT NULL,
  url_hash INTEGER DEFAULT 0 NOT NULL, description TEXT, preview_image_url TEXT, origin_id INTEGER);
CREATE TABLE moz_historyvisits (id INTEGER PRIMARY KEY, from_visit INTEGER, place_id INTEGER, visit_date INTEGER,
  visit_type INTEGER, session INTEGER, source INTEGER DEFAULT 0 NOT NULL, triggeringPlaceId INTEGER);
CREATE TABLE moz_anno_attributes (id INTEGER PRIMARY KEY, name VARCHAR(32) UNIQUE NOT NULL);
CREATE TABLE moz_annos (id INTEGER PRIMARY KEY, place_id INTEGER NOT NULL, anno_attribute_id INTEGER,
  content LONGVARCHAR, flags INTEGER DEFAULT 0, expiration INTEGER DEFAULT 0, type INTEGER DEFAULT 0,
  dateAdded INTEGER DEFAULT 0, lastModified INTEGER DEFAULT 0);
INSERT INTO moz_places (id, url, title) VALUES
  (1, 'https://www.7-zip.org/a/7z2301-x64.exe', '7z2301-x64.exe'),
  (2, 'http://example.com/report%20final.pdf', 'report final.pdf');
INSERT INTO moz_historyvisits (id, from_visit, place_id, visit_date, visit_type) VALUES
  (1, 0, 1, 1700000000123456, 7), (2, 0, 2, 1700000500000000, 7);
INSERT INTO moz_anno_attributes VALUES (1, 'downloads/destinationFileURI'), (2, 'downloads/metaData');
INSERT INTO moz_annos (place_id, anno_attribute_id, content, dateAdded) VALUES
  (1, 1, 'file:///C:/Users/bob/Downloads/7z2301-x64.exe', 1700000000234567),
  (1, 2, '{"state":1,"endTime":1700000003456,"fileSize":1575742}', 1700000003456000),
  (2, 1, 'file:///C:/Users/bob/Downloads/report%20final.pdf', 1700000500100000),
  (2, 2, '{"state":3,"endTime":1700000501000,"fileSize":0}', 1700000501000000);
"""


def test_firefox_annotated_downloads_equal_the_shell(tmp_path: Path) -> None:
    source = tmp_path / "places.sqlite"
    shell_write(source, FIREFOX_ANNOTATIONS)
    records, problems = parse(source, f"{FIREFOX}/places.sqlite")
    assert problems == []
    expected = shell(source, f"""
        SELECT p.url, d.content AS uri, datetime(d.dateAdded{PRTIME}) AS t, d.dateAdded % 1000000 AS f,
               datetime(json_extract(m.content, '$.endTime') / 1000, 'unixepoch') AS e,
               json_extract(m.content, '$.endTime') % 1000 AS ef, json_extract(m.content, '$.fileSize') AS size,
               json_extract(m.content, '$.state') AS state
        FROM moz_annos d JOIN moz_places p ON p.id = d.place_id
        JOIN moz_annos m ON m.place_id = d.place_id AND m.anno_attribute_id = 2
        WHERE d.anno_attribute_id = 1 ORDER BY d.place_id""")
    downloads = of_type(records, "browser.download")
    assert [(d.values["url"], d.values["target_uri"], d.ts, d.values["ended"], d.values["total_bytes"])
            for d in downloads] == \
           [(r["url"], r["uri"], iso(r["t"], r["f"]), iso(r["e"], r["ef"] * 1000), r["size"]) for r in expected]
    assert [r["state"] for r in expected] == [1, 3]  # DownloadHistory: finished, canceled
    assert [d.values["state"] for d in downloads] == ["complete", "cancelled"]
    assert [d.values["target_path"] for d in downloads] == ["C:/Users/bob/Downloads/7z2301-x64.exe",
                                                             "C:/Users/bob/Downloads/report final.pdf"]
    assert len(of_type(records, "browser.visit")) == 2


def test_firefox_form_history_masks_values(tmp_path: Path) -> None:
    source = tmp_path / "formhistory.sqlite"
    shell_write(source, """
        CREATE TABLE moz_formhistory (id INTEGER PRIMARY KEY, fieldname TEXT NOT NULL, value TEXT NOT NULL,
          timesUsed INTEGER, firstUsed INTEGER, lastUsed INTEGER, guid TEXT);
        INSERT INTO moz_formhistory VALUES (1, 'searchbar-history', 'how to wipe a disk', 3, 1690000000000000,
          1700000000654321, 'a'), (2, 'email', 'bob@example.com', 1, 1695000000000000, 1695000000000000, 'b');""")
    records, problems = parse(source, f"{FIREFOX}/formhistory.sqlite")
    assert problems == []
    expected = shell(source, f"""SELECT fieldname, value, length(value) AS n, timesUsed,
                                 datetime(lastUsed{PRTIME}) AS t, lastUsed % 1000000 AS f FROM moz_formhistory""")
    assert [(r.values["field"], r.values["value"], r.values["count"], r.ts) for r in records] == [
        (e["fieldname"], f"•••• ({e['n']} characters)", e["timesUsed"], iso(e["t"], e["f"])) for e in expected]
    for record, row in zip(records, expected, strict=True):
        assert row["value"] not in json.dumps(record.values, ensure_ascii=False) + record.summary


# -- bad input -----------------------------------------------------------------------------------------------

def test_a_history_cut_short_is_a_problem_and_read_for_what_is_left(tmp_path: Path) -> None:
    """Cut inside a page past its tables (the indexes' pages lost): every record is still read, the cut said."""
    (page_size,) = shell(DATA / "History", "PRAGMA page_size")
    last_table_page = shell(DATA / "History", "SELECT max(pageno) AS p FROM dbstat WHERE name IN "
                                              "('visits', 'urls', 'downloads', 'keyword_search_terms')")[0]["p"]
    cut = tmp_path / "History"
    cut.write_bytes((DATA / "History").read_bytes()[:last_table_page * page_size["page_size"] + 500])
    records, problems = parse(cut, f"{CHROME}/History")
    assert [problem[1] for problem in problems] == ["Chromium history cut short: it ends 500 bytes into a page of "
                                                    f"{page_size['page_size']}; what followed is lost"]
    whole, _ = parse(DATA / "History", f"{CHROME}/History")
    assert [(r.type, r.ts, r.summary) for r in records] == [(r.type, r.ts, r.summary) for r in whole]


def test_a_history_cut_before_its_tables_is_a_problem(tmp_path: Path) -> None:
    source = DATA / "History-59.0.3071.86"
    (row,) = shell(source, "SELECT page_size, page_count FROM pragma_page_size, pragma_page_count")
    cut = tmp_path / "History"
    cut.write_bytes(source.read_bytes()[:row["page_size"] * 11])
    records, problems = parse(cut, f"{CHROME}/History")
    assert records == []
    assert problems[0] == ("browsers", f"Chromium history cut short: 11 of the {row['page_count']} pages its header "
                                       "gives are there; what the others held is lost")
    assert "none of the Chromium history tables is in what is left" in problems[1][1]


def test_a_corrupt_page_stops_only_its_table(tmp_path: Path) -> None:
    """A page of visits overwritten: the visits before it are kept, the downloads and searches are all read."""
    (row,) = shell(DATA / "History", "SELECT max(pageno) AS p, (SELECT page_size FROM pragma_page_size) AS size, "
                                     "(SELECT count(*) FROM visits) AS visits FROM dbstat WHERE name = 'visits'")
    data = bytearray((DATA / "History").read_bytes())
    start = (row["p"] - 1) * row["size"]
    data[start:start + row["size"]] = b"\xa5" * row["size"]
    damaged = tmp_path / "History"
    damaged.write_bytes(bytes(data))
    records, problems = parse(damaged, f"{CHROME}/History")
    visits = of_type(records, "browser.visit")
    assert 0 < len(visits) < row["visits"]
    ((stage, problem),) = problems
    assert stage == "browsers"
    assert problem == ("Chromium history visits unreadable: DatabaseError: database disk image is malformed; "
                       f"{len(visits)} visits read before")
    whole, _ = parse(DATA / "History", f"{CHROME}/History")
    assert [v.summary for v in visits] == [v.summary for v in of_type(whole, "browser.visit")[:len(visits)]]
    for kind in ("browser.download", "browser.search"):
        assert [r.values for r in of_type(records, kind)] == [r.values for r in of_type(whole, kind)]


def test_a_database_that_is_not_a_history_is_a_problem(tmp_path: Path) -> None:
    other = tmp_path / "History"
    shell_write(other, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'x');")
    records, problems = parse(other, f"{CHROME}/History")
    assert records == []
    (problem,) = problems
    assert "not a Chromium history database" in problem[1] and "notes" in problem[1]


def test_files_not_recognised_are_left_alone(tmp_path: Path) -> None:
    text = tmp_path / "History"
    text.write_text("2024-01-01 ls -la\n")
    assert parse(text, "home/bob/History") == ([], [])
    renamed = tmp_path / "history.db"
    shutil.copy(DATA / "History", renamed)
    assert parse(renamed, "home/bob/history.db") == ([], [])


def test_a_changed_schema_is_read_for_what_it_has(tmp_path: Path) -> None:
    changed = tmp_path / "History"
    shutil.copy(DATA / "History-59.0.3071.86", changed)
    shell_write(changed, "ALTER TABLE urls DROP COLUMN title; ALTER TABLE downloads DROP COLUMN danger_type; "
                         "ALTER TABLE visits ADD COLUMN new_fake_column INTEGER")
    records, problems = parse(changed, f"{CHROME}/History")
    assert problems == []
    (visit,) = of_type(records, "browser.visit")
    assert visit.values["title"] is None and visit.values["url"] == shell(changed, "SELECT url FROM urls")[0]["url"]
    (download,) = of_type(records, "browser.download")
    assert download.values["danger_type"] is None and download.values["state"] == "complete"


def test_a_wal_mode_database_is_read_from_its_main_file(tmp_path: Path) -> None:
    wal = tmp_path / "places.sqlite"
    shutil.copy(DATA / "places.sqlite", wal)
    shell_write(wal, "PRAGMA journal_mode=WAL")
    assert (wal.read_bytes()[18], wal.read_bytes()[19]) == (2, 2)  # the header says WAL
    records, problems = parse(wal, f"{FIREFOX}/places.sqlite")
    assert problems == [] and len(records) == 92


def test_out_of_time_is_said_with_the_count_read() -> None:
    analyzer = BrowserHistory(Settings())
    analyzer.time_limit = 0.0
    records, problems = parse(DATA / "History", f"{CHROME}/History", analyzer)
    assert records == []
    assert problems == [("browsers", "timed out after 0 s: 0 records read")]


def test_the_connection_is_read_only(tmp_path: Path) -> None:
    """What the analyzer reads it cannot change: the copy is opened with mode=ro (checked on the same URI)."""
    copy = tmp_path / "History"
    shutil.copy(DATA / "History", copy)
    connection = sqlite3.connect(f"file:{copy}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        connection.execute("DELETE FROM urls")
    connection.close()


# -- end to end ----------------------------------------------------------------------------------------------

def test_scan_of_user_profiles_exports_browser_artefacts(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence"
    layout = {f"{CHROME}/History": "History", f"{CHROME}/Web Data": "Web Data",
              f"{EDGE}/Network/Cookies": "Cookies-68.0.3440.106",
              f"{FIREFOX}/places.sqlite": "places.sqlite", f"{FIREFOX}/cookies.sqlite": "firefox_10_cookies.sqlite"}
    for place, source in layout.items():
        (evidence / place).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(DATA / source, evidence / place)
    (evidence / "Users/alice/notes.txt").write_text("not a browser file\n")
    case = tmp_path / "case"
    scanned = run_cli("scan", evidence, "--case", case, "--quiet")
    assert scanned.code == 0, scanned.stderr
    exported = run_cli("export", "--case", case, "--what", "artifacts", "--type", "browser", "--format", "jsonl")
    assert exported.code == 0, exported.stderr
    rows = [json.loads(line) for line in exported.stdout.splitlines()]

    def count(source: str, sql: str) -> int:
        return int(shell(DATA / source, f"SELECT ({sql}) AS n")[0]["n"])

    expected = {
        (f"{CHROME}/History", "browser.visit"): count("History", "SELECT count(*) FROM visits"),
        (f"{CHROME}/History", "browser.download"): count("History", "SELECT count(*) FROM downloads"),
        (f"{CHROME}/History", "browser.search"): count("History", "SELECT count(*) FROM keyword_search_terms"),
        (f"{CHROME}/Web Data", "browser.autofill"): count("Web Data", "SELECT count(*) FROM autofill"),
        (f"{EDGE}/Network/Cookies", "browser.cookie"): count("Cookies-68.0.3440.106", "SELECT count(*) FROM cookies"),
        (f"{FIREFOX}/places.sqlite", "browser.visit"): count("places.sqlite", "SELECT count(*) FROM moz_historyvisits"),
        (f"{FIREFOX}/places.sqlite", "browser.bookmark"):
            count("places.sqlite", "SELECT count(*) FROM moz_bookmarks WHERE type = 1"),
        (f"{FIREFOX}/cookies.sqlite", "browser.cookie"):
            count("firefox_10_cookies.sqlite", "SELECT count(*) FROM moz_cookies"),
    }
    got: dict[tuple[str, str], int] = {}
    for row in rows:
        key = (row["source"].lstrip("/"), row["type"])
        got[key] = got.get(key, 0) + 1
    assert got == expected
    browsers = {(row["source"].lstrip("/").split("/")[1], row["values"]["browser"]) for row in rows}
    assert browsers == {("alice", "chrome"), ("alice", "edge"), ("bob", "firefox")}
    downloads = [row for row in rows if row["type"] == "browser.download"]
    assert [row["values"]["target_path"] for row in downloads] == \
           [row["full_path"] for row in shell(DATA / "History", "SELECT full_path FROM downloads ORDER BY id")]
    assert all(row["ts"] for row in rows if row["type"] == "browser.visit")


def test_hostile_values_are_read_without_a_crash(tmp_path: Path) -> None:
    """Text where numbers belong, times out of range, bytes that are not UTF-8, a line break in a URL, a visit
    whose page is gone, a transition with every bit set."""
    hostile = tmp_path / "History"
    shell_write(hostile, """
        CREATE TABLE urls (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR, visit_count INTEGER,
          typed_count INTEGER, last_visit_time INTEGER);
        CREATE TABLE visits (id INTEGER PRIMARY KEY, url INTEGER, visit_time INTEGER, from_visit INTEGER,
          transition INTEGER);
        INSERT INTO urls VALUES (1, 'http://a.example/' || char(10) || 'Visited http://b.example/',
          CAST(x'ff41' AS TEXT), 'many', NULL, 'never');
        INSERT INTO visits VALUES (1, 1, 'yesterday', NULL, -1), (2, 1, 9223372036854775807, 0, 0),
          (3, 99, 13300000000000000, 0, 1), (4, 1, -5, 0, x'00');""")
    records, problems = parse(hostile, f"{CHROME}/History")
    assert problems == []
    assert [r.ts for r in records][:2] == [None, None] and records[3].ts is None
    (row,) = shell(hostile, f"SELECT datetime(13300000000000000{WEBKIT}) AS t")
    assert records[2].ts == iso(row["t"]) and records[2].values["url"] is None
    first = records[0]
    assert "\n" not in first.summary and "\\u000a" in first.summary
    assert first.values["url"] == "http://a.example/\nVisited http://b.example/"
    assert first.values["title"] == "\ufffdA" and first.values["visit_count"] is None
    assert first.values["transition"] == "unknown (255)" and "server_redirect" in first.values["transition_qualifiers"]
    json.dumps([r.values for r in records])  # JSON-ready, whatever the file held


def test_a_bookmark_folder_loop_ends(tmp_path: Path) -> None:
    places = tmp_path / "places.sqlite"
    shell_write(places, """
        CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url LONGVARCHAR, title LONGVARCHAR);
        CREATE TABLE moz_bookmarks (id INTEGER PRIMARY KEY, type INTEGER, fk INTEGER, parent INTEGER,
          title LONGVARCHAR, dateAdded INTEGER, lastModified INTEGER);
        INSERT INTO moz_places VALUES (1, 'https://example.org/', 'x');
        INSERT INTO moz_bookmarks VALUES (2, 2, NULL, 3, 'one', 0, 0), (3, 2, NULL, 2, 'two', 0, 0),
          (4, 1, 1, 2, 'looped', 0, 0);""")
    records, problems = parse(places, f"{FIREFOX}/places.sqlite")
    assert problems == []
    (bookmark,) = records
    assert bookmark.values["folder"] == "two/one"


def test_a_runaway_query_is_stopped_inside_sqlite(tmp_path: Path) -> None:
    """The time limit reaches into SQLite: a query that would never end is interrupted and said as out of time."""
    database = tmp_path / "History"
    shell_write(database, "CREATE TABLE visits (id INTEGER PRIMARY KEY)")
    opened = BrowserDatabase(database, Deadline(0.2))
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    with pytest.raises(OutOfTime):
        list(opened.rows(endless))
    opened.close()


def test_a_view_in_place_of_a_table_is_not_run(tmp_path: Path) -> None:
    """A file whose 'visits' is an endless view is not a history: nothing of its own is run."""
    fake = tmp_path / "History"
    shell_write(fake, "CREATE VIEW visits AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                      "SELECT x AS id FROM c; CREATE TABLE urls (id INTEGER PRIMARY KEY)")
    records, problems = parse(fake, f"{CHROME}/History")
    assert records == []
    assert "not a Chromium history database" in problems[0][1]


def test_a_corrupt_page_of_urls_keeps_every_visit(tmp_path: Path) -> None:
    """A page of the urls table overwritten: every visit is still read with its time; those whose page row was on
    it lose only their URL, and how many is said."""
    (row,) = shell(DATA / "History", "SELECT min(pageno) + 3 AS p, (SELECT page_size FROM pragma_page_size) AS size "
                                     "FROM dbstat WHERE name = 'urls' AND pagetype = 'leaf'")
    data = bytearray((DATA / "History").read_bytes())
    start = (row["p"] - 1) * row["size"]
    data[start:start + row["size"]] = b"\xa5" * row["size"]
    damaged = tmp_path / "History"
    damaged.write_bytes(bytes(data))
    records, problems = parse(damaged, f"{CHROME}/History")
    visits = of_type(records, "browser.visit")
    expected = shell(DATA / "History", f"""SELECT datetime(v.visit_time{WEBKIT}) AS t, v.visit_time % 1000000 AS f,
                                           u.url FROM visits v LEFT JOIN urls u ON u.id = v.url ORDER BY v.id""")
    assert [v.ts for v in visits] == [iso(e["t"], e["f"]) for e in expected]
    lost = [v for v in visits if v.values["url"] is None]
    assert 0 < len(lost) < len(visits)
    assert all(v.values["url"] == e["url"] for v, e in zip(visits, expected, strict=True) if v.values["url"])
    assert ("browsers", f"Chromium history visits: {len(lost)} of them refer to rows of urls that damage kept from "
                        "being read; they are kept without them") in problems


@pytest.mark.parametrize("content", [b"SQLite format 3\x00", b"SQLite format 3\x00" + bytes(range(256)) * 64],
                         ids=["header only", "header then noise"])
def test_a_sqlite_header_over_noise_is_a_problem(tmp_path: Path, content: bytes) -> None:
    noise = tmp_path / "Cookies"
    noise.write_bytes(content)
    records, problems = parse(noise, f"{CHROME}/Cookies")
    assert records == []
    assert problems and all(stage == "browsers" for stage, _ in problems)
    assert problems[-1][1].endswith("0 records read before")


def test_a_damaged_bookmarks_file_is_a_problem(tmp_path: Path) -> None:
    bookmarks = tmp_path / "Bookmarks"
    bookmarks.write_text('{"checksum": "0", "roots": {"bookmark_bar": {"children": [{"type": "url", "na')
    records, problems = parse(bookmarks, f"{CHROME}/Bookmarks")
    assert records == []
    ((stage, problem),) = problems
    assert stage == "browsers" and problem.startswith("unreadable browsers: JSONDecodeError")
