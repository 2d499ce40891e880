"""Network analysis of packet captures: flows, DNS, HTTP, TLS and the objects they carry.

    for record in analyse_capture(path, cancel):
        ...  # Flow | DnsRecord | HttpRecord | TlsRecord | SmtpRecord | FtpRecord | CredentialRecord
        # | ExtractedObject, then one CaptureSummary

SMTP (envelope, headers, MIME parts), FTP (commands, data connections) and cleartext credentials
(FTP, SMTP AUTH, HTTP Basic) are parsed too.

The names are imported on first use, not with the package: the scan's process unpickles the records that
the analysis child sends (`records.py`) and needs none of the protocol parsers (nor dpkt) to do so.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .analyse import CaptureAnalysis, NetSettings, analyse_capture
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

# Each name this package offers, and the module that defines it.
_HOMES = {"CaptureAnalysis": ".analyse", "NetSettings": ".analyse", "analyse_capture": ".analyse",
          **dict.fromkeys(("CaptureSummary", "CredentialRecord", "DnsRecord", "ExtractedObject", "Flow", "FtpRecord",
                           "HttpRecord", "NetRecord", "SmtpRecord", "TlsRecord", "iso_us"), ".records")}
__all__ = ["CaptureAnalysis", "CaptureSummary", "CredentialRecord", "DnsRecord", "ExtractedObject", "Flow", "FtpRecord",
           "HttpRecord", "NetRecord", "NetSettings", "SmtpRecord", "TlsRecord", "analyse_capture", "iso_us"]


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
