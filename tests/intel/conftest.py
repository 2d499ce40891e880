"""One case for the hash-set and IOC tests: the MBR fixture image and two corpus captures, scanned once
with an intel database holding an NSRL RDS v3 fixture, a known-bad list, a CSV IOC list and a STIX 2.1
bundle.

Reference answers: every file's MD5, SHA-1 and SHA-256 from Sleuth Kit's `icat` piped through
`md5sum`/`sha1sum`/`sha256sum`; network facts from Zeek's baseline logs in the corpus.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import images
from tests.conftest import CliResult, Images, export, run_cli

TRACES = ("wikipedia.pcap", "http_get.pcap")

# NSRL RDS v3 as published (SQLite): the base tables the four views read, with the columns the
# views use, and the views FILE, MFG, OS and PKG exactly as the RDS v3 defines their columns.
RDS_V3_SCHEMA = """
CREATE TABLE PACKAGE_OBJECT (package_object_id INTEGER UNIQUE NOT NULL PRIMARY KEY, package_id INTEGER NOT NULL,
    object_id INTEGER UNIQUE NOT NULL);
CREATE TABLE METADATA (metadata_id NUMERIC UNIQUE NOT NULL PRIMARY KEY, object_id INTEGER, key_hash VARCHAR NOT NULL,
    path VARCHAR NOT NULL, file_name VARCHAR NOT NULL, extension VARCHAR DEFAULT '' NOT NULL, bytes INTEGER NOT NULL,
    crc32 VARCHAR NOT NULL, md5 VARCHAR NOT NULL, sha1 VARCHAR NOT NULL, sha256 VARCHAR NOT NULL);
CREATE TABLE APPLICATION (application_id INTEGER UNIQUE NOT NULL PRIMARY KEY, package_id INTEGER NOT NULL,
    name VARCHAR DEFAULT '' NOT NULL, version VARCHAR DEFAULT '');
CREATE TABLE APPLICATION_TYPE (application_type_id INTEGER UNIQUE NOT NULL PRIMARY KEY, description VARCHAR NOT NULL);
CREATE TABLE APPLICATION_APPLICATION_TYPE (application_application_type_id INTEGER UNIQUE NOT NULL PRIMARY KEY,
    application_id INTEGER NOT NULL, application_type_id INTEGER NOT NULL);
CREATE TABLE LANGUAGE (language_id INTEGER UNIQUE NOT NULL PRIMARY KEY, name VARCHAR DEFAULT '' NOT NULL);
CREATE TABLE APPLICATION_LANGUAGE (application_language_id INTEGER UNIQUE NOT NULL PRIMARY KEY,
    language_id INTEGER NOT NULL, application_id INTEGER NOT NULL);
CREATE TABLE OPERATING_SYSTEM (operating_system_id INTEGER UNIQUE NOT NULL PRIMARY KEY, name VARCHAR DEFAULT '' NOT NULL,
    version VARCHAR DEFAULT '' NOT NULL, architecture VARCHAR DEFAULT '' NOT NULL);
CREATE TABLE OPERATING_SYSTEM_APPLICATION (operating_system_application_id INTEGER UNIQUE NOT NULL PRIMARY KEY,
    operating_system_id INTEGER NOT NULL, application_id INTEGER NOT NULL);
CREATE TABLE MANUFACTURER (manufacturer_id INTEGER UNIQUE NOT NULL PRIMARY KEY, name VARCHAR DEFAULT '' NOT NULL);
CREATE TABLE MANUFACTURER_APPLICATION (manufacturer_application_id INTEGER UNIQUE NOT NULL PRIMARY KEY,
    manufacturer_id INTEGER NOT NULL, application_id INTEGER NOT NULL);
CREATE TABLE MANUFACTURER_OPERATING_SYSTEM (manufacturer_operating_system_id INTEGER UNIQUE NOT NULL PRIMARY KEY,
    operating_system_id INTEGER NOT NULL, manufacturer_id INTEGER NOT NULL);
