"""Domains, IP addresses, URLs and e-mail addresses written inside files (ASCII or UTF-16LE text),
so that a file can be tied to what a capture shows a machine talked to, and matched against IOCs.

Python's regular expressions run at 10–30 MB/s when they must try every byte, which would double
a scan. So the content is searched only for the places an indicator must have — a dot before a
top-level domain, a dotted quad, an IPv6 colon pair — with patterns that start with a literal,
which Python's re finds at hundreds of MB/s; the whitespace-free token around each place is then
cut out (bytes.translate on a small window) and matched against the indicator patterns. Content
arrives in the pipeline's chunks; the last few KiB of each chunk are carried into the next, and a
token touching a chunk's edge is read with the chunk that holds all of it.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import urlsplit

import publicsuffixlist

from .base import Analyzer, Finding, Item
from .filetype import extension_of
from .results import Indicator, NetworkIndicators


def _icann_top_level_domains() -> frozenset[str]:
    """The top-level names of the Public Suffix List's ICANN section (as publicsuffixlist ships it), internationalised
    ones in their xn-- form: what tells a domain name from a dotted word in file content."""
    names: set[str] = set()
    inside = False
    for line in Path(publicsuffixlist.PSLFILE).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line.startswith("// ===BEGIN ICANN DOMAINS==="):
            inside = True
        elif line.startswith("// ===END ICANN DOMAINS==="):
            break
        elif inside and line and not line.startswith("//"):
            label = line.rsplit(".", 1)[-1].lstrip("!*").lower()
            names.add(label if label.isascii() else label.encode("idna").decode("ascii"))
    return frozenset(names)


TLDS = _icann_top_level_domains()
MAX_FILE_SIZE = 64 * 1024 * 1024  # larger files are media, archives or disk images; see bench/README.md
# Record files hold an address or e-mail address on every line: tens of thousands per file, each
# costing Python-level work, where the examiner searches them better with the file open.
BULK_EXTENSIONS = frozenset({"log", "csv", "tsv"})
MAX_PER_FILE = 1000
MAX_TOKEN = 1024  # characters; longer runs without whitespace (base64, hex dumps) are not indicators
CONTEXT = 32  # bytes before a token read for context ("version 1.2.3.4" is no address)
CARRY = 2 * MAX_TOKEN + CONTEXT + 8  # bytes of one chunk carried into the next (UTF-16 takes two per character)

# File-name extensions that are also top-level domains: "setup.py" or "Makefile.in" is a file name,
# "files.example.in" is a domain, so only two-label names ending in these are refused.
EXTENSION_TLDS = frozenset({"ac", "ai", "am", "cab", "cc", "in", "inc", "java", "la", "md", "mk", "mov", "pl", "pm",
                            "ps", "py", "rs", "sh", "so", "zip"})

# Token characters: printable ASCII except space and what quotes or delimits text in files (quotes,
# angle brackets, backslash, braces, commas...). In the mapped copy they become 'x', everything else a space.
_DELIMITERS = b"\"'<>`{}|\\^,"
_TOKEN_BYTES = bytes(c for c in range(0x21, 0x7F) if c not in _DELIMITERS)
_MAP = bytes(ord("x") if c in _TOKEN_BYTES else ord(" ") for c in range(256))



def _either_case(char: str) -> bytes:
    """A character class for both cases of a letter: re.IGNORECASE would lose the literal search."""
    return f"[{char.lower()}{char.upper()}]".encode() if char.isalpha() else re.escape(char.encode())


def _trie(words: list[str], wide: bool) -> bytes:
    """A regular expression matching any of `words`, as a trie, so that Python's re settles each
    place with a few comparisons instead of trying 1,500 alternatives; `wide` for UTF-16LE."""
    tree: dict = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    zero = rb"\x00" if wide else b""

    def branch(node: dict) -> bytes:
        parts = [_either_case(char) + zero + branch(child) for char, child in sorted(node.items()) if char]
        if not parts:
            return b""
        body = parts[0] if len(parts) == 1 else b"(?:" + b"|".join(parts) + b")"
        return b"(?:" + body + b")?" if "" in node else body

    return branch(tree)


_COMPILING = threading.Lock()


def _places() -> tuple[dict[str, re.Pattern[bytes]], dict[str, re.Pattern[bytes]]]:
    """Where an indicator may be, in ASCII and in UTF-16LE text: a dot before a top-level domain, a dotted
    quad, or an IPv6 "::" or ":h:h:". Each pattern starts with a literal, which Python's re searches for at
    memory speed; the group that matched says what to look for in the token around it. Compiled on first
    use: the top-level domain tries take ~0.1 s, which a scan should not spend before it starts."""
    with _COMPILING:  # once: the scan's examining threads meet their first text together, and each compiled them
        return _compiled_places()


@functools.cache
def _compiled_places() -> tuple[dict[str, re.Pattern[bytes]], dict[str, re.Pattern[bytes]]]:
    narrow = {
        "dot": re.compile(rb"\.(?:(?P<domain>" + _trie(sorted(TLDS), wide=False) + rb"(?![A-Za-z0-9-]))"
                          rb"|(?P<ipv4>\d{1,3}\.\d{1,3}\.\d))"),
        "ipv6": re.compile(rb":(?::|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{1,4}:)"),
    }
    wide = {
        "dot": re.compile(rb"\.\x00(?:(?P<domain>" + _trie(sorted(TLDS), wide=True) + rb"(?![A-Za-z0-9-]\x00))"
                          rb"|(?P<ipv4>\d\x00(?:\d\x00){0,2}\.\x00\d\x00))"),
        "ipv6": re.compile(rb":\x00(?::\x00|[0-9A-Fa-f]\x00(?:[0-9A-Fa-f]\x00){0,3}:\x00)"),
    }
    return narrow, wide


_WIDE_TOKEN = re.compile(rb"(?:[" + re.escape(_TOKEN_BYTES) + rb"]\x00)+")

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_NAME = rf"(?:{_LABEL}\.)+(?:[A-Za-z]{{2,24}}|xn--[A-Za-z0-9-]{{1,59}})"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_URL = re.compile(r"(?<![\w.+-])(?:https?|ftps?)://[^\s\"'<>`{}|\\^]+", re.ASCII)
_EMAIL = re.compile(rf"(?<![\w.%+-])[A-Za-z0-9._%+-]{{1,64}}@{_NAME}(?![\w-]|\.\w)", re.ASCII)
_IPV4 = re.compile(rf"(?=\d)(?<![\w.]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w]|\.\d)", re.ASCII)
_DOMAIN = re.compile(rf"(?<![\w.@-]){_NAME}(?![\w@-]|\.\w)", re.ASCII)  # not an e-mail's local part
_IPV6 = re.compile(r"(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}(?![\w:.])", re.ASCII)
_QUAD = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}".encode(), re.ASCII)
_QUAD_BEFORE = frozenset(b" \t\r\n\x00=:,;([{<\"'|")  # what may stand before a quad read without its token
_QUAD_NOT_AFTER = {bytes([c]) for c in b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"}
_HOST_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?")
_URL_TAIL = ".,;:!?)]'"
_VERSION_CONTEXT = re.compile(r"(?:version|ver|build)[\s:=\"'.]*$", re.IGNORECASE)  # "version 1.2.3.4" is no address


def domain(name: str) -> str | None:
    """`name` lower-cased if it reads as a domain name on the Internet, else None."""
    if len(name) > 253:
        return None
    labels = name.split(".")
    tld = labels[-1].lower()
    if len(labels) < 2 or tld not in TLDS or (len(labels) == 2 and tld in EXTENSION_TLDS):
        return None
    rest = name[len(labels[0]):]
    if not (name.islower() or name.isupper() or rest == rest.lower()):
        return None  # "System.IO", "Foo.Bar.Com": identifiers, not host names
    return name.lower()


def ipv4(text: str) -> str | None:
    """`text` (four octets without leading zeros, as the pattern takes them) if worth keeping."""
    return None if text.startswith("0.") or text == "255.255.255.255" else text


def ipv6(text: str) -> str | None:
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return None
    digits = sum(c in "0123456789abcdefABCDEF" for c in text.split(".")[0])
    groups = [g for g in text.split(":") if g]
    if len(groups) < 2 or digits < 5 or address.is_unspecified or address.is_loopback:
        return None  # "a::b", "::1", "12:34:56" are rarely what an examiner is after
    return address.compressed


class Extraction:
    """The indicators of one file's content, fed chunk by chunk: (kind, value) → first offset."""

    def __init__(self, limit: int = MAX_PER_FILE) -> None:
        self.limit = limit
        self.found: dict[tuple[str, str], int] = {}
        self.truncated = False
        self._carry = b""
        self._pending: bytes | None = None
        self._base = 0  # offset in the content of _carry's first byte
        self._seen = 0  # offset where the last scanned buffer ended: tokens ending well before it are done
        self._tokens: set[str] = set()  # tokens read already: a log repeats the same address

    def feed(self, chunk: bytes) -> None:
        if self._pending is not None:
            self._step(self._pending, final=False)
        self._pending = chunk

    def finish(self) -> None:
        if self._pending is not None:
            self._step(self._pending, final=True)
            self._pending = None

    def _step(self, pending: bytes, final: bool) -> None:
        buf = self._carry + pending if self._carry else pending
        if not self.truncated:
            self._scan(buf, final)
        self._seen = self._base + len(buf)
        keep = min(len(buf), CARRY)
        self._base += len(buf) - keep
        self._carry = buf[len(buf) - keep:]

    def _scan(self, buf: bytes, final: bool) -> None:
        narrow, wide = _places()
        for places, run, width in ((narrow, self._run, 1), (wide, self._wide_run, 2)):
            start = end = 0
            whole, kinds = False, set()
            for at, kind in sorted((m.start(), m.lastgroup or kind) for kind, pattern in places.items()
                                   for m in pattern.finditer(buf)):
                if at < end:
                    kinds.add(kind)  # another place in the same token
                    continue
                if whole:
                    self._token(buf, start, end, width, kinds)
                    if self.truncated:
                        return
                    whole = False
                if kind == "ipv4" and width == 1 and self._quad(buf, at, final):
                    continue
                start, end = run(buf, at)
                whole = self._whole(start, end + width - 1, len(buf), final) and end - start <= width * MAX_TOKEN
                kinds = {kind}
            if whole:
                self._token(buf, start, end, width, kinds)

    def _quad(self, buf: bytes, at: int, final: bool) -> bool:
        """Record the dotted quad whose first dot is at `at` straight away when it stands on its own
        ("src=10.1.2.3" in a log line: no URL, e-mail or longer dotted number around it), without
        cutting out its token; False when its token is to be read instead."""
        start = at
        while start > at - 3 and start > 0 and 0x30 <= buf[start - 1] <= 0x39:
            start -= 1
        match = _QUAD.match(buf, start) if start < at else None
        if match is None or (start and buf[start - 1] not in _QUAD_BEFORE):
            return False
        after = buf[match.end():match.end() + 2]
        if match.end() + 2 > len(buf) and not final or after[:1] in _QUAD_NOT_AFTER or after[:1] == b"." and after[1:2].isdigit():
            return False
        if self._whole(start, match.end(), len(buf), final):
            text = match.group().decode()
            if ipv4(text) and not self._version(buf, start, 1):
                self._add("ip", text, self._base + start)
        return True

    @staticmethod
    def _run(buf: bytes, at: int) -> tuple[int, int]:
        """The whitespace-free run of token characters around `at`; longer than MAX_TOKEN if it is."""
        for reach in (80, MAX_TOKEN + 1):  # most tokens are short: look near first
            low, high = max(0, at - reach), min(len(buf), at + reach)
            window = buf[low:high].translate(_MAP)
            start = window.rfind(b" ", 0, at - low)
            end = window.find(b" ", at - low)
            if (start >= 0 or low == 0) and (end >= 0 or high == len(buf)):
                return low + start + 1, low + end if end >= 0 else high
        return at, at + MAX_TOKEN + 1

    def _whole(self, start: int, end: int, size: int, final: bool) -> bool:
        """Whether the token at buf[start:end] is to be read now: not one the previous buffer held
        whole (or held cut, at the start of the carry), nor one cut by the end of this buffer."""
        return self._base + end >= self._seen - 1 and not (end >= size and not final)

    @staticmethod
    def _wide_run(buf: bytes, at: int) -> tuple[int, int]:
        """The UTF-16LE run of token characters around `at` (which is on a character)."""
        for reach in (64, 2 * MAX_TOKEN + 2):
            low = max(at - reach, at % 2)  # on the same byte parity as `at`
            for run in _WIDE_TOKEN.finditer(buf, low, min(len(buf), at + 2 * MAX_TOKEN + 4)):
                if run.start() <= at < run.end():
                    if run.start() > low or low < 2:
                        return run.start(), run.end()
                    break  # may begin before the window: look further back
        return at, at + 2 * MAX_TOKEN + 2  # a run longer than MAX_TOKEN: refused by the caller's length test

    def _token(self, buf: bytes, start: int, end: int, width: int, kinds: set[str]) -> None:
        """The indicators in the whitespace-free token buf[start:end], of the kinds whose places were seen in it."""
        token = buf[start:end].decode("ascii" if width == 1 else "utf-16-le")
        if token in self._tokens:
            return
        self._tokens.add(token)
        offset = self._base + start
        if "://" in token:
            for match in _URL.finditer(token):
                self._url(match.group().rstrip(_URL_TAIL), offset + width * match.start(), width)
        if "@" in token:
            for match in _EMAIL.finditer(token):
                text = match.group()
                if name := domain(text.rpartition("@")[2]):
                    at = offset + width * match.start()
                    self._add("email", text.lower(), at)
                    self._add("domain", name, at + width * (text.rindex("@") + 1))
        if "domain" in kinds:
            for match in _DOMAIN.finditer(token):
                if (name := domain(match.group())) is not None:
                    self._add("domain", name, offset + width * match.start())
        if "ipv4" in kinds:
            for match in _IPV4.finditer(token):
                if (address := ipv4(match.group())) and not self._version(buf, start + width * match.start(), width):
                    self._add("ip", address, offset + width * match.start())
        if "ipv6" in kinds:
            for match in _IPV6.finditer(token):
                if (address := ipv6(match.group())) is not None:
                    self._add("ip", address, offset + width * match.start())

    @staticmethod
    def _version(buf: bytes, at: int, width: int) -> bool:
        """Whether the dotted quad at buf[at] follows the word version (or ver, build)."""
        before = buf[max(0, at - CONTEXT // 2 * width):at].lower().replace(b"\x00", b"")
        if b"ver" not in before and b"build" not in before:
            return False
        return bool(_VERSION_CONTEXT.search(before.decode("latin-1" if width == 1 else "utf-16-le", "replace")))

    def _url(self, url: str, at: int, width: int) -> None:
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            return
        host_at = at + width * max(url.lower().find(host, url.index("//")), 0)
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            name = domain(host)
            if name is None:
                return
            self._add("url", url, at)
            self._add("domain", name, host_at)
            return
        self._add("url", url, at)
        self._add("ip", address.compressed, host_at)

    def _add(self, kind: str, value: str, offset: int) -> None:
        key = (kind, value)
        if key in self.found:
            return
        if len(self.found) >= self.limit:
            self.truncated = True
            return
        self.found[key] = offset


class Indicators(Analyzer):
    NAME = "indicators"

    def stream(self, item: Item) -> Callable[[bytes], None] | None:
        obj = item.obj
        if obj.kind not in ("file", "virtual") or obj.size < 4 or extension_of(obj.name) in BULK_EXTENSIONS:
            return None
        if obj.size > MAX_FILE_SIZE:
            item.skipped.append((self.NAME, f"larger than {MAX_FILE_SIZE // 2**20} MiB"))
            return None
        return item.keep_reader(Extraction()).feed

    def analyze(self, item: Item) -> Iterable[Finding]:
        found: list[Indicator] = []
        if item.obj.path.endswith("/etc/hostname") and item.data and len(item.data) <= 256:
            name = item.data.split(b"\n", 1)[0].strip().decode("ascii", "replace")
            if _HOST_NAME.fullmatch(name):
                found.append(Indicator("hostname", name, 0))  # the machine's own name, to find it again in a capture
        extraction = item.take_reader(Extraction)
        if extraction is not None:
            extraction.finish()
            found += [Indicator(kind, value, offset) for (kind, value), offset in extraction.found.items()]
        if found:
            item.add(NetworkIndicators(tuple(found)))
        if extraction is None:
            return ()
        if extraction.truncated:
            item.skipped.append((self.NAME, f"more than {MAX_PER_FILE} indicators: the first {MAX_PER_FILE} kept"))
        return ()
