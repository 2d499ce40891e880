"""IOC lists (CSV and STIX 2.1) against a case of a fixture disk image and two corpus captures: the hits
are exactly those Zeek's logs (dns, http, conn, files) and icat + sha256sum predict, and nothing else."""

from __future__ import annotations

import ipaddress
import shutil
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from cybertriage.intel.ioc import parse_pattern
from tests import images
from tests.analyzers.net.conftest import zeek_log
from tests.conftest import export, run_cli
from tests.intel.conftest import IntelCase

WIKI, GET = "wikipedia.pcap", "http_get.pcap"


def _under(name: str, domain: str) -> bool:
    name = name.lower().rstrip(".")
    return name == domain or name.endswith("." + domain)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class Zeek:
    """The traces' facts as Zeek logged them."""

    def __init__(self, corpus: Path) -> None:
        self.dns = {WIKI: zeek_log(corpus, WIKI, "opt.basic", "dns.log"), GET: []}
        self.http = {WIKI: zeek_log(corpus, WIKI, "opt.basic", "http.log"),
                     GET: zeek_log(corpus, GET, "core.tcp.reassembly-known-ports", "http.log")}
        self.conn = {WIKI: zeek_log(corpus, WIKI, "opt.basic", "conn.log"),
                     GET: zeek_log(corpus, GET, "core.tcp.reassembly-known-ports", "conn.log")}
        self.files = {WIKI: [], GET: zeek_log(corpus, GET, "scripts.base.frameworks.file-analysis.logging", "files.log")}

    def answers(self, trace: str) -> set[str]:
        return {a.lower().rstrip(".") for row in self.dns[trace] if row["answers"] != "-"
                for a in row["answers"].split(",")}

    def expect(self, hits: Counter, lst: str, kind: str, value: str) -> None:
        """The hits one IOC must have in the two captures."""
        for trace in (WIKI, GET):
            found: set[tuple[str, str, str]] = set()
            if kind == "domain":
                found |= {("dns", "query", r["query"].lower()) for r in self.dns[trace] if _under(r["query"], value)}
                found |= {("dns", "answer", a) for a in self.answers(trace) if not _is_ip(a) and _under(a, value)}
                found |= {("http", "host", r["host"].lower()) for r in self.http[trace] if _under(r["host"], value)}
            elif kind in ("ipv4", "ipv6"):
                network = ipaddress.ip_network(value)
                inside = lambda text: _is_ip(text) and ipaddress.ip_address(text) in network  # noqa: E731
                found |= {("dns", "answer", a) for a in self.answers(trace) if inside(a)}
                found |= {("flow", "src", r["id.orig_h"]) for r in self.conn[trace] if inside(r["id.orig_h"])}
                found |= {("flow", "dst", r["id.resp_h"]) for r in self.conn[trace] if inside(r["id.resp_h"])}
            elif kind == "url":
                found |= {("http", "url", value) for r in self.http[trace] if f"http://{r['host']}{r['uri']}" == value}
            else:
                for row in self.files[trace]:
                    if row[kind] == value:
                        hits[(lst, kind, value, "file", kind, value, trace)] += 1
            for source, field, matched in found:
                hits[(lst, kind, value, source, field, matched, trace)] += 1


def _expected(intel_case: IntelCase, zeek: Zeek, iocs: list[tuple[str, str, str]]) -> Counter:
    hits: Counter = Counter()
    for lst, kind, value in iocs:
        zeek.expect(hits, lst, kind, value)
        if kind in ("md5", "sha1", "sha256"):
            for ref in intel_case.references:
                if getattr(ref, kind) == value:
                    hits[(lst, kind, value, "file", kind, value, intel_case.image.name)] += 1
    return hits


def _ours(findings: list[dict]) -> Counter:
    return Counter((f["detail"]["ioc"]["list"], f["detail"]["ioc"]["kind"], f["detail"]["ioc"]["value"],
                    f["detail"]["matched"]["source"], f["detail"]["matched"]["field"], f["detail"]["matched"]["value"],
                    Path(f["evidence"]).name) for f in findings)


