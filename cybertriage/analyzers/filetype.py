"""True file type from magic bytes (libmagic), and the extension that lies about it."""

from __future__ import annotations

import threading
from collections.abc import Iterable

import magic

from .base import Analyzer, Finding, Item, Settings
from .results import ContentType

# libmagic runs its search rules over the whole buffer it is given, so its cost grows with the
# buffer: milliseconds per file on text and random data. What identifies a format is near its
# start (a script's shebang, HTML's tag, a PE's headers), so it gets a short head; text shorter still.
HEAD_BYTES = 16 * 1024
TEXT_HEAD_BYTES = 1024
# Where the name promises plain text and the content is text, libmagic's built-in checks (text
# encoding, CSV, JSON) say all there is to say; its rule set, about a millisecond per file, runs
# on everything else. Formats its rules recognise in text (HTML, XML, scripts) are not listed.
PLAIN_TEXT_EXTENSIONS = {"txt", "log", "csv", "tsv", "json", "md", "ini", "cfg", "conf", "yaml", "yml", "nfo"}

EXECUTABLE_MIMES = {
    "application/x-dosexec",
    "application/vnd.microsoft.portable-executable",
    "application/x-executable",
    "application/x-pie-executable",
    "application/x-sharedlib",
    "application/x-mach-binary",
}
EXECUTABLE_EXTENSIONS = {
    "exe", "dll", "sys", "scr", "cpl", "ocx", "com", "drv", "efi", "mui", "ax", "acm", "tsp",
    "msstyles", "pyd", "node", "so", "ko", "o", "elf", "bin", "out", "dylib", "bundle", "run",
}
_TEXT = ("text/", "application/json", "application/xml", "application/csv", "message/")
_OLE = ("application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
        "application/x-ole-storage", "application/CDFV2", "application/vnd.ms-office")
_ZIP = ("application/zip", "application/x-zip-compressed")
_OOXML = "application/vnd.openxmlformats-officedocument."
_ODF = "application/vnd.oasis.opendocument."

# What content each well-known extension promises: exact MIME types or prefixes ending in '/' or '.'.
EXPECTED: dict[str, tuple[str, ...]] = {
    "jpg": ("image/jpeg",), "jpeg": ("image/jpeg",), "jpe": ("image/jpeg",),
    "png": ("image/png",), "gif": ("image/gif",), "bmp": ("image/bmp", "image/x-ms-bmp"),
    "tif": ("image/tiff",), "tiff": ("image/tiff",), "webp": ("image/webp",), "ico": ("image/vnd.microsoft.icon", "image/x-icon"),
    "heic": ("image/heic", "image/heif"),
    "pdf": ("application/pdf",),
    "doc": _OLE, "xls": _OLE, "ppt": _OLE, "msg": _OLE,
    "docx": (_OOXML, *_ZIP), "xlsx": (_OOXML, *_ZIP), "pptx": (_OOXML, *_ZIP),
    "odt": (_ODF, *_ZIP), "ods": (_ODF, *_ZIP), "odp": (_ODF, *_ZIP),
    "zip": _ZIP, "jar": (*_ZIP, "application/java-archive"), "apk": (*_ZIP, "application/vnd.android.package-archive"),
    "gz": ("application/gzip", "application/x-gzip"), "7z": ("application/x-7z-compressed",),
    "rar": ("application/x-rar", "application/vnd.rar", "application/x-rar-compressed"),
    "mp3": ("audio/mpeg",), "wav": ("audio/x-wav", "audio/wav"), "mp4": ("video/mp4",),
    "avi": ("video/x-msvideo",), "mov": ("video/quicktime",), "mkv": ("video/x-matroska",),
    "txt": _TEXT, "csv": _TEXT, "log": _TEXT, "md": _TEXT, "ini": _TEXT, "cfg": _TEXT,
    "html": _TEXT, "htm": _TEXT, "xml": _TEXT, "json": _TEXT,
    "exe": tuple(EXECUTABLE_MIMES), "dll": tuple(EXECUTABLE_MIMES), "sys": tuple(EXECUTABLE_MIMES),
    "scr": tuple(EXECUTABLE_MIMES),
}
UNINFORMATIVE = {"application/octet-stream", "inode/x-empty", "application/x-empty"}


def extension_of(name: str) -> str:
    """Lower-case extension of the last name component ('' when there is none)."""
    base = name.rsplit("/", 1)[-1].split(":", 1)[0]
    stem, dot, ext = base.rpartition(".")
    return ext.lower() if dot and stem else ""


def _promised(ext: str, mime: str) -> bool:
    return any(mime == want or (want.endswith(("/", ".")) and mime.startswith(want)) for want in EXPECTED[ext])


class FileType(Analyzer):
    NAME = "filetype"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._local = threading.local()  # a libmagic cookie must not be shared between threads

    def _cookies(self) -> tuple[magic.Magic, magic.Magic, magic.Magic]:
        """(MIME type with every check, MIME type with built-in checks only, description)."""
        if not hasattr(self._local, "mime"):
            self._local.mime = magic.Magic(mime=True)
            self._local.builtin = magic.Magic(mime=True)
            magic.magic_setflags(self._local.builtin.cookie, self._local.builtin.flags | magic.MAGIC_NO_CHECK_SOFT)
            self._local.text = magic.Magic()
        return self._local.mime, self._local.builtin, self._local.text

    def _mime(self, head: bytes, ext: str) -> str:
        full, builtin, _ = self._cookies()
        if b"\0" in head[:TEXT_HEAD_BYTES]:
            return full.from_buffer(head[:HEAD_BYTES])
        text_head = head[:TEXT_HEAD_BYTES]
        if ext in PLAIN_TEXT_EXTENSIONS:
            mime = builtin.from_buffer(text_head)
            if mime.startswith("text/") or mime == "application/json":
                return mime
        return full.from_buffer(text_head)

    def analyze(self, item: Item) -> Iterable[Finding]:
        obj = item.obj
        if obj.kind not in ("file", "virtual") or not item.head:
            if obj.kind in ("file", "virtual") and item.content_read:
                item.add(ContentType("inode/x-empty"))
            return
        ext = extension_of(obj.name)
        mime = self._mime(item.head, ext)
        description = None
        if not mime.startswith("text/") and mime not in UNINFORMATIVE:  # worth its cost where it names a format
            description = self._cookies()[2].from_buffer(item.head[:HEAD_BYTES])
        finding = _mismatch(ext, mime, description, item.head)
        item.add(ContentType(mime, description, ext_mismatch=finding is not None))
        if finding is not None:
            yield finding


def _mismatch(ext: str, mime: str, description: str | None, head: bytes) -> Finding | None:
    """The finding when the extension lies about the content (an executable above all); None when it does not."""
    detail = {"extension": ext, "mime": mime, "type": description}
    if mime == "application/x-dosexec" and not head.startswith(b"MZ"):
        return None  # libmagic's guess of a headerless DOS .COM program: about 1 % of random data
    if mime in EXECUTABLE_MIMES:
        if ext in EXECUTABLE_EXTENSIONS:
            return None
        if ext in EXPECTED:
            return Finding(FileType.NAME, "executable-disguised", "high", f"Executable disguised as .{ext}", detail)
        if ext and mime == "application/x-dosexec":
            return Finding(FileType.NAME, "executable-unusual-extension", "medium",
                           f"Windows executable with unusual extension .{ext}", detail)
        return None
    if ext in EXPECTED and mime not in UNINFORMATIVE and not _promised(ext, mime):
        return Finding(FileType.NAME, "extension-mismatch", "low", f"Content is {mime}, not what .{ext} promises",
                       detail)
    return None
