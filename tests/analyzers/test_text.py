"""Text extraction. Every document is written by a library other than the reader (python-docx, openpyxl and
python-pptx for OOXML, reportlab for PDF, Python's codecs for UTF-16 and legacy code pages, Python's e-mail package
for mail), so the expected text is what the test put in; PDF text is compared with `pdftotext` (poppler-utils) and
the strings of a binary with `strings` (binutils); the legacy Word document is plaso's public sample."""

from __future__ import annotations

import io
import random
import subprocess
import threading
import time
import zipfile
from email.message import EmailMessage
from pathlib import Path

import docx
import magic
import openpyxl
import pptx
import pytest
from reportlab.pdfgen import canvas

from cybertriage.analyzers import text as text_module
from cybertriage.analyzers.base import Item, Settings
from cybertriage.analyzers.results import ContentType, ExtractedText, Hashes
from cybertriage.analyzers.text import OutOfTime, TextExtraction, time_limited
from cybertriage.evidence.base import BytesContent, EvidenceObject

DATA = Path(__file__).resolve().parents[1] / "data" / "artefacts" / "text"
PARAGRAPHS = ["Meeting notes for Operation Nightjar", "Transfer to IBAN DE89370400440532013000 on Friday",
              "Zoë Ångström signed in Malmö", "call +44 20 7946 0958"]


def extracted(data: bytes, name: str, *, limit: float | None = None) -> tuple[ExtractedText | None, Item]:
    """Run the analyzer on one object as the pipeline does: the content read, its type named by libmagic."""
    obj = EvidenceObject(path=f"/{name}", name=name, size=len(data), content=BytesContent(data))
    item = Item(obj, head=data[:1024 * 1024], data=data, content_read=True)
    item.add(ContentType(magic.from_buffer(data, mime=True)))
    analyzer = TextExtraction(Settings())
    if limit is not None:
        analyzer.time_limit = limit
    assert list(analyzer.analyze(item)) == []
    return item.result(ExtractedText), item


def grep_count(path: Path, term: str) -> int:
    """What `grep -c` finds of a term in the raw file (0 when the term is only there compressed)."""
    done = subprocess.run(["grep", "-c", "-a", term, str(path)], capture_output=True, text=True)
    return int(done.stdout.strip() or 0)


def strings_of_binutils(data: bytes, folder: Path) -> list[str]:
    path = folder / "sample.bin"
    path.write_bytes(data)
    return subprocess.run(["strings", "-a", "-n", "6", str(path)], capture_output=True, text=True).stdout.splitlines()


def write_docx(path: Path) -> None:
    document = docx.Document()
    for paragraph in PARAGRAPHS:
        document.add_paragraph(paragraph)
    document.save(str(path))


def test_docx_paragraphs_with_offsets_and_compressed_terms(tmp_path: Path) -> None:
    path = tmp_path / "notes.docx"
    write_docx(path)
    found, _ = extracted(path.read_bytes(), path.name)
    assert found is not None and found.how == "document"
    expected = "\n".join(PARAGRAPHS)
    assert found.text.strip("\n") == expected
    for term in ("Nightjar", "DE89370400440532013000", "Ångström", "Malmö"):
        assert found.text.index(term) - found.text.index(PARAGRAPHS[0]) == expected.index(term)
        assert grep_count(path, term) == 0  # deflated in the zip: a raw search misses it


