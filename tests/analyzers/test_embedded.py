"""Embedded objects (issue 19 item 4) become children of the document or executable that holds them: the packages
dropped into a .doc, .xls and (through word/embeddings/oleObject1.bin) a .docm, as oletools' oleobj extracts them;
VBA macros' source, as olevba prints it (both oletools CLIs, run once: tests/data/artefacts/embedded/SOURCE.md);
and an executable hidden in a PE file's resources, as pev's `peres -x` extracts it."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pefile
import pytest

from cybertriage.case.objects import ObjectReader
from tests.conftest import run_cli

DATA = Path(__file__).resolve().parents[1] / "data" / "artefacts" / "embedded"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))


def _dropper(corpus_dir: Path) -> bytes:
    """firefox_x64.exe with HelloWorld.exe written into its largest resource, as test_pe builds it."""
    payload = (corpus_dir / "pe" / "HelloWorld.exe").read_bytes()
    pe = pefile.PE(str(corpus_dir / "pe" / "firefox_x64.exe"))
    leaves = [(lang.data.struct.OffsetToData, lang.data.struct.Size)
              for kind in pe.DIRECTORY_ENTRY_RESOURCE.entries for name in kind.directory.entries
              for lang in name.directory.entries]
    rva, size = max(leaves, key=lambda leaf: leaf[1])
    offset = pe.get_offset_from_rva(rva)
    data = bytearray((corpus_dir / "pe" / "firefox_x64.exe").read_bytes())
    data[offset:offset + len(payload)] = payload
    return bytes(data)


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory, corpus_dir: Path) -> tuple[Path, dict[str, dict]]:
    evidence = tmp_path_factory.mktemp("embedded") / "evidence"
    evidence.mkdir()
    for name in ("oleform-PR314.docm", "embedded-simple-2007.doc", "embedded-simple-2007.docm",
                 "embedded-simple-2007.xls", "encrypted.docx"):
        shutil.copy(DATA / name, evidence / name)
    (evidence / "dropper.exe").write_bytes(_dropper(corpus_dir))
    case = evidence.parent / "case"
    result = run_cli("scan", evidence, "--case", case, "--quiet", "--no-carve")
    assert result.code == 0, result.stderr
    with sqlite3.connect(case / "case.db") as db:
        db.row_factory = sqlite3.Row
        rows = {row["path"]: dict(row) for row in db.execute("SELECT * FROM files")}
    return case, rows


def _content(case: Path, row: dict) -> bytes:
    with ObjectReader(case) as reader:
        return reader.read(row["id"], 0, row["size"])


def test_macro_source_is_olevbas(scanned: tuple[Path, dict[str, dict]]) -> None:
    case, rows = scanned
    for document, macros in EXPECTED["olevba"].items():
        children = {path.rsplit("!", 1)[1]: row for path, row in rows.items()
                    if path.startswith(f"/{document}!word/vbaProject.bin!")}
        assert set(children) == {f"VBA/{macro['vba_filename']}" for macro in macros}
        for macro in macros:
            assert macro["subfilename"] == "word/vbaProject.bin"
            row = children[f"VBA/{macro['vba_filename']}"]
            # olevba strips the source's last line break; it prints the rest as VBA stores it
            assert _content(case, row).decode("cp1252").rstrip("\r\n") == macro["code"]
            assert row["parent_id"] == rows[f"/{document}!word/vbaProject.bin"]["id"]


def test_embedded_packages_are_oleobjs(scanned: tuple[Path, dict[str, dict]]) -> None:
    case, rows = scanned
    holders = {"embedded-simple-2007.doc": "/embedded-simple-2007.doc!ObjectPool/",
               "embedded-simple-2007.xls": "/embedded-simple-2007.xls!",
               "embedded-simple-2007.docm": "/embedded-simple-2007.docm!word/embeddings/oleObject1.bin!"}
    for document, expected in EXPECTED["oleobj"].items():
        (row,) = [row for path, row in rows.items()
                  if path.startswith(holders[document]) and path.endswith("/" + expected["name"])
                  or path == holders[document] + expected["name"]]
        assert (row["name"], row["size"], row["sha256"]) == (expected["name"], expected["size"], expected["sha256"])
        assert hashlib.sha256(_content(case, row)).hexdigest() == expected["sha256"]  # read back through the chain


def test_executable_in_resources_is_peres(scanned: tuple[Path, dict[str, dict]], tmp_path: Path) -> None:
    case, rows = scanned
    dropper = next(row for path, row in rows.items() if path == "/dropper.exe")
    exe = tmp_path / "dropper.exe"
    exe.write_bytes(_content(case, dropper))
    subprocess.run(["peres", "-x", str(exe)], cwd=tmp_path, check=True, capture_output=True)
    extracted = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "resources").rglob("*") if p.is_file()
                 and p.read_bytes()[:2] == b"MZ"}
    children = [row for path, row in rows.items() if path.startswith("/dropper.exe!")]
    assert len(children) == 1 and {children[0]["sha256"]} == extracted
    assert children[0]["path"].startswith("/dropper.exe!RT_") and children[0]["pe"]  # the PE analyzer read it too


def test_an_encrypted_document_is_counted_not_opened(scanned: tuple[Path, dict[str, dict]]) -> None:
    """`7z l` lists the OLE streams of encrypted.docx: an EncryptedPackage, which is all the document there is.
    The ledger counts it, and `info` and the report show it among the objects not opened."""
    case, rows = scanned
    streams = subprocess.run(["7z", "l", str(DATA / "encrypted.docx")], check=True, capture_output=True, text=True)
    assert "EncryptedPackage" in streams.stdout
    assert not [path for path in rows if path.startswith("/encrypted.docx!")]
    with sqlite3.connect(case / "case.db") as db:
        (reasons,) = db.execute("SELECT reasons FROM ledger WHERE stage = 'embedded'").fetchone()
        (problem,) = db.execute("SELECT object FROM problems WHERE message = 'encrypted document: not examined'")\
            .fetchone()
    assert json.loads(reasons) == {"encrypted document: not examined": 1} and problem == "/encrypted.docx"
    info = run_cli("info", "--case", case)
    assert info.code == 0, info.stderr
    assert ("not opened, though they could hold other objects: 1 (1 embedded: encrypted document: not examined)"
            in info.stdout)
    report = case.parent / "report.html"
    made = run_cli("report", "--case", case, "--pdf", case.parent / "report.pdf", "--html", report)
    assert made.code == 0, made.stderr
    text = report.read_text(encoding="utf-8")
    assert "1 object(s) that could hold others were not opened" in text
    assert "1 embedded: encrypted document: not examined" in text


def test_damaged_documents_are_ledger_lines_not_tracebacks() -> None:
    """A document cut short, a VBA source whose copy tokens point nowhere, and a VBA bomb: the container says why."""
    from cybertriage.evidence.base import BytesContent, ObjectRef
    from cybertriage.evidence.containers import ContainerError, ContainerLimits
    from cybertriage.evidence.containers.ole import OleContainer, VbaError, decompress_vba

    data = (DATA / "embedded-simple-2007.doc").read_bytes()
    for cut in (600, len(data) // 2, len(data) - 100):
        try:
            container = OleContainer(BytesContent(data[:cut]), ObjectRef("cut.doc"), ContainerLimits())
        except ContainerError:
            continue
        assert all(member.size >= 0 for member in container.members)
    with pytest.raises(VbaError):
        decompress_vba(b"\x01\x02\xb0\x01\xff\xff")  # a copy token before anything was written
    # One chunk (MS-OVBA 2.4.1.1): header 0xB003 (compressed, 6 bytes), flags 0b10, the literal 'a', then a copy token
    # of offset 1 and length 4095 (0x0FFC + 3): 4096 bytes of 'a'. A hundred of them is a bomb for a 40 KiB limit.
    chunk = b"\x03\xb0\x02a" + (4092).to_bytes(2, "little")
    assert decompress_vba(b"\x01" + chunk) == b"a" * 4096
    with pytest.raises(VbaError):
        decompress_vba(b"\x01" + chunk * 100, 40960)
