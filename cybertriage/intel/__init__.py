"""Intelligence kept per workstation: known-file hash sets (NSRL, known-bad lists) and IOC lists."""

from __future__ import annotations

from ..case.intel_store import ENV_VARIABLE, HashSet, HashSetLookup, Intel, IocList, KnownMatch, default_path, load_intel, resolve_path
from .hashsets import ImportReport, import_hash_set
from .ioc import import_iocs

__all__ = ["ENV_VARIABLE", "HashSet", "HashSetLookup", "ImportReport", "Intel", "IocList", "KnownMatch",
           "default_path", "import_hash_set", "import_iocs", "load_intel", "resolve_path"]
