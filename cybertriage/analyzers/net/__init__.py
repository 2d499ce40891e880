"""Network analysis of packet captures: flows, DNS, HTTP, TLS and the objects they carry.

    for record in analyse_capture(path, cancel):
        ...  # Flow | DnsRecord | HttpRecord | TlsRecord | SmtpRecord | FtpRecord | CredentialRecord
        # | ExtractedObject, then one CaptureSummary

SMTP (envelope, headers, MIME parts), FTP (commands, data connections) and cleartext credentials
(FTP, SMTP AUTH, HTTP Basic) are parsed too.

A scan runs the analysis in a child process: it opens a capture with `analyse_in_child` as its protocol
analysis (`open_evidence(path, capture_analysis=analyse_in_child)`), and the capture evidence streams the
records back.

The names are imported on first use, not with the package: the scan's process unpickles the records that
the analysis child sends (`records.py`) and needs none of the protocol parsers (nor dpkt) to do so.
"""

from __future__ import annotations

import gc
import importlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .analyse import CaptureAnalysis, analyse_capture
    from .records import (
        CaptureSummary,
        CredentialRecord,
        DnsRecord,
        ExtractedObject,
        Flow,
        FtpRecord,
        HttpRecord,
        NetRecord,
        SmtpRecord,
        TlsRecord,
        iso_us,
    )
    from .settings import NetSettings

# Each name this package offers, and the module that defines it.
_HOMES = {"CaptureAnalysis": ".analyse", "NetSettings": ".settings", "analyse_capture": ".analyse",
          **dict.fromkeys(("CaptureSummary", "CredentialRecord", "DnsRecord", "ExtractedObject", "Flow", "FtpRecord",
                           "HttpRecord", "NetRecord", "SmtpRecord", "TlsRecord", "iso_us"), ".records")}
__all__ = ["CaptureAnalysis", "CaptureSummary", "CredentialRecord", "DnsRecord", "ExtractedObject", "Flow", "FtpRecord",
           "HttpRecord", "NetRecord", "NetSettings", "SmtpRecord", "TlsRecord", "analyse_capture", "analyse_in_child",
           "iso_us"]
# New container objects between two young-generation runs of the cycle collector while a capture is analysed
# (Python's default: 700). The analysis breaks each flow's cycles when the flow ends, so the collector finds
# little; run at the default rate it walked every open flow again and again (a port scan's 500,000 open flows:
# 5.6 of 12.5 CPU-s, against 1.4 of 8.1 at this rate; the peak RSS the same).
COLLECT_EVERY = 50_000
# Records that are only rows travel in batches of rows (RecordRows), sent when this many are waiting or when the
# oldest has waited this long (the watchdog's flushes keep to the same pace).
ROWS_PER_BATCH = 256
ROWS_SECONDS = 0.05


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def analyse_in_child(send: Callable[[Any], None], stop: threading.Event, path: str) -> None:
    """In the analysis process (the watchdog's target): every record of the capture, in the order the analysis
    completes them, and now and then the number of bytes of the capture read since the last number."""
    from .analyse import analyse_capture
    from .records import ROW_KINDS, RecordRows

    batches: dict[type, RecordRows] = {}  # per record class, the rows not sent yet
    due = time.monotonic() + ROWS_SECONDS

    def send_rows() -> None:
        nonlocal due
        for batch in batches.values():
            send(batch)
        batches.clear()
        due = time.monotonic() + ROWS_SECONDS

    default = gc.get_threshold()
    gc.set_threshold(COLLECT_EVERY, *default[1:])  # in the analysis process only, and for this capture only
    try:
        for record in analyse_capture(Path(path), stop, progress=send):
            if record.KIND not in ROW_KINDS:
                if record.KIND == "capture_summary":
                    send_rows()  # the summary comes last
                send(record)
                continue
            batch = batches.get(record.__class__)
            if batch is None:
                batch = batches[record.__class__] = RecordRows.of(record)
            batch.values.append(record.row_values())
            if len(batch.values) >= ROWS_PER_BATCH or time.monotonic() >= due:
                send_rows()
    finally:
        send_rows()  # what was found before an error or a cancel is kept
        gc.set_threshold(*default)
