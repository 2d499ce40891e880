"""Finds the asset folders (rules/, ui/, resources/) in a checkout, an install, or a frozen bundle."""

from __future__ import annotations

import sys
from pathlib import Path


def asset_dir(name: str) -> Path:
    """The folder `name` shipped with cybertriage; raises FileNotFoundError if it is nowhere."""
    candidates = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        candidates.append(Path(bundle) / name)
    candidates.append(Path(__file__).resolve().parent.parent / name)  # source checkout
    candidates.append(Path(sys.prefix) / "share" / "cybertriage" / name)  # wheel data files
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cybertriage asset folder '{name}' not found")
