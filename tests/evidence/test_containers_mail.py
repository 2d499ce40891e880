"""E-mail stores as containers: EML and MBOX made here (attachments against `ripmime` and `munpack`), a public PST
(folders and items against `pffexport`), a public MSG (against the property dump published beside it and the OLE
streams `7z` extracts), damaged ones of each kind, the `email.message` records and `export --what emails`, and an
attachment in a mailbox on disk linked to the same attachment an SMTP session in a capture carried (tshark's
export of the message, then ripmime)."""

from __future__ import annotations

import email.mime.application
import email.mime.multipart
import email.mime.text
import hashlib
import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.analyzers.net import pcapgen
from tests.conftest import export, run_cli

DATA = Path(__file__).resolve().parents[1] / "data" / "artefacts" / "mail"
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
PAYLOAD = hashlib.sha256(b"seed").digest() * 300  # a binary attachment, base64 across many lines
RECEIVED = ["from mx.example.org (mx.example.org [192.0.2.1]) by mail.example.com; Tue, 01 Dec 2026 09:00:01 +0000",
            "from laptop.example.org by mx.example.org; Tue, 01 Dec 2026 09:00:00 +0000"]
PAGE_DAMAGED = 0x1E000  # a page of dist-list.pst holding the table of its top folder's sub-folders
NBT_PAGE = 0x14C00  # a page of its node B-tree below the root (the page trailer's type, 0x81, says so)


def _invoice() -> bytes:
    """The test's message, as a mail client would write it: text, an EICAR attachment and a binary one."""
    message = email.mime.multipart.MIMEMultipart()
    message["From"] = "Alice <alice@example.org>"
    message["To"] = "bob@example.com"
    message["Cc"] = "=?utf-8?q?Caf=C3=A9?= <cafe@example.com>"
    message["Subject"] = "=?utf-8?q?Invoice_f=C3=BCr_December?="
    message["Date"] = "Tue, 01 Dec 2026 10:00:00 +0100"
    message["Message-ID"] = "<invoice-1@example.org>"
    message["In-Reply-To"] = "<question-7@example.com>"
    for line in RECEIVED:
        message["Received"] = line
    message.attach(email.mime.text.MIMEText("Please find the invoice attached.\n"))
    for name, data in (("eicar.com", EICAR), ("report.bin", PAYLOAD)):
        part = email.mime.application.MIMEApplication(data)
        part.add_header("Content-Disposition", "attachment", filename=name)
        message.attach(part)
    return message.as_bytes().replace(b"\n", b"\r\n")


