"""What legacy Office documents (OLE compound files: .doc, .xls, .ppt, and the vbaProject.bin and oleObject*.bin
inside docx/xlsx/pptx) carry: embedded packages (`Ole10Native` streams: the file an author dropped into the
document), embedded OOXML documents (`Package` streams) and the source code of VBA macros, decompressed as
MS-OVBA (the Office VBA file format specification) says, read with olefile over evidence content."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from typing import ClassVar

import olefile

from ..base import BytesContent, Content, ObjectRef
from .base import Container, ContainerError, ContainerLimits, Member
from .zip import ContentFile

OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTED_STREAMS = ("EncryptedPackage", "EncryptedSummary", "encryption")
VBA_CHUNK = 4096  # MS-OVBA 2.4.1: a chunk decompresses to at most this many bytes
_OLE_ERRORS = (OSError, ValueError, IndexError, struct.error, RecursionError, EOFError, KeyError, TypeError)
# dir stream records (MS-OVBA 2.3.4.2) read here; PROJECTVERSION declares 4 bytes and holds 6.
_CODEPAGE, _VERSION, _MODULE_NAME, _STREAM_NAME, _OFFSET = 0x0003, 0x0009, 0x0019, 0x001A, 0x0031
_PROCEDURAL, _DOCUMENT, _MODULE_END = 0x0021, 0x0022, 0x002B


class VbaError(ValueError):
    """A VBA project's compressed stream or dir stream that does not follow MS-OVBA."""


def decompress_vba(data: bytes, limit: int = 64 * 1024 * 1024) -> bytes:
    """MS-OVBA 2.4.1's decompression of a CompressedContainer (a module's source, the dir stream), at most `limit`
    bytes of it: a chunk of 3 bytes can stand for 4096, so a hostile stream inflates more than a thousandfold."""
    if not data or data[0] != 1:
        raise VbaError("no compressed container signature")
    out = bytearray()
    position = 1
    while position + 2 <= len(data):
        header = int.from_bytes(data[position:position + 2], "little")
        end = min(len(data), position + (header & 0x0FFF) + 3)
        position += 2
        if not header & 0x8000:  # stored uncompressed: 4096 raw bytes
            out += data[position:position + VBA_CHUNK]
            position += VBA_CHUNK
            continue
        if len(out) > limit:
            raise VbaError(f"decompresses past {limit} bytes")
        start = len(out)
        while position < end:
            flags = data[position]
            position += 1
            for bit in range(8):
                if position >= end:
                    break
                if not flags & (1 << bit):
                    out.append(data[position])
                    position += 1
                    continue
                if position + 2 > end:
                    raise VbaError("copy token cut short")
                token = int.from_bytes(data[position:position + 2], "little")
                position += 2
                bits = max((len(out) - start - 1).bit_length(), 4)
                offset, length = (token >> (16 - bits)) + 1, (token & (0xFFFF >> bits)) + 3
                if offset > len(out) - start:
                    raise VbaError("copy token points before its chunk")
                for _ in range(length):
                    out.append(out[-offset])
    return bytes(out)


@dataclass(frozen=True)
class VbaModule:
    name: str
    stream: str
    offset: int
    document: bool  # a document or class module (.cls), else a procedural one (.bas)


def vba_modules(dir_stream: bytes) -> tuple[str, list[VbaModule]]:
    """The project's code page (as Python names it) and its modules, from its decompressed dir stream."""
    codepage, modules = "cp1252", []
    name = stream = b""
    offset, document = 0, False
    position = 0
    while position + 6 <= len(dir_stream):
        record, size = struct.unpack_from("<HI", dir_stream, position)
        position += 6
        if record == _VERSION:
            size = 6
        value = dir_stream[position:position + size]
        position += size
        if record == _CODEPAGE and len(value) == 2:
            codepage = _codepage(int.from_bytes(value, "little"))
        elif record == _MODULE_NAME:
            name, stream, offset, document = value, b"", 0, False
        elif record == _STREAM_NAME:
            stream = value
        elif record == _OFFSET and len(value) == 4:
            offset = int.from_bytes(value, "little")
        elif record in (_PROCEDURAL, _DOCUMENT):
            document = record == _DOCUMENT
        elif record == _MODULE_END and stream:
            modules.append((name, stream, offset, document))
    return codepage, [VbaModule(n.decode(codepage, "replace"), st.decode(codepage, "replace"), o, d)
                      for n, st, o, d in modules]


def _codepage(number: int) -> str:
    """Python's name for a Windows code page; cp1252 for one it does not know."""
    try:
        "".encode(f"cp{number}")
    except LookupError:
        return "cp1252"
    return f"cp{number}"


