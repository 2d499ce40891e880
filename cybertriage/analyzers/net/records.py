"""What capture analysis produces: plain dataclasses, one per kind of network record.

Every record has `KIND` (the case table it belongs in) and `flow_id` (the `Flow.id` of the
connection it came from, unique within one capture). Flows are yielded when they end
(FIN/RST, idle timeout or end of capture), so a flow's DNS/HTTP/TLS records usually come
before the flow itself. Times are ISO 8601 UTC strings with microseconds
("2011-03-18T19:06:08.123456Z"); addresses are text (IPv6 compressed, as `ipaddress` writes).
"""

from __future__ import annotations

import dataclasses
import json
import operator
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from json.encoder import encode_basestring  # the encoder's own, when ensure_ascii is off
from typing import Any, ClassVar

_ISO_SECONDS: dict[int, str] = {}


def iso_us(ts_ns: int) -> str:
    """Integer nanoseconds since the epoch → ISO 8601 UTC with microseconds (truncated, as tcpdump does)."""
    seconds, ns = divmod(ts_ns, 1_000_000_000)
    prefix = _ISO_SECONDS.get(seconds)
    if prefix is None:
        try:
            parts = time.gmtime(seconds)
        except (OverflowError, OSError, ValueError):
            return "1970-01-01T00:00:00.000000Z"
        prefix = (f"{parts.tm_year:04d}-{parts.tm_mon:02d}-{parts.tm_mday:02d}T"
                  f"{parts.tm_hour:02d}:{parts.tm_min:02d}:{parts.tm_sec:02d}.")
        if len(_ISO_SECONDS) > 4096:
            _ISO_SECONDS.clear()
        _ISO_SECONDS[seconds] = prefix
    return f"{prefix}{ns // 1000:06d}Z"


class _Record:
    KIND: ClassVar[str]

    def row(self) -> dict[str, Any]:
        """Fields as a row of the record's case table, lists as JSON text (as sqlite-utils stores them)."""
        return dict(zip(_Layout.of(self.__class__).names, self.row_values()))

    def row_values(self) -> tuple:
        """The row's values, in the order of the record's fields."""
        layout = _Layout.of(self.__class__)
        values = layout.values(self)
        if not layout.lists:
            return values
        listed = list(values)
        for index in layout.list_indexes:
            value = listed[index]
            if value.__class__ is list:
                listed[index] = _list_text(value) if value else "[]"
        return tuple(listed)

    def __reduce__(self) -> tuple[type, tuple]:
        """Pickled as the class and its field values: records go from the analysis process to the scan's in
        batches, and this way costs half the time of pickle's default for slotted classes on either side."""
        return self.__class__, _Layout.of(self.__class__).values(self)


@dataclass(frozen=True)
class _Layout:
    """A record class's fields, read all at once (`operator.attrgetter` runs in C): the scan's process turns
    tens of thousands of records per capture into rows."""

    names: tuple[str, ...]
    values: Callable[[Any], tuple]  # a record → its field values, in `names` order (every record has several)
    lists: tuple[str, ...]  # the fields that hold lists
    list_indexes: tuple[int, ...]  # and where they are in `names`

    @staticmethod
    def of(cls: type) -> _Layout:
        layout = _LAYOUTS.get(cls)
        if layout is None:
            fields = dataclasses.fields(cls)
            names = tuple(f.name for f in fields)
            lists = tuple(f.name for f in fields if f.default_factory is list)
            layout = _LAYOUTS[cls] = _Layout(names, operator.attrgetter(*names), lists,
                                             tuple(names.index(name) for name in lists))
        return layout


_LAYOUTS: dict[type, _Layout] = {}
_json_text = json.JSONEncoder(ensure_ascii=False).encode  # json.dumps(value, ensure_ascii=False), without an encoder per call


