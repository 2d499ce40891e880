"""build_installer.spec and the asset look-up, without building: the spec runs against stand-ins for
PyInstaller's build classes that record what they are given; the wheel is built (not installed with its
dependencies) to see that it carries the asset folders and that cybertriage.assets finds them installed.

The full frozen build and its smoke test are `make installer-check` (minutes, not part of this suite)."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import pytest

from cybertriage import assets
from tests.conftest import REPO

SPEC = REPO / "build_installer.spec"
ASSET_FOLDERS = ("rules", "ui", "resources")
MGC_MAGIC = (0xF11E041C).to_bytes(4, "little")  # file(1)'s compiled-database header (magic.h MAGICNO)


@dataclass
class Recorded:
    """What the spec gave one of PyInstaller's build classes."""
    kind: str
    args: tuple
    kwargs: dict
    pure: list = field(default_factory=list)
    scripts: list = field(default_factory=list)
    binaries: list = field(default_factory=list)
    datas: list = field(default_factory=list)


@pytest.fixture(scope="module")
def spec_run() -> list[Recorded]:
    """Every build-class call the spec makes, in order, with SPECPATH the checkout as PyInstaller sets it."""
    calls: list[Recorded] = []

    def recorder(kind: str):
        def build(*args, **kwargs) -> Recorded:
            call = Recorded(kind, args, kwargs, binaries=list(kwargs.get("binaries", [])),
                            datas=list(kwargs.get("datas", [])))
            calls.append(call)
            return call
        return build

    namespace = {name: recorder(name) for name in ("Analysis", "PYZ", "EXE", "COLLECT")}
    namespace.update(SPECPATH=str(REPO), DISTPATH=str(REPO / "dist"), workpath=str(REPO / "build"), os=os)
    exec(compile(SPEC.read_bytes(), str(SPEC), "exec"), namespace)
    return calls


def _of(calls: list[Recorded], kind: str) -> list[Recorded]:
    return [call for call in calls if call.kind == kind]


def test_two_executables_share_one_folder(spec_run: list[Recorded]) -> None:
    analyses, executables, collects = _of(spec_run, "Analysis"), _of(spec_run, "EXE"), _of(spec_run, "COLLECT")
    assert [(exe.kwargs["name"], exe.kwargs["console"]) for exe in executables] == [
        ("cybertriage", True), ("cybertriage-gui", False)]
    assert all(exe.kwargs["exclude_binaries"] for exe in executables)  # libraries go to the shared folder
    assert len(collects) == 1 and collects[0].kwargs["name"] == "cybertriage"
    assert all(any(arg is exe for arg in collects[0].args) for exe in executables)
    for analysis in analyses:
        (script,) = analysis.args[0]
        assert Path(script).is_file() and Path(script).is_relative_to(REPO)
        for hooks in analysis.kwargs["hookspath"]:
            assert (Path(hooks) / "hook-PySide6.QtGui.py").is_file()


def test_asset_folders_listed(spec_run: list[Recorded]) -> None:
    for analysis in _of(spec_run, "Analysis"):
        for name in ASSET_FOLDERS:
            assert (str(REPO / name), name) in analysis.datas, name
            assert (REPO / name).is_dir()


def test_qt_platform_plugins_listed(spec_run: list[Recorded]) -> None:
    wanted = {"linux": ("libqxcb", "libqoffscreen"), "win32": ("qwindows", "qoffscreen"),
              "darwin": ("libqcocoa", "libqoffscreen")}[sys.platform]
    for analysis in _of(spec_run, "Analysis"):
        plugins = {Path(source).name.split(".")[0]: (Path(source), destination) for source, destination in analysis.binaries
                   if PurePath(destination).name == "platforms"}
        assert sorted(plugins) == sorted(wanted)
        for source, destination in plugins.values():
            assert source.is_file()
            assert PurePath(destination).parts[0] == "PySide6"  # where PyInstaller's PySide6 hooks put Qt


def test_libmagic_and_its_database_bundled(spec_run: list[Recorded]) -> None:
    analysis = _of(spec_run, "Analysis")[0]
    libraries = [Path(source) for source, destination in analysis.binaries if Path(source).name.startswith("libmagic")]
    assert len(libraries) == 1 and libraries[0].is_file()
    assert (str(libraries[0]), ".") in analysis.binaries  # top of the bundle: PyInstaller's ctypes loader looks there
    databases = [(Path(source), destination) for source, destination in analysis.datas if source.endswith(".mgc")]
    assert [destination for _, destination in databases] == [assets.BUNDLED_MAGIC_DATABASE.parent.as_posix()]
    assert databases[0][0].name == assets.BUNDLED_MAGIC_DATABASE.name
    assert databases[0][0].read_bytes()[:4] == MGC_MAGIC
    file_tool = shutil.which("file")
    if file_tool and shutil.which("ldd") and sys.platform == "linux":  # the libmagic file(1) itself uses
        linked = subprocess.run(["ldd", file_tool], capture_output=True, text=True, check=True).stdout
        used = next(line.split("=>")[1].split("(")[0].strip() for line in linked.splitlines() if "libmagic" in line)
        assert os.path.samefile(used, libraries[0])