@dataclass
class MailCase:
    case: Path
    evidence: Path
    scan: object


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def mail_case(tmp_path_factory: pytest.TempPathFactory) -> MailCase:
    work = tmp_path_factory.mktemp("mail")
    evidence = work / "mail"
    evidence.mkdir()
    invoice = _invoice()
    (evidence / "invoice.eml").write_bytes(invoice)
    (evidence / "truncated.eml").write_bytes(invoice[: len(invoice) * 2 // 3])
    (evidence / "box.mbox").write_bytes(
        b"From alice@example.org Tue Dec  1 10:00:00 2026\n" + invoice.replace(b"\r\n", b"\n") + b"\n"
        + b"From a broken separator\nFrom: carol@example.net\nSubject: second\n\nhello\n"
        + b"From here on, a body line nobody escaped\nstill the body\n")
    shutil.copy(DATA / "dist-list.pst", evidence / "dist-list.pst")
    damaged = bytearray((DATA / "dist-list.pst").read_bytes())
    damaged[PAGE_DAMAGED:PAGE_DAMAGED + 512] = b"\xa5" * 512
    (evidence / "damaged.pst").write_bytes(bytes(damaged))
    store = (DATA / "dist-list.pst").read_bytes()
    nbt_root = struct.unpack_from("<Q", store, 0xE0)[0]  # the header's BREF of the node B-tree root (MS-PST 2.2.2.5)
    for name, page in (("btree.pst", NBT_PAGE), ("no-root.pst", nbt_root)):
        assert store[page + 496:page + 498] == b"\x81\x81"  # the page trailer's type: a node B-tree page
        (evidence / name).write_bytes(store[:page] + bytes(496) + store[page + 496:])  # its entries zeroed
    shutil.copy(DATA / "qwerty_1-orig.msg", evidence / "qwerty.msg")
    shutil.copy(DATA / "plain_jpeg_attached.msg", evidence / "jpeg.msg")
    msg = (DATA / "qwerty_1-orig.msg").read_bytes()
    (evidence / "truncated.msg").write_bytes(msg[: len(msg) // 3])
    case = work / "case"
    result = run_cli("scan", evidence, "--case", case, "--quiet")
    assert result.code in (0, 1), result.stderr  # 1: examined in part (the damaged files), said in the ledger
    assert "Traceback" not in result.stderr
    return MailCase(case, evidence, result)


def _files(case: Path) -> dict[str, dict]:
    return {row["path"]: row for row in export(case, "files")}


def _ripmime(message: Path, out: Path) -> dict[str, str]:
    """name → sha256 of the attachments ripmime writes (its text bodies are named textfileN)."""
    out.mkdir()
    subprocess.run(["ripmime", "-i", str(message), "-d", str(out), "--no-nameless"], check=True, capture_output=True)
    return {p.name: _sha256(p.read_bytes()) for p in out.iterdir() if not p.name.startswith("textfile")}


def test_eml_attachments_are_ripmime_s(mail_case: MailCase, tmp_path: Path) -> None:
    expected = _ripmime(mail_case.evidence / "invoice.eml", tmp_path / "rip")
    assert set(expected) == {"eicar.com", "report.bin"}
    files = _files(mail_case.case)
    children = {path.rsplit("!", 1)[1]: row["sha256"] for path, row in files.items()
                if path.startswith("/invoice.eml!")}
    assert {name: children[name] for name in expected} == expected
    assert "body.txt" in children


def test_mbox_messages_and_attachments_are_munpack_s(mail_case: MailCase, tmp_path: Path) -> None:
    box = (mail_case.evidence / "box.mbox").read_bytes()
    from_lines = [line for line in box.split(b"\n") if line.startswith(b"From ")]  # as grep -c '^From ' counts
    files = _files(mail_case.case)
    messages = sorted(p for p in files if p.startswith("/box.mbox!") and p.count("!") == 1)
    assert len(messages) == len(from_lines) == 3
    assert messages[0] == "/box.mbox!00001 Invoice für December.eml" and messages[1] == "/box.mbox!00002 second.eml"
    out = tmp_path / "munpack"
    out.mkdir()
    subprocess.run(["munpack", "-q", "-C", str(out), str(mail_case.evidence / "invoice.eml")], check=True,
                   capture_output=True)
    unpacked = {p.name: _sha256(p.read_bytes()) for p in out.iterdir() if p.name in ("eicar.com", "report.bin")}
    assert len(unpacked) == 2
    for name, digest in unpacked.items():
        assert files[f"{messages[0]}!{name}"]["sha256"] == digest


def test_malformed_from_lines_are_ledger_lines(mail_case: MailCase) -> None:
    info = run_cli("info", "--case", mail_case.case).stdout
    assert "malformed From line at byte" in info and "a broken separator" in info
    assert "has no headers after its From line" in info


def test_eicar_attachment_is_found_and_extracted_with_its_sha256(mail_case: MailCase, tmp_path: Path) -> None:
    findings = [f for f in export(mail_case.case, "findings") if "EICAR" in (f["title"] or "")]
    where = {f["object"] for f in findings}
    assert {"/invoice.eml!eicar.com", "/box.mbox!00001 Invoice für December.eml!eicar.com"} <= where
    files = _files(mail_case.case)
    wanted = files["/box.mbox!00001 Invoice für December.eml!eicar.com"]
    result = run_cli("extract", "--case", mail_case.case, "--file", str(wanted["id"]), "-o", tmp_path / "out")
    assert result.code == 0, result.stderr
    (extracted,) = [p for p in (tmp_path / "out").iterdir() if p.name != "export-manifest.csv"]
    digest = subprocess.run(["sha256sum", str(extracted)], capture_output=True, text=True, check=True).stdout.split()[0]
    assert digest == wanted["sha256"] == _sha256(EICAR)


def test_emails_export_holds_the_headers_as_written(mail_case: MailCase) -> None:
    rows = {row["source"]: row for row in export(mail_case.case, "emails")}
    row = rows["/invoice.eml"]
    assert (row["from"], row["to"], row["cc"]) == ("Alice <alice@example.org>", "bob@example.com",
                                                   "Café <cafe@example.com>")
    assert row["subject"] == "Invoice für December" and row["ts"] == "2026-12-01T09:00:00Z"
    assert (row["message_id"], row["received"]) == ("<invoice-1@example.org>", RECEIVED)
    assert row["attachments"] == [{"name": "eicar.com", "size": len(EICAR)}, {"name": "report.bin", "size": len(PAYLOAD)}]
    assert rows["/box.mbox!00001 Invoice für December.eml"]["message_id"] == "<invoice-1@example.org>"
    assert rows["/box.mbox!00002 second.eml"]["from"] == "carol@example.net"
    csv_export = run_cli("export", "--case", mail_case.case, "--what", "emails", "--format", "csv").stdout
    assert csv_export.splitlines()[0] == "id,evidence,ts,from,to,cc,subject,message_id,received,attachments,source"
    timeline = run_cli("export", "--case", mail_case.case, "--what", "timeline", "--format", "jsonl").stdout
    assert "Invoice für December" in timeline


def test_truncated_eml_keeps_what_was_sent_and_says_so(mail_case: MailCase) -> None:
    files = _files(mail_case.case)
    assert files["/truncated.eml!eicar.com"]["sha256"] == _sha256(EICAR)  # the part before the cut
    info = run_cli("info", "--case", mail_case.case).stdout
    assert "damaged message" in info and "/truncated.eml" in info


def _pffexport(store: Path, out: Path) -> dict[str, int]:
    """folder → items in it, from pffexport's item folders (named Appointment00001, Contact00002 …)."""
    subprocess.run(["pffexport", "-q", "-t", str(out / "x"), str(store)], check=True, capture_output=True)
    root = out / "x.export"
    found: dict[str, int] = {}
    for item in root.rglob("*"):
        if item.is_dir() and item.name[-5:].isdigit() and item.parent.name != "Attachments" \
                and "Attachments" not in item.relative_to(root).parts:
            folder = str(item.parent.relative_to(root))
            found[folder] = found.get(folder, 0) + 1
    return found


def test_pst_folders_and_items_are_pffexport_s(mail_case: MailCase, tmp_path: Path) -> None:
    expected = _pffexport(mail_case.evidence / "dist-list.pst", tmp_path)
    assert expected == {"Top of Personal Folders/Calendar": 1, "Top of Personal Folders/Contacts": 2}
    files = _files(mail_case.case)
    inside = [p.split("!", 1)[1] for p in files if p.startswith("/dist-list.pst!") and p.count("!") == 1]
    items: dict[str, int] = {}
    for path in inside:
        if path.endswith(".eml") and path.startswith("Top of Personal Folders/"):
            folder = path.rsplit("/", 1)[0]
            items[folder] = items.get(folder, 0) + 1
    assert items == expected
    folders = {p for p in inside if files[f"/dist-list.pst!{p}"]["kind"] == "directory"}
    pff_folders = {str(p.relative_to(tmp_path / "x.export")) for p in (tmp_path / "x.export").glob("Top of Personal Folders/*")}
    assert pff_folders <= folders
    subject = next(line for line in (tmp_path / "x.export" / "Top of Personal Folders" / "Calendar" /
                                     "Appointment00001" / "Appointment.txt").read_text().splitlines()
                   if line.startswith("Subject:"))
    assert "/dist-list.pst!Top of Personal Folders/Calendar/00001 " + subject.split(":", 1)[1].strip() + ".eml" in files


def test_damaged_pst_gives_what_can_be_read_and_says_the_rest(mail_case: MailCase) -> None:
    files = _files(mail_case.case)
    whole = {p.split("!", 1)[1] for p in files if p.startswith("/dist-list.pst!") and p.count("!") == 1}
    damaged = {p.split("!", 1)[1] for p in files if p.startswith("/damaged.pst!") and p.count("!") == 1}
    assert damaged and damaged < whole  # partial
    info = run_cli("info", "--case", mail_case.case).stdout
    assert "Top of Personal Folders: its sub-folders cannot be read" in info


def test_a_broken_node_b_tree_gives_what_it_still_reaches(mail_case: MailCase) -> None:
    files = _files(mail_case.case)
    whole = {p.split("!", 1)[1] for p in files if p.startswith("/dist-list.pst!") and p.count("!") == 1}
    broken = {p.split("!", 1)[1] for p in files if p.startswith("/btree.pst!") and p.count("!") == 1}
    assert "Freebusy Data/00001.eml" in broken and broken < whole
    assert not any(p.startswith("/no-root.pst!") for p in files)
    info = run_cli("info", "--case", mail_case.case).stdout
    assert "btree.pst: pst: /: sub-folder 2 cannot be read" in info
    assert any("/no-root.pst" in line and "root folder is not in its node B-tree" in line for line in info.splitlines())


def test_msg_values_are_the_published_ones(mail_case: MailCase, tmp_path: Path) -> None:
    published = {}
    for line in (DATA / "qwerty_1-orig.txt").read_text(encoding="latin-1").splitlines():
        name, _, rest = line.partition("\t")
        published[name] = rest.split("\t", 1)[-1]
    rows = {row["source"]: row for row in export(mail_case.case, "emails")}
    row = rows["/qwerty.msg"]
    assert (row["subject"], row["to"], row["message_id"]) == (
        published["PR_SUBJECT"], published["PR_DISPLAY_TO"], published["PR_INTERNET_MESSAGE_ID"])
    subprocess.run(["7z", "x", "-y", f"-o{tmp_path}", str(mail_case.evidence / "qwerty.msg"), "__substg1.0_1000001E"],
                   check=True, capture_output=True)
    body = (tmp_path / "__substg1.0_1000001E").read_bytes()
    assert _files(mail_case.case)["/qwerty.msg!body.txt"]["sha256"] == _sha256(body)


def test_msg_headers_and_attachment_are_msgconvert_s(mail_case: MailCase, tmp_path: Path) -> None:
    """msgconvert's conversion of the message, published beside it: its headers, and its attachment as munpack
    takes it out."""
    published = DATA / "plain_jpeg_attached.eml"
    headers = {}
    for line in published.read_text(encoding="latin-1").split("\n\n", 1)[0].splitlines():
        name, _, value = line.partition(": ")
        if name in ("From", "To", "Subject", "Message-ID"):
            headers[name] = value.strip()
    row = {r["source"]: r for r in export(mail_case.case, "emails")}["/jpeg.msg"]
    assert (row["from"], row["to"], row["subject"]) == (headers["From"], headers["To"], headers["Subject"])
    assert row["ts"] == "2007-09-24T13:28:03Z"  # the published Date, Mon, 24 Sep 2007 15:28:03 +0200, in UTC
    assert len(row["received"]) == 5 and row["received"][-1].startswith("from matijs by apricot.matijs.net")
    out = tmp_path / "munpack"
    out.mkdir()
    subprocess.run(["munpack", "-q", "-C", str(out), str(published)], check=True, capture_output=True)
    jpeg = (out / "test.jpg").read_bytes()
    assert row["attachments"] == [{"name": "test.jpg", "size": len(jpeg)}]
    assert _files(mail_case.case)["/jpeg.msg!test.jpg"]["sha256"] == _sha256(jpeg)


def test_truncated_msg_is_a_ledger_line(mail_case: MailCase) -> None:
    info = run_cli("info", "--case", mail_case.case).stdout
    assert any("/truncated.msg" in line and "damaged Outlook message" in line for line in info.splitlines())


# ------------------------------------------------------------------ the attachment carried by SMTP


def _smtp_capture(path: Path, message: bytes) -> Path:
    session = pcapgen.TcpSession("10.0.0.1", "10.0.0.2", 40001, 25, t0=1_764_579_600.0)
    session.handshake()
    for from_client, data in [(False, b"220 mail.example.com ESMTP\r\n"), (True, b"EHLO laptop.example.org\r\n"),
                              (False, b"250 mail.example.com\r\n"), (True, b"MAIL FROM:<alice@example.org>\r\n"),
                              (False, b"250 OK\r\n"), (True, b"RCPT TO:<bob@example.com>\r\n"), (False, b"250 OK\r\n"),
                              (True, b"DATA\r\n"), (False, b"354 go ahead\r\n"), (True, message + b"\r\n.\r\n"),
                              (False, b"250 queued\r\n"), (True, b"QUIT\r\n"), (False, b"221 bye\r\n")]:
        session.frames.extend(session.segments(from_client, data, 1200))
    session.close()
    return pcapgen.write_pcap(path, session.frames)


def test_attachment_in_a_mailbox_on_disk_is_linked_to_the_smtp_capture(tmp_path: Path) -> None:
    invoice = _invoice()
    capture = _smtp_capture(tmp_path / "smtp.pcap", invoice)
    exported = tmp_path / "imf"
    subprocess.run(["tshark", "-r", str(capture), "-q", "--export-objects", f"imf,{exported}"], check=True,
                   capture_output=True)
    (message,) = list(exported.iterdir())
    carried = _ripmime(message, tmp_path / "rip")
    disk = tmp_path / "home"
    disk.mkdir()
    (disk / "Inbox.mbox").write_bytes(b"From alice@example.org Tue Dec  1 10:00:00 2026\n" + invoice + b"\n")
    case = tmp_path / "case"
    result = run_cli("scan", disk, capture, "--case", case, "--quiet")
    assert result.code == 0, result.stderr
    links = [f for f in export(case, "findings") if f["analyzer"] == "correlation"]
    linked = {f["object"] for f in links if "e-mail attachment report.bin" in f["title"]}
    assert linked == {"/Inbox.mbox!00001 Invoice für December.eml!report.bin"}
    files = _files(case)
    assert files["/Inbox.mbox!00001 Invoice für December.eml!report.bin"]["sha256"] == carried["report.bin"]
    assert os.path.getsize(capture) > len(invoice)


# ------------------------------------------------------------------ hostile input, without a scan


def test_hostile_attachment_names_stay_one_name() -> None:
    from cybertriage.evidence.base import BytesContent, ObjectRef
    from cybertriage.evidence.containers import ContainerLimits
    from cybertriage.evidence.containers.mail import EmlContainer

    message = (b"From: a@example.org\r\nMessage-ID: <h@example.org>\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
               + b"".join(b"--B\r\nContent-Disposition: attachment; filename=\"" + name + b"\"\r\n\r\nx\r\n"
                          for name in (b"../../etc/passwd", b"..\\\\evil.exe", b"same.txt", b"same.txt", b"\x07bell"))
               + b"--B--\r\n")
    with EmlContainer(BytesContent(message), ObjectRef("/m.eml"), ContainerLimits()) as container:
        names = [member.name for member in container.members]
    assert len(names) == len(set(names)) == 5
    assert all("/" not in name and "\\" not in name and name.isprintable() for name in names)
    assert "same.txt" in names and "same (2).txt" in names


def test_a_flood_of_messages_is_cut_at_the_member_limit_and_said() -> None:
    from cybertriage.analyzers.base import Item, Settings
    from cybertriage.analyzers.mail import MailMessages
    from cybertriage.evidence.base import BytesContent, EvidenceObject

    box = b"".join(b"From a@example.org Tue Dec  1 10:00:00 2026\nFrom: a@example.org\nMessage-ID: <%d@x>\n\nhi\n" % n
                   for n in range(50))
    obj = EvidenceObject(path="/flood.mbox", name="flood.mbox", size=len(box), content=BytesContent(box))
    item = Item(obj, head=box[:4096], data=box, content_read=True)
    found = list(MailMessages(Settings(archive_max_members=10)).analyze(item))
    children = [o for o in found if isinstance(o, EvidenceObject)]
    assert len(children) == 10
    assert [f.rule for f in found if not isinstance(f, EvidenceObject)] == ["too-many-members"]
    assert any("40 items past the member limit" in reason for _, reason in item.skipped)


def test_a_pst_message_and_its_attachment_are_read_back_as_scanned(mail_case: MailCase, tmp_path: Path) -> None:
    files = _files(mail_case.case)
    message = "/dist-list.pst!Top of Personal Folders/Calendar/00001 Test appointment.eml"
    wanted = [files[message], files[f"{message}!attachment-1"]]
    args = [arg for row in wanted for arg in ("--file", str(row["id"]))]
    result = run_cli("extract", "--case", mail_case.case, *args, "-o", tmp_path / "out")
    assert result.code == 0, result.stderr  # extract reads each again through the chain and checks its sha256
    digests = {_sha256(p.read_bytes()) for p in (tmp_path / "out").iterdir() if p.name != "export-manifest.csv"}
    assert digests == {row["sha256"] for row in wanted}


def test_a_store_message_without_transport_headers_gets_them_from_its_properties() -> None:
    """A message sent from the store keeps no transport headers: the Internet form is made from the properties
    put in here (a stand-in for libpff's message), and a line end in one makes no header of its own."""
    from types import SimpleNamespace

    from cybertriage.analyzers.mail import internet_values
    from cybertriage.evidence.containers.mail import parse_message
    from cybertriage.evidence.containers.pst import internet_form

    def entry(tag: int, text: str) -> SimpleNamespace:
        return SimpleNamespace(entry_type=tag, value_type=0x1F, get_data_as_string=lambda: text)

    properties = [entry(0x5D01, "mallory@example.org"), entry(0x0E04, "Bob; Carol"), entry(0x0E03, "Dave"),
                  entry(0x1035, "<sent-1@example.org>"), entry(0x1042, "<earlier@example.org>")]
    message = SimpleNamespace(
        transport_headers=None, sender_name="Mallory\r\nBcc: hidden@example.org", subject="Quarterly figures",
        client_submit_time=None, delivery_time=None, plain_text_body=b"see attached", html_body=None, rtf_body=None,
        attachments=[SimpleNamespace(long_filename="figures.xlsx", size=3, read_buffer=lambda size: b"abc")],
        number_of_record_sets=1, get_record_set=lambda number: SimpleNamespace(entries=properties))
    values = internet_values(parse_message(internet_form(message, [])))
    assert values["from"] == "Mallory Bcc: hidden@example.org <mallory@example.org>"
    assert (values["to"], values["cc"], values["subject"]) == ("Bob; Carol", "Dave", "Quarterly figures")
    assert (values["message_id"], values["in_reply_to"]) == ("<sent-1@example.org>", "<earlier@example.org>")
    assert "bcc" not in {name.lower() for name in parse_message(internet_form(message, [])).keys()}


class _FakeOle:
    """Streams by path, as olefile names them: enough of OleFileIO for a message's reading (no OLE writer is at
    hand to make a message holding another)."""

    def __init__(self, streams: dict[str, bytes]) -> None:
        self.streams = streams

    def exists(self, name: str) -> bool:
        return name.rstrip("/") in self.streams or any(s.startswith(name.rstrip("/") + "/") for s in self.streams)

    def openstream(self, name: str):
        import io

        return io.BytesIO(self.streams[name])

    def get_size(self, name: str) -> int:
        return len(self.streams[name])

    def listdir(self, streams: bool = True, storages: bool = False) -> list[list[str]]:
        found = {tuple(path.split("/")[:depth]) for path in self.streams for depth in range(1, path.count("/") + 1)}
        return [list(entry) for entry in sorted(found)]


def test_a_message_attached_to_a_saved_message_is_opened_as_one() -> None:
    from cybertriage.analyzers.mail import internet_values
    from cybertriage.evidence.base import BytesContent, ObjectRef
    from cybertriage.evidence.containers import ContainerLimits
    from cybertriage.evidence.containers.mail import EmlContainer
    from cybertriage.evidence.containers.msg import MsgContainer

    def text(value: str) -> bytes:
        return value.encode("utf-16-le")

    inner = "__attach_version1.0_#00000000/__substg1.0_3701000D/"
    zipped = b"PK\x03\x04 the forwarded message's own attachment"
    ole = _FakeOle({
        "__substg1.0_1000001F": text("see below"),
        "__attach_version1.0_#00000000/__substg1.0_3001001F": text("Original question"),
        inner + "__substg1.0_0037001F": text("Original question"),
        inner + "__substg1.0_0C1A001F": text("Carol"), inner + "__substg1.0_5D01001F": text("carol@example.net"),
        inner + "__substg1.0_0E04001F": text("Bob"), inner + "__substg1.0_1035001F": text("<q-1@example.net>"),
        inner + "__substg1.0_1000001F": text("What is the figure?"),
        inner + "__attach_version1.0_#00000000/__substg1.0_3707001F": text("figures.zip"),
        inner + "__attach_version1.0_#00000000/__substg1.0_37010102": zipped,
    })
    container = MsgContainer.__new__(MsgContainer)
    container.problems = []
    bodies, attachments = container._parts(ole)  # type: ignore[arg-type]
    assert bodies == [("body.txt", text("see below"))] and container.problems == []
    ((name, data),) = attachments
    assert name == "Original question.eml"
    with EmlContainer(BytesContent(data), ObjectRef(name), ContainerLimits()) as attached:
        values = internet_values(attached.message)
        assert {m.name: p.data for m, p in zip(attached.members, attached.parts)} == {
            "body.txt": text("What is the figure?"), "figures.zip": zipped}
    assert (values["from"], values["to"], values["subject"], values["message_id"]) == (
        "Carol <carol@example.net>", "Bob", "Original question", "<q-1@example.net>")


def test_parts_nested_thousands_deep_keep_the_headers_and_say_so() -> None:
    from cybertriage.analyzers.mail import message_record
    from cybertriage.evidence.base import BytesContent, ObjectRef
    from cybertriage.evidence.containers import ContainerLimits
    from cybertriage.evidence.containers.mail import EmlContainer

    nested = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (n, n + 1) for n in range(3000))
    message = (b"From: a@example.org\r\nSubject: deep\r\nMessage-ID: <deep@example.org>\r\n"
               b"Content-Type: multipart/mixed; boundary=b0\r\n\r\n" + nested)
    with EmlContainer(BytesContent(message), ObjectRef("/deep.eml"), ContainerLimits()) as container:
        record = message_record(container)
        assert container.members == [] and container.problems == [
            "MIME parts nested too deep to read: only the headers were read"]
    assert record is not None and (record.values["subject"], record.values["message_id"]) == ("deep", "<deep@example.org>")