def _list_text(value: list) -> str:
    """A list as JSON text, as json.dumps(value, ensure_ascii=False) writes it. A list of strings is written with the
    encoder's own string function: the encoder made a C encoder object for every list (a DNS flood's 500,000 answer
    lists: 7 % of its analysis process)."""
    if all(item.__class__ is str for item in value):
        return "[" + ", ".join(map(encode_basestring, value)) + "]"
    return _json_text(value)


@dataclass(slots=True)
class Flow(_Record):
    """One connection (TCP) or conversation (UDP, ICMP, other IP protocols), oriented
    originator → responder the way Zeek orients it: the SYN sender, else the first sender
    unless only the other side uses a well-known port."""

    KIND: ClassVar[str] = "flow"
    id: int
    src: str
    sport: int
    dst: str
    dport: int
    proto: str  # tcp | udp | icmp | icmp6 | sctp | gre | esp | ip-<number>
    first_seen: str
    last_seen: str
    duration: float
    orig_packets: int
    resp_packets: int
    orig_bytes: int  # IP bytes (IP header total length), per direction
    resp_bytes: int
    orig_payload: int  # transport payload bytes (TCP: sequence space covered, as Zeek counts)
    resp_payload: int
    packets: int
    bytes: int
    app: str | None  # http dns tls smtp ftp ftp-data pop3 imap ssh or None, told from content (ftp-data: announced on FTP)
    state: str | None  # Zeek conn_state: S0 S1 SF REJ S2 S3 RSTO RSTR RSTOS0 RSTRH SH SHR OTH
    history: str  # Zeek history letters (S h A D F R; T: a retransmission carried other bytes than the first copy;
    # upper case from the originator, ^ = flipped)
    missing_bytes: int = 0  # TCP payload never seen (capture loss), both directions
    gaps: int = 0  # holes in the reassembled streams
    ended: str = "end of capture"  # fin | rst | idle | end of capture | evicted
    vlan: int | None = None  # outermost 802.1Q VLAN id, when tagged
    ip_version: int = 4


@dataclass(slots=True)
class DnsRecord(_Record):
    """One DNS transaction (query matched with its response by transaction id), or an
    unanswered query, or a response whose query was not seen — the way Zeek's dns.log counts."""

    KIND: ClassVar[str] = "dns"
    ts: str
    src: str
    sport: int
    dst: str
    dport: int
    proto: str  # udp | tcp
    trans_id: int
    query: str | None
    qtype: str | None  # name (A, AAAA, TXT, ...) or TYPE<n>
    qclass: int | None
    answers: list[str] = field(default_factory=list)  # A/AAAA addresses, names for CNAME/PTR/NS/MX/SRV, text for TXT
    ttls: list[int] = field(default_factory=list)
    rcode: str | None = None  # NOERROR, NXDOMAIN, ... ; None when no response was seen
    flow_id: int = 0
    rtt: float | None = None
    authority: list[str] = field(default_factory=list)  # "name TYPE value" of the authority section (NS, SOA)
    additional: list[str] = field(default_factory=list)  # "name TYPE value" of the additional section (EDNS OPT left out)


@dataclass(slots=True)
class HttpRecord(_Record):
    """One HTTP/1.x request and its response (either may be missing)."""

    KIND: ClassVar[str] = "http"
    ts: str
    src: str
    sport: int
    dst: str
    dport: int
    method: str | None
    host: str | None
    uri: str | None
    version: str | None  # of the response when there is one (as Zeek logs it), else of the request
    user_agent: str | None
    referrer: str | None
    status: int | None
    reason: str | None
    content_type: str | None  # of the response
    body_size: int  # decoded (de-chunked, decompressed) response body size
    body_sha256: str | None  # of the decoded response body; None when there is none
    request_content_type: str | None = None
    request_body_size: int = 0
    request_body_sha256: str | None = None
    info_code: int | None = None  # last 1xx status seen before the final one
    content_encoding: str | None = None
    body_complete: bool = True  # False: cut by a gap, the end of capture, a size cap or a decoding error
    trans_depth: int = 1  # position of this request in its connection
    flow_id: int = 0
    request_headers: list[list[str]] = field(default_factory=list)  # [name, value] as written, in order
    response_headers: list[list[str]] = field(default_factory=list)


