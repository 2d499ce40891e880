"""The Network tabs' filters, records, carried objects, certificate chains and conversations, against tshark and
openssl reading the same captures (and the sqlite3 CLI reading the case)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from cybertriage.case import browse
from cybertriage.case import network_views as nv
from tests.conftest import run_cli

CAPTURES = ("http_get", "tls_tls1.2", "smtp", "dns_tkey", "ftp_ipv4", "wikipedia")


def tshark(capture: Path, *args: str) -> list[str]:
    """tshark's field lines for one capture (lines, empty ones left out)."""
    out = subprocess.run(["tshark", "-n", "-r", str(capture), *args], check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def sqlite(case: Path, query: str) -> list[dict]:
    out = subprocess.run(["sqlite3", "-json", "-readonly", str(case / "case.db"), query],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


@pytest.fixture(scope="module")
def captures(corpus_dir: Path) -> list[Path]:
    return [corpus_dir / "pcap" / f"{name}.pcap" for name in CAPTURES]


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory, captures: list[Path]) -> Path:
    where = tmp_path_factory.mktemp("network_views") / "case"
    result = run_cli("scan", *captures, "--case", where, "--quiet")
    assert result.code == 0, result.stderr
    return where


@pytest.fixture
def conn(case: Path):
    connection = browse.connect(case)
    yield connection
    connection.close()


def ids(conn, table: str, text: str) -> list[int]:
    return nv.filtered_ids(conn, nv.TABLES[table], text)


def test_a_host_filter_keeps_the_requests_tshark_sees_for_that_host(conn, captures):
    for host in ("bro.org", "upload.wikimedia.org", "wikimedia"):
        expected = sum(len(tshark(c, "-Y", f'http.request && http.host contains "{host}"', "-T", "fields",
                                  "-e", "http.host")) for c in captures)
        assert expected > 0
        assert len(ids(conn, "http", f"host:{host}")) == expected, host
        assert len(ids(conn, "http", host)) >= expected  # free text also looks at the URI, agent, type...


def test_an_address_filter_keeps_the_requests_to_or_from_it(conn, captures):
    for address in ("208.80.152.3", "192.150.187.43"):
        expected = sum(len(tshark(c, "-Y", f"http.request && ip.addr == {address}", "-T", "fields", "-e", "frame.number"))
                       for c in captures)
        assert expected > 0 and len(ids(conn, "http", address)) == expected
        assert len(ids(conn, "http", f"ip:{address}")) == expected


def test_a_port_filter_keeps_the_flows_on_that_port(conn, captures):
    for port in (80, 443, 25, 21):
        streams = sum(len(set(tshark(c, "-Y", f"tcp.port == {port}", "-T", "fields", "-e", "tcp.stream")))
                      for c in captures)
        assert streams > 0
        assert len(ids(conn, "flows", f":{port}")) == streams, port
        assert ids(conn, "flows", f"port:{port}") == ids(conn, "flows", f":{port}")


def test_words_combine_and_uri_matches_the_request_target(conn, case, captures):
    uris = [uri for c in captures for uri in tshark(c, "-Y", "http.request", "-T", "fields", "-e", "http.request.uri")]
    wanted = [uri for uri in uris if "/wikipedia/commons" in uri]
    assert wanted and len(ids(conn, "http", "uri:/wikipedia/commons")) == len(wanted)
    both = [row["id"] for row in sqlite(
        case, "SELECT id FROM http WHERE host = 'upload.wikimedia.org' AND instr(uri, '.png') ORDER BY id")]
    assert both and ids(conn, "http", "host:upload.wikimedia.org .PNG") == both  # case ignored, both words


def test_a_host_filter_on_flows_goes_through_the_hosts_names(conn, case):
    expected = [row["id"] for row in sqlite(case, """SELECT id FROM flows WHERE dst IN (SELECT address FROM hosts
                WHERE names LIKE '%bro.org%') OR src IN (SELECT address FROM hosts WHERE names LIKE '%bro.org%') ORDER BY id""")]
    assert expected and ids(conn, "flows", "host:bro.org") == expected


def test_hosts_filter_by_open_port_and_dns_by_name(conn, case):
    expected = [row["id"] for row in sqlite(case, """SELECT h.id FROM hosts h WHERE EXISTS (SELECT 1 FROM
                json_each(h.open_ports) p WHERE p.value = 'tcp/80') ORDER BY h.id""")]
    assert expected and ids(conn, "hosts", ":80") == expected
    names = [row["id"] for row in sqlite(case, "SELECT id FROM dns WHERE query LIKE '%gemini%' OR answers LIKE "
                                               "'%gemini%' ORDER BY id")]
    assert names and ids(conn, "dns", "name:GEMINI") == names


def test_a_port_that_is_not_a_number_is_refused(conn):
    with pytest.raises(nv.FilterError):
        ids(conn, "flows", "port:https")


def test_the_filter_orders_by_any_column(conn, case):
    expected = [row["id"] for row in sqlite(case, "SELECT id FROM http WHERE src = '141.142.220.118' "
                                                  "ORDER BY uri DESC, id DESC")]
    assert nv.filtered_ids(conn, nv.TABLES["http"], "141.142.220.118", "uri", True) == expected


def test_an_http_record_keeps_the_header_lines_tshark_reads(conn, corpus_dir):
    rows = ids(conn, "http", "host:bro.org")
    assert len(rows) == 1
    record = nv.record(conn, "http", rows[0])
    capture = corpus_dir / "pcap" / "http_get.pcap"
    lines = json.loads(subprocess.run(["tshark", "-r", str(capture), "-Y", "http.request", "-T", "json",
                                       "-e", "http.request.line"], check=True, capture_output=True, text=True).stdout)
    request = lines[0]["_source"]["layers"]["http.request.line"]
    assert [f"{name}: {value}\r\n" for name, value in json.loads(record["request_headers"])] == request
    lines = json.loads(subprocess.run(["tshark", "-r", str(capture), "-Y", "http.response", "-T", "json",
                                       "-e", "http.response.line"], check=True, capture_output=True, text=True).stdout)
    response = lines[0]["_source"]["layers"]["http.response.line"]
    assert [f"{name}: {value}\r\n" for name, value in json.loads(record["response_headers"])] == response
    assert record["evidence"] == str(capture)


def test_the_body_is_found_as_the_carried_file(conn, case):
    record = nv.record(conn, "http", ids(conn, "http", "host:bro.org")[0])
    objects = nv.carried_objects(conn, record["evidence_id"], record["flow_id"], record["body_sha256"])
    expected = sqlite(case, f"SELECT id, sha256 FROM files WHERE sha256 = '{record['body_sha256']}'")
    assert [o["id"] for o in objects] == [row["id"] for row in expected] and len(objects) == 1
    assert nv.carried_objects(conn, record["evidence_id"], record["flow_id"], None) == []


def _openssl(der_hex: str) -> dict[str, str]:
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-nameopt", "RFC2253", "-subject", "-issuer",
                          "-startdate", "-enddate", "-fingerprint", "-sha256"],
                         input=bytes.fromhex(der_hex), check=True, capture_output=True).stdout.decode()
    fields = dict(line.split("=", 1) for line in out.splitlines())
    return {key.strip(): value.strip() for key, value in fields.items()}


