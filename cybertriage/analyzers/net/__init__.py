"""Network analysis of packet captures: flows, DNS, HTTP, TLS and the objects they carry.

    for record in analyse_capture(path, cancel):
        ...  # Flow | DnsRecord | HttpRecord | TlsRecord | SmtpRecord | FtpRecord | CredentialRecord
        # | ExtractedObject, then one CaptureSummary

SMTP (envelope, headers, MIME parts), FTP (commands, data connections) and cleartext credentials
(FTP, SMTP AUTH, HTTP Basic) are parsed too.
"""

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

__all__ = ["CaptureAnalysis", "CaptureSummary", "CredentialRecord", "DnsRecord", "ExtractedObject", "Flow", "FtpRecord",
           "HttpRecord", "NetRecord", "NetSettings", "SmtpRecord", "TlsRecord", "analyse_capture", "iso_us"]