CREATE TABLE VERSION (version VARCHAR UNIQUE NOT NULL PRIMARY KEY, build_set VARCHAR NOT NULL,
    release_date TIMESTAMP NOT NULL, description VARCHAR NOT NULL);
CREATE VIEW FILE AS SELECT UPPER(md.sha256) AS sha256, UPPER(md.sha1) AS sha1, UPPER(md.md5) AS md5,
    CASE md.extension WHEN '' THEN md.file_name ELSE md.file_name || '.' || md.extension END AS file_name,
    md.bytes AS file_size, po.package_id
    FROM METADATA AS md, PACKAGE_OBJECT AS po WHERE md.object_id = po.object_id;
CREATE VIEW MFG AS SELECT manufacturer_id, name FROM MANUFACTURER;
CREATE VIEW OS AS SELECT os.operating_system_id, os.name, os.version, mos.manufacturer_id
    FROM OPERATING_SYSTEM AS os, MANUFACTURER_OPERATING_SYSTEM AS mos
    WHERE os.operating_system_id = mos.operating_system_id;
CREATE VIEW PKG AS SELECT a.package_id, a.name, a.version, osa.operating_system_id, ma.manufacturer_id,
    l.name AS language, at.description AS application_type
    FROM APPLICATION AS a, OPERATING_SYSTEM_APPLICATION AS osa, MANUFACTURER_APPLICATION AS ma,
         APPLICATION_LANGUAGE AS al, LANGUAGE AS l, APPLICATION_APPLICATION_TYPE AS aat, APPLICATION_TYPE AS at
    WHERE a.application_id = osa.application_id AND a.application_id = ma.application_id
      AND a.application_id = al.application_id AND al.language_id = l.language_id
      AND a.application_id = aat.application_id AND aat.application_type_id = at.application_type_id;
