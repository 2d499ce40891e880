"""Keyword lists: the examiner's files of terms, and the built-in lists of numbers and addresses with checksums.

An examiner's file holds one term a line: a literal (matched case-insensitively), `re:` and a Python regular
expression (the `regex` module, case-insensitive unless it says `(?-i)`, run with a time limit; a pattern that
backtracks catastrophically on a short probe is refused when the file is read), or `~` and a term matched whatever
its accents and case, with one typing error allowed in a word of five letters or more (two from nine). Blank lines
and lines starting with `#` are skipped.

The built-in lists find candidates with a pattern, then keep only those whose checksum holds: card numbers (Luhn,
a known network's prefix), IBANs (ISO 13616 mod 97, the country's length and format, python-stdnum), Bitcoin
addresses (base58check by python-stdnum; bech32 and bech32m by BIP 173/350's reference algorithm), Ethereum
addresses (EIP-55's mixed-case checksum when the address is in mixed case), e-mail addresses (a domain under an
ICANN top-level domain) and phone numbers in international form (`+`, 8 to 15 digits).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import regex
from stdnum import bitcoin, iban, luhn

from ..errors import UsageError
from .indicators import domain

REGEX_TIMEOUT = 2.0  # seconds one examiner's pattern may run over one object's text
Checked = tuple[str, int]  # a built-in list's value found, normalised, and how many characters of the text it used
Pattern = regex.Pattern[str] | re.Pattern[str]
CHECKS_REMEMBERED = 16_384  # a built-in list's candidates whose check is remembered (a few MB)
PROBE_TIMEOUT = 0.25  # seconds a pattern may take over a 40-character probe before it is refused as catastrophic


@dataclass(frozen=True)
class Term:
    """One line of a keyword list, ready to match: `pattern` runs over `folded` text when `folded` is set
    (accents and case removed, same length as the text), else over the text itself."""

    text: str  # as the examiner wrote it (or the built-in list's description)
    kind: str  # "literal", "regex", "fuzzy" or "builtin"
    pattern: Pattern  # the regex module's (time-limited) for the examiner's terms; a built-in's may be re's
    folded: bool = False
    check: Callable[[str], Checked | None] | None = None  # a built-in's checksum: the value and its length, or None
    pieces: tuple[str, ...] = ()  # a fuzzy term's parts, one of which any match holds exactly (searched first)
    sieve: Callable[[Outline], bool] | None = None  # False only for a text where the pattern cannot match


@dataclass(frozen=True)
class KeywordList:
    """A named list of terms; a hit's list and, for built-in lists, its term is the value found."""

    name: str
    terms: tuple[Term, ...]
    builtin: bool = False


def fold(text: str) -> str:
    """The text without accents and in lower case, character for character (offsets stay the text's)."""
    table: dict[int, str] = {}
    for char in set(text):
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)).lower()
        folded = base if len(base) == 1 else (char.lower() if len(char.lower()) == 1 else char)
        if folded != char:
            table[ord(char)] = folded
    return text.translate(table) if table else text


def lower(text: str) -> str:
    """The text in lower case, character for character (the few letters that lower to two keep their case)."""
    table = {ord(char): char.lower() for char in set(text) if not char.islower() and len(char.lower()) == 1
             and char.lower() != char}
    return text.translate(table) if table else text


def _refuse_catastrophic(pattern: regex.Pattern[str], where: str) -> None:
    """Refuse a pattern that takes long on a short probe: nested repetition (`(a+)+$`) is exponential."""
    letters = {char for char in pattern.pattern if char.isalnum()} | {"a", "1", " "}
    for char in sorted(letters)[:24]:
        for probe in (char * 40 + "\x00", char * 40):
            try:
                pattern.search(probe, timeout=PROBE_TIMEOUT)
            except TimeoutError:
                raise UsageError(f"{where}: the regular expression backtracks catastrophically (over "
                                 f"{PROBE_TIMEOUT} s on a {len(probe)}-character text); write it without "
                                 "nested repetition such as (a+)+") from None


