"""CaptureReader: pcap in both byte orders and resolutions, pcapng with per-interface
resolutions, and damaged files. Expected answers come from tshark, editcap and the
corpus MANIFEST, or from the bytes the test itself wrote."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cybertriage.analyzers.net import analyse_capture
from cybertriage.errors import EvidenceError
from cybertriage.evidence import open_evidence
from cybertriage.evidence.capture import CaptureReader

# Packet counts from the corpus MANIFEST (section 1, "observed" column).
MANIFEST_COUNTS = {
    "wikipedia.pcap": 136, "dns_tkey.pcap": 12, "ipv6-fragmented-dns.pcap": 8, "http_get.pcap": 14,
    "http_x-gzip.pcap": 7, "http_multipart.pcap": 10, "http_100-continue.pcap": 66, "smtp.pcap": 125,
    "ftp_ipv4.pcap": 95, "ftp_ipv6.pcap": 136, "tls_tls1.2.pcap": 22, "tls_tls-conn-with-extensions.pcap": 58,
    "tls_tls13_wolfssl.pcap": 21, "mixed-vlan-mpls.pcap": 47, "q-in-q.pcap": 5, "pcapng-multi-interface.pcapng": 6,
    "trunc_trunc-hdr.pcap": 1, "trunc_ip4-trunc.pcap": 1, "dns_dns-corrupt.pcap": 2, "trunc_ip6-trunc.pcap": 1,
    "trunc_ip6-ext-trunc.pcap": 1,
}


def _tshark(*args: str) -> list[list[str]]:
    assert shutil.which("tshark"), "tshark missing (Debian package tshark; `make system-packages`)"
    done = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [line.split("\t") for line in done.stdout.splitlines()]


def _ns(epoch: str) -> int:
    sec, _, frac = epoch.partition(".")
    return int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")[:9])


@pytest.mark.parametrize("name", sorted(MANIFEST_COUNTS))
def test_packet_counts_equal_manifest(corpus_dir: Path, name: str) -> None:
    reader = CaptureReader(corpus_dir / "pcap" / name)
    packets = list(reader.packets())
    assert len(packets) == MANIFEST_COUNTS[name] == reader.packets_read
    assert [p.index for p in packets] == list(range(1, len(packets) + 1))
    assert reader.linktypes == {1: len(packets)} and not reader.problems and not reader.truncated
    assert reader.bytes_read == reader.size


def test_pcapng_timestamps_per_interface_equal_tshark(corpus_dir: Path) -> None:
    path = corpus_dir / "pcap" / "pcapng-multi-interface.pcapng"
    rows = _tshark("-r", str(path), "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.interface_id")
    packets = list(CaptureReader(path).packets())
    assert [p.ts_ns for p in packets] == [_ns(epoch) for epoch, _ in rows]
    assert [p.ts for p in packets] == pytest.approx([_ns(epoch) / 1e9 for epoch, _ in rows], abs=1e-6)
    # MANIFEST: interface 0 at 1767663089.500330 and .514292, interface 1 from 1767663437.111897 on
    assert [p.ts_ns // 1000 for p in packets[:3]] == [1767663089500330, 1767663089514291, 1767663437111897]
    flows = [r for r in analyse_capture(path) if r.KIND == "flow"]
    assert sorted(f.first_seen for f in flows) == [
        "2026-01-06T01:31:29.500330Z", "2026-01-06T01:37:17.111897Z", "2026-01-06T01:37:17.128303Z"]


def test_pcap_timestamps_equal_tshark(corpus_dir: Path) -> None:
    path = corpus_dir / "pcap" / "wikipedia.pcap"
    rows = _tshark("-r", str(path), "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len")
    packets = list(CaptureReader(path).packets())
    assert [(p.ts_ns, p.wirelen, len(p.data)) for p in packets] == [(_ns(t), int(w), int(c)) for t, w, c in rows]


def _swap_pcap(src: Path, dst: Path, nanoseconds: bool) -> Path:
    """The same capture written big-endian (and optionally with nanosecond fractions)."""
    data = src.read_bytes()
    magic, major, minor, zone, sigfigs, snaplen, linktype = struct.unpack_from("<IHHiIII", data, 0)
    out = [struct.pack(">IHHiIII", 0xA1B23C4D if nanoseconds else magic, major, minor, zone, sigfigs, snaplen, linktype)]
    pos = 24
    while pos < len(data):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", data, pos)
        out.append(struct.pack(">IIII", sec, usec * 1000 + 7 if nanoseconds else usec, caplen, wirelen))
        out.append(data[pos + 16:pos + 16 + caplen])
        pos += 16 + caplen
    dst.write_bytes(b"".join(out))
    return dst


@pytest.mark.parametrize("nanoseconds", [False, True])
def test_big_endian_and_nanosecond_pcap(corpus_dir: Path, tmp_path: Path, nanoseconds: bool) -> None:
    original = corpus_dir / "pcap" / "wikipedia.pcap"
    swapped = _swap_pcap(original, tmp_path / "swapped.pcap", nanoseconds)
    rows = _tshark("-r", str(swapped), "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len")
    packets = list(CaptureReader(swapped).packets())
    assert [(p.ts_ns, p.wirelen) for p in packets] == [(_ns(t), int(w)) for t, w in rows]
    assert [p.data for p in packets] == [p.data for p in CaptureReader(original).packets()]


def test_pcapng_written_by_editcap(corpus_dir: Path, tmp_path: Path) -> None:
    assert shutil.which("editcap"), "editcap missing (Debian package tshark brings it)"
    original = corpus_dir / "pcap" / "http_get.pcap"
    converted = tmp_path / "http_get.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(original), str(converted)], check=True, capture_output=True)
    a = [(p.ts_ns, p.data, p.linktype) for p in CaptureReader(original).packets()]
    b = [(p.ts_ns, p.data, p.linktype) for p in CaptureReader(converted).packets()]
    assert a == b
    (http,) = [r for r in analyse_capture(converted) if r.KIND == "http"]
    assert http.uri == "/download/CHANGES.bro-aux.txt"


# ------------------------------------------------------------------------ hostile input

def test_not_a_capture(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.pcap"
    noise.write_bytes(os.urandom(4096))
    short = tmp_path / "short.pcap"
    short.write_bytes(b"\xd4\xc3\xb2\xa1\x02\x00")
    for path, words in ((empty, "empty"), (noise, "not a pcap"), (short, "cut short"),
                        (tmp_path / "missing.pcap", "no such file"), (tmp_path, "folder")):
        with pytest.raises(EvidenceError, match=words) as caught:
            analyse_capture(path)
        assert "\n" not in str(caught.value)


def test_header_only_is_an_empty_capture(corpus_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "header.pcap"
    path.write_bytes((corpus_dir / "pcap" / "wikipedia.pcap").read_bytes()[:24])
    records = list(analyse_capture(path))
    (summary,) = records
    assert summary.packets_read == 0 and summary.complete


@pytest.mark.parametrize("name,cut", [("http_get.pcap", 4000), ("http_get.pcap", 30), ("http_get.pcap", 24 + 10),
                                      ("pcapng-multi-interface.pcapng", 1000), ("pcapng-multi-interface.pcapng", 100)])
def test_capture_cut_short_keeps_what_was_read(corpus_dir: Path, tmp_path: Path, name: str, cut: int) -> None:
    original = corpus_dir / "pcap" / name
    path = tmp_path / name
    path.write_bytes(original.read_bytes()[:cut])
    rows = _tshark("-r", str(original), "-T", "fields", "-e", "frame.number")
    records = list(analyse_capture(path))
    summary = records[-1]
    assert summary.truncated and not summary.complete
    assert len(summary.problems) == 1 and "capture ends inside" in summary.problems[0]
    assert 0 <= summary.packets_read < len(rows)
    assert summary.bytes_read <= cut


def test_corrupt_record_header_stops_cleanly(corpus_dir: Path, tmp_path: Path) -> None:
    data = bytearray((corpus_dir / "pcap" / "http_get.pcap").read_bytes())
    first_len = struct.unpack_from("<I", data, 24 + 8)[0]
    second = 24 + 16 + first_len
    struct.pack_into("<I", data, second + 8, 0x7FFFFFFF)  # captured length of packet 2
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(bytes(data))
    records = list(analyse_capture(path))
    summary = records[-1]
    assert summary.packets_read == 1 and "corrupt packet record" in summary.problems[0]
    assert [r.KIND for r in records] == ["flow", "host", "host", "capture_summary"]


def test_corrupt_pcapng_block(corpus_dir: Path, tmp_path: Path) -> None:
    data = bytearray((corpus_dir / "pcap" / "pcapng-multi-interface.pcapng").read_bytes())
    shb_len = struct.unpack_from("<I", data, 4)[0]
    struct.pack_into("<I", data, shb_len + 4, 7)  # the first interface block's length: not a multiple of 4
    path = tmp_path / "corrupt.pcapng"
    path.write_bytes(bytes(data))
    summary = list(analyse_capture(path))[-1]
    assert summary.packets_read == 0 and "corrupt block" in summary.problems[0]


def test_random_bytes_after_a_valid_header(corpus_dir: Path, tmp_path: Path) -> None:
    rng = __import__("random").Random(3)
    for header in ((corpus_dir / "pcap" / "wikipedia.pcap").read_bytes()[:24],
                   (corpus_dir / "pcap" / "pcapng-multi-interface.pcapng").read_bytes()[:28]):
        for _ in range(20):
            path = tmp_path / "noise"
            path.write_bytes(header + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))))
            summary = list(analyse_capture(path))[-1]  # never a traceback
            assert summary.KIND == "capture_summary"
            assert summary.packets_read == summary.packets_decoded + sum(summary.not_decoded.values())


def test_every_packet_accounted_for(corpus_dir: Path) -> None:
    for name in MANIFEST_COUNTS:
        summary = list(analyse_capture(corpus_dir / "pcap" / name))[-1]
        assert summary.packets_read == MANIFEST_COUNTS[name]
        assert summary.packets_read == summary.packets_decoded + sum(summary.not_decoded.values()), name


def test_cancel_and_progress(corpus_dir: Path, tmp_path: Path) -> None:
    original = corpus_dir / "pcap" / "wikipedia.pcap"
    body = original.read_bytes()[24:]
    path = tmp_path / "long.pcap"
    path.write_bytes(original.read_bytes()[:24] + body * 80)  # 10,880 packets
    seen: list[int] = []
    records = list(analyse_capture(path, threading.Event(), seen.append))
    assert sum(seen) == path.stat().st_size and records[-1].packets_read == 136 * 80
    cancel = threading.Event()
    cancel.set()
    records = list(analyse_capture(path, cancel))
    summary = records[-1]
    assert summary.cancelled and not summary.complete and summary.packets_read < 136 * 80
    assert all(f.ended == "cancelled" for f in records if f.KIND == "flow")


def _mapped_capture_rss() -> int:
    """Bytes of files mapped into this process and resident now (Linux: RssFile)."""
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("RssFile:"))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_pages_read_are_handed_back(corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The capture is memory-mapped; its pages must not pile up in the process as it is read."""
    import cybertriage.evidence.capture as capture_module

    original = (corpus_dir / "pcap" / "http_100-continue.pcap").read_bytes()
    path = tmp_path / "big.pcap"
    path.write_bytes(original[:24] + original[24:] * 500)  # 34 MB
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)  # in the page cache, as usual
    monkeypatch.setattr(capture_module, "RELEASE_EVERY", 1 << 20)
    before = _mapped_capture_rss()
    peak = 0
    reader = CaptureReader(path)
    for count, _frame in enumerate(reader.frames()):
        if count % 2000 == 0:
            peak = max(peak, _mapped_capture_rss() - before)
    assert reader.packets_read == 66 * 500 and not reader.problems
    assert peak < 8 << 20, f"{peak:,} bytes of the 34 MB capture resident at once"