@dataclass(slots=True)
class TlsRecord(_Record):
    """One TLS (or SSL 3) handshake as seen in clear: hellos, fingerprints and, up to TLS 1.2,
    the server's certificate chain."""

    KIND: ClassVar[str] = "tls"
    ts: str
    src: str
    sport: int
    dst: str
    dport: int
    sni: str | None
    version: str | None  # negotiated: SSLv3, TLSv1.0 ... TLSv1.3 (from supported_versions when present)
    client_version: str | None  # ClientHello legacy_version
    offered_versions: list[str] = field(default_factory=list)  # supported_versions extension, GREASE removed
    cipher_suites: list[int] = field(default_factory=list)  # as offered, GREASE removed
    cipher: str | None = None  # chosen by the server, IANA name
    alpn: list[str] = field(default_factory=list)
    ja3: str | None = None
    ja3_string: str | None = None
    ja3s: str | None = None
    ja3s_string: str | None = None
    cert_subject: str | None = None  # server (leaf) certificate, RFC 4514 string as Zeek/OpenSSL print it
    cert_issuer: str | None = None
    cert_not_before: str | None = None
    cert_not_after: str | None = None
    cert_serial: str | None = None  # upper-case hex
    cert_san_dns: list[str] = field(default_factory=list)
    cert_chain_sha256: list[str] = field(default_factory=list)  # DER fingerprints, leaf first
    cert_chain_subjects: list[str] = field(default_factory=list)
    established: bool = False  # both sides switched to encrypted records
    flow_id: int = 0
    cert_chain_issuers: list[str] = field(default_factory=list)  # each certificate's, as cert_chain_subjects
    cert_chain_not_before: list[str] = field(default_factory=list)  # "" when a certificate's cannot be read
    cert_chain_not_after: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ExtractedObject(_Record):
    """Content carried by a protocol (an HTTP body), with enough to hash, type and scan it.

    `data` holds at most the analysis's object cap; `size` and `sha256` are those of the whole
    decoded content even when `data` was cut (`truncated`).
    """

    KIND: ClassVar[str] = "extracted_object"
    name: str  # safe file name: from Content-Disposition or the URI's last segment
    source: Any = field(repr=False)  # the record it came from (HttpRecord, SmtpRecord or FtpRecord)
    direction: str  # request | response
    size: int
    sha256: str
    data: bytes = field(repr=False)
    truncated: bool = False
    content_type: str | None = None
    flow_id: int = 0


@dataclass(slots=True)
class SmtpRecord(_Record):
    """One SMTP mail transaction (MAIL FROM ... end of DATA), or the session's STARTTLS point
    (`starttls` True: nothing after it is in clear). Header fields come from the message itself."""

    KIND: ClassVar[str] = "smtp"
    ts: str
    src: str
    sport: int
    dst: str
    dport: int
    helo: str | None  # EHLO/HELO argument
    mail_from: str | None  # MAIL FROM address, angle brackets and parameters removed
    rcpt_to: list[str] = field(default_factory=list)  # RCPT TO addresses, in order
    subject: str | None = None
    header_from: str | None = None  # From: header, as written
    header_to: list[str] = field(default_factory=list)  # To: header, split on commas
    cc: list[str] = field(default_factory=list)
    reply_to: str | None = None
    date: str | None = None  # Date: header, as written
    message_id: str | None = None
    in_reply_to: str | None = None
    user_agent: str | None = None  # User-Agent, else X-Mailer
    starttls: bool = False  # STARTTLS was accepted: the session is encrypted from here on
    attachments: list[str] = field(default_factory=list)  # names of the MIME parts extracted as objects
    message_size: int = 0  # bytes of the message (after dot-unstuffing) seen on the wire
    message_complete: bool = True  # False: cut by a gap, the end of the capture or the size cap
    trans_depth: int = 1  # position of this transaction in its connection
    flow_id: int = 0


