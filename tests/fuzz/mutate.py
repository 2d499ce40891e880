"""Seeded mutations of a seed: targeted (a header field set to a hostile value, bytes flipped
inside a known structure) and blind (bit flips, random bytes, cut, deleted or repeated
chunks, truncation). Everything comes from one `random.Random`, so a case is its seed."""

from __future__ import annotations

import random
import struct

from .seeds import Seed

INTERESTING = (0, 1, 2, 3, 7, 8, 16, 32, 64, 127, 128, 255, 256, 511, 512, 1023, 1024, 4096, 32767, 32768, 65535,
               65536, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
FORMATS = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _field(rng: random.Random, data: bytearray, seed: Seed) -> str:
    if not seed.fields:
        return _flip(rng, data, seed)
    offset, size, order = rng.choice(seed.fields)
    if offset + size > len(data):
        return "field past the end"
    mask = (1 << (8 * size)) - 1
    fmt = order + FORMATS[size]
    old = struct.unpack_from(fmt, data, offset)[0]
    how = rng.randrange(6)
    if how == 0:
        new = rng.choice(INTERESTING)
    elif how == 1:
        new = old + rng.choice((-2, -1, 1, 2))
    elif how == 2:
        new = old ^ (1 << rng.randrange(8 * size))
    elif how == 3:
        new = old * rng.choice((2, 16, 256))
    elif how == 4:
        new = rng.getrandbits(8 * size)
    else:
        other = rng.choice(seed.fields)  # a value that is valid somewhere else (a pointer to another structure)
        new = int.from_bytes(bytes(data[other[0]:other[0] + size]).ljust(size, b"\0"), "little" if order == "<" else "big")
    struct.pack_into(fmt, data, offset, new & mask)
    return f"field@{offset}/{size}={new & mask:#x}"


def _hot(rng: random.Random, data: bytearray, seed: Seed) -> str:
    regions = [(o, n) for o, n in seed.hot if n > 0 and o < len(data)]
    if not regions:
        return _flip(rng, data, seed)
    offset, length = rng.choice(regions)
    length = min(length, len(data) - offset)
    for _ in range(rng.randint(1, 8)):
        at = offset + rng.randrange(length)
        data[at] = rng.randrange(256) if rng.random() < 0.5 else data[at] ^ (1 << rng.randrange(8))
    return f"hot@{offset}+{length}"


def _flip(rng: random.Random, data: bytearray, seed: Seed) -> str:
    if not data:
        return "empty"
    for _ in range(rng.randint(1, 16)):
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)
    return "flips"


def _random_bytes(rng: random.Random, data: bytearray, seed: Seed) -> str:
    if not data:
        return "empty"
    at = rng.randrange(len(data))
    size = min(rng.choice((1, 2, 4, 8, 64, 512)), len(data) - at)
    data[at:at + size] = rng.randbytes(size)
    return f"random@{at}+{size}"


def _chunk(rng: random.Random, data: bytearray, seed: Seed) -> str:
    """Delete, repeat or move a chunk: shifts every structure after it."""
    if len(data) < 2:
        return "too short"
    at = rng.randrange(len(data))
    size = rng.randint(1, min(4096, len(data) - at))
    how = rng.randrange(3)
    if how == 0:
        del data[at:at + size]
        return f"delete@{at}+{size}"
    piece = bytes(data[at:at + size])
    if how == 1:
        data[at:at] = piece
        return f"repeat@{at}+{size}"
    to = rng.randrange(len(data))
    data[to:to + size] = piece
    return f"copy@{at}+{size}->{to}"


def _truncate(rng: random.Random, data: bytearray, seed: Seed) -> str:
    cut = rng.randrange(len(data)) if data else 0
    del data[cut:]
    return f"truncate@{cut}"


MUTATIONS = ((_field, 45), (_hot, 25), (_flip, 10), (_random_bytes, 8), (_chunk, 7), (_truncate, 5))


def mutate(seed: Seed, rng: random.Random) -> tuple[bytes, list[str]]:
    """One to four mutations of the seed's bytes; the bytes and what was done."""
    data = bytearray(seed.data)
    done = []
    functions, weights = zip(*MUTATIONS, strict=True)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4))):
        done.append(rng.choices(functions, weights)[0](rng, data, seed))
    return bytes(data), done