def test_capture_analysis_imports_no_file_analyzer() -> None:
    """The analysis child process starts by importing only what reads and analyses packets: importing
    every file analyzer (YARA, pefile, the indicator patterns) cost 0.35 s per capture."""
    code = ("import sys, cybertriage.evidence.capture, cybertriage.analyzers.net.analyse; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith(('cybertriage.analyzers.', 'yara', 'pefile', "
            "'sqlite_utils', 'magic')))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded and all(name.startswith("cybertriage.analyzers.net") for name in loaded), loaded


def test_records_arrive_without_the_protocol_parsers() -> None:
    """The scan's process unpickles the records the analysis child sends: that must not import the packet
    analysis and dpkt (~0.07 s of the scan's process per capture)."""
    code = ("import sys, cybertriage.analyzers.net.records; "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith(('cybertriage.analyzers.net', 'dpkt')))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == ["cybertriage.analyzers.net", "cybertriage.analyzers.net.records"]


def test_capture_emptied_after_it_was_opened(corpus_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "emptied.pcap"
    shutil.copyfile(corpus_dir / "pcap" / "http_get.pcap", path)
    reader = CaptureReader(path)
    path.write_bytes(b"")
    assert list(reader.frames()) == []
    assert len(reader.problems) == 1 and "could not be read" in reader.problems[0]


def _reading(path: Path, stop_after: int | None = None) -> tuple[list, list[str], bool, int, int, dict]:
    """What reading gives, all of it or (as a cancelled scan stops) the first `stop_after` frames."""
    reader = CaptureReader(path)
    frames = reader.frames()
    taken = list(frames) if stop_after is None else [frame for frame, _ in zip(frames, range(stop_after))]
    frames.close()
    return taken, reader.problems, reader.truncated, reader.bytes_read, reader.packets_read, reader.linktypes


def _pcapng_variants(corpus_dir: Path, tmp_path: Path) -> list[Path]:
    """pcapng files: the corpus's, editcap's conversions of corpus pcaps, and damaged copies of one of them."""
    paths = sorted((corpus_dir / "pcap").glob("*.pcapng"))
    for name in ("http_100-continue", "mixed-vlan-mpls", "ipv6-fragmented-dns", "tls_tls13_wolfssl"):
        paths.append(tmp_path / f"{name}.pcapng")
        subprocess.run(["editcap", "-F", "pcapng", str(corpus_dir / "pcap" / f"{name}.pcap"), str(paths[-1])],
                       check=True, capture_output=True)
    data = paths[-4].read_bytes()
    blocks, pos = [], 0
    while pos < len(data):
        blocks.append(pos)
        pos += struct.unpack_from("<I", data, pos + 4)[0]
    epb = [b for b in blocks if struct.unpack_from("<I", data, b)[0] == 6]
    damaged = {"cut-in-block": data[:epb[10] + 40], "cut-in-header": data[:epb[10] + 6]}
    for name, offset, value in (("trailer", None, 7), ("length", 4, 0x7FFFFFFF), ("interface", 8, 9), ("caplen", 20, 0xFFFF)):
        copy = bytearray(data)
        block_length = struct.unpack_from("<I", data, epb[5] + 4)[0]
        struct.pack_into("<I", copy, epb[5] + (block_length - 4 if offset is None else offset), value)
        damaged[name] = bytes(copy)
    for name, content in damaged.items():
        paths.append(tmp_path / f"damaged-{name}.pcapng")
        paths[-1].write_bytes(content)
    return paths


def test_compiled_framing_equals_python(corpus_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The ordinary records framed in C (`_pcap_records`) give what the Python loop alone gives, damage
    reports included: every corpus capture, damaged, swapped and nanosecond pcap copies, pcapng ones."""
    import cybertriage.evidence.capture as capture_module

    assert capture_module.PcapRecords is not None, "the install did not compile _pcap_records.pyx (Cython, gcc)"
    original = corpus_dir / "pcap" / "http_100-continue.pcap"
    data = original.read_bytes()
    corrupt = bytearray(data)
    struct.pack_into("<I", corrupt, 24 + 16 + struct.unpack_from("<I", data, 32)[0] + 8, 0x7FFFFFFF)
    variants = {"cut-in-packet": data[:5000], "cut-in-header": data[:24 + 16 + struct.unpack_from("<I", data, 32)[0] + 7],
                "corrupt": bytes(corrupt), "header-only": data[:24], "big-release": data[:24] + data[24:] * 40}
    paths = sorted((corpus_dir / "pcap").glob("*.pcap"))
    for name, content in variants.items():
        paths.append(tmp_path / f"{name}.pcap")
        paths[-1].write_bytes(content)
    paths += [_swap_pcap(original, tmp_path / "swapped.pcap", False), _swap_pcap(original, tmp_path / "swapped-ns.pcap", True)]
    paths += _pcapng_variants(corpus_dir, tmp_path)
    monkeypatch.setattr(capture_module, "RELEASE_EVERY", 64 * 1024)  # hand pages back often: "big-release" is 2.7 MB
    for path in paths:
        for stop_after in (None, 5):
            compiled = _reading(path, stop_after)
            with monkeypatch.context() as python_only:
                python_only.setattr(capture_module, "PcapRecords", None)
                python_only.setattr(capture_module, "PcapngPackets", None)
                assert _reading(path, stop_after) == compiled, (path.name, stop_after)


def test_capture_opened_without_an_analysis_lists_nothing_but_says_why(corpus_dir: Path) -> None:
    """Evidence does not import the network analyzers: a capture opened without the protocol analysis the scan
    hands it (as the case's content reader opens it) refuses to be listed in one line, never silently empty."""
    source = open_evidence(corpus_dir / "pcap" / "http_get.pcap")
    with pytest.raises(EvidenceError, match="without a protocol analysis"):
        next(source.objects(threading.Event()))
