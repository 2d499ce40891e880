"""The exceptions the core raises; only cli.py and gui/ turn them into messages."""


class CybertriageError(Exception):
    """Root of every error the core raises on purpose."""


class EvidenceError(CybertriageError):
    """Evidence cannot be opened or read: empty, truncated, corrupt, missing, wrong kind."""


class UsageError(CybertriageError):
    """The examiner asked for something that cannot be done (bad option, missing case)."""


class DestinationRefused(UsageError):
    """An output would land on the case, its evidence, a symbolic link or an existing file (case/outputs.py)."""


class Cancelled(CybertriageError):
    """The examiner stopped the run; what was done so far is kept."""


class CaseError(CybertriageError):
    """The case database cannot be written (disk full, read-only folder, corrupt file)."""


class LabError(CybertriageError):
    """A throwaway lab server (PostgreSQL, Redis) cannot be started or stopped: a missing package, a refused port."""
