"""DNS authority and additional sections, and malformed DNS messages, against tshark.

The messages are built here byte by byte (RFC 1035 framing, nothing from cybertriage); tshark reads the
same capture and says what each section holds and which names are broken. A malformed message must be a
recorded problem, over UDP as over TCP, never a silent drop.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import struct
import subprocess
from pathlib import Path

from cybertriage.analyzers.net import NetSettings, analyse_capture
from tests.analyzers.net import pcapgen
from tests.analyzers.net.conftest import tshark
from tests.conftest import export, run_cli

LOOPS = "<Name contains a pointer that loops>"  # what tshark writes for a name whose pointers never end
TYPE_NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 15: "MX", 28: "AAAA"}
VALUE_FIELDS = ("dns.a", "dns.aaaa", "dns.ns", "dns.cname", "dns.mx.mail_exchange", "dns.soa.mname")


def _name(text: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in text.split(".")) + b"\0"


def _rr(owner: bytes, rtype: int, data: bytes) -> bytes:
    return owner + struct.pack("!HHIH", rtype, 1, 300, len(data)) + data


def _header(ident: int, response: bool, qd: int, an: int, ns: int, ar: int) -> bytes:
    return struct.pack("!HHHHHH", ident, 0x8180 if response else 0x0100, qd, an, ns, ar)


def _mx_exchange() -> tuple[bytes, bytes]:
    """An MX query and its response: the exchanger in the answer, the zone's servers in the authority
    section, the exchanger's and a server's addresses and an EDNS OPT record in the additional one."""
    question = _name("example.org") + struct.pack("!HH", 15, 1)
    answer = _rr(b"\xc0\x0c", 15, struct.pack("!H", 10) + _name("mail.example.org"))
    authority = (_rr(b"\xc0\x0c", 2, _name("ns1.example.org")) + _rr(b"\xc0\x0c", 2, _name("ns2.example.org"))
                 + _rr(b"\xc0\x0c", 6, _name("ns1.example.org") + _name("hostmaster.example.org")
                       + struct.pack("!IIIII", 1, 7200, 3600, 1209600, 300)))
    additional = (_rr(_name("mail.example.org"), 1, socket.inet_aton("192.0.2.25"))
                  + _rr(_name("mail.example.org"), 28, socket.inet_pton(socket.AF_INET6, "2001:db8::25"))
                  + _rr(_name("ns1.example.org"), 1, socket.inet_aton("192.0.2.53"))
                  + b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0))
    return (_header(7, False, 1, 0, 0, 0) + question,
            _header(7, True, 1, 1, 3, 4) + question + answer + authority + additional)


def _looping_answer(ident: int) -> tuple[bytes, bytes]:
    """A query and a response whose CNAME data is a pointer to itself."""
    question = _name("loop.example.org") + struct.pack("!HH", 1, 1)
    here = 12 + len(question) + 2 + 10
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 300, 2) + struct.pack("!H", 0xC000 | here)
    return _header(ident, False, 1, 0, 0, 0) + question, _header(ident, True, 1, 1, 0, 0) + question + answer


def _looping_question(ident: int) -> bytes:
    """A query whose name is a pointer to itself (offset 12)."""
    return _header(ident, False, 1, 0, 0, 0) + b"\xc0\x0c" + struct.pack("!HH", 1, 1)


def _udp(frames: list, t: float, client_port: int, payload: bytes, from_client: bool) -> None:
    client, server = "10.0.0.1", "10.0.0.53"
    src, dst, sport, dport = (client, server, client_port, 53) if from_client else (server, client, 53, client_port)
    frames.append((t, pcapgen.ether(pcapgen.ipv4(src, dst, 17, pcapgen.udp(src, dst, sport, dport, payload)))))


def _capture(path: Path) -> Path:
    frames: list = []
    t = 1_600_000_000.0
    query, response = _mx_exchange()
    _udp(frames, t, 40000, query, True)
    _udp(frames, t + 0.01, 40000, response, False)
    query, response = _looping_answer(9)
    _udp(frames, t + 0.02, 40001, query, True)
    _udp(frames, t + 0.03, 40001, response, False)
    _udp(frames, t + 0.04, 40002, _looping_question(10), True)  # the flow's only datagram
    session = pcapgen.TcpSession(server="10.0.0.53", cport=40003, sport=53, t0=t + 0.05)
    session.handshake()
    message = _looping_question(11)
    session.frames += session.segments(True, struct.pack("!H", len(message)) + message, 1000)
    session.close()
    return pcapgen.write_pcap(path, frames + session.frames)


def _tshark_sections(capture: Path) -> dict[int, dict[str, list[str]]]:
    """Per DNS response (by transaction id), its authority and additional records as tshark decodes them,
    written "name TYPE value"; the EDNS OPT pseudo-record left out."""
    done = subprocess.run(["tshark", "-r", str(capture), "-T", "json", "-Y", "dns.flags.response == 1"],
                          capture_output=True, text=True, timeout=120, check=True)
    out = {}
    for packet in json.loads(done.stdout):
        dns = packet["_source"]["layers"]["dns"]
        sections = {}
        for ours, theirs in (("authority", "Authoritative nameservers"), ("additional", "Additional records")):
            lines = []
            for record in dns.get(theirs, {}).values():
                rtype = int(record["dns.resp.type"])
                if rtype == 41:
                    continue
                value = next(record[field] for field in VALUE_FIELDS if field in record)
                lines.append(f"{record['dns.resp.name']} {TYPE_NAMES[rtype]} {value}")
            sections[ours] = lines
        out[int(dns["dns.id"], 16)] = sections
    return out


def _tshark_broken(capture: Path) -> list[str]:
    """Transaction ids of the messages in which tshark finds a name whose pointers loop."""
    rows = tshark("-r", str(capture), "-Y", "dns", "-T", "fields", "-e", "dns.id", "-e", "dns.qry.name",
                  "-e", "dns.cname", "-E", "occurrence=a")
    return [row[0] for row in rows if any(LOOPS in column for column in row[1:])]


def test_authority_and_additional_records_equal_tshark(tmp_path: Path) -> None:
    capture = _capture(tmp_path / "dns.pcap")
    expected = _tshark_sections(capture)
    assert expected[7]["additional"]  # the exchanger's addresses are there to be found
    records = {r.trans_id: r for r in analyse_capture(capture) if r.KIND == "dns"}
    assert records[7].answers == ["mail.example.org"]
    assert {"authority": records[7].authority, "additional": records[7].additional} == expected[7]


def test_every_malformed_message_is_a_recorded_problem(tmp_path: Path) -> None:
    """Over UDP as over TCP: one problem per message tshark finds broken, naming the message or its flow."""
    capture = _capture(tmp_path / "dns.pcap")
    broken = _tshark_broken(capture)
    assert len(broken) == 3
    summary = list(analyse_capture(capture))[-1]
    problems = [w for w in summary.warnings if "DNS" in w and "compression pointer" in w]
    assert len(problems) == len(broken), summary.warnings
    assert any(":40002 → " in p for p in problems)  # the UDP flow whose only message is broken
    assert any("tcp" in p and ":40003 → " in p for p in problems)


def test_export_and_case_hold_the_sections_and_the_problems(tmp_path: Path) -> None:
    capture = _capture(tmp_path / "dns.pcap")
    case = tmp_path / "case"
    result = run_cli("scan", capture, "--case", case, "--quiet")
    assert result.code in (0, 1), result.stderr
    expected = _tshark_sections(capture)[7]
    rows = {row["trans_id"]: row for row in export(case, "dns")}
    assert rows[7]["authority"] == expected["authority"]
    assert rows[7]["additional"] == expected["additional"]
    with sqlite3.connect(case / "case.db") as db:
        messages = [m for (m,) in db.execute("SELECT message FROM problems WHERE stage = 'network'")]
    assert sum("compression pointer" in m for m in messages) == len(_tshark_broken(capture))


def test_problems_past_the_cap_are_counted_not_dropped(tmp_path: Path) -> None:
    capture = _capture(tmp_path / "dns.pcap")
    broken = len(_tshark_broken(capture))
    summary = list(analyse_capture(capture, settings=NetSettings(max_warnings=1)))[-1]
    assert summary.warnings[-1].startswith(f"{broken - 1} more problems of flows"), summary.warnings


def test_message_cut_short_by_the_end_of_a_tcp_connection_is_a_problem(tmp_path: Path) -> None:
    """The length prefix announces more than the connection carries: tshark decodes no DNS message there,
    and cybertriage records none, but says so."""
    session = pcapgen.TcpSession(server="10.0.0.53", cport=40004, sport=53)
    session.handshake()
    query = _header(12, False, 1, 0, 0, 0) + _name("cut.example.org") + struct.pack("!HH", 1, 1)
    session.frames += session.segments(True, struct.pack("!H", len(query) + 40) + query, 1000)
    session.close()
    capture = pcapgen.write_pcap(tmp_path / "cut.pcap", session.frames)
    assert tshark("-r", str(capture), "-Y", "dns") == []
    records = list(analyse_capture(capture))
    assert not [r for r in records if r.KIND == "dns"]
    assert [w for w in records[-1].warnings if f"announced as {len(query) + 40} bytes, {len(query)} arrived" in w]
