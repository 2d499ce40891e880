"""The compiled decoder (`_decode.pyx`) against the Python one it speeds up: the same datagram for every
frame, on every corpus capture and on thousands of frames with damaged link and IP headers."""

from __future__ import annotations

import random
from pathlib import Path

from cybertriage.analyzers.net import decode as decode_module
from cybertriage.analyzers.net.decode import Decoder
from cybertriage.evidence.capture import CaptureReader

MUTATIONS_PER_FRAME = 8


def _frames(corpus_dir: Path) -> list[tuple[int, bytes, float]]:
    frames = []
    for path in sorted((corpus_dir / "pcap").glob("*.pcap*")):
        frames += [(linktype, data, ts) for ts, linktype, data, *_ in CaptureReader(path).frames()]
    return frames


def _damaged(frames: list[tuple[int, bytes, float]]) -> list[tuple[int, bytes, float]]:
    """Each Ethernet frame again with bytes of its Ethernet and IP headers changed, or cut short."""
    rng = random.Random(11)
    out = []
    for linktype, data, ts in frames:
        if linktype != 1:
            continue
        for _ in range(MUTATIONS_PER_FRAME):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 3)):
                at = rng.randrange(min(len(mutated), 60)) if mutated else 0
                if mutated:
                    mutated[at] = rng.choice((0, 0xFF, 0x45, 0x4F, 0x60, 0x86, 0xDD, 0x08, 0x11, 0x2C, 0x20, rng.randrange(256)))
            if rng.random() < 0.3:
                del mutated[rng.randrange(len(mutated) + 1):]
            out.append((linktype, bytes(mutated), ts))
    return out


def test_the_install_compiled_the_hot_paths() -> None:
    assert decode_module.EthernetIP is not None, "the install did not compile _decode.pyx (needs Cython and gcc)"


def test_compiled_decoder_equals_python(corpus_dir: Path) -> None:
    frames = _frames(corpus_dir)
    damaged = _damaged(frames)
    assert len(damaged) > 5000
    handed_on = 0
    for linktype, data, ts in frames + damaged:
        expected = Decoder().decode(linktype, data, ts)  # a fresh decoder: no fragment waits across frames
        got = Decoder().fastest()(linktype, data, ts)
        assert got == expected, (linktype, data[:48].hex())
        handed_on += decode_module.EthernetIP(lambda *frame: None).decode(linktype, data, ts) is None
    assert handed_on < len(frames + damaged) // 2  # most frames are decoded in C, the rest by Decoder