def _openssl_time(text: str) -> str:
    return dt.datetime.strptime(text, "%b %d %H:%M:%S %Y %Z").strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_certificate_chain_is_the_one_openssl_reads(conn, corpus_dir):
    capture = corpus_dir / "pcap" / "tls_tls1.2.pcap"
    chains = tshark(capture, "-Y", "tls.handshake.certificate", "-T", "fields", "-e", "tls.handshake.certificate")
    assert chains
    certificates = [_openssl(der) for der in chains[0].split(",")]
    record = next(nv.record(conn, "tls", i) for i in ids(conn, "tls", "") if
                  json.loads(nv.record(conn, "tls", i)["cert_chain_sha256"] or "[]"))
    assert record["evidence"] == str(capture)
    assert json.loads(record["cert_chain_subjects"]) == [c["subject"] for c in certificates]
    assert json.loads(record["cert_chain_issuers"]) == [c["issuer"] for c in certificates]
    assert json.loads(record["cert_chain_not_before"]) == [_openssl_time(c["notBefore"]) for c in certificates]
    assert json.loads(record["cert_chain_not_after"]) == [_openssl_time(c["notAfter"]) for c in certificates]
    assert json.loads(record["cert_chain_sha256"]) == [c["sha256 Fingerprint"].replace(":", "").lower()
                                                       for c in certificates]


def test_a_conversation_holds_the_flow_its_records_its_files_and_the_lookup_naming_it(conn, case):
    flow = sqlite(case, "SELECT evidence_id, flow_id, dst FROM flows WHERE app = 'smtp' LIMIT 1")[0]
    talk = nv.conversation(conn, flow["evidence_id"], flow["flow_id"])
    assert talk.flow is not None and talk.flow["dst"] == flow["dst"]
    where = f"evidence_id = {flow['evidence_id']} AND flow_id = {flow['flow_id']}"
    smtp = sqlite(case, f"SELECT id FROM smtp WHERE {where} ORDER BY ts, id")
    assert smtp and [row["id"] for row in talk.records["smtp"]] == [row["id"] for row in smtp]
    files = sqlite(case, f"SELECT id FROM files WHERE {where} ORDER BY path, id")
    assert files and [row["id"] for row in talk.files] == [row["id"] for row in files]
    lookups = sqlite(case, f"""SELECT id FROM dns WHERE evidence_id = {flow['evidence_id']} AND EXISTS
                     (SELECT 1 FROM json_each(answers) WHERE value = '{flow['dst']}') ORDER BY ts, id""")
    assert lookups and [row["id"] for row in talk.lookups] == [row["id"] for row in lookups]
    assert "http" not in talk.records


def test_a_conversation_of_a_missing_flow_is_empty(conn):
    talk = nv.conversation(conn, 1, 10_000_000)
    assert talk.flow is None and not talk.records and not talk.files and not talk.lookups
