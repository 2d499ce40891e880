"""The case: one SQLite database per case folder, written by one writer, read by everyone else."""

from .store import CASE_DB, SEVERITY_RANK, CaseWriter, add_tag, audit, open_case, utc_now

__all__ = ["CASE_DB", "SEVERITY_RANK", "CaseWriter", "add_tag", "audit", "open_case", "utc_now"]