@dataclass(slots=True)
class FtpRecord(_Record):
    """One FTP command on a control connection with its final reply; for transfers, the data
    connection (PORT/PASV/EPRT/EPSV) and what went over it, when that connection was seen."""

    KIND: ClassVar[str] = "ftp"
    ts: str
    src: str
    sport: int
    dst: str
    dport: int
    user: str | None  # last USER argument before this command
    command: str  # upper case
    arg: str | None
    reply_code: int | None = None  # final (non-1xx) reply; None when none was seen
    reply_msg: str | None = None  # text of the final reply (first line)
    url: str | None = None  # transfer commands: ftp://<server>/<path> (Zeek's arg)
    data_passive: bool | None = None  # PASV/EPSV True, PORT/EPRT False (on the command that set it up)
    data_orig_h: str | None = None  # expected data connection: who connects ...
    data_resp_h: str | None = None  # ... to which address ...
    data_resp_p: int | None = None  # ... and port
    data_flow_id: int | None = None  # transfer commands: the data connection's Flow.id, when seen
    file_size: int | None = None  # transfer commands: bytes carried by the data connection
    file_sha256: str | None = None
    file_complete: bool | None = None  # False: gap, cap or the data connection not closed cleanly
    flow_id: int = 0


@dataclass(slots=True)
class CredentialRecord(_Record):
    """A user name and password sent in clear (FTP USER/PASS, SMTP/POP3/IMAP AUTH PLAIN/LOGIN, POP3
    USER/PASS and APOP, IMAP LOGIN, HTTP Basic and POST login forms). Stored as seen: masking is the
    report's business."""

    KIND: ClassVar[str] = "credential"
    ts: str
    src: str
    sport: int
    dst: str
    dport: int
    protocol: str  # ftp | smtp | http | pop3 | imap
    username: str | None
    password: str | None  # None when only the user name crossed in clear (POP3 APOP sends a digest)
    where: str  # e.g. "FTP PASS", "SMTP AUTH LOGIN", "HTTP Basic for host/uri", "HTTP POST form to host/uri"
    accepted: bool | None = None  # from the server's reply when it is known (FTP 230/530, SMTP 235/535, +OK/-ERR, OK/NO)
    flow_id: int = 0


@dataclass(slots=True)
class HostRecord(_Record):
    """One IP address of a capture: how it showed itself (link addresses, names, the ports it
    answered on) and how much it sent and received. Emitted at the end of the capture."""

    KIND: ClassVar[str] = "host"
    address: str
    ip_version: int
    macs: list[str] = field(default_factory=list)  # link-layer source addresses of its packets (aa:bb:cc:dd:ee:ff)
    names: list[str] = field(default_factory=list)  # every name below, once, sorted
    dns_names: list[str] = field(default_factory=list)  # names whose DNS answers gave this address
    http_hosts: list[str] = field(default_factory=list)  # Host headers of HTTP requests sent to it (port removed)
    tls_names: list[str] = field(default_factory=list)  # TLS SNI of handshakes with it as the server
    open_ports: list[str] = field(default_factory=list)  # "tcp/80", "udp/53": ports it answered on as a server
    flows: int = 0
    packets_out: int = 0
    packets_in: int = 0
    bytes_out: int = 0  # IP bytes it sent
    bytes_in: int = 0
    first_seen: str | None = None
    last_seen: str | None = None


# The records that are nothing but a row of their table in the case: the analysis sends them as RecordRows.
ROW_KINDS = frozenset(("flow", "dns", "http", "tls", "smtp", "ftp", "host"))


@dataclass(slots=True)
class RecordRows:
    """Records of one kind as rows of their table: the field names once, then each record's values (lists as
    JSON text). The analysis sends these across the process boundary instead of the records, so the scan's
    process neither builds the records again nor turns each into a row: a port scan's flows cost a tuple each."""

    KIND: ClassVar[str] = "rows"
    kind: str  # the records' KIND
    names: tuple[str, ...]
    values: list[tuple] = field(default_factory=list)

    @classmethod
    def of(cls, record: _Record) -> RecordRows:
        """An empty batch for records of this one's class."""
        return cls(record.KIND, _Layout.of(record.__class__).names)