def ole10_native(data: bytes) -> tuple[str, bytes]:
    """The embedded file's name and bytes from an Ole10Native stream (a packager object): its size, a flag, the
    label, the source path, two reserved words, the temporary path, then the data's size and the data."""
    try:
        position = 6
        names = []
        for _ in range(2):
            end = data.index(b"\0", position)
            names.append(data[position:end])
            position = end + 1
        position += 8
        position = data.index(b"\0", position) + 1
        (size,) = struct.unpack_from("<I", data, position)
    except (ValueError, struct.error):
        raise ContainerError("unreadable Ole10Native stream") from None
    payload = data[position + 4:position + 4 + size]
    if len(payload) != size:
        raise ContainerError("Ole10Native stream cut short")
    label = names[0] or names[1].replace(b"\\", b"/").rsplit(b"/", 1)[-1]
    return label.decode("cp1252", "replace") or "embedded", payload


class OleContainer(Container):
    """An OLE compound file's embedded objects and macro sources, each read when the listing is made (they are
    small: a stream past the member limit is listed and refused)."""

    FORMAT = "ole"
    KINDS: ClassVar[tuple[str, ...]] = ("package", "ooxml", "macro")

    def __init__(self, content: Content, ref: ObjectRef, limits: ContainerLimits) -> None:
        super().__init__(content, ref, limits)
        self._data: dict[int, bytes] = {}
        self.problems: list[str] = []  # what could not be read, for the ledger
        try:
            with olefile.OleFileIO(io.BufferedReader(ContentFile(content))) as ole:
                # an encrypted OOXML document is an OLE file holding it encrypted; a legacy one says so in its streams
                self.encrypted = any(ole.exists(name) for name in ENCRYPTED_STREAMS)
                found = self._packages(ole) + self._vba(ole)
        except _OLE_ERRORS as error:
            raise ContainerError(f"unreadable OLE file: {error or type(error).__name__}") from None
        self.listed = len(found)
        for index, (name, data) in enumerate(found[: limits.max_members]):
            self.members.append(Member(index, name, len(data), len(data)))
            self._data[index] = data

    @classmethod
    def probe(cls, content: Content) -> bool:
        return content.size >= 512 and content.read_at(0, 8) == OLE_SIGNATURE

    def _open_member(self, member: Member) -> Content:
        return BytesContent(self._data[member.index])

    def _stream(self, ole: olefile.OleFileIO, path: list[str]) -> bytes | None:
        size = ole.get_size(path)
        if size > self.limits.member_limit:
            self.problems.append(f"{'/'.join(path)}: larger than the extraction limit")
            return None
        return ole.openstream(path).read()

    def _packages(self, ole: olefile.OleFileIO) -> list[tuple[str, bytes]]:
        """Every Ole10Native package (as the file it holds) and Package stream (an embedded OOXML document)."""
        found = []
        for path in ole.listdir(streams=True, storages=False):
            where = "/".join(path[:-1])
            if path[-1] == "\x01Ole10Native":
                data = self._stream(ole, path)
                if data is None:
                    continue
                try:
                    name, payload = ole10_native(data)
                except ContainerError as error:
                    self.problems.append(f"{where or 'root'}: {error}")
                    continue
                found.append((f"{where}/{name}" if where else name, payload))
            elif path[-1] == "Package":
                data = self._stream(ole, path)
                if data is not None:
                    found.append((f"{where}/Package" if where else "Package", data))
        return found

    def _vba(self, ole: olefile.OleFileIO) -> list[tuple[str, bytes]]:
        """The source of every module of every VBA project in the file (a storage holding VBA/dir)."""
        found = []
        for path in ole.listdir(streams=True, storages=False):
            if len(path) < 2 or path[-1].lower() != "dir" or path[-2].lower() != "vba":
                continue
            vba = path[:-1]
            try:
                codepage, modules = vba_modules(decompress_vba(ole.openstream(path).read()))
            except (VbaError, *_OLE_ERRORS) as error:
                self.problems.append(f"{'/'.join(vba)}: VBA project unreadable: {error}")
                continue
            forms = _user_forms(ole, vba[:-1])
            for module in modules:
                stream = [*vba, module.stream]
                if not ole.exists(stream):
                    self.problems.append(f"{'/'.join(stream)}: module stream missing")
                    continue
                data = self._stream(ole, stream)
                if data is None:
                    continue
                try:
                    source = decompress_vba(data[module.offset:], self.limits.member_limit)
                except VbaError as error:
                    self.problems.append(f"{'/'.join(stream)}: module source unreadable: {error}")
                    continue
                suffix = ".frm" if module.name in forms else ".cls" if module.document else ".bas"
                found.append(("/".join([*vba, (module.name or module.stream) + suffix]), source))
        return found


def _user_forms(ole: olefile.OleFileIO, project: list[str]) -> set[str]:
    """The modules the PROJECT stream beside the VBA storage declares as user forms (`BaseClass=Name`), which VBA
    exports as .frm, as olevba names them."""
    stream = [*project, "PROJECT"]
    if not ole.exists(stream) or ole.get_size(stream) > 1024 * 1024:
        return set()
    text = ole.openstream(stream).read().decode("cp1252", "replace")
    return {line.split("=", 1)[1].strip() for line in text.splitlines() if line.startswith("BaseClass=")}