"""


@dataclass(frozen=True)
class Reference:
    """One file of a fixture image as Sleuth Kit lists it, with its hashes from the coreutils tools."""

    offset: int
    path: str
    deleted: bool
    md5: str
    sha1: str
    sha256: str


def _digest(tool: str, path: Path) -> str:
    return subprocess.run([tool, str(path)], capture_output=True, text=True, check=True).stdout.split()[0]


def reference_files(image: Path) -> list[Reference]:
    """Every regular file (live and deleted) of every filesystem of the image: `fls -r -p` for the list,
    `icat` for the content, `md5sum`, `sha1sum` and `sha256sum` for the hashes."""
    found = []
    for offset in images.filesystem_offsets(image):
        for record in images.fls_records(image, offset):
            if record.virtual or record.name_type != "r" or record.realloc:
                continue
            with tempfile.NamedTemporaryFile(prefix="intel-icat-") as content:
                command = images._tsk_command("icat", ["-o", str(offset // images.SECTOR)], image, record.inode)
                done = subprocess.run(command, stdout=content, stderr=subprocess.DEVNULL)
                if done.returncode != 0:
                    continue
                content.flush()
                path = Path(content.name)
                found.append(Reference(offset, record.path, record.deleted, _digest("md5sum", path),
                                       _digest("sha1sum", path), _digest("sha256sum", path)))
    return found


def build_rds(path: Path, rows: list[tuple[str, str, str, str, str, int]]) -> Path:
    """An NSRL RDS v3 database with one package holding these files: (file name, extension, md5, sha1,
    sha256, size); hashes stored in lower case, as the views turn them to upper case."""
    rds = sqlite3.connect(path)
    rds.executescript(RDS_V3_SCHEMA)
    rds.execute("INSERT INTO VERSION VALUES ('2026.09.1', 'modern', '2026-09-01', 'test fixture')")
    rds.execute("INSERT INTO MANUFACTURER VALUES (1, 'Fixture Software')")
    rds.execute("INSERT INTO OPERATING_SYSTEM VALUES (1, 'Linux', '6', 'x86_64')")
    rds.execute("INSERT INTO MANUFACTURER_OPERATING_SYSTEM VALUES (1, 1, 1)")
    rds.execute("INSERT INTO APPLICATION VALUES (1, 77, 'Fixture Suite', '1.0')")
    for table, row in (("APPLICATION_TYPE", (1, "Operating System")), ("LANGUAGE", (1, "English")),
                       ("APPLICATION_APPLICATION_TYPE", (1, 1, 1)), ("APPLICATION_LANGUAGE", (1, 1, 1)),
                       ("OPERATING_SYSTEM_APPLICATION", (1, 1, 1)), ("MANUFACTURER_APPLICATION", (1, 1, 1))):
        rds.execute(f"INSERT INTO {table} VALUES ({', '.join('?' * len(row))})", row)
    rds.executemany("INSERT INTO PACKAGE_OBJECT VALUES (?, 77, ?)", [(n, n) for n in range(1, len(rows) + 1)])
    rds.executemany("INSERT INTO METADATA VALUES (?, ?, ?, '/fixture', ?, ?, ?, '00000000', ?, ?, ?)",
                    [(n, n, sha256, name, extension, size, md5, sha1, sha256)
                     for n, (name, extension, md5, sha1, sha256, size) in enumerate(rows, start=1)])
    rds.commit()
    rds.close()
    return path


# Files of the MBR fixture image the RDS fixture lists (partition 1 is FAT32, partition 2 ext4).
RDS_PATHS = ("/Documents/meeting notes.txt", "/Pictures/holiday.jpg", "/Documents/Finance/deleted_statement.txt",
             "/home/alice/Documents/Projects/2024/plan.md")
KNOWN_BAD_PATHS = ("/Downloads/eicar.com",)


@dataclass
class IntelCase:
    base: Path
    intel_db: Path
    case: Path
    image: Path
    rds: Path
    bad_list: Path
    csv_iocs: Path
    stix: Path
    references: list[Reference]
    imports: dict[str, CliResult]
    scan: CliResult
    files: list[dict]
    findings: list[dict]

    def ioc_findings(self) -> list[dict]:
        return [f for f in export(self.case, "findings") if f["analyzer"] == "ioc"]


def _reference(references: list[Reference], path: str) -> Reference:
    return next(r for r in references if r.path == path)


def csv_iocs(references: list[Reference]) -> str:
    """IOCs chosen from Zeek's logs of the two traces and a file of the image, with decoys that must not hit."""
    notes = _reference(references, "/Documents/meeting notes.txt")
    return "\n".join([
        "type,value,description,severity",
        "domain,WikiMedia.org.,Wikimedia and every name under it,",
        "ipv4,208.80.152.3,upload.wikimedia.org's address in the capture,critical",
        "ipv4,141.142.228.0/24,the client network of http_get,medium",
        "url,http://upload.wikimedia.org/wikipedia/commons/6/63/Wikipedia-logo.png,the logo,",
        "md5,397168fd09991a0e712254df7bc639ac,CHANGES.bro-aux.txt as Zeek hashed it,",
        f"sha256,{notes.sha256},meeting notes,",
        "# decoys below: substrings, neighbours and values not in the case",
        "domain,kimedia.org,not a parent domain of wikimedia.org,",
        "domain,uiuc.edu.example,not in the case,",
        "ipv4,208.80.152.30,a neighbour of a real address,",
        "ipv6,2001:db8::1,documentation address,",
        "url,http://upload.wikimedia.org/not/there.png,not requested,",
        "email,nobody@example.org,not in the case,",
        f"md5,{'0' * 32},no such file,",
        "bogus,value,an unknown type (reported as skipped),",
        "",
    ])