def test_xlsx_cells_rows_and_numbers(tmp_path: Path) -> None:
    path = tmp_path / "ledger.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Payee", "Card", "Amount"])
    sheet.append(["Vasquez Holdings", "4111111111111111", 1250])
    book.create_sheet("Second").append(["wallet", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT"])
    book.save(str(path))
    found, _ = extracted(path.read_bytes(), path.name)
    assert found is not None
    lines = found.text.splitlines()
    assert lines == ["Payee\tCard\tAmount", "Vasquez Holdings\t4111111111111111\t1250",
                     "wallet\t1BoatSLRHtKNngkdXEeobR76b53LETtpyT"]
    assert grep_count(path, "Vasquez") == 0


def test_pptx_slides_in_order(tmp_path: Path) -> None:
    path = tmp_path / "deck.pptx"
    deck = pptx.Presentation()
    for number, title in enumerate(["Quarterly plan", "Shipment via Rotterdam", "Contacts"] * 4):
        slide = deck.slides.add_slide(deck.slide_layouts[5])
        assert slide.shapes.title is not None
        slide.shapes.title.text = f"{number}: {title}"
    deck.save(str(path))
    found, _ = extracted(path.read_bytes(), path.name)
    assert found is not None
    titles = [line for line in found.text.splitlines() if line]
    assert titles == [f"{n}: {t}" for n, t in enumerate(["Quarterly plan", "Shipment via Rotterdam", "Contacts"] * 4)]


def test_odt_paragraphs_spaces_and_tabs(tmp_path: Path) -> None:
    """An OpenDocument text built from the ODF 1.2 schema by hand: text:s is a run of spaces, text:tab a tab."""
    content = ('<?xml version="1.0" encoding="UTF-8"?><office:document-content '
               'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
               'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body>'
               '<office:text><text:h text:outline-level="1">Ledger</text:h><text:p>Paid<text:s text:c="3"/>to '
               '<text:span>Kowalski</text:span><text:tab/>900 EUR</text:p></office:text></office:body>'
               '</office:document-content>')
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    found, _ = extracted(buffer.getvalue(), "ledger.odt")
    assert found is not None
    assert found.text == "Ledger\nPaid   to Kowalski\t900 EUR"


def pdf_pages(path: Path, pages: list[list[str]]) -> None:
    page = canvas.Canvas(str(path), pageCompression=1)
    for lines in pages:
        for number, line in enumerate(lines):
            page.drawString(72, 720 - 18 * number, line)
        page.showPage()
    page.save()


def test_pdf_text_matches_pdftotext(tmp_path: Path) -> None:
    path = tmp_path / "invoice.pdf"
    pdf_pages(path, [["Invoice 2024-117 for Brightwater Ltd", "Account 12345678 sort code 20-00-00"],
                     ["Page two mentions Okonkwo", "and the courier DHL 7781 4490"]])
    found, _ = extracted(path.read_bytes(), path.name)
    assert found is not None and found.how == "pdf"
    reference = subprocess.run(["pdftotext", "-q", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert found.text.split() == reference.split()
    assert grep_count(path, "Okonkwo") == 0  # only in a deflated page stream


@pytest.mark.parametrize(("codec", "name"), [("utf-16", "bom.txt"), ("utf-16-be", "be.txt"), ("utf-16-le", "le.txt"),
                                            ("utf-8", "plain.txt"), ("cp1251", "cyrillic.txt")])
def test_plain_text_in_any_encoding(codec: str, name: str) -> None:
    written = ("Свидетель Иван Петров сообщил о переводе денег\n" * 4 if codec == "cp1251" else
               "Suspect alias: ShadowFox99\r\nPhone 555-0147, Zoë's notes\r\n" * 3)
    data = written.encode(codec)
    if codec == "utf-16-be":
        data = b"\xfe\xff" + data
    found, _ = extracted(data, name)
    assert found is not None and found.how == "text"
    assert found.text == written
    term = "Петров" if codec == "cp1251" else "ShadowFox99"
    assert found.text.index(term) == written.index(term)


def test_html_text_without_scripts() -> None:
    page = (b"<!DOCTYPE html><html><head><title>Order</title><script>var secretToken = 'abc';</script>"
            b"<style>.x{color:red}</style></head><body><p>Deliver to <b>Harbour&nbsp;Street 9</b></p>"
            b"<div>caf&eacute; receipt</div></body></html>")
    found, _ = extracted(page, "order.html")
    assert found is not None and found.how == "html"
    assert "Harbour\xa0Street 9" in found.text and "café receipt" in found.text and "Order" in found.text
    assert "secretToken" not in found.text and "color" not in found.text


def test_html_text_with_control_characters_is_the_page_s_text() -> None:
    """A form feed in a paragraph (pydoc's pages have them) is no reason to fall back to the page's strings."""
    page = b"<html><body><p>ledger\x0centry</p><p>drop at the harbour</p><script>var x = 1;</script></body></html>"
    found, item = extracted(page, "pydoc.html")
    assert found is not None and found.how == "html" and not item.skipped
    assert found.text.split("\n") == ["ledger\x0centry", "drop at the harbour"]


def test_rtf_text() -> None:
    rtf = rb"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Arial;}}\f0\fs20 Meet at the caf\'e9 on \b Rue Cler\b0.\par}"
    found, _ = extracted(rtf, "note.rtf")
    assert found is not None and found.how == "rtf"
    assert "Meet at the café on Rue Cler." in found.text


def test_mail_body_encoded_in_base64(tmp_path: Path) -> None:
    message = EmailMessage()
    message["From"] = "Anna <anna@example.org>"
    message["To"] = "bob@example.net"
    message["Subject"] = "Shipment"
    message.set_content("The container number is MSKU 907 3321, tell Lindqvist.\n", cte="base64")
    message.add_alternative("<p>The container is <b>MSKU 907 3321</b></p>", subtype="html", cte="base64")
    path = tmp_path / "shipment.eml"
    path.write_bytes(bytes(message))
    found, _ = extracted(path.read_bytes(), path.name)
    assert found is not None and found.how == "mail"
    assert "Subject: Shipment" in found.text and "tell Lindqvist" in found.text
    assert grep_count(path, "Lindqvist") == 0  # the body is base64


def test_strings_of_a_binary_match_binutils(tmp_path: Path) -> None:
    blob = (b"\x00\x01\x02MZ\x90" + b"short\x00" + b"C:\\Users\\victim\\secret.key\x00\x07\xff"
            + "wide password=hunter22".encode("utf-16-le") + b"\x00\x00\x99" + b"tail-string-here\x01")
    path = tmp_path / "tool.bin"
    path.write_bytes(blob)
    found, _ = extracted(blob, path.name)
    assert found is not None and found.how == "strings"
    ascii_strings = subprocess.run(["strings", "-a", "-n", "6", str(path)], capture_output=True, text=True).stdout
    wide = subprocess.run(["strings", "-a", "-n", "6", "-e", "l", str(path)], capture_output=True, text=True).stdout
    assert sorted(found.text.splitlines()) == sorted(ascii_strings.splitlines() + wide.splitlines())
    assert "short" not in found.text.splitlines()


def test_legacy_word_document() -> None:
    data = (DATA / "Document.doc").read_bytes()
    found, _ = extracted(data, "Document.doc")
    assert found is not None and found.how == "ole"
    reference = subprocess.run(["strings", "-a", "-n", "6", str(DATA / "Document.doc")], capture_output=True,
                               text=True).stdout
    assert "This is a document!!" in reference.splitlines()
    assert "This is a document!!" in found.text.splitlines()


def test_pictures_archives_and_random_bytes_give_no_text(tmp_path: Path) -> None:
    gzip_data = subprocess.run(["gzip", "-c"], input=b"Nightjar " * 1000, capture_output=True, check=True).stdout
    found, item = extracted(gzip_data, "notes.gz")
    assert found is None and item.skipped == []
    noise = random.Random(5).randbytes(256 * 1024)  # random bytes: strings would be chance runs only
    assert strings_of_binutils(noise, tmp_path)  # there are some …
    found, item = extracted(noise, "noise.bin")
    assert found == ExtractedText("", ExtractedText.RANDOM) and item.skipped == []  # … none is kept, and it is said
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:  # members: objects of their own
        archive.writestr("notes.txt", "Nightjar " * 1000)
    found, item = extracted(buffer.getvalue(), "notes.zip")
    assert found is None and item.skipped == []


def test_decompression_bomb_in_a_docx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.docx"
    write_docx(path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/footer1.xml", b"<w:ftr xmlns:w='x'>" + b" " * (300 * 1024 * 1024) + b"</w:ftr>")
    started = time.monotonic()
    found, item = extracted(path.read_bytes(), path.name)
    assert time.monotonic() - started < 20
    assert any(stage == "text" and "zip limits" in reason for stage, reason in item.skipped)
    assert found is not None and found.how == "strings"  # what could be read is still searched


def test_damaged_documents_are_recorded_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "cut.docx"
    write_docx(path)
    data = path.read_bytes()
    _, item = extracted(data[: len(data) // 2], "cut.docx")
    assert any(stage == "text" and reason.startswith("unreadable document") for stage, reason in item.skipped)
    pdf = tmp_path / "loop.pdf"
    # A page tree whose Kids point back at itself, and a content stream whose length lies.
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
                    b"2 0 obj<</Type/Pages/Kids[2 0 R 3 0 R]/Count 2>>endobj\n"
                    b"3 0 obj<</Type/Page/Parent 2 0 R/Contents 4 0 R>>endobj\n"
                    b"4 0 obj<</Length 999999>>stream\nBT (Loopy) Tj ET\nendstream endobj\n"
                    b"trailer<</Root 1 0 R>>\n%%EOF\n")
    started = time.monotonic()
    extracted(pdf.read_bytes(), "loop.pdf", limit=5)
    assert time.monotonic() - started < 10


def test_an_extractor_that_hangs_is_stopped_and_recorded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def forever(data: bytes) -> str:
        while True:
            len(data)  # noqa: B018 (a call: the time limit's hook sees it)

    monkeypatch.setattr(text_module, "pdf_text", forever)
    path = tmp_path / "hang.pdf"
    pdf_pages(path, [["Nothing to see"]])
    started = time.monotonic()
    _, item = extracted(path.read_bytes(), path.name, limit=1)
    assert time.monotonic() - started < 5
    assert ("text", "timed out after 1 s extracting pdf text") in item.skipped
    with pytest.raises(OutOfTime), time_limited(0.2):
        forever(b"")


def test_a_short_limit_armed_while_another_thread_holds_a_long_one_still_fires() -> None:
    """The watchdog sleeps until the earliest limit: a shorter one armed later must wake it."""
    armed, release = threading.Event(), threading.Event()

    def long_limit() -> None:
        with time_limited(60):
            armed.set()
            release.wait(10)

    other = threading.Thread(target=long_limit)
    other.start()
    try:
        armed.wait(5)
        started = time.monotonic()
        spins = 0
        with pytest.raises(OutOfTime), time_limited(0.2):
            while time.monotonic() - started < 5:  # Python bytecode, between which the limit's exception lands
                spins += 1
        assert time.monotonic() - started < 2 and spins > 0
    finally:
        release.set()
        other.join()


def test_html_nested_past_the_parsers_limit_falls_back_to_strings() -> None:
    page = b"<html><body>" + b"<div>" * 3000 + b"hidden ledger entry" + b"</div>" * 3000 + b"</body></html>"
    found, item = extracted(page, "deep.html")
    assert found is not None and found.how == "strings"
    assert "hidden ledger entry" in found.text
    assert any(stage == "text" and reason.startswith("unreadable html") for stage, reason in item.skipped)


def test_the_same_content_under_another_name_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    page = b"<html><body><p>Courier Lindqvist</p><p>drop at the harbour</p></body></html>"
    sha256 = subprocess.run(["sha256sum"], input=page, capture_output=True, check=True).stdout.split()[0].decode()
    parsed: list[int] = []
    real = text_module.html_text
    monkeypatch.setattr(text_module, "html_text", lambda data: parsed.append(1) or real(data))
    analyzer = TextExtraction(Settings())
    texts = []
    for name in ("order.html", "copy of order.html", "other.html"):
        data = page if name != "other.html" else page.replace(b"harbour", b"station")
        item = Item(EvidenceObject(path=f"/{name}", name=name, size=len(data), content=BytesContent(data)),
                    head=data, data=data, content_read=True)
        item.add(ContentType("text/html"))
        item.add(Hashes(sha256=sha256 if data == page else "0" * 64))
        list(analyzer.analyze(item))
        found = item.result(ExtractedText)
        assert found is not None
        texts.append(found.text)
    assert texts[0] == texts[1] == "Courier Lindqvist\ndrop at the harbour"
    assert texts[2].endswith("station")
    assert len(parsed) == 2  # the copy's text came from the first
