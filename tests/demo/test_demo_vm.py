"""The demo's suspect's VM (resources/demo/demo-vm.qcow2): the disk is what its script builds, and its scan opens every
layer — the QCOW2 disk, the FAT volume, the tar.gz backup, the e-mail and its zip attachment — and flags the
PowerShell cradle inside them. Expected answers come from qemu-img, Sleuth Kit (mmls, fls, icat), GNU tar,
sha256sum, ripmime, unzip and the yara CLI, never from cybertriage."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import images
from tests.conftest import REPO, export, run_cli, sha256_of

DEMO = REPO / "resources" / "demo"
VM = DEMO / "demo-vm.qcow2"
BACKUP, MAIL = "/backup/documents.tar.gz", "/mail/invoice.eml"
CRADLE = f"{BACKUP}!documents/tools/update.ps1"
RULES = REPO / "rules" / "powershell.yar"
TOOLS = ("qemu-img", "mmls", "fls", "icat", "tar", "ripmime", "unzip", "yara", "sha256sum", "mcopy", "mkfs.fat")
pytestmark = pytest.mark.skipif(any(shutil.which(tool) is None for tool in TOOLS),
                                reason=f"needs {', '.join(TOOLS)}")


class Vm:
    """The VM's disk converted to raw by qemu-img, read with Sleuth Kit, and its scan by the command line."""

    def __init__(self, work: Path) -> None:
        self.raw = work / "demo-vm.raw"
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", VM, self.raw], check=True)
        [self.volume] = images.mmls_partitions(self.raw)
        self.fls = images.fls_records(self.raw, self.volume.offset)
        self.case = work / "case"
        result = run_cli("scan", VM, "--case", self.case, "--quiet")
        assert result.code == 0, result.stderr
        self.files = {row["path"]: row for row in export(self.case, "files")}

    def icat(self, path: str, dest: Path) -> Path:
        [inode] = [record.inode for record in self.fls if record.path == path]
        dest.write_bytes(subprocess.run(["icat", "-o", str(self.volume.start), self.raw, inode], capture_output=True,
                                        check=True).stdout)
        return dest


@pytest.fixture(scope="module")
def vm(tmp_path_factory: pytest.TempPathFactory) -> Vm:
    return Vm(tmp_path_factory.mktemp("demo-vm"))


def sha256sum(*paths: Path) -> dict[str, str]:
    """File name → sha256, as sha256sum prints them."""
    out = subprocess.run(["sha256sum", *map(str, paths)], capture_output=True, text=True, check=True).stdout
    return {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in out.splitlines()}


def yara_rules(target: Path) -> set[str]:
    out = subprocess.run(["yara", RULES, target], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines()}


def test_disk_is_what_its_script_makes(tmp_path: Path) -> None:
    rebuilt = tmp_path / "demo-vm.qcow2"
    subprocess.run([sys.executable, DEMO / "make_demo_vm.py", rebuilt], check=True, capture_output=True)
    assert sha256_of(rebuilt) == sha256_of(VM)


def test_listing_is_fls_of_the_raw_disk(vm: Vm, tmp_path: Path) -> None:
    assert vm.volume.start == 2048 and "FAT16" in vm.volume.description
    assert {path for path in vm.files if "!" not in path} == {record.path for record in vm.fls}
    for record in vm.fls:
        if record.meta_type == "r" and not record.virtual:
            assert vm.files[record.path]["sha256"] == sha256_of(vm.icat(record.path, tmp_path / "file")), record.path


def test_backup_members_are_tar_s(vm: Vm, tmp_path: Path) -> None:
    archive = vm.icat(BACKUP, tmp_path / "documents.tar.gz")
    names = subprocess.run(["tar", "-tzf", archive], capture_output=True, text=True, check=True).stdout.splitlines()
    members = {path.split("!", 1)[1] + ("/" if row["kind"] == "directory" else ""): row
               for path, row in vm.files.items() if path.startswith(f"{BACKUP}!")}
    assert sorted(members) == sorted(names) and f"{BACKUP}!documents/tools/update.ps1" == CRADLE
    out = tmp_path / "out"
    out.mkdir()
    subprocess.run(["tar", "-xzf", archive, "-C", out], check=True)
    files = [name for name in names if not name.endswith("/")]
    expected = sha256sum(*(out / name for name in files))
    assert {name: members[name]["sha256"] for name in files} == {name: expected[str(out / name)] for name in files}


def test_mail_attachment_is_ripmime_s(vm: Vm, tmp_path: Path) -> None:
    message = vm.icat(MAIL, tmp_path / "invoice.eml")
    out = tmp_path / "ripmime"
    out.mkdir()
    subprocess.run(["ripmime", "-i", message, "-d", out, "--no-nameless"], check=True, capture_output=True)
    attachments = sorted(path.name for path in out.iterdir())
    assert attachments == ["invoice_update.zip"]
    attachment = out / "invoice_update.zip"
    assert vm.files[f"{MAIL}!invoice_update.zip"]["sha256"] == sha256sum(attachment)[str(attachment)]
    script = subprocess.run(["unzip", "-p", attachment, "update.ps1"], capture_output=True, check=True).stdout
    (tmp_path / "update.ps1").write_bytes(script)
    assert vm.files[f"{MAIL}!invoice_update.zip!update.ps1"]["sha256"] == sha256_of(tmp_path / "update.ps1")
    # the very bytes of the demo laptop's download, as mtools reads them from demo-disk.img
    laptop = subprocess.run(["mcopy", "-n", "-i", f"{DEMO / 'demo-disk.img'}@@1048576",
                             "::Downloads/invoice_update.zip", "-"], capture_output=True, check=True,
                            env={"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/bin:/bin"}).stdout
    assert laptop == attachment.read_bytes()


def test_yara_flags_the_cradle_in_the_backup_and_the_attachment(vm: Vm, tmp_path: Path) -> None:
    archive = vm.icat(BACKUP, tmp_path / "documents.tar.gz")
    subprocess.run(["tar", "-xzf", archive, "-C", tmp_path, "documents/tools/update.ps1"], check=True)
    expected = yara_rules(tmp_path / "documents" / "tools" / "update.ps1")
    assert expected  # the bundled rules flag the cradle
    found: dict[str, set[str]] = {}
    for row in export(vm.case, "findings"):
        if row["analyzer"] == "yara":
            found.setdefault(row["object"], set()).add(row["rule"])
    assert found == {CRADLE: expected, f"{MAIL}!invoice_update.zip!update.ps1": expected}


def test_extract_reads_the_member_back_through_the_disk(vm: Vm, tmp_path: Path) -> None:
    member = vm.files[CRADLE]
    result = run_cli("extract", "--case", vm.case, "--file", str(member["id"]), "-o", tmp_path / "out")
    assert result.code == 0, result.stderr
    [written] = [path for path in (tmp_path / "out").iterdir() if path.name != "export-manifest.csv"]
    archive = vm.icat(BACKUP, tmp_path / "documents.tar.gz")
    expected = subprocess.run(["tar", "-xzOf", archive, "documents/tools/update.ps1"], capture_output=True,
                              check=True).stdout
    assert written.read_bytes() == expected and sha256_of(written) == member["sha256"]
