"""Fixtures for the YARA rule tests: yara CLI and sample files (corpus_dir comes from tests/conftest.py).

Most positive samples are small text files committed under
``tests/data/rules/positive/``. Samples that would otherwise be committed
binaries (documents carrying a Windows executable, wallet databases) are built
here at run time into a temporary directory, next to copies of the committed
ones, so that a single ``yara -r`` run covers every sample.
"""

from __future__ import annotations

import io
import shutil
import sqlite3
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parents[1]
RULES_DIR = TESTS_DIR.parent / "rules"
DATA_DIR = TESTS_DIR / "data" / "rules"
POSITIVE_DIR = DATA_DIR / "positive"
NEGATIVE_DIR = DATA_DIR / "negative"


@pytest.fixture(scope="session")
def yara_cli() -> str:
    """Path of the independent ``yara`` command-line scanner (required)."""
    path = shutil.which("yara")
    if path is None:
        pytest.fail("the yara command-line tool is not installed (apt install yara)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def rule_files() -> list[Path]:
    """Every project rule file, in a stable order."""
    files = sorted(RULES_DIR.glob("*.yar"))
    assert files, f"no *.yar files in {RULES_DIR}"
    return files


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    """All positive samples: copies of the committed ones plus generated ones."""
    out = tmp_path_factory.mktemp("positive")
    for src in POSITIVE_DIR.iterdir():
        if src.is_file():
            shutil.copyfile(src, out / src.name)
    pe = (corpus_dir / "pe" / "HelloWorld.exe").read_bytes()
    for name, build in GENERATED_SAMPLES.items():
        (out / name).write_bytes(build(pe))
    return out


@pytest.fixture(scope="session")
def generated_negative_dir(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> Path:
    """Generated near misses for the embedded-executable rules."""
    out = tmp_path_factory.mktemp("negative")
    pe = (corpus_dir / "pe" / "HelloWorld.exe").read_bytes()
    for name, build in GENERATED_NEGATIVES.items():
        (out / name).write_bytes(build(pe))
    return out


# --- generated samples ------------------------------------------------------
# Each builder takes the bytes of a small benign PE (the corpus HelloWorld.exe,
# a .NET "hello world") and returns the bytes of the sample file. They are
# synthetic: the container has the real magic, names and layout details the
# rules look at, not every structure a full parser would need.


def _ole_dir_entry(name: str, obj_type: int, start_sector: int = 0, size: int = 0) -> bytes:
    """One 128-byte [MS-CFB] directory entry."""
    raw = (name + "\0").encode("utf-16le")
    entry = raw.ljust(64, b"\0")
    entry += struct.pack("<HBB", len(raw), obj_type, 1)  # name length, type, colour=black
    entry += struct.pack("<III", 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF)  # left, right, child
    entry += b"\0" * 16 + b"\0" * 4 + b"\0" * 16  # CLSID, state bits, times
    entry += struct.pack("<IQ", start_sector, size)
    assert len(entry) == 128
    return entry


def _package_native(pe: bytes, label: str) -> bytes:
    """OLE Package native data (flags, label, paths, file) wrapping a file."""
    path = f"C:\\Users\\Public\\{label}".encode() + b"\0"
    body = struct.pack("<H", 2) + label.encode() + b"\0" + path
    body += struct.pack("<I", 0x00030000) + struct.pack("<I", len(path)) + path
    return body + struct.pack("<I", len(pe)) + pe


def _ole10native(pe: bytes, label: str) -> bytes:
    """An OLE Package "\\x01Ole10Native" stream: size-prefixed native data."""
    body = _package_native(pe, label)
    return struct.pack("<I", len(body)) + body


def build_ole_doc(pe: bytes) -> bytes:
    """Legacy Word document (OLE compound file) with an embedded Package object."""
    header = bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 16
    header += struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)
    header = header.ljust(512, b"\0")
    package = _ole10native(pe, "HelloWorld.exe")
    directory = b"".join(
        [
            _ole_dir_entry("Root Entry", 5),
            _ole_dir_entry("WordDocument", 2, 1, 512),
            _ole_dir_entry("\x01Ole10Native", 2, 2, len(package)),
            _ole_dir_entry("", 0),
        ]
    )
    word_document = b"\xec\xa5\xc1\x00".ljust(512, b"\0")  # FIB magic wIdent 0xA5EC
    return header + directory + word_document + package


def build_pdf(pe: bytes) -> bytes:
    """PDF with the PE as an uncompressed /EmbeddedFile stream and a valid xref."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R /Names << /EmbeddedFiles 4 0 R >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        b"<< /Names [(invoice.exe) 5 0 R] >>",
        b"<< /Type /Filespec /F (invoice.exe) /EF << /F 6 0 R >> >>",
        b"<< /Type /EmbeddedFile /Length %d >>\nstream\n" % len(pe) + pe + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def build_docx(pe: bytes) -> bytes:
    """.docx whose package stores the PE uncompressed (ZIP_STORED)."""
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="exe" ContentType="application/octet-stream"/>'
        '<Override PartName="/word/document.xml" ContentType="application/'
        'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
        "</Types>"
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
    )
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>Please enable editing to view the invoice.</w:t></w:r></w:p>"
        "</w:body></w:document>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("[Content_Types].xml", content_types)
        zf.writestr("_rels/.rels", rels)
        zf.writestr("word/document.xml", document)
        zf.writestr("word/embeddings/HelloWorld.exe", pe)
    return out.getvalue()


def build_rtf(pe: bytes) -> bytes:
    """RTF with an embedded Package object; \\objdata hex wrapped at 128 columns."""
    ole1 = struct.pack("<II", 0x00000501, 2) + struct.pack("<I", 8) + b"Package\0"
    native = _package_native(pe, "HelloWorld.exe")
    ole1 += struct.pack("<II", 0, 0) + struct.pack("<I", len(native)) + native
    hexdata = ole1.hex()
    lines = "\r\n".join(hexdata[i : i + 128] for i in range(0, len(hexdata), 128))
    rtf = (
        "{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Calibri;}}\r\n"
        "\\pard Please double-click the icon to open the document.\\par\r\n"
        "{\\object\\objemb{\\*\\objclass Package}\\objw1440\\objh1440{\\*\\objdata \r\n" + lines + "\r\n}}\\par\r\n}\r\n"
    )
    return rtf.encode("ascii")


def build_bdb_wallet(pe: bytes) -> bytes:
    """Legacy Bitcoin Core wallet.dat: Berkeley DB btree with wallet record keys.

    Page 0 carries the btree metadata magic (0x00053162 at offset 12); page 1
    holds a few length-prefixed record keys. Values are dummy bytes.
    """
    del pe  # not needed
    page_size = 4096
    meta = bytearray(page_size)
    struct.pack_into("<QII", meta, 0, 1, 0, 0x00053162)  # LSN, page number, magic
    struct.pack_into("<III", meta, 16, 9, page_size, 0)  # version, page size, encrypt alg
    leaf = bytearray(page_size)
    offset = 64
    for key, value in [
        (b"\x0aminversion", struct.pack("<I", 60000)),
        (b"\x07version", struct.pack("<I", 259900)),
        (b"\x0adefaultkey", b"\x21\x02" + bytes(32)),
        (b"\x07hdchain", bytes(48)),
        (b"\x07keymeta\x21\x03" + bytes(32), bytes(40)),
        (b"\x04ckey\x21\x03" + bytes(32), bytes(48)),
        (b"\x04mkey" + struct.pack("<I", 1), bytes(80)),
        (b"\x09bestblock", bytes(36)),
        (b"\x0corderposnext", struct.pack("<Q", 4)),
    ]:
        for item in (key, value):
            struct.pack_into("<HB", leaf, offset, len(item), 1)  # B_KEYDATA item
            leaf[offset + 3 : offset + 3 + len(item)] = item
            offset += 3 + len(item)
    return bytes(meta) + bytes(leaf)


def build_sqlite_wallet(pe: bytes) -> bytes:
    """Descriptor Bitcoin Core wallet.dat (SQLite) with the wallet table layout."""
    del pe  # not needed
    con = sqlite3.connect(":memory:")
    # application_id is the network's message start (mainnet f9beb4d9), a signed int32
    app_id = struct.unpack(">i", bytes.fromhex("f9beb4d9"))[0]
    con.execute(f"PRAGMA application_id = {app_id}")
    con.execute("PRAGMA user_version = 1")
    con.execute("CREATE TABLE main(key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL)")
    desc_id = bytes(range(32))
    rows = [
        (b"\x0aminversion", struct.pack("<I", 169900)),
        (b"\x07version", struct.pack("<I", 279900)),
        (b"\x12bestblock_nomerkle", bytes(37)),
        (b"\x10walletdescriptor" + desc_id, b"\x2awpkh([d34db33f/84h/0h/0h]xpub.../0/*)#xxxxxxxx"),
        (b"\x11activeexternalspk\x04", desc_id),
        (b"\x11activeinternalspk\x04", desc_id),
    ]
    con.executemany("INSERT INTO main VALUES (?, ?)", rows)
    con.commit()
    data = con.serialize()
    con.close()
    return bytes(data)


GENERATED_SAMPLES: dict[str, Callable[[bytes], bytes]] = {
    "Embedded_PE_In_OLE.doc": build_ole_doc,
    "Embedded_PE_In_PDF.pdf": build_pdf,
    "Embedded_PE_In_OOXML.docx": build_docx,
    "Embedded_PE_In_RTF.rtf": build_rtf,
    "Crypto_Bitcoin_Core_Wallet.bdb.dat": build_bdb_wallet,
    "Crypto_Bitcoin_Core_Wallet.sqlite.dat": build_sqlite_wallet,
}


# --- generated near misses -----------------------------------------------------


def build_installer_ole(pe: bytes) -> bytes:
    """OLE file that is not an Office document (installer-like stream names).

    Windows Installer packages and Visual Studio .vsmacros projects keep DLLs
    uncompressed in OLE streams; Embedded_PE_In_OLE must not fire on them.
    """
    header = bytes.fromhex("D0CF11E0A1B11AE1") + b"\0" * 16
    header += struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)
    header = header.ljust(512, b"\0")
    directory = b"".join(
        [
            _ole_dir_entry("Root Entry", 5),
            _ole_dir_entry("VSM_Project_Data", 2, 1, len(pe)),
            _ole_dir_entry("", 0),
            _ole_dir_entry("", 0),
        ]
    )
    return header + directory + pe


def build_pdf_quoting_dos_stub(pe: bytes) -> bytes:
    """PDF whose text mentions "MZ" and quotes the DOS stub message, with no PE."""
    del pe  # not needed
    text = (
        b"(A Windows executable starts with MZ; its DOS header is followed by a small "
        b"stub program that prints the message This program cannot be run in DOS mode.) Tj"
    )
    return build_pdf(text)


GENERATED_NEGATIVES: dict[str, Callable[[bytes], bytes]] = {
    "installer_like.msi": build_installer_ole,
    "quotes_dos_stub.pdf": build_pdf_quoting_dos_stub,
}