@pytest.fixture(scope="module")
def zeek(corpus_dir: Path) -> Zeek:
    return Zeek(corpus_dir)


def _ref(intel_case: IntelCase, path: str):
    return next(r for r in intel_case.references if r.path == path)


def test_imports_count_what_they_could_not_use(intel_case: IntelCase) -> None:
    csv_import, stix_import = intel_case.imports["csv"], intel_case.imports["stix"]
    assert csv_import.code == 0, csv_import.stderr
    assert "13 entries" in csv_import.stdout and "1 lines skipped" in csv_import.stdout
    assert "unknown type 'bogus'" in csv_import.stderr
    assert stix_import.code == 0, stix_import.stderr
    assert "10 entries" in stix_import.stdout
    assert "4 comparisons or patterns not supported" in stix_import.stdout
    assert "1 patterns needing several observations matched part by part" in stix_import.stdout
    for words in ("file:name = 'CHANGES.bro-aux.txt'", "LIKE", "resolves_to_refs", "'yara'", "revoked"):
        assert words in stix_import.stderr
    listing = run_cli("ioc", "list", "--intel-db", intel_case.intel_db)
    assert "feed-stix: 10 IOCs (3 domain, 2 ipv4, 1 ipv6, 1 md5, 1 sha1, 1 sha256, 1 url)" in listing.stdout
    assert "4 unsupported" in listing.stdout
    assert "feed-csv: 13 IOCs (3 domain, 1 email, 3 ipv4, 1 ipv6, 2 md5, 1 sha256, 2 url)" in listing.stdout


def test_csv_and_stix_hit_exactly_what_zeek_and_sha256sum_predict(intel_case: IntelCase, zeek: Zeek) -> None:
    assert intel_case.scan.code == 0, intel_case.scan.stderr
    notes = _ref(intel_case, "/Documents/meeting notes.txt")
    plan = _ref(intel_case, "/home/alice/Documents/Projects/2024/plan.md")
    iocs = [("feed-csv", "domain", "wikimedia.org"), ("feed-csv", "ipv4", "208.80.152.3"),
            ("feed-csv", "ipv4", "141.142.228.0/24"),
            ("feed-csv", "url", "http://upload.wikimedia.org/wikipedia/commons/6/63/Wikipedia-logo.png"),
            ("feed-csv", "md5", "397168fd09991a0e712254df7bc639ac"), ("feed-csv", "sha256", notes.sha256),
            ("feed-stix", "domain", "bro.org"), ("feed-stix", "ipv4", "141.142.2.2"),
            ("feed-stix", "sha1", "1dd7ac0398df6cbc0696445a91ec681facf4dc47"),
            ("feed-stix", "ipv6", "fe80::217:f2ff:fed7:cf65"),
            ("feed-stix", "url", "http://bro.org/download/CHANGES.bro-aux.txt"),
            ("feed-stix", "md5", plan.md5), ("feed-stix", "sha256", plan.sha256),
            ("feed-stix", "domain", "meta.wikimedia.org")]
    expected = _expected(intel_case, zeek, iocs)
    findings = intel_case.ioc_findings()
    assert _ours(findings) == expected
    # the decoys (kimedia.org, 208.80.152.30, upload.wikimedia.org.ncsa.uiuc.edu under uiuc.edu.example, …) hit nothing
    assert ("dns", "query", "upload.wikimedia.org.ncsa.uiuc.edu") not in {k[3:6] for k in _ours(findings)}
    assert {k[0] for k in expected} == {"feed-csv", "feed-stix"} and len(expected) >= 20