@dataclass(slots=True)
class NetFinding(_Record):
    """Something in a capture an examiner should look at that is not a record of its own: an
    application protocol on a port not its own, a DNS name that looks machine-generated, DNS that
    looks like a tunnel. One per server port or per domain, with the counts behind it."""

    KIND: ClassVar[str] = "net_finding"
    rule: str  # nonstandard-port | dns-generated-name | dns-many-subdomains | dns-long-txt
    severity: str  # info | low | medium
    title: str
    object: str  # what it is about: "10.0.0.2:4444/tcp" or "DNS example.com"
    detail: dict[str, Any] = field(default_factory=dict)
    flow_id: int = 0  # the first flow concerned, 0 when about DNS names


@dataclass(slots=True)
class CaptureSummary(_Record):
    """Completeness ledger of one capture: what was read, what could not be decoded and why."""

    KIND: ClassVar[str] = "capture_summary"
    path: str
    format: str  # pcap | pcapng
    file_size: int
    bytes_read: int = 0
    packets_read: int = 0
    packets_decoded: int = 0  # reached IP and a flow
    packets_cut: int = 0  # shorter than their IP length says (snap length): headers used, payload partial
    not_decoded: dict[str, int] = field(default_factory=dict)  # reason → packets
    linktypes: dict[int, int] = field(default_factory=dict)  # link type → packets
    first_seen: str | None = None
    last_seen: str | None = None
    flows: int = 0
    tcp_streams: int = 0  # TCP directions reassembled for an application parser
    streams_with_gaps: int = 0
    gap_bytes: int = 0
    fragments_incomplete: int = 0  # IP datagrams whose fragments never all arrived
    bad_checksums: int = 0  # UDP datagrams given to a parser whose checksum is wrong (parsed all the same)
    flows_evicted: int = 0  # ended early, with what was seen of them, because too many flows were open at once
    max_flows: int = 0  # the open-flow limit that ended them
    records: dict[str, int] = field(default_factory=dict)  # KIND → count yielded
    problems: list[str] = field(default_factory=list)  # damage to the file itself (truncated, corrupt blocks)
    warnings: list[str] = field(default_factory=list)  # per-flow trouble (parser stopped, caps hit), capped
    truncated: bool = False
    cancelled: bool = False

    @property
    def complete(self) -> bool:
        """Whether every byte of the file was read (packets may still have been undecodable)."""
        return not (self.truncated or self.problems or self.cancelled)

    def fill_ledger(self, ledger: Any, stage: str = "packets") -> None:
        """Copy the counts into an evidence `Ledger` (cybertriage.evidence.base.Ledger)."""
        ledger.attempted(stage, self.packets_read)
        ledger.processed(stage, self.packets_decoded)
        for reason, count in self.not_decoded.items():
            ledger.skipped_count(stage, reason, count)
        if self.flows:
            ledger.attempted("flows", self.flows)
            ledger.processed("flows", self.flows - self.flows_evicted)
            if self.flows_evicted:
                ledger.skipped_count("flows", f"ended early, recorded with what was seen of them (ended 'evicted'): "
                                              f"more than {self.max_flows:,} flows were open at once", self.flows_evicted)
        if self.tcp_streams:
            ledger.attempted("tcp streams", self.tcp_streams)
            ledger.processed("tcp streams", self.tcp_streams - self.streams_with_gaps)
            if self.streams_with_gaps:
                ledger.skipped_count("tcp streams", "gaps in the capture", self.streams_with_gaps)
        for problem in self.problems:
            ledger.warn(stage, self.path, problem)
        for warning in self.warnings:
            ledger.warn("network", self.path, warning)


NetRecord = (Flow | DnsRecord | HttpRecord | TlsRecord | SmtpRecord | FtpRecord | CredentialRecord | ExtractedObject
             | HostRecord | NetFinding | CaptureSummary)
