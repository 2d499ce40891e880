"""The network section of a report on a case scanned from real captures, checked against what Zeek
and tshark make of the same captures (the corpus's Zeek baselines, `tshark --export-objects`)."""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cybertriage.report import write_html, write_pdf
from tests.conftest import run_cli

CAPTURES = ("wikipedia.pcap", "http_get.pcap", "tls_tls1.2.pcap", "tls_tls-conn-with-extensions.pcap")


def _zeek_log(path: Path) -> list[dict[str, str]]:
    fields: list[str] = []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#fields"):
            fields = line.split("\t")[1:]
        elif line and not line.startswith("#"):
            rows.append(dict(zip(fields, line.split("\t"))))
    return rows


class _Headings(HTMLParser):
    """The network lists' totals (data-total of their headings) and the page's text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.totals: dict[str, int] = {}
        self.text: list[str] = []
        self.sources: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "h3" and (found.get("id") or "").startswith("net-"):
            self.totals[found["id"][4:]] = int(found["data-total"] or -1)
        self.sources += [v for k, v in attrs if k in ("src", "href") and v and not v.startswith("#")]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def netcase(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> dict:
    base = tmp_path_factory.mktemp("net")
    case = base / "case"
    result = run_cli("scan", *[corpus_dir / "pcap" / name for name in CAPTURES], "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    pdf = write_pdf(case, base / "r.pdf")
    html = write_html(case, base / "r.html")
    layout = subprocess.run(["pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                            check=True).stdout
    parser = _Headings()
    parser.feed(html.read_text(encoding="utf-8"))
    return {"case": case, "base": base, "layout": layout, "flat": " ".join(layout.split()), "html": parser}


def _one(case: Path, sql: str) -> int:
    with sqlite3.connect(case / "case.db") as db:
        return db.execute(sql).fetchone()[0]


def test_top_talkers_rank_as_zeek_does(netcase: dict, corpus_dir: Path) -> None:
    conn = _zeek_log(corpus_dir / "pcap" / "zeek-baselines" / "wikipedia.pcap" / "opt.basic" / "conn.log")
    assert "orig_ip_bytes" in conn[0]
    totals: Counter[tuple[str, str]] = Counter()
    for row in conn:
        pair = tuple(sorted((row["id.orig_h"], row["id.resp_h"])))
        totals[pair] += int(row["orig_ip_bytes"]) + int(row["resp_ip_bytes"])
    ranked = [pair for pair, _ in totals.most_common(4)]
    lines = netcase["layout"].splitlines()
    found = []
    for a, b in ranked:
        at = [i for i, line in enumerate(lines) if re.search(rf"\b{re.escape(a)}\s+{re.escape(b)}\s", line)]
        assert at, f"top talker pair {a} {b} not in the report"
        found.append(at[0])
        assert f"{totals[(a, b)]:,}" in lines[at[0]]  # its bytes, as Zeek counts IP bytes
    assert found == sorted(found)  # in Zeek's order (the other captures' pairs may come between)


def test_dns_names_are_zeeks(netcase: dict, corpus_dir: Path) -> None:
    dns = _zeek_log(corpus_dir / "pcap" / "zeek-baselines" / "wikipedia.pcap" / "opt.basic" / "dns.log")
    names = {row["query"] for row in dns if row["query"] not in ("-", "")}
    assert len(names) >= 5
    text = netcase["flat"].lower()
    for name in names:  # NetBIOS names are case-insensitive; Zeek logs one of them in both cases
        assert name.lower() in text


def test_tls_server_name_with_fingerprints_and_certificate(netcase: dict) -> None:
    flat = netcase["flat"]
    assert "ssl.gstatic.com" in flat
    with sqlite3.connect(netcase["case"] / "case.db") as db:
        ja3, ja3s, subject = db.execute("SELECT ja3, ja3s, cert_subject FROM tls WHERE sni = 'ssl.gstatic.com'").fetchone()
    assert ja3 in flat and ja3s in flat and subject in flat


def test_http_download_hash_is_the_object_tshark_exports(netcase: dict, corpus_dir: Path) -> None:
    if not shutil.which("tshark"):
        pytest.skip("tshark is not installed")
    out = netcase["base"] / "objects"
    out.mkdir()
    subprocess.run(["tshark", "-r", str(corpus_dir / "pcap" / "http_get.pcap"), "-q", "--export-objects", f"http,{out}"],
                   capture_output=True, check=True)
    [exported] = [p for p in out.iterdir() if p.is_file()]
    digest = hashlib.sha256(exported.read_bytes()).hexdigest()
    assert digest in netcase["layout"]
    assert "bro.org/download/CHANGES.bro-aux.txt" in netcase["flat"]
    file_id, path = sqlite3.connect(netcase["case"] / "case.db").execute(
        "SELECT id, path FROM files WHERE sha256 = ? AND origin IS NOT NULL", [digest]).fetchone()
    assert f"Carried file: file #{file_id}: {path}" in netcase["flat"]
    assert digest in "".join(netcase["html"].text)


def test_html_and_pdf_state_the_same_totals(netcase: dict) -> None:
    case = netcase["case"]
    expected = {
        "hosts": _one(case, "SELECT count(*) FROM (SELECT DISTINCT evidence_id, address FROM hosts)"),
        "talkers": _one(case, "SELECT count(*) FROM (SELECT DISTINCT min(src, dst), max(src, dst) FROM flows)"),
        "dns": _one(case, "SELECT count(*) FROM (SELECT DISTINCT query, qtype FROM dns)"),
        "http": _one(case, "SELECT count(*) FROM http"),
        "tls": _one(case, "SELECT count(*) FROM (SELECT DISTINCT sni, ja3, ja3s, cert_subject, cert_issuer, "
                          "cert_not_before, cert_not_after FROM tls)"),
    }
    assert netcase["html"].totals == expected
    flat = netcase["flat"]
    assert f"{expected['hosts']:,} addresses (per capture)" in flat
    assert f"{expected['talkers']:,} pairs of endpoints" in flat
    assert f"{expected['dns']:,} distinct names" in flat
    assert f"{expected['http']:,} HTTP requests" in flat
    assert f"{expected['tls']:,} distinct server names" in flat
    text = " ".join("".join(netcase["html"].text).split())
    for sentence in (r"addresses \(per capture\)", "pairs of endpoints", "distinct names", "HTTP requests", "distinct server names"):
        assert re.search(rf"[\d,]+ {sentence}", text).group(0) == re.search(rf"[\d,]+ {sentence}", flat).group(0)
    assert netcase["html"].sources == []
