"""Reading one file's bytes back from the evidence, for the hex and text views (no Qt here).

The core has no call yet that opens one object by its case row, so this opens
the evidence and walks its listing until it meets the object again: fine for
small images, slow on a large one (it runs on the thread pool, and can be
cancelled). Archive members cannot be reached this way.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ..errors import EvidenceError
from ..evidence import EvidenceObject, open_evidence

PREVIEW_BYTES = 64 * 1024


def read_head(row: dict[str, Any], *, length: int = PREVIEW_BYTES, cancel: threading.Event) -> bytes:
    """The first `length` bytes of the file described by a files-table row joined with its evidence path."""
    if row.get("parent_id") is not None:
        raise EvidenceError("content of an archive member cannot be read back yet (it lives inside its archive)")
    if row.get("kind") not in ("file", "virtual") or not row.get("size"):
        return b""
    source = open_evidence(Path(row["evidence"]))
    try:
        for obj in source.objects(cancel):
            if not isinstance(obj, EvidenceObject):  # a capture also yields its protocol records
                continue
            if (obj.path == row["path"] and obj.partition_offset == row["partition_offset"]
                    and (row.get("inode") is None or obj.inode == row["inode"])):
                if obj.content is None:
                    raise EvidenceError(obj.unreadable or "no readable content")
                try:
                    return obj.content.read_at(0, min(length, obj.size))
                except OSError as error:
                    raise EvidenceError(f"content unreadable: {error}") from None
        if cancel.is_set():
            raise EvidenceError("cancelled")
        raise EvidenceError("the file was not found again in the evidence")
    finally:
        source.close()
