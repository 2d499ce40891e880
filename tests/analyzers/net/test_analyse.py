"""The compiled capture analysis (analyse.py and tcp.py built with the C types of their .pxd files) against
the same source run as Python: the same records, in the same order, on every corpus capture and on
captures whose TCP and UDP headers were damaged, reordered, repeated and dropped (sequence numbers, flags,
header lengths and ports are what the compiled types hold)."""

from __future__ import annotations

import gc
import importlib.machinery
import pickle
import random
import struct
import subprocess
import sys
from pathlib import Path

import dpkt

from cybertriage.analyzers.net import analyse as analyse_module
from cybertriage.analyzers.net import analyse_capture
from cybertriage.analyzers.net import dns as dns_module
from cybertriage.analyzers.net import tcp as tcp_module
from tests.analyzers.net.pcapgen import read_pcap

VARIANTS = 24
# Run in a fresh interpreter: analyse.py and tcp.py imported from their source, not from the built modules.
AS_PYTHON = """
import importlib.util, pickle, sys
from pathlib import Path

class FromSource:
    def find_spec(self, name, path, target=None):
        if name in ("cybertriage.analyzers.net.analyse", "cybertriage.analyzers.net.tcp"):
            for folder in path or ():
                source = Path(folder) / (name.rsplit(".", 1)[1] + ".py")
                if source.is_file():
                    return importlib.util.spec_from_file_location(name, source)
        return None

sys.meta_path.insert(0, FromSource())
from cybertriage.analyzers.net import analyse, analyse_capture, tcp
assert analyse.__file__.endswith(".py") and tcp.__file__.endswith(".py")
with open(sys.argv[1], "wb") as out:
    pickle.dump([list(analyse_capture(Path(capture))) for capture in sys.argv[2:]], out)
"""


def _as_python(captures: list[Path], out: Path) -> list[list]:
    subprocess.run([sys.executable, "-c", AS_PYTHON, str(out), *map(str, captures)], check=True, timeout=600)
    return pickle.loads(out.read_bytes())


def test_the_analysis_is_compiled_and_current() -> None:
    """Built modules older than their source would run old code: `make` (or pip install -e .) builds them again."""
    for module in (analyse_module, tcp_module, dns_module):
        built = Path(module.__file__)
        assert built.suffix in importlib.machinery.EXTENSION_SUFFIXES or built.name.endswith(
            tuple(importlib.machinery.EXTENSION_SUFFIXES)), f"{module.__name__} not compiled (needs Cython and gcc)"
        for source in (built.parent / f"{module.__name__.rsplit('.', 1)[1]}.{ext}" for ext in ("py", "pxd")):
            assert built.stat().st_mtime >= source.stat().st_mtime, f"{built.name} is older than {source.name}: run make"


def _transport_at(frame: bytes) -> tuple[int, int] | None:
    """(offset, IP protocol) of the TCP or UDP header in an Ethernet frame, found by dpkt."""
    try:
        ip = dpkt.ethernet.Ethernet(frame).data
    except (dpkt.UnpackError, IndexError, ValueError):
        return None
    layer = getattr(ip, "data", None)
    if not isinstance(layer, (dpkt.tcp.TCP, dpkt.udp.UDP)):
        return None
    at = frame.find(bytes(layer), 14)
    return (at, 6 if isinstance(layer, dpkt.tcp.TCP) else 17) if at > 0 else None


def _damaged(frame: bytes, rng: random.Random) -> bytes:
    found = _transport_at(frame)
    if found is None:
        return frame
    at, proto = found
    data = bytearray(frame)
    if proto == 6:
        field = rng.choice(("flags", "seq", "ack", "offset", "port"))
        if field == "flags":
            data[at + 13] = rng.choice((0x02, 0x12, 0x10, 0x11, 0x04, 0x14, 0x19, 0x03, 0x07, 0x00, rng.randrange(256)))
        elif field in ("seq", "ack"):
            where = at + (4 if field == "seq" else 8)
            value = rng.choice((0, 0xFFFFFFFF, 0x80000000, rng.randrange(1 << 32),
                                (int.from_bytes(data[where:where + 4], "big") + rng.randint(-3000, 3000)) & 0xFFFFFFFF))
            data[where:where + 4] = value.to_bytes(4, "big")
        elif field == "offset":
            data[at + 12] = rng.randrange(16) << 4
        else:
            data[at + rng.choice((0, 2))] ^= 1 << rng.randrange(8)
    else:
        where = at + rng.choice((0, 2, 4, 6))  # a port, the length or the checksum
        data[where:where + 2] = rng.randrange(1 << 16).to_bytes(2, "big")
    if rng.random() < 0.1:
        del data[at + rng.randrange(8, 40):]  # cut as a short snap length cuts it
    return bytes(data)


def _disorderly(path: Path, variant: int, out: Path) -> Path:
    """The capture with ~15 % of its packets damaged, and some dropped, repeated or swapped with the next."""
    header, records = read_pcap(path.read_bytes())
    rng = random.Random(f"{path.name}:{variant}")
    kept: list[tuple[int, int, bytes]] = []
    for sec, usec, _wirelen, frame in records:
        roll = rng.random()
        if roll < 0.05:
            continue
        if roll < 0.20:
            frame = _damaged(frame, rng)
        kept.append((sec, usec, frame))
        if roll > 0.95:
            kept.append((sec, usec, frame))
        if roll > 0.90 and len(kept) > 1:
            kept[-1], kept[-2] = kept[-2], kept[-1]
    target = out / f"{variant}-{path.name}"
    target.write_bytes(header + b"".join(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame
                                         for sec, usec, frame in kept))
    return target


def test_compiled_analysis_equals_python(corpus_dir: Path, tmp_path: Path) -> None:
    captures = sorted((corpus_dir / "pcap").glob("*.pcap*"))
    damaged = []
    for path in captures:
        head = path.read_bytes()[:24]
        if path.suffix == ".pcap" and head[:4] == b"\xd4\xc3\xb2\xa1" and head[20] == 1:  # little-endian µs, Ethernet
            damaged += [_disorderly(path, variant, tmp_path) for variant in range(VARIANTS)]
    assert len(damaged) >= 400
    everything = captures + damaged
    compiled = [list(analyse_capture(path)) for path in everything]
    python = _as_python(everything, tmp_path / "python.pickle")
    for path, mine, reference in zip(everything, compiled, python, strict=True):
        assert mine == reference, path.name
    flows = sum(record.KIND == "flow" for records in compiled for record in records)
    gaps = sum(record.KIND == "flow" and record.gaps > 0 for records in compiled for record in records)
    assert flows > 2000 and gaps > 200, (flows, gaps)


def test_ended_flows_are_freed_without_the_cycle_collector(corpus_dir: Path) -> None:
    """A flow, its two TCP directions and its parser refer to one another; when the flow ends they must
    be freed at once, not left to the cycle collector (which walks every such leftover until it runs)."""
    flows = 0
    for name in ("wikipedia.pcap", "smtp.pcap", "ftp_ipv4.pcap", "tls_tls1.2.pcap", "dns_tkey.pcap"):
        gc.collect()
        gc.disable()
        try:
            records = list(analyse_capture(corpus_dir / "pcap" / name))
            left = [type(obj).__name__ for obj in gc.get_objects()
                    if isinstance(obj, (analyse_module._Conn, tcp_module.Endpoint))
                    or (type(obj).__name__.endswith("Handler") and type(obj).__module__.startswith("cybertriage."))]
        finally:
            gc.enable()
        flows += sum(1 for record in records if record.KIND == "flow")
        assert left == [], name
    assert flows > 20