def parse_term(line: str, where: str) -> Term:
    """One line of a keyword file as a term; UsageError naming `where` if it cannot be one."""
    if line.startswith("re:"):
        source = line[3:]
        if not source:
            raise UsageError(f"{where}: 're:' without a regular expression")
        try:
            pattern = regex.compile(source, regex.IGNORECASE)
        except (regex.error, OverflowError, RecursionError) as error:
            raise UsageError(f"{where}: not a regular expression ({error}): {source}") from None
        if pattern.search("") is not None and pattern.fullmatch("") is not None:
            raise UsageError(f"{where}: the regular expression matches empty text: {source}")
        _refuse_catastrophic(pattern, where)
        return Term(line, "regex", pattern)
    if line.startswith("~"):
        word = fold(line[1:].strip())
        if not word:
            raise UsageError(f"{where}: '~' without a term")
        errors = 0 if len(word) < 5 else 1 if len(word) < 9 else 2
        body = regex.escape(word)
        fuzzy = f"(?:{body}){{e<={errors}}}" if errors else body
        # With at most `errors` edits, one of errors + 1 parts of the word is left whole: where none is, none matches.
        size = -(-len(word) // (errors + 1))
        pieces = tuple(word[start:start + size] for start in range(0, len(word), size))
        return Term(line, "fuzzy", regex.compile(rf"(?e)(?<!\w){fuzzy}(?!\w)"), folded=True, pieces=pieces)
    return Term(line, "literal", regex.compile(regex.escape(lower(line))), folded=False)


def read_keyword_file(path: Path) -> KeywordList:
    """An examiner's keyword file, named by its file name without extension; UsageError with the line if it is not
    UTF-8 text or a line is not a term."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read keyword file {path}: {error.strerror or error}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    terms: list[Term] = []
    seen: set[str] = set()
    for number, raw in enumerate(data.splitlines(), 1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as error:
            raise UsageError(f"keyword file {path}, line {number}: not UTF-8 text (byte 0x{raw[error.start]:02x} at "
                             f"column {error.start + 1}); save the file as UTF-8") from None
        if not line or line.startswith("#") or line in seen:
            continue
        seen.add(line)
        terms.append(parse_term(line, f"keyword file {path}, line {number}"))
    if not terms:
        raise UsageError(f"keyword file {path} holds no term")
    return KeywordList(path.stem, tuple(terms))


# -- checksums ---------------------------------------------------------------------------------------------------

# Issuer prefixes of the card networks (ISO/IEC 7812 ranges the networks publish): Visa, Mastercard, American
# Express, Discover, JCB, Diners Club, UnionPay, Maestro; a Luhn-valid number outside them is a coincidence.
_CARD_PREFIXES = regex.compile(r"4|5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)|3[47]|6011|64[4-9]|65|35(?:2[89]|[3-8])|"
                               r"3(?:0[0-5]|09|[68])|62|5[06-8]|6[37]")
_GROUP_ENDS = regex.compile(r"\d(?=[ ().-]|$)")


def _group_prefixes(found: str) -> list[str]:
    """The text cut after each of its groups of digits, longest first: a number written in groups may run into the
    next one ("+44 20 7946 0958 4111 1111 …")."""
    return [found[:match.end()] for match in reversed(list(_GROUP_ENDS.finditer(found)))]


def card_number(found: str) -> Checked | None:
    """A payment card number: 13 to 19 digits, a network's prefix, the Luhn check digit right."""
    for prefix in _group_prefixes(found):
        digits = prefix.replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _CARD_PREFIXES.match(digits) and luhn.is_valid(digits):
            return digits, len(prefix)
    return None


def iban_number(found: str) -> Checked | None:
    """An IBAN: the longest start of the text that is one (a spaced IBAN may run into the next word)."""
    compact = found.replace(" ", "").upper()
    if not compact[2:4].isdigit():  # ISO 13616's check digits are digits; stdnum would read a letter as 10 to 35
        return None
    for end in range(len(compact), 14, -1):
        if iban.is_valid(compact[:end], check_country=False):  # a bank registry's check would miss a new bank
            used = [index for index, char in enumerate(found) if char != " "][end - 1] + 1
            return compact[:end], used
    return None


_BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32M = 0x2BC830A3


def _bech32_polymod(values: list[int]) -> int:
    """BIP 173's checksum over the human-readable part and data, as its reference code computes it."""
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for bit in range(5):
            check ^= generator[bit] if (top >> bit) & 1 else 0
    return check


def _segwit(address: str) -> bool:
    """A bech32 (witness version 0, BIP 173) or bech32m (version 1 to 16, BIP 350) mainnet address."""
    if address.lower() != address and address.upper() != address:
        return False
    address = address.lower()
    hrp, _, data = address.rpartition("1")
    if hrp != "bc" or len(data) < 7 or any(char not in _BECH32_CHARSET for char in data):
        return False
    values = [_BECH32_CHARSET.index(char) for char in data]
    expanded = [ord(char) >> 5 for char in hrp] + [0] + [ord(char) & 31 for char in hrp]
    constant = _bech32_polymod(expanded + values)
    version, program = values[0], values[1:-6]
    if version > 16 or constant != (1 if version == 0 else _BECH32M):
        return False
    bits = len(program) * 5
    size = bits // 8
    if bits % 8 >= 5 or not 2 <= size <= 40 or (version == 0 and size not in (20, 32)):
        return False
    return True


def bitcoin_address(found: str) -> Checked | None:
    """A Bitcoin mainnet address whose checksum holds: base58check (P2PKH, P2SH) or bech32/bech32m."""
    if found[:3].lower() == "bc1":
        return (found.lower(), len(found)) if _segwit(found) else None
    return (found, len(found)) if bitcoin.is_valid(found) else None


def eip55(address: str) -> str:
    """The address with EIP-55's checksum casing: a hex letter upper-cased where Keccak-256 of the lower-case
    address has a nibble of 8 or more."""
    from Crypto.Hash import keccak  # here: pycryptodome's import parses C declarations (~0.07 s a process)

    plain = address[2:].lower()
    digest = keccak.new(digest_bits=256, data=plain.encode("ascii")).hexdigest()
    return "0x" + "".join(char.upper() if int(nibble, 16) >= 8 else char for char, nibble in zip(plain, digest))


def ethereum_address(found: str) -> Checked | None:
    """An Ethereum address: 0x and 40 hex digits; in mixed case its EIP-55 checksum must hold."""
    body = found[2:]
    if body.lower() != body and body.upper() != body and eip55(found) != "0x" + body:
        return None
    return "0x" + body.lower(), len(found)


def email_address(found: str) -> Checked | None:
    """An e-mail address whose domain is a name under an ICANN top-level domain."""
    local, _, name = found.rpartition("@")
    host = domain(name)
    return (f"{local}@{host}", len(found)) if local and host else None


def phone_number(found: str) -> Checked | None:
    """A phone number in international form: + and 8 to 15 digits (E.164), written with spaces, dots, dashes or a
    bracketed area code; the longest run of its groups that is one."""
    for prefix in _group_prefixes(found):
        digits = "".join(char for char in prefix if char.isdigit())
        if 8 <= len(digits) <= 15 and len(set(digits)) > 2:
            return "+" + digits, len(prefix)
    return None


# -- sieves -------------------------------------------------------------------------------------------------------

_OTHER_DIGIT = regex.compile(r"(?![0-9])\d")  # the regex module's own \d, so that its Unicode tables decide


class Outline:
    """A text as one byte a character, made once and only when a built-in list's sieve needs it: ASCII characters as
    they are, any other decimal digit as '0', any other character as '?'. Every built-in pattern matches ASCII
    characters and decimal digits only, so what a pattern needs can be looked for in the outline with bytes
    operations that run in C at memory speed, where the pattern's own search tries every position of the text."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._outline: bytes | None = None

    def bytes(self) -> bytes:
        if self._outline is None:
            outline = self.text.encode("ascii", "replace")
            if not self.text.isascii():
                marked = bytearray(outline)
                for digit in _OTHER_DIGIT.finditer(self.text, concurrent=False):
                    marked[digit.start()] = ord("0")
                outline = bytes(marked)
            self._outline = outline
        return self._outline


def _run_sieve(classes: dict[bytes, bytes], dropped: bytes, *runs: bytes) -> Callable[[Outline], bool]:
    """A sieve passing texts whose outline, each character of `classes`' keys written as its value, every other
    as a space, and the `dropped` characters taken out, holds one of `runs`."""
    table = bytearray(b" " * 256)
    for characters, written in classes.items():
        for character in characters:
            table[character] = written[0]
    translation = bytes(table)

    def sieve(outline: Outline) -> bool:
        written = outline.bytes().translate(translation, dropped)
        return any(run in written for run in runs)

    return sieve


def _text_sieve(pattern: str) -> Callable[[Outline], bool]:
    """A sieve passing texts where `pattern` (ASCII classes after a literal, which Python's re looks for first)
    matches."""
    compiled = re.compile(pattern)
    return lambda outline: compiled.search(outline.text) is not None


_DIGITS = b"0123456789"
_UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BASE58 = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# What every match of a built-in pattern holds. A card number: 13 digits once its single spaces or dashes are out. An
# IBAN: 15 capitals and digits once its single spaces are out. A phone number: + and a digit. An e-mail address: @, a
# label, a dot and a label's character. A Bitcoin address: bc1, or 26 base58 characters in a row. An Ethereum
# address: 0x and 40 hex digits.
_CARD_SIEVE = _run_sieve({_DIGITS: b"0"}, b" -", b"0" * 13)
_IBAN_SIEVE = _run_sieve({_UPPER + _DIGITS: b"A"}, b" ", b"A" * 15)
_PLUS_DIGIT_SIEVE = _run_sieve({_DIGITS: b"0", b"+": b"+"}, b"", b"+0")


def _phone_sieve(outline: Outline) -> bool:
    """A '+' looked for first (memchr): most texts have none, and need no translated copy."""
    return b"+" in outline.bytes() and _PLUS_DIGIT_SIEVE(outline)


_EMAIL_SIEVE = _text_sieve(r"@[A-Za-z0-9-]{1,63}\.[A-Za-z0-9-]")
_BASE58_SIEVE = _run_sieve({_BASE58: b"a"}, b"", b"a" * 26)


def _bitcoin_sieve(outline: Outline) -> bool:
    return "bc1" in outline.text or "BC1" in outline.text or _BASE58_SIEVE(outline)


_ETHEREUM_SIEVE = _text_sieve(r"0x[0-9a-fA-F]{40}")


def _builtin(name: str, description: str, pattern: str, check: Callable[[str], Checked | None],
             sieve: Callable[[Outline], bool], engine: Callable[[str], Pattern] = regex.compile) -> KeywordList:
    # The same value found again (an address all over a log) is checked once: the checks depend on nothing else.
    cached = functools.lru_cache(maxsize=CHECKS_REMEMBERED)(check)
    return KeywordList(name, (Term(description, "builtin", engine(pattern), check=cached, sieve=sieve),), builtin=True)


BUILTIN_LISTS: dict[str, KeywordList] = {kind.name: kind for kind in (
    _builtin("card-numbers", "payment card number (Luhn)", r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])", card_number,
             _CARD_SIEVE),
    _builtin("ibans", "IBAN (mod 97)", r"(?<![A-Za-z0-9])[A-Z]{2}\d\d(?: ?[A-Z0-9]){11,30}(?![a-z0-9])", iban_number,
             _IBAN_SIEVE),
    _builtin("phone-numbers", "phone number (international form)",
             r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,5}\)?){2,5}(?![\d])", phone_number, _phone_sieve),
    # Compiled by the standard library's re: where addresses are many (a customer file) it goes from one to the next
    # three times faster than the regex module (the built-in lists over the archive benchmark's texts: 1.43 ->
    # 0.84 CPU-s, the same 124,452 hits), and as fast where they are few; the other patterns are faster in regex.
    _builtin("e-mail-addresses", "e-mail address",
             r"(?<![\w.%+-])[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,24}(?![\w-]|\.\w)",
             email_address, _EMAIL_SIEVE, engine=re.compile),
    _builtin("bitcoin-addresses", "Bitcoin address (base58check, bech32)",
             r"(?<![\w])(?:[13][1-9A-HJ-NP-Za-km-z]{25,34}|(?:bc1|BC1)[02-9ac-hj-np-zAC-HJ-NP-Z]{11,71})(?!\w)",
             bitcoin_address, _bitcoin_sieve),
    _builtin("ethereum-addresses", "Ethereum address (EIP-55)", r"(?<!\w)0x[0-9a-fA-F]{40}(?!\w)", ethereum_address,
             _ETHEREUM_SIEVE),
)}


def builtin_lists(names: str) -> tuple[str, ...]:
    """The built-in lists chosen by `--builtin-keywords`: all, none, or names separated by commas."""
    if names == "all":
        return tuple(BUILTIN_LISTS)
    if names == "none":
        return ()
    chosen = tuple(name.strip() for name in names.split(",") if name.strip())
    unknown = [name for name in chosen if name not in BUILTIN_LISTS]
    if unknown:
        raise UsageError(f"no built-in keyword list {', '.join(unknown)}: choose from all, none, "
                         f"{', '.join(BUILTIN_LISTS)}")
    return chosen
