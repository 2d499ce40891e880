"""Analyzers: the file analyzers with their registry (`registry.py`), and the capture analysis (`net/`).

The registry's names are imported on first use, not with the package: the capture analysis runs in a
child process that needs none of the file analyzers, and importing them all (YARA, pefile, the
indicator patterns, the intel database) took 0.35 s at the start of every capture's analysis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Analyzer, Finding, Item, Settings
    from .registry import ANALYZERS, build_analyzers
    from .yara_scan import rule_files, ruleset_sha256

# Each name this package offers, and the module that defines it.
_HOMES = {"ANALYZERS": ".registry", "build_analyzers": ".registry", "Analyzer": ".base", "Finding": ".base",
          "Item": ".base", "Settings": ".base", "rule_files": ".yara_scan", "ruleset_sha256": ".yara_scan"}
__all__ = ["ANALYZERS", "Analyzer", "Finding", "Item", "Settings", "build_analyzers", "rule_files", "ruleset_sha256"]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