def test_findings_carry_severity_description_source_and_counts(intel_case: IntelCase, zeek: Zeek) -> None:
    findings = intel_case.ioc_findings()
    by = {(f["detail"]["ioc"]["value"], f["detail"]["matched"]["source"], f["detail"]["matched"]["field"],
           f["detail"]["matched"]["value"]): f for f in findings}
    answer = by["208.80.152.3", "dns", "answer", "208.80.152.3"]
    assert answer["severity"] == "critical" and answer["rule"] == "feed-csv"
    assert answer["detail"]["description"] == "upload.wikimedia.org's address in the capture"
    assert answer["detail"]["ioc"]["list_sha256"] == _sha256(intel_case.csv_iocs)
    zeek_answers = sum(1 for r in zeek.dns[WIKI] if "208.80.152.3" in r["answers"].split(","))
    assert answer["detail"]["matched"]["count"] == zeek_answers
    queries = by["wikimedia.org", "dns", "query", "upload.wikimedia.org"]["detail"]["matched"]
    assert queries["count"] == sum(1 for r in zeek.dns[WIKI] if r["query"] == "upload.wikimedia.org")
    assert by["141.142.228.0/24", "flow", "src", "141.142.228.5"]["severity"] == "medium"
    host = by["bro.org", "http", "host", "bro.org"]
    assert host["severity"] == "high" and host["detail"]["description"] == "bro.org web server"
    assert host["detail"]["ioc"]["references"] == ["indicator--00000000-0000-4000-8000-000000000001"]
    carried = by["397168fd09991a0e712254df7bc639ac", "file", "md5", "397168fd09991a0e712254df7bc639ac"]
    assert carried["object_kind"] == "file" and carried["object"].endswith("CHANGES.bro-aux.txt")


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_strings_in_files_and_running_the_pass_again(intel_case: IntelCase, tmp_path: Path) -> None:
    """Indicators rows written as the indicators analyzer writes them (strings found in a file's content),
    then `ioc match` runs the pass again over the case."""
    case = tmp_path / "case"
    shutil.copytree(intel_case.case, case)
    notes = next(f for f in export(case, "files") if f["path"] == "/Documents/meeting notes.txt")
    db = sqlite3.connect(case / "case.db")
    rows = [("domain", "cdn.BRO.org", 10), ("domain", "cdn.bro.org", 90), ("ip", "208.80.152.3", 30),
            ("email", "nobody@example.org", 50), ("domain", "notbro.org", 70), ("url", "http://bro.org/other", 80)]
    db.executemany("INSERT INTO indicators (sha256, kind, value, offset) VALUES (?, ?, ?, ?)",
                   [(notes["sha256"], kind, value, offset) for kind, value, offset in rows])
    db.commit()
    db.close()
    before = {f["id"] for f in intel_case.findings}
    done = run_cli("ioc", "match", "--case", case, "--intel-db", intel_case.intel_db)
    assert done.code == 0, done.stderr
    after = export(case, "findings")
    new = [f for f in after if f["id"] not in before]
    assert "4 new findings" in done.stdout
    assert {(f["detail"]["ioc"]["value"], f["detail"]["matched"]["field"], f["detail"]["matched"]["value"],
             f["object"], f["detail"]["matched"]["offset"]) for f in new} == {
        ("bro.org", "domain", "cdn.BRO.org", notes["path"], 10), ("bro.org", "domain", "cdn.bro.org", notes["path"], 90),
        ("208.80.152.3", "ip", "208.80.152.3", notes["path"], 30),
        ("nobody@example.org", "email", "nobody@example.org", notes["path"], 50)}
    assert all(f["object_kind"] == "file" and f["object_id"] == notes["id"] for f in new)
    again = run_cli("ioc", "match", "--case", case, "--intel-db", intel_case.intel_db)
    assert again.code == 0 and "0 new findings" in again.stdout
    assert len(after) == len(before) + 4
    db = sqlite3.connect(case / "case.db")
    assert db.execute("SELECT count(*) FROM findings").fetchone()[0] == len(after)
    db.close()


def test_pattern_parsing_uses_the_stix_grammar() -> None:
    found, approximate = parse_pattern("[ipv4-addr:value ISSUBSET '10.0.0.0/8'] FOLLOWEDBY "
                                       "[network-traffic:dst_ref.value IN ('Evil.example', '2001:DB8::1')]")
    assert found == [("ipv4", "10.0.0.0/8"), ("domain", "evil.example"), ("ipv6", "2001:db8::1")]
    assert approximate
    found, approximate = parse_pattern("[file:hashes.'SHA-256' != 'aa'] OR [x-custom:value = 'y']")
    assert [type(f) for f in found] == [str, str] and not approximate
    with pytest.raises(Exception, match="does not parse"):
        parse_pattern("[domain-name:value = ")


