"""Indicators found in file content, checked against GNU strings + grep over the same file.

The fixture file holds planted domains, addresses, URLs and e-mail addresses in ASCII and UTF-16LE
between runs of non-printable bytes, some of them across the pipeline's 1 MiB chunk boundaries. It
goes onto a FAT image (mtools) and is scanned by the CLI; what the case's indicators table holds
must equal what `strings -a` / `strings -el` and `grep -oE` find in the file, less the few strings
the analyzer refuses by design (listed here: version numbers, file names, .NET identifiers).
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from cybertriage.analyzers import indicators
from cybertriage.analyzers.indicators import MAX_PER_FILE, Extraction
from tests import images
from tests.conftest import run_cli

MiB = 1024 * 1024
FILLER = b"\x01\x02\xfe"  # never printable, in either encoding

ASCII = [
    b"config: server=c2.evil-updates.com port=443",
    b"backup http://files.example.net/drop/payload.bin?id=7 done",
    b"contact ops.team@corp.example.org now",
    b"peers 198.51.100.23 and 203.0.113.99:8080",
    b"ipv6 peer 2001:db8:85a3::8a2e:370:7334 seen",
    b"again c2.evil-updates.com and C2.EVIL-UPDATES.COM",  # one domain, whatever the case
    b"SHOUT.EXAMPLE.INFO shouted",
    b"no such tld: printer.notatld",
]
# Refused by design, though grep finds them: a version number, a longer dotted number's first
# four parts, a two-label file name whose extension is also a TLD, a .NET namespace.
REFUSED = [b"Version 10.0.19.41", b"build 1.2.3.4.5", b"run setup.py today", b"using System.IO;"]
REFUSED_VALUES = {"10.0.19.41", "1.2.3.4", "setup.py", "system.io"}
WIDE = [
    "HKCU\\Software\\beacon.example-cdn.net\\Run",
    "reach 192.0.2.200 via https://api.example.io/v1/check",
]
ACROSS_ASCII = b"edge.boundary-test.org"  # placed across the first 1 MiB boundary
ACROSS_WIDE = "wide.boundary-test.org"  # across the second, in UTF-16LE


def _fixture_content() -> bytes:
    parts = [FILLER * 10]
    for line in ASCII + REFUSED:
        parts += [line, FILLER * 50]
    for line in WIDE:
        parts += [line.encode("utf-16-le"), FILLER * 50]
    data = b"".join(parts)
    data += FILLER * ((MiB - 9 - len(data)) // 3) + b"\x01" * ((MiB - 9 - len(data)) % 3)
    data += ACROSS_ASCII + FILLER * 1000
    wide = ACROSS_WIDE.encode("utf-16-le")
    data += FILLER * ((2 * MiB - 11 - len(data)) // 3) + b"\x01" * ((2 * MiB - 11 - len(data)) % 3)
    data += wide + FILLER * 5000
    return data


DOMAIN_RE = r"([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}"
IPV4_RE = r"([0-9]{1,3}\.){3}[0-9]{1,3}"
URL_RE = r"(https?|ftp)://[^[:space:]\"'<>]+"
EMAIL_RE = r"[A-Za-z0-9._%+-]+@([A-Za-z0-9-]+\.)+[A-Za-z]{2,}"


def _tlds() -> set[str]:
    """Top-level names of the ICANN section of the system's Public Suffix List."""
    text = Path("/usr/share/publicsuffix/public_suffix_list.dat").read_text(encoding="utf-8")
    icann = text.split("===BEGIN ICANN DOMAINS===")[1].split("===END ICANN DOMAINS===")[0]
    return {line.strip() for line in icann.splitlines() if line.strip() and not line.startswith("//") and "." not in line}


def _grep(pattern: str, text: str) -> set[str]:
    done = subprocess.run(["grep", "-oE", pattern], input=text, capture_output=True, text=True, check=False)
    return set(done.stdout.split())


def expected_indicators(path: Path) -> set[tuple[str, str]]:
    """What GNU strings (ASCII and 16-bit little-endian) and grep -oE find in the file."""
    text = "\n".join(subprocess.run(["strings", "-a", *enc, "-n", "4", str(path)], capture_output=True, text=True,
                                    check=True).stdout for enc in ([], ["-el"]))
    tlds = _tlds()
    found = {("domain", d.lower()) for d in _grep(DOMAIN_RE, text)
             if d.rsplit(".", 1)[1].lower() in tlds and f"{d}@" not in text}  # not an e-mail's local part
    found |= {("ip", ip) for ip in _grep(IPV4_RE, text)}
    found |= {("url", url) for url in _grep(URL_RE, text)}
    found |= {("email", mail.lower()) for mail in _grep(EMAIL_RE, text)}
    v6 = subprocess.run(["grep", "-oE", r"[0-9a-f]{1,4}(:[0-9a-f]{0,4}){2,7}"], input=text, capture_output=True,
                        text=True, check=False).stdout.split()
    found |= {("ip", address) for address in v6}
    return {(kind, value) for kind, value in found if value not in REFUSED_VALUES}