def stix_bundle(references: list[Reference]) -> dict:
    def indicator(number: int, name: str, pattern: str, **extra: object) -> dict:
        return {"type": "indicator", "spec_version": "2.1", "id": f"indicator--00000000-0000-4000-8000-{number:012d}",
                "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": name,
                "pattern": pattern, "pattern_type": "stix", "valid_from": "2026-01-01T00:00:00Z", **extra}

    plan = _reference(references, "/home/alice/Documents/Projects/2024/plan.md")
    return {"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": [
        indicator(1, "bro.org web server", "[domain-name:value = 'bro.org']"),
        indicator(2, "resolver", "[ipv4-addr:value = '141.142.2.2']"),
        indicator(3, "CHANGES file", "[file:hashes.'SHA-1' = '1dd7ac0398df6cbc0696445a91ec681facf4dc47']"),
        indicator(4, "mDNS host", "[ipv6-addr:value = 'fe80::217:f2ff:fed7:cf65']"),
        indicator(5, "download", "[url:value = 'http://bro.org/download/CHANGES.bro-aux.txt']"),
        indicator(6, "plan", f"[file:hashes.MD5 = '{plan.md5}' OR file:hashes.'SHA-256' = '{plan.sha256}']"),
        indicator(7, "name and resolution",
                  "[domain-name:value = 'meta.wikimedia.org' AND domain-name:resolves_to_refs[*].value = '208.80.152.2']"),
        indicator(8, "by name only", "[file:name = 'CHANGES.bro-aux.txt']"),
        indicator(9, "wildcard", "[domain-name:value LIKE '%.wikimedia.org']"),
        indicator(10, "documentation net", "[ipv4-addr:value = '192.0.2.1'] OR [domain-name:value = 'example.invalid']"),
        indicator(11, "yara rule", "rule x { condition: true }", pattern_type="yara"),
        indicator(12, "revoked", "[domain-name:value = 'wikimedia.org']", revoked=True),
        {"type": "malware", "spec_version": "2.1", "id": "malware--00000000-0000-4000-8000-000000000001",
         "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z", "name": "x", "is_family": False},
    ]}


@pytest.fixture(scope="session")
def intel_case(disk_images: Images, corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> IntelCase:
    base = tmp_path_factory.mktemp("intel")
    intel_db = base / "workstation" / "intel.db"
    image = disk_images.mbr
    references = reference_files(image)
    rows = []
    for path in RDS_PATHS:
        ref = _reference(references, path)
        stem, dot, extension = path.rpartition("/")[2].rpartition(".")
        rows.append((stem if dot else extension, extension if dot else "", ref.md5, ref.sha1, ref.sha256, 0))
    rows.append(("absent", "dll", "1" * 32, "1" * 40, "1" * 64, 10))  # a known file not on the image
    rds = build_rds(base / "RDS_2026.09.1_modern_minimal.db", rows)
    bad_list = base / "bad.txt"
    eicar = _reference(references, KNOWN_BAD_PATHS[0])
    bad_list.write_text(f"# known bad, md5sum style\n{eicar.md5}  EICAR-Test-File\n{'2' * 64}  Not.On.Disk\nnot a hash\n")
    csv_file = base / "feed.csv"
    csv_file.write_text(csv_iocs(references))
    stix = base / "bundle.json"
    stix.write_text(json.dumps(stix_bundle(references), indent=1))
    db = ("--intel-db", intel_db)
    imports = {
        "rds": run_cli("hashset", "import", rds, "--name", "nsrl-fixture", *db),
        "bad": run_cli("hashset", "import", bad_list, "--name", "bad-fixture", *db),
        "csv": run_cli("ioc", "import", csv_file, "--name", "feed-csv", *db),
        "stix": run_cli("ioc", "import", stix, "--name", "feed-stix", *db),
    }
    case = base / "case"
    traces = [corpus_dir / "pcap" / t for t in TRACES]
    scan = run_cli("scan", image, *traces, "--case", case, "--intel-db", intel_db, "--quiet")
    return IntelCase(base, intel_db, case, image, rds, bad_list, csv_file, stix, references, imports, scan,
                     export(case, "files"), export(case, "findings"))
