"""The text of every file, as an examiner would read it: what a keyword search and the case's content index see.

YARA and the indicator search see raw bytes, so a name inside a DOCX (deflated XML), a PDF (compressed page
streams) or UTF-16 text is invisible to them. This analyzer turns each document format into its text with the
format's own structure (paragraphs of OOXML and ODF, pages of a PDF, the bodies of a mail) and falls back to the
strings of a binary (ASCII and UTF-16LE, six characters or more). Each extraction is bounded: by the in-memory
limit on the content, by a cap on the text kept, by zip limits against decompression bombs, and by a time limit
that stops an extractor caught in a loop (a profile hook raises inside its Python code), recorded in the ledger.
The text is stored once per content sha256 (ExtractedText.content_rows) and indexed by the case writer.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import email
import email.policy
import io
import math
import re
import threading
import time
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from xml.etree import ElementTree

import charset_normalizer
import olefile

from .base import Analyzer, Finding, Item, Settings
from .results import ContentType, ExtractedText, Hashes

TIME_LIMIT = 30.0  # seconds of extraction per object; a document that takes longer is recorded, not waited for
MAX_CHARS = 4_000_000  # characters of text kept per content (a few MB compressed in the case)
MAX_STRINGS_INPUT = 32 * 1024 * 1024  # bytes of a binary searched for strings
MIN_STRING = 6
# Zip limits against decompression bombs in OOXML and ODF: one XML part, all parts, and the ratio of a part.
MAX_PART = 64 * 1024 * 1024
MAX_PARTS_TOTAL = 256 * 1024 * 1024
MAX_RATIO = 200
SAMPLE = 64 * 1024  # bytes charset-normalizer looks at to name a legacy code page
WIDE_SAMPLE = 4096  # bytes that tell UTF-16 text without a byte-order mark (every other byte zero)
ENTROPY_SAMPLE = 1024  # bytes of each sample a binary's randomness is judged on (1 KiB: text compresses well at that size)
FEW_BYTE_VALUES = 160  # distinct values in a full sample below which it is not random-looking, without compressing it
MOST_BYTE_VALUES = 245  # distinct values from which it is
_BYTE_VALUES = bytes(range(256))  # every byte value, from which a sample's own are deleted to count them
RECENT_CHARS = 16_000_000  # characters of recent texts kept for contents seen again (about 16-64 MB)
LINEAR = frozenset({"strings", "text", "archive"})  # extractors whose time is bounded by the size of their input

# Content that holds no text worth extracting: pictures, sound, video, and compressed streams (their members are
# examined as objects of their own by the archive analyzer).
NO_TEXT_PREFIXES = ("image/", "audio/", "video/", "font/")
NO_TEXT_MIMES = frozenset({
    "application/gzip", "application/x-gzip", "application/x-bzip2", "application/x-xz", "application/x-7z-compressed",
    "application/x-rar", "application/vnd.rar", "application/x-lzma", "application/zstd", "application/x-lz4",
    "application/x-lzip", "application/java-archive", "application/x-iso9660-image",
})
TEXT_MIMES = frozenset({"application/json", "application/xml", "application/javascript", "application/x-sh",
                        "application/x-ndjson", "application/csv", "message/news"})

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
A = "{http://schemas.openxmlformats.org/drawingml/2006/main}"
S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
ODF_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"

# Unrolled rather than {6,}: Python's re tries a repeat at every byte of random data at half the speed.
_ASCII = re.compile(rb"[\x20-\x7e\t]" * MIN_STRING + rb"[\x20-\x7e\t]*")
_WIDE = re.compile(rb"[\x20-\x7e\t]\x00" * MIN_STRING + rb"(?:[\x20-\x7e\t]\x00)*")


class OutOfTime(BaseException):
    """An extractor ran past its time limit (a BaseException: a library's `except Exception` does not swallow it)."""


class TooLarge(Exception):
    """A document part is larger than the zip limits allow (a decompression bomb, or just too big)."""


class _Watchdog:
    """One thread that watches every time-limited block of every worker: arming a limit is a dictionary entry, not
    a thread started per document (a Timer thread cost ~70 µs of CPU and ~0.4 ms of the worker's time each)."""

    def __init__(self) -> None:
        self.wakeup = threading.Condition()
        self.deadlines: dict[int, float] = {}  # thread id → when its block runs out of time
        self.fired: set[int] = set()
        self.thread: threading.Thread | None = None
        self.waking_at = math.inf  # when the watching thread wakes next, whatever happens

    def arm(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        with self.wakeup:
            self.deadlines[threading.get_ident()] = deadline
            if self.thread is None:
                self.thread = threading.Thread(target=self._watch, name="text-watchdog", daemon=True)
                self.thread.start()
            # Woken only when it would sleep past this limit: a wake-up for every document held the GIL for
            # 0.1 s of the disk benchmark's scan (1,219 web pages).
            if deadline < self.waking_at:
                self.wakeup.notify()

    def disarm(self) -> None:
        thread = threading.get_ident()
        with self.wakeup:
            self.deadlines.pop(thread, None)
            if thread in self.fired:  # raised, or pending: never let it land outside the block
                self.fired.discard(thread)
                _set_async_exc(ctypes.c_ulong(thread), ctypes.py_object())

    def _watch(self) -> None:
        with self.wakeup:
            while True:
                now = time.monotonic()
                for thread, deadline in list(self.deadlines.items()):
                    if deadline <= now:
                        del self.deadlines[thread]
                        self.fired.add(thread)
                        _set_async_exc(ctypes.c_ulong(thread), ctypes.py_object(OutOfTime))
                self.waking_at = min(self.deadlines.values(), default=now + 60)
                self.wakeup.wait(self.waking_at - now)


_WATCHDOG = _Watchdog()


@contextlib.contextmanager
def time_limited(seconds: float) -> Iterator[None]:
    """Stop the Python code run in the block once `seconds` have passed: the watchdog raises OutOfTime in this
    thread (CPython's PyThreadState_SetAsyncExc, between two bytecodes), so a parser in a loop (a PDF whose objects
    refer to each other) ends, and nothing slows the extraction while it runs in time. A single call into C that
    never returns is not interrupted: the extractors' C parts (zlib, libxml2, PDFium) work on input bounded in size."""
    _WATCHDOG.arm(seconds)
    try:
        yield
    finally:
        _WATCHDOG.disarm()


_set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
_set_async_exc.argtypes = (ctypes.c_ulong, ctypes.py_object)


class TextExtraction(Analyzer):
    """Extracts each file's text (documents by their format, binaries by their strings) for search and keywords."""

    NAME = "text"
    time_limit = TIME_LIMIT

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.recent = _RecentTexts(RECENT_CHARS)

    def analyze(self, item: Item) -> Iterable[Finding]:
        obj = item.obj
        if obj.kind not in ("file", "virtual") or not item.content_read or not item.head:
            return ()
        content_type = item.result(ContentType)
        mime = (content_type.mime if content_type else None) or ""
        if mime.startswith(NO_TEXT_PREFIXES) or mime in NO_TEXT_MIMES:
            return ()
        if item.data is None:
            item.skipped.append((self.NAME, "larger than the in-memory limit"))
            return ()
        extract, how = choose_extractor(item.data, mime, obj.name)
        if how == "strings":
            if _random_looking(item.data):  # said, so that keywords do not search it raw either
                item.add(ExtractedText("", ExtractedText.RANDOM))
                return ()
            extract = printable_runs  # judged once
        hashes = item.result(Hashes)
        key = (hashes.sha256, how) if hashes is not None and hashes.sha256 else None
        found = self.recent.get(key)
        if found is None:
            skipped = len(item.skipped)
            found = self._extract(item, extract, how)
            if len(item.skipped) == skipped:  # read in full and in time: the same bytes give the same text
                self.recent.put(key, found)
        if found[0] and not found[0].isspace():  # not strip(): a copy of the whole text
            item.add(ExtractedText(*found))
        return ()

    def _extract(self, item: Item, extract: Callable[[bytes], str], how: str) -> tuple[str, str]:
        """The text and how it was got: by the format's extractor, or the strings of a document it could not read."""
        data = item.data or b""
        try:
            # Strings and plain text take one linear pass over bounded input: no time limit for them.
            with time_limited(self.time_limit) if how not in LINEAR else contextlib.nullcontext():
                text = extract(data)
        except OutOfTime:
            item.skipped.append((self.NAME, f"timed out after {self.time_limit:g} s extracting {how} text"))
            text = strings(data) if how != "strings" else ""
            how = "strings"
        except TooLarge as error:
            item.skipped.append((self.NAME, f"{how}: {error}"))
            text, how = strings(data), "strings"
        except Exception as error:  # a damaged document: its strings are still worth searching
            item.skipped.append((self.NAME, f"unreadable {how}: {type(error).__name__}: {error}"))
            text, how = strings(data), "strings"
        if len(text) > MAX_CHARS:
            item.skipped.append((self.NAME, f"text cut at {MAX_CHARS:,} characters"))
            text = text[:MAX_CHARS]
        return text, how


class _RecentTexts:
    """The texts last extracted, by (sha256, extractor), up to a number of characters: a content seen again under
    another name (copies, a system's duplicated libraries) is not parsed again. Shared by the worker threads."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.chars = 0
        self.texts: collections.OrderedDict[tuple[str, str], tuple[str, str]] = collections.OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[str, str] | None) -> tuple[str, str] | None:
        if key is None:
            return None
        with self.lock:
            found = self.texts.get(key)
            if found is not None:
                self.texts.move_to_end(key)
            return found

    def put(self, key: tuple[str, str] | None, found: tuple[str, str]) -> None:
        if key is None or len(found[0]) > self.max_chars // 16:
            return
        with self.lock:
            if key in self.texts:
                return
            self.texts[key] = found
            self.chars += len(found[0])
            while self.chars > self.max_chars:
                _, (text, _) = self.texts.popitem(last=False)
                self.chars -= len(text)


def choose_extractor(data: bytes, mime: str, name: str) -> tuple[Callable[[bytes], str], str]:
    """The extractor for this content, by its first bytes first and its type (libmagic) second, and its name."""
    head = data[:1024]
    lower = name.lower()
    if head.startswith(b"%PDF") or b"%PDF-" in head:
        return pdf_text, "pdf"
    if head.startswith(b"PK\x03\x04"):  # a document only when it says so: a zip's members are objects of their own
        return (zip_document_text, "document") if _office_zip(head, mime) else (_no_text, "archive")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return ole_text, "ole"
    if head.startswith(b"{\\rtf"):
        return rtf_text, "rtf"
    if mime == "message/rfc822" or lower.endswith((".eml", ".msg.txt")):
        return mail_text, "mail"
    if mime in ("text/html", "application/xhtml+xml") or lower.endswith((".html", ".htm", ".xhtml")):
        return html_text, "html"
    if (mime.startswith("text/") or mime in TEXT_MIMES or head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf"))
            or _utf16_without_mark(head)):
        return decode_text, "text"
    return strings, "strings"


def _office_zip(head: bytes, mime: str) -> bool:
    """Whether a zip is an OOXML or ODF document: by its type (libmagic), or by the first member's name, which
    OOXML and ODF writers put first. Any other zip is not opened here (a million-member one would cost memory)."""
    if mime.startswith(("application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument.",
                        "application/vnd.ms-excel.", "application/vnd.ms-word.", "application/vnd.ms-powerpoint.")):
        return True
    length = int.from_bytes(head[26:28], "little")
    return head[30:30 + length] in (b"[Content_Types].xml", b"mimetype", b"_rels/.rels", b"docProps/app.xml",
                                    b"docProps/core.xml", b"word/document.xml")


def _no_text(data: bytes) -> str:
    return ""


def decode_text(data: bytes) -> str:
    """Plain text in whatever encoding it is: UTF-8, UTF-16 with or without a byte-order mark, or a legacy code
    page (named by charset-normalizer from a sample)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    wide = _utf16_without_mark(data[:WIDE_SAMPLE])
    if wide:
        return data.decode(wide, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data[:SAMPLE]).best()
    return data.decode(best.encoding if best else "cp1252", errors="replace")


def _utf16_without_mark(sample: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' for text whose every other byte is zero (ASCII written as UTF-16), else None."""
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def strings(data: bytes) -> str:
    """The printable runs of a binary, ASCII and UTF-16LE, six characters or more, in the order they lie; none for
    content whose samples do not compress (encrypted, compressed or random bytes hold only chance runs)."""
    return "" if _random_looking(data) else printable_runs(data)


def printable_runs(data: bytes) -> str:
    """The printable runs of a binary, whatever its bytes look like."""
    window = data[:MAX_STRINGS_INPUT]
    found = [(m.start(), m.group().decode("ascii")) for m in _ASCII.finditer(window)]
    if b"\x00" in window:
        found.extend((m.start(), m.group().decode("utf-16-le")) for m in _WIDE.finditer(window))
        found.sort()
    return "\n".join(text for _, text in found)


def _random_looking(data: bytes) -> bool:
    """Whether samples from the start, the middle and the end all fail to compress by 5 % (zlib's fastest level).

    A full sample's distinct byte values decide first where they are far from the margin (a zlib call costs 60 µs,
    most of it setting up; counting them 9 µs): text and code use few (under 160), random bytes nearly all 256
    (251 on average). On 18,000 files of a Debian system the two ways disagreed on one, a compressed changelog.
    They are counted as the byte values a deletion of the sample's own leaves (0.5 µs; a set of them took 9)."""
    for start in (0, len(data) // 2, max(0, len(data) - ENTROPY_SAMPLE)):
        sample = data[start:start + ENTROPY_SAMPLE]
        if len(sample) < 256:
            return False
        if len(sample) == ENTROPY_SAMPLE:
            distinct = 256 - len(_BYTE_VALUES.translate(None, sample))  # the values absent, deleted in C
            if distinct < FEW_BYTE_VALUES:
                return False
            if distinct >= MOST_BYTE_VALUES:
                continue
        if len(zlib.compress(sample, 1)) < 0.95 * len(sample):
            return False
    return True


# Elements a browser shows as blocks of their own: a line break before and after their text.
HTML_BLOCKS = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "title", "table", "td")


# The page's text with script and style left out and a line break around each block, by libxslt in C: the same text
# as setting the line breaks on each block element from Python, in three quarters of the time (1,219 pages).
_PAGE_TEXT = f"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
<xsl:output method="text" encoding="utf-8"/>
<xsl:template match="script|style"/>
<xsl:template match="{'|'.join(HTML_BLOCKS)}">
<xsl:text>&#10;</xsl:text><xsl:apply-templates/><xsl:text>&#10;</xsl:text>
</xsl:template>
</xsl:stylesheet>"""
_PAGE_TEXT_PER_THREAD = threading.local()  # a compiled stylesheet for each thread


def html_text(data: bytes | str) -> str:
    """The text a browser would show: no script, style or comments, a line break around each block. libxml2's
    HTML parser (lxml) reads the page and libxslt takes its text, both in C."""
    from lxml import etree  # imported here: most objects are no web page

    text = data if isinstance(data, str) else decode_text(data)
    # lxml's plain elements, not lxml.html's classes (a quarter less time for the same text)
    parser = etree.HTMLParser(encoding="utf-8", huge_tree=True, remove_comments=True)
    # as UTF-8 bytes: libxml2 takes no str that declares an encoding of its own (XHTML's <?xml ...?>)
    root = etree.fromstring(text.encode("utf-8", "surrogatepass"), parser)
    if root is None:  # nothing but white space or comments
        return ""
    fatal = [error.message for error in parser.error_log if error.level_name == "FATAL"]
    if fatal:  # elements nested past libxml2's limit: the rest of the page would be lost, so its strings are taken
        raise ValueError(fatal[0])
    page_text = getattr(_PAGE_TEXT_PER_THREAD, "transform", None)
    if page_text is None:
        page_text = _PAGE_TEXT_PER_THREAD.transform = etree.XSLT(etree.XML(_PAGE_TEXT))
    return re.sub(r"\n\s*\n+", "\n", str(page_text(root))).strip()


def pdf_text(data: bytes) -> str:
    """A PDF's text as PDFium reads it, page by page (pages end with a form feed, as pdftotext's do). PDFium is
    not thread-safe, so one worker reads a PDF at a time; each page is a short call into C, and the time limit
    lands between pages."""
    import pypdfium2  # imported here: loading PDFium costs time and most objects are no PDF

    pages: list[str] = []
    kept = 0
    with _PDFIUM:
        document = pypdfium2.PdfDocument(data)
        try:
            for number in range(len(document)):
                page = document[number]
                text_page = page.get_textpage()
                pages.append(text_page.get_text_range().replace("\r\n", "\n"))
                text_page.close()
                page.close()
                kept += len(pages[-1])
                if kept > MAX_CHARS:
                    break
        finally:
            document.close()
    return "\f".join(pages)


_PDFIUM = threading.Lock()


def rtf_text(data: bytes) -> str:
    from striprtf.striprtf import rtf_to_text

    return rtf_to_text(data.decode("latin-1"), errors="ignore")


def mail_text(data: bytes) -> str:
    """A mail's headers that name people and the subject, then its text and HTML bodies (attachments are not text)."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    lines = [f"{name}: {message[name]}" for name in ("From", "To", "Cc", "Date", "Subject") if message[name]]
    for part in message.walk():
        if part.is_multipart() or part.get_content_disposition() == "attachment":
            continue
        kind = part.get_content_type()
        if kind not in ("text/plain", "text/html"):
            continue
        try:
            body = part.get_content()
        except (LookupError, ValueError):  # an unknown charset: its bytes as best they decode
            payload = part.get_payload(decode=True)
            body = decode_text(payload if isinstance(payload, bytes) else b"")
        lines.append(html_text(body) if kind == "text/html" else str(body))
    return "\n".join(lines)


def ole_text(data: bytes) -> str:
    """Legacy Office (doc, xls, ppt) and other OLE compound files: the strings of every stream, read one by one
    (a Word document's text lies in its WordDocument stream as cp1252 or UTF-16LE runs)."""
    parts = []
    with olefile.OleFileIO(data) as ole:
        for entry in ole.listdir(streams=True, storages=False):
            if ole.get_size(entry) > MAX_PART:
                continue
            found = strings(ole.openstream(entry).read())
            if found:
                parts.append(found)
    return "\n".join(parts)


def zip_document_text(data: bytes) -> str:
    """OOXML (docx, xlsx, pptx) and ODF (odt, ods, odp) by their XML parts; any other zip is left to the archive
    analyzer (its members are objects of their own) and gives no text here."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        budget = _Budget(archive)
        if "word/document.xml" in names:
            parts = ["word/document.xml", *sorted(n for n in names if re.fullmatch(
                r"word/(header|footer)\d*\.xml|word/(footnotes|endnotes|comments)\.xml", n))]
            return "\n".join(_paragraphs(budget.read(part), W + "p", _word_text) for part in parts)
        if "xl/workbook.xml" in names:
            return _workbook_text(archive, names, budget)
        if "ppt/presentation.xml" in names:
            slides = sorted((n for n in names if re.fullmatch(r"ppt/slides/slide\d+\.xml", n)), key=_number)
            return "\n".join(_paragraphs(budget.read(slide), A + "p", _drawing_text) for slide in slides)
        if "content.xml" in names and "mimetype" in names:
            return _paragraphs(budget.read("content.xml"), (ODF_TEXT + "p", ODF_TEXT + "h"), _odf_text)
    return ""


class _Budget:
    """Reads zip members within the limits: each part, all parts together, and each part's compression ratio."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.archive = archive
        self.left = MAX_PARTS_TOTAL

    def read(self, name: str) -> bytes:
        info = self.archive.getinfo(name)
        if info.file_size > MAX_PART or (info.compress_size and info.file_size / info.compress_size > MAX_RATIO):
            raise TooLarge(f"{name} is {info.file_size:,} bytes from {info.compress_size:,} (zip limits)")
        with self.archive.open(info) as part:
            data = part.read(min(MAX_PART, self.left) + 1)  # never more than the limit, whatever the header says
        if len(data) > min(MAX_PART, self.left):
            raise TooLarge(f"{name} inflates past the zip limits")
        self.left -= len(data)
        return data


def _number(name: str) -> int:
    digits = re.findall(r"\d+", name)
    return int(digits[-1]) if digits else 0


def _paragraphs(xml: bytes, tag: str | tuple[str, ...], text_of: Callable[[ElementTree.Element], str]) -> str:
    """The text of each paragraph element of an XML part, one per line, read as a stream."""
    tags = (tag,) if isinstance(tag, str) else tag
    lines = []
    depth = 0
    for event, element in ElementTree.iterparse(io.BytesIO(xml), events=("start", "end")):
        if element.tag not in tags:
            continue
        if event == "start":
            depth += 1
            continue
        depth -= 1
        if depth == 0:  # the outermost paragraph: nested ones (a text box in a paragraph) are read with it
            lines.append(text_of(element))
            element.clear()
    return "\n".join(lines)


def _word_text(paragraph: ElementTree.Element) -> str:
    parts = []
    for element in paragraph.iter():
        if element.tag == W + "t" and element.text:
            parts.append(element.text)
        elif element.tag == W + "tab":
            parts.append("\t")
        elif element.tag in (W + "br", W + "cr"):
            parts.append("\n")
    return "".join(parts)


def _drawing_text(paragraph: ElementTree.Element) -> str:
    return "".join(e.text or "" if e.tag == A + "t" else "\n" if e.tag == A + "br" else "" for e in paragraph.iter())


def _odf_text(element: ElementTree.Element) -> str:
    """An ODF paragraph's text: spans read in order, text:s as its count of spaces, tabs and line breaks."""
    parts = [element.text or ""]
    for child in element:
        if child.tag == ODF_TEXT + "s":
            parts.append(" " * int(child.get(ODF_TEXT + "c", "1")))
        elif child.tag == ODF_TEXT + "tab":
            parts.append("\t")
        elif child.tag == ODF_TEXT + "line-break":
            parts.append("\n")
        else:
            parts.append(_odf_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _workbook_text(archive: zipfile.ZipFile, names: set[str], budget: _Budget) -> str:
    """A workbook's cells, sheet by sheet: a row per line, its cells separated by tabs, shared strings resolved."""
    shared: list[str] = []
    if "xl/sharedStrings.xml" in names:
        for _, element in ElementTree.iterparse(io.BytesIO(budget.read("xl/sharedStrings.xml"))):
            if element.tag == S + "si":
                shared.append("".join(t.text or "" for t in element.iter(S + "t")))
                element.clear()
    sheets = sorted((n for n in names if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n)), key=_number)
    lines = []
    for sheet in sheets:
        for _, row in ElementTree.iterparse(io.BytesIO(budget.read(sheet))):
            if row.tag != S + "row":
                continue
            lines.append("\t".join(filter(None, (_cell_text(cell, shared) for cell in row.iter(S + "c")))))
            row.clear()
    return "\n".join(lines)


def _cell_text(cell: ElementTree.Element, shared: list[str]) -> str:
    kind = cell.get("t")
    if kind == "inlineStr":
        return "".join(t.text or "" for t in cell.iter(S + "t"))
    value = cell.find(S + "v")
    if value is None or value.text is None:
        return ""
    if kind == "s":
        index = int(value.text)
        return shared[index] if 0 <= index < len(shared) else ""
    return value.text
