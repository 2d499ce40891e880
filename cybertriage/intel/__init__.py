"""Intelligence kept per workstation: known-file hash sets (NSRL, known-bad lists) and IOC lists."""

from __future__ import annotations

from ..case.intel_store import ENV_VARIABLE, HashSet, Intel, IocList, default_path, load_intel, resolve_path
from .hashsets import HashSetLookup, HashSetPassResult, ImportReport, KnownMatch, hash_set_pass, import_hash_set
from .ioc import PassResult, import_iocs, ioc_pass

__all__ = ["ENV_VARIABLE", "HashSet", "HashSetLookup", "HashSetPassResult", "ImportReport", "Intel", "IocList",
           "KnownMatch", "PassResult", "default_path", "hash_set_pass", "import_hash_set", "import_iocs", "ioc_pass",
           "load_intel", "resolve_path"]