def test_iocs_written_inside_a_file_on_a_disk_image_are_hit(tmp_path: Path) -> None:
    """A file on a FAT image (mtools) holds a C2 name, a download URL, an address and a mailbox among
    binary bytes; the indicators analyzer finds them in the scan and the IOC pass matches the list.
    Expected hits: what GNU strings + grep -oE find in the file, filtered by the IOCs' rules."""
    content = (b"\x01\x02" * 40 + b"server=c2.evil-updates.com port=443" + b"\xfe\x01" * 30
               + b"get http://files.example.net/drop/payload.bin now" + b"\x02" * 20 + b"peer 198.51.100.23 seen"
               + b"\x01" * 20 + b"decoy notevil-updates.com here" + b"\xff" * 20 + b"mail ops@corp.example.org" + b"\x01" * 20
               + "wide beacon.evil-updates.com".encode("utf-16-le") + b"\x01\x02" * 40)
    host_copy = tmp_path / "beacon.dat"
    host_copy.write_bytes(content)
    disk = images._sparse_file(tmp_path / "iocs.raw", 16384 * images.SECTOR)
    images._make_fat(disk, 0, 16384, 16, 1, "IOCS", "20240305", images.FsContent(files={"cfg/beacon.dat": content}),
                     tmp_path)
    feed = tmp_path / "feed.csv"
    feed.write_text("domain,evil-updates.com,C2 family\nurl,http://files.example.net/drop/payload.bin,dropper\n"
                    "ipv4,198.51.100.0/24,C2 network\nemail,ops@corp.example.org,operator\n"
                    "domain,updates.co,decoy\nipv4,198.51.100.230,decoy\n")
    intel_db = tmp_path / "intel.db"
    assert run_cli("ioc", "import", feed, "--intel-db", intel_db).code == 0
    case = tmp_path / "case"
    scan = run_cli("scan", disk, "--case", case, "--intel-db", intel_db, "--no-yara", "--quiet")
    assert scan.code == 0, scan.stderr

    text = "\n".join(subprocess.run(["strings", "-a", *enc, "-n", "4", str(host_copy)], capture_output=True,
                                    text=True, check=True).stdout for enc in ([], ["-el"]))

    def grep(pattern: str) -> set[str]:
        return set(subprocess.run(["grep", "-oE", pattern], input=text, capture_output=True, text=True).stdout.split())

    expected = {("evil-updates.com", d.lower()) for d in grep(r"([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}")
                if _under(d, "evil-updates.com")}
    expected |= {("http://files.example.net/drop/payload.bin", u) for u in grep(r"(https?|ftp)://[^[:space:]\"'<>]+")
                 if u == "http://files.example.net/drop/payload.bin"}
    expected |= {("198.51.100.0/24", ip) for ip in grep(r"([0-9]{1,3}\.){3}[0-9]{1,3}")
                 if ipaddress.ip_address(ip) in ipaddress.ip_network("198.51.100.0/24")}
    expected |= {("ops@corp.example.org", m.lower()) for m in grep(r"[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}")
                 if m.lower() == "ops@corp.example.org"}
    assert len(expected) == 5  # two names under the C2 domain (one in UTF-16), the URL, the address, the mailbox
    findings = [f for f in export(case, "findings") if f["analyzer"] == "ioc"]
    assert {(f["detail"]["ioc"]["value"], f["detail"]["matched"]["value"].lower()) for f in findings} == expected
    assert len(findings) == len(expected)
    assert all(f["object"] == "/cfg/beacon.dat" and f["object_kind"] == "file"
               and f["detail"]["matched"]["source"] == "string in file" for f in findings)
    beacon = next(f for f in export(case, "files") if f["path"] == "/cfg/beacon.dat")
    assert beacon["score"] == 100 and {f["title"] for f in findings} <= {r.rsplit(" (", 1)[0] for r in beacon["reasons"]}