@pytest.fixture(scope="module")
def indicator_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, bytes]:
    """A FAT image holding the fixture file, scanned into a case; (case, file on the host, content)."""
    work = tmp_path_factory.mktemp("indicators")
    data = _fixture_content()
    host_copy = work / "beacon.dat"
    host_copy.write_bytes(data)
    disk = images._sparse_file(work / "iocs.raw", 16384 * images.SECTOR)
    images._make_fat(disk, 0, 16384, 16, 1, "IOCS", "20240305", images.FsContent(files={"cfg/beacon.dat": data}),
                     work)
    case = work / "case"
    result = run_cli("scan", disk, "--case", case, "--quiet", "--no-yara")
    assert result.code == 0, result.stderr
    return case, host_copy, data


def _indicators(case: Path, name: str) -> dict[tuple[str, str], int]:
    db = sqlite3.connect(case / "case.db")
    rows = db.execute("SELECT i.kind, i.value, i.offset FROM indicators i JOIN files f ON f.sha256 = i.sha256 "
                      "WHERE f.name = ?", [name]).fetchall()
    assert len(rows) == len({(k, v) for k, v, _ in rows}), "one row per value and file"
    return {(kind, value): offset for kind, value, offset in rows}


def test_indicators_equal_strings_and_grep(indicator_case: tuple[Path, Path, bytes]) -> None:
    case, host_copy, _ = indicator_case
    found = _indicators(case, "beacon.dat")
    expected = expected_indicators(host_copy)
    assert ("domain", "edge.boundary-test.org") in expected and ("domain", "wide.boundary-test.org") in expected
    assert set(found) == expected


def test_refused_strings_are_not_indicators(indicator_case: tuple[Path, Path, bytes]) -> None:
    found = {value for _, value in _indicators(indicator_case[0], "beacon.dat")}
    assert not found & REFUSED_VALUES
    assert "printer.notatld" not in found


def test_offsets_point_at_the_text(indicator_case: tuple[Path, Path, bytes]) -> None:
    case, _, data = indicator_case
    found = _indicators(case, "beacon.dat")
    assert found[("domain", "edge.boundary-test.org")] == data.find(ACROSS_ASCII)
    assert found[("domain", "wide.boundary-test.org")] == data.find(ACROSS_WIDE.encode("utf-16-le"))
    assert found[("ip", "198.51.100.23")] == data.find(b"198.51.100.23")
    assert found[("ip", "192.0.2.200")] == data.find("192.0.2.200".encode("utf-16-le"))


@pytest.mark.parametrize("size", [4096, 65536 + 7, MiB, 3 * MiB])
def test_any_chunking_finds_the_same(size: int) -> None:
    data = _fixture_content()
    whole = Extraction()
    whole.feed(data)
    whole.finish()
    chunked = Extraction()
    for start in range(0, len(data), size):
        chunked.feed(data[start:start + size])
    chunked.finish()
    assert chunked.found == whole.found


def test_cap_per_file() -> None:
    planted = b"\n".join(f"10.{i // 250}.{i % 250}.1".encode() for i in range(MAX_PER_FILE + 500))
    extraction = Extraction()
    extraction.feed(planted)
    extraction.finish()
    assert len(extraction.found) == MAX_PER_FILE and extraction.truncated
    assert set(extraction.found) == {("ip", f"10.{i // 250}.{i % 250}.1") for i in range(MAX_PER_FILE)}


def test_ipv6_forms() -> None:
    extraction = Extraction()
    extraction.feed(b"a fe80::1 b 2001:0db8:0000:0000:0000:0000:0000:0042 c 12:34:56 d ::1 e 00:11:22:33:44:55 "
                    b"f http://[2001:db8::7]:8080/x")
    extraction.finish()
    addresses = {value for kind, value in extraction.found if kind == "ip"}
    assert addresses == {"fe80::1", "2001:db8::42", "2001:db8::7"}
    assert re.fullmatch(r"http://\[2001:db8::7\]:8080/x", next(v for k, v in extraction.found if k == "url"))


def test_places_are_compiled_once_for_threads_that_ask_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan's two examining threads meet their first text at about the same moment: the top-level
    domain patterns (~0.1 s of compiling) must be built once, not once per thread."""
    tries = []

    def slow_trie(words: list[str], wide: bool) -> bytes:
        tries.append(wide)
        time.sleep(0.05)  # long enough for the other thread to ask meanwhile
        return real_trie(words, wide)

    real_trie = indicators._trie
    monkeypatch.setattr(indicators, "_trie", slow_trie)
    indicators._compiled_places.cache_clear()
    try:
        threads = [threading.Thread(target=indicators._places) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        indicators._compiled_places.cache_clear()  # not kept with the slowed tries' results in the cache
    assert sorted(tries) == [False, True]
