"""The case: one SQLite database per case folder, written by one writer, read by everyone else."""

from .store import CASE_DB, CaseWriter, add_tag, audit, open_case

__all__ = ["CASE_DB", "CaseWriter", "add_tag", "audit", "open_case"]
