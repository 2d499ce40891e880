"""Finds the asset folders (rules/, ui/, resources/) in a checkout, an install, or a frozen bundle."""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

# Where build_installer.spec puts libmagic's compiled database inside the frozen bundle.
BUNDLED_MAGIC_DATABASE = Path("libmagic") / "magic.mgc"


def bundle_dir() -> Path | None:
    """The folder a PyInstaller bundle unpacks its files to (`sys._MEIPASS`), or None when not frozen."""
    bundle = getattr(sys, "_MEIPASS", None)
    return Path(bundle) if bundle else None


def _installed_data_dirs() -> list[Path]:
    """Where pip puts a wheel's data files: `<scheme data>/share/cybertriage`, for this interpreter and the user."""
    schemes = [sysconfig.get_default_scheme()]
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        schemes.append(user_scheme)
    return [Path(sysconfig.get_path("data", scheme)) / "share" / "cybertriage" for scheme in schemes]


def asset_dir(name: str) -> Path:
    """The folder `name` shipped with cybertriage; raises FileNotFoundError if it is nowhere."""
    candidates = []
    bundle = bundle_dir()
    if bundle is not None:
        candidates.append(bundle / name)
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():  # a source checkout, not site-packages (other wheels ship 'resources/' too)
        candidates.append(checkout / name)
    candidates.extend(folder / name for folder in _installed_data_dirs())
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cybertriage asset folder '{name}' not found")


def use_bundled_magic_database() -> None:
    """Frozen: make libmagic read the database bundled with it (MAGIC), not one the workstation may lack or
    have in another, incompatible version, and libarchive-c load the libarchive bundled with it. Without a bundle
    this does nothing."""
    bundle = bundle_dir()
    if bundle is not None and (bundle / BUNDLED_MAGIC_DATABASE).is_file():
        os.environ["MAGIC"] = str(bundle / BUNDLED_MAGIC_DATABASE)
    # libarchive-c finds its library through LIBARCHIVE or the system's library search, which a workstation
    # without libarchive fails: the bundle carries it at its top (build_installer.spec).
    libarchive = next(iter(sorted(bundle.glob("libarchive.so*"))), None) if bundle is not None else None
    if libarchive is not None and "LIBARCHIVE" not in os.environ:
        os.environ["LIBARCHIVE"] = str(libarchive)
