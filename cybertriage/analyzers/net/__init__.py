"""Network analysis of packet captures: flows, DNS, HTTP, TLS and the objects they carry.

    for record in analyse_capture(path, cancel):
        ...  # Flow | DnsRecord | HttpRecord | TlsRecord | ExtractedObject, then one CaptureSummary

SMTP and FTP are recognised (Flow.app) but not parsed yet; credentials are not extracted yet.
"""

from .analyse import CaptureAnalysis, NetSettings, analyse_capture
from .records import CaptureSummary, DnsRecord, ExtractedObject, Flow, HttpRecord, NetRecord, TlsRecord, iso_us

__all__ = ["CaptureAnalysis", "CaptureSummary", "DnsRecord", "ExtractedObject", "Flow", "HttpRecord", "NetRecord",
           "NetSettings", "TlsRecord", "analyse_capture", "iso_us"]