def test_reportlab_fonts_bundled(spec_run: list[Recorded]) -> None:
    import reportlab

    fonts = Path(reportlab.__file__).parent / "fonts"
    assert (str(fonts), "reportlab/fonts") in _of(spec_run, "Analysis")[0].datas
    assert any(fonts.glob("*.ttf")) and any(fonts.glob("*.afm"))


def test_no_hard_coded_locations(spec_run: list[Recorded]) -> None:
    """Nothing in the spec names a place on the build machine; every bundle destination is relative."""
    tree = ast.parse(SPEC.read_text())
    pieces = {id(part) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for part in node.values}
    literals = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
                and id(node) not in pieces]  # a whole string, not the '/fonts' of f"{package}/fonts"
    assert not [text for text in literals if text.startswith(("/", "~")) or "site-packages" in text
                or "/usr/" in text or ":\\" in text], "absolute paths in build_installer.spec"
    for analysis in _of(spec_run, "Analysis"):
        for source, destination in analysis.datas + analysis.binaries:
            assert not PurePath(destination).is_absolute() and ".." not in PurePath(destination).parts, destination
            assert Path(source).exists(), source


def test_excluded_qt_modules_unused_by_the_gui(spec_run: list[Recorded]) -> None:
    imported = set()
    for path in (REPO / "cybertriage" / "gui").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("PySide6."):
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names if alias.name.startswith("PySide6."))
    assert imported, "cybertriage/gui imports no PySide6 module?"
    for analysis in _of(spec_run, "Analysis"):
        assert not imported & set(analysis.kwargs["excludes"])


def test_assets_found_in_a_frozen_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ASSET_FOLDERS:
        (tmp_path / name).mkdir()
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    for name in ASSET_FOLDERS:
        assert assets.asset_dir(name) == tmp_path / name
    with pytest.raises(FileNotFoundError):
        assets.asset_dir("no-such-folder")


def test_frozen_bundle_points_libmagic_at_its_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAGIC", "/somewhere/else.mgc")
    assets.use_bundled_magic_database()  # not frozen: the environment is left alone
    assert os.environ["MAGIC"] == "/somewhere/else.mgc"
    database = tmp_path / assets.BUNDLED_MAGIC_DATABASE
    database.parent.mkdir()
    database.write_bytes(MGC_MAGIC)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assets.use_bundled_magic_database()
    assert os.environ["MAGIC"] == str(database)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built as pip builds it (the build-system of pyproject.toml, from PyPI) from a copy
    of the checkout, since a build leaves files behind."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("cybertriage", *ASSET_FOLDERS):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("wheel")
    # Its compiled modules unoptimised (gcc takes the last -O): what is checked here is what the wheel carries, not
    # its speed, and the build took 59 s as released (72 s inside the suite), 13 s with -O0.
    environment = {**os.environ, "CFLAGS": f"{os.environ.get('CFLAGS', '')} -O0"}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)],
                   check=True, timeout=300, capture_output=True, env=environment)
    (built,) = out.glob("cybertriage-*.whl")
    return built


def test_wheel_carries_the_asset_folders(wheel: Path) -> None:
    on_disk = {path.relative_to(REPO).as_posix() for name in ASSET_FOLDERS for path in (REPO / name).rglob("*")
               if path.is_file() and "__pycache__" not in path.parts}
    with zipfile.ZipFile(wheel) as archive:
        data = {name.split("/data/share/cybertriage/", 1)[1] for name in archive.namelist()
                if "/data/share/cybertriage/" in name}
    assert data == on_disk


def test_installed_wheel_finds_its_assets(wheel: Path, tmp_path: Path) -> None:
    """Installed without its dependencies (cybertriage.assets needs none) into a bare venv, run from elsewhere."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
                   check=True, timeout=300, capture_output=True)
    found = subprocess.run(
        [str(python), "-c", "from cybertriage.assets import asset_dir; print(*(asset_dir(n) for n in ('rules', 'ui', 'resources')))"],
        check=True, timeout=60, capture_output=True, text=True, cwd=tmp_path, env={"PATH": os.environ.get("PATH", "")})
    expected = [venv / "share" / "cybertriage" / name for name in ASSET_FOLDERS]
    assert [Path(path) for path in found.stdout.split()] == expected
    assert (expected[0] / "eicar.yar").read_bytes() == (REPO / "rules" / "eicar.yar").read_bytes()


def test_modules_loaded_by_name_are_bundled(spec_run: list[Recorded]) -> None:
    """The worker's thread pool and Redis transport, and sqlglot's two dialects, are imported by name at run time."""
    for analysis in _of(spec_run, "Analysis"):
        hidden = set(analysis.kwargs["hiddenimports"])
        assert {"celery.concurrency.thread", "kombu.transport.redis", "celery.app.amqp", "sqlglot.dialects.sqlite",
                "sqlglot.dialects.postgres"} <= hidden
        assert not any(".tests" in name for name in hidden)
