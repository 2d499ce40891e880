"""The columns of the case's tables, described once for the exports and the application.

A table's description says, for each column, its name (the export's field and the column the application
reads), the title and width the application gives it, its kind, whether it is exported and what the
application sorts it by when not the column itself. The kind carries the one way its values are written:
decoded for an export (JSON lists and objects, yes/no as true/false), and shown on screen (lists joined,
yes/no as words, sizes in binary units, evidence text made visible). The export order is the contract of
docs/DESIGN.md; the application may show fewer columns, in another order.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..formatting import human_size
from ..text_safety import visible


class Kind(enum.Enum):
    """What a column holds, and so how it is exported and shown."""

    TEXT = "text"
    INTEGER = "integer"
    SIZE = "size"  # a byte count the screen shows in binary units
    TIME = "time"  # ISO 8601 UTC text
    YES_NO = "yes/no"  # stored 0/1; unknown (NULL) stays unknown
    FLAG = "flag"  # stored 0/1, never unknown: NULL is no, and the screen marks only a yes
    JSON_LIST = "json list"  # JSON text; an empty list when none
    JSON_OBJECT = "json object"  # JSON text; an empty object when none
    JSON_OBJECT_OR_NONE = "json object or none"  # JSON text; nothing (null) when none
    EVIDENCE = "evidence"  # the evidence item, shown by its file name

    def exported(self, value: Any) -> Any:
        """The stored value as an export row holds it (JSON decoded, 0/1 as false/true)."""
        if self is Kind.YES_NO:
            return None if value is None else bool(value)
        if self is Kind.FLAG:
            return bool(value)
        if self is Kind.JSON_LIST:
            return json.loads(value) if value else []
        if self is Kind.JSON_OBJECT:
            return json.loads(value) if value else {}
        if self is Kind.JSON_OBJECT_OR_NONE:
            return json.loads(value) if value else None
        return value

    def shown(self, value: Any) -> str:
        """The stored value as a table cell shows it ('' when unknown); evidence text made visible."""
        if value is None:
            return ""
        if self is Kind.YES_NO:
            return "yes" if value else "no"
        if self is Kind.FLAG:
            return "yes" if value else ""
        if self is Kind.SIZE:
            return human_size(value)
        if self is Kind.JSON_LIST:
            return joined(str(value))
        return visible(str(value))

    @property
    def right_aligned(self) -> bool:
        """Numbers line up on the right."""
        return self in (Kind.INTEGER, Kind.SIZE)


def joined(text: str) -> str:
    """A list stored as JSON text shown as a comma-separated list, control characters escaped."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1].replace('", "', ", ").replace('"', "")
    return visible(text)


def tags_of(kind: str, ref: str) -> str:
    """SQL for the tags on an object, comma-separated (NULL if none): `ref` is the column holding its id."""
    return f"(SELECT group_concat(tag, ', ') FROM tags t WHERE t.object_kind = '{kind}' AND t.object_id = {ref})"


@dataclass(frozen=True)
class Column:
    """One column: its name in the case and the exports, and how the application shows it."""

    name: str
    title: str = ""  # the application's header; '' for a column it does not show
    kind: Kind = Kind.TEXT
    width: int = 0  # the application's first width in pixels; 0 leaves the view's default
    exported: bool = True
    sort: str | None = None  # the SQL the application orders by, when not the column itself


@dataclass(frozen=True)
class Table:
    """One table of the case: every column described once, in export order, and the application's order."""

    name: str
    title: str
    columns: tuple[Column, ...]
    shown_names: tuple[str, ...] = ()
    masked: frozenset[str] = frozenset()  # shown masked until the examiner asks (and the audit log records it)

    def column(self, name: str) -> Column:
        return next(column for column in self.columns if column.name == name)

    @property
    def exported(self) -> tuple[Column, ...]:
        return tuple(column for column in self.columns if column.exported)

    @property
    def export_names(self) -> list[str]:
        """The export's fields, in their fixed order (the CSV header)."""
        return [column.name for column in self.exported]

    @property
    def shown(self) -> tuple[Column, ...]:
        """The application's columns, in its order."""
        return tuple(self.column(name) for name in self.shown_names)

    def export_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """A row of the case as the export writes it: the exported fields in order, each decoded by its kind
        (a column an older case lacks is None)."""
        return {column.name: column.kind.exported(row[column.name]) if column.name in row else None
                for column in self.exported}


# short names for the descriptions below
INTEGER, SIZE, TIME, YES_NO, FLAG = Kind.INTEGER, Kind.SIZE, Kind.TIME, Kind.YES_NO, Kind.FLAG
JSON_LIST, JSON_OBJECT = Kind.JSON_LIST, Kind.JSON_OBJECT

ID = Column("id", kind=INTEGER)
EVIDENCE_PATH = Column("evidence", kind=Kind.EVIDENCE)  # the evidence item's path, joined in by the export
EVIDENCE_ID = Column("evidence_id", "Evidence", Kind.EVIDENCE, 130, exported=False)  # the application's
FLOW_ID = Column("flow_id", "Flow", INTEGER, 50)
TS = Column("ts", "Time", TIME, 215)
SRC, SPORT = Column("src", "Source", width=135), Column("sport", "Port", INTEGER, 50)
DST, DPORT = Column("dst", "Destination", width=135), Column("dport", "Port", INTEGER, 50)
ENDS = ("src", "sport", "dst", "dport")
RECORD_TAIL = ("flow_id", "evidence_id")

FILES = Table("files", "Files", (
    ID, EVIDENCE_PATH, Column("partition_offset", kind=INTEGER), Column("path"), Column("name", "Name", width=250),
    Column("kind"), Column("inode"), Column("deleted", kind=FLAG), Column("size", "Size", SIZE, 75),
    Column("md5", "MD5", width=250), Column("sha1"), Column("sha256", "SHA-256"), Column("mime", "Type", width=200),
    Column("description"), Column("ext_mismatch", "Ext. mismatch", FLAG, 110), Column("mtime", "Modified", TIME, 165),
    Column("atime", kind=TIME), Column("ctime", kind=TIME), Column("crtime", kind=TIME),
    Column("parent_id", kind=INTEGER), Column("note"), Column("score", "Score", INTEGER, 55),
    Column("reasons", kind=JSON_LIST), Column("pe", kind=Kind.JSON_OBJECT_OR_NONE), Column("origin"),
    Column("flow_id", kind=INTEGER), Column("known"), Column("known_set"),
    Column("exif", kind=Kind.JSON_OBJECT_OR_NONE),  # a picture's camera, time and GPS position (pictures analyzer)
    Column("tags", "Tags", width=140, exported=False),
), ("name", "size", "mime", "ext_mismatch", "score", "mtime", "tags", "md5", "sha256"))

FINDINGS = Table("findings", "Findings", (
    ID, Column("evidence", "Evidence", Kind.EVIDENCE, sort="g.evidence_id"),
    Column("severity", "Severity", width=95, sort="g.severity_rank"), Column("analyzer", "Analyzer", width=75),
    Column("rule", "Rule", width=190), Column("title", "Title", width=380), Column("object", "Object", width=300),
    Column("object_kind"), Column("object_id", kind=INTEGER), Column("score", "Score", INTEGER, 55, sort="f.score"),
    Column("detail", kind=JSON_OBJECT), Column("created_at", kind=TIME),
    Column("tags", "Tags", exported=False, sort=tags_of("finding", "g.id")),
), ("severity", "score", "analyzer", "rule", "title", "object", "evidence", "tags"))

TAGS = Table("tags", "Tags", (
    ID, Column("tag"), Column("note"), Column("examiner"), Column("created_at", kind=TIME), Column("object_kind"),
    Column("object_id", kind=INTEGER), EVIDENCE_PATH, Column("object"), Column("title"),
))

ARTIFACTS = Table("artifacts", "Artefacts", (
    ID, EVIDENCE_PATH, Column("type", "Type", width=140), Column("ts", "Time (UTC)", TIME, 190),
    Column("source", "Source file", width=230), Column("summary", "Summary", width=480),
    Column("values", kind=JSON_OBJECT), Column("file_id", kind=INTEGER),
    Column("evidence_id", "Evidence", Kind.EVIDENCE, 135, exported=False),
), ("ts", "type", "summary", "source", "evidence_id"))

KEYWORD_HITS = Table("keyword_hits", "Keyword hits", (
    ID, EVIDENCE_PATH, Column("list", "List", width=140), Column("term", "Term", width=200),
    Column("path", "Path", width=300), Column("offset", "Offset", INTEGER, 70), Column("length", kind=INTEGER),
    Column("snippet", "Snippet", width=480),
    Column("file_id", kind=INTEGER), Column("evidence_id", "Evidence", Kind.EVIDENCE, 135, exported=False),
), ("list", "term", "path", "offset", "snippet", "evidence_id"))

TIMELINE = Table("timeline", "Timeline", (
    Column("ts", "Time (UTC)", TIME, 215), Column("kind", "Kind", width=70), Column("action", "Action", width=90),
    Column("evidence_id", "Evidence", Kind.EVIDENCE, 130), Column("object_kind"), Column("object_id", kind=INTEGER),
    Column("description", "Description", width=600),
), ("ts", "kind", "action", "evidence_id", "description"))

# Network records: the field names DESIGN.md fixes first in each export, and every other column after them.
FIRST_SEEN, LAST_SEEN = Column("first_seen", "First seen", TIME, 215), Column("last_seen", "Last seen", TIME, 215)
FLOWS = Table("flows", "Flows", (
    EVIDENCE_PATH, FLOW_ID, SRC, SPORT, DST, DPORT, Column("proto", "Proto", width=50), FIRST_SEEN, LAST_SEEN,
    Column("packets", "Packets", INTEGER, 65), Column("bytes", "Bytes", INTEGER, 75), Column("app", "App", width=55),
    Column("duration"), Column("orig_packets", kind=INTEGER), Column("resp_packets", kind=INTEGER),
    Column("orig_bytes", kind=INTEGER), Column("resp_bytes", kind=INTEGER), Column("orig_payload", kind=INTEGER),
    Column("resp_payload", kind=INTEGER), Column("state", "State", width=60), Column("history"),
    Column("missing_bytes", kind=INTEGER), Column("gaps", kind=INTEGER), Column("ended"), Column("vlan", kind=INTEGER),
    Column("ip_version", kind=INTEGER), EVIDENCE_ID,
), ("evidence_id", "flow_id", "first_seen", "last_seen", "proto", *ENDS, "app", "packets", "bytes", "state"))

DNS = Table("dns", "DNS", (
    EVIDENCE_PATH, TS, SRC, DST, Column("query", "Query", width=220), Column("qtype", "Type", width=55),
    Column("answers", "Answers", JSON_LIST, 260), Column("rcode", "Result", width=75), SPORT, DPORT, Column("proto"),
    Column("trans_id", kind=INTEGER), Column("qclass"), Column("ttls", kind=JSON_LIST), Column("rtt"),
    Column("authority", kind=JSON_LIST), Column("additional", kind=JSON_LIST), FLOW_ID, EVIDENCE_ID,
), ("ts", *ENDS, "query", "qtype", "rcode", "answers", *RECORD_TAIL))

HTTP = Table("http", "HTTP", (
    EVIDENCE_PATH, TS, SRC, DST, Column("method", "Method", width=65), Column("host", "Host", width=170),
    Column("uri", "URI", width=260), Column("user_agent", "User agent", width=220),
    Column("status", "Status", INTEGER, 55), Column("content_type", "Content type", width=140),
    Column("body_sha256", "Body SHA-256", width=200), SPORT, DPORT, Column("version"), Column("referrer"),
    Column("reason"), Column("body_size", "Body", INTEGER, 70), Column("request_content_type"),
    Column("request_body_size", kind=INTEGER), Column("request_body_sha256"), Column("info_code", kind=INTEGER),
    Column("content_encoding"), Column("body_complete", kind=YES_NO), Column("trans_depth", kind=INTEGER), FLOW_ID,
    Column("request_headers", kind=JSON_LIST), Column("response_headers", kind=JSON_LIST),  # [name, value] each
    EVIDENCE_ID,
), ("ts", *ENDS, "method", "host", "uri", "status", "content_type", "body_size", "user_agent", "body_sha256",
          *RECORD_TAIL))

TLS = Table("tls", "TLS", (
    EVIDENCE_PATH, TS, SRC, DST, Column("sni", "Server name", width=200), Column("version", "Version", width=75),
    Column("ja3", "JA3", width=240), Column("ja3s", "JA3S", width=240), SPORT, DPORT, Column("client_version"),
    Column("offered_versions", kind=JSON_LIST), Column("cipher_suites", kind=JSON_LIST),
    Column("cipher", "Cipher", width=230), Column("alpn", kind=JSON_LIST), Column("ja3_string"),
    Column("ja3s_string"), Column("cert_subject", "Certificate subject", width=260),
    Column("cert_issuer", "Issuer", width=260), Column("cert_not_before", kind=TIME),
    Column("cert_not_after", kind=TIME), Column("cert_serial"), Column("cert_san_dns", kind=JSON_LIST),
    Column("cert_chain_sha256"),  # a JSON list stored, exported as its text (as every export so far has it)
    Column("cert_chain_subjects", kind=JSON_LIST), Column("established", kind=YES_NO),
    FLOW_ID, Column("cert_chain_issuers", kind=JSON_LIST), Column("cert_chain_not_before", kind=JSON_LIST),
    Column("cert_chain_not_after", kind=JSON_LIST), EVIDENCE_ID,
), ("ts", *ENDS, "sni", "version", "cipher", "ja3", "ja3s", "cert_subject", "cert_issuer", *RECORD_TAIL))

SMTP = Table("smtp", "SMTP", (
    EVIDENCE_PATH, TS, SRC, DST, Column("mail_from", "Mail from", width=190),
    Column("rcpt_to", "Recipients", JSON_LIST, 220), Column("subject", "Subject", width=260), Column("header_from"),
    Column("header_to", kind=JSON_LIST), Column("cc", kind=JSON_LIST), Column("reply_to"), Column("date"),
    Column("message_id"), Column("in_reply_to"), Column("user_agent"), Column("helo", "HELO", width=130),
    Column("starttls", kind=YES_NO), Column("attachments", "Attachments", JSON_LIST, 200),
    Column("message_size", "Size", INTEGER, 70), Column("message_complete", kind=YES_NO), SPORT, DPORT,
    Column("trans_depth", kind=INTEGER), FLOW_ID, EVIDENCE_ID,
), ("ts", *ENDS, "mail_from", "rcpt_to", "subject", "attachments", "message_size", "helo", *RECORD_TAIL))

FTP = Table("ftp", "FTP", (
    EVIDENCE_PATH, TS, SRC, DST, Column("user", "User", width=90), Column("command", "Command", width=75),
    Column("arg", "Argument", width=200), Column("reply_code", "Reply", INTEGER, 50),
    Column("reply_msg", "Reply text", width=230), Column("url"), Column("data_passive", kind=YES_NO),
    Column("data_orig_h"), Column("data_resp_h"), Column("data_resp_p", kind=INTEGER),
    Column("data_flow_id", kind=INTEGER), Column("file_size", "File size", INTEGER, 75),
    Column("file_sha256", "File SHA-256", width=200), Column("file_complete", kind=YES_NO), SPORT, DPORT, FLOW_ID,
    EVIDENCE_ID,
), ("ts", *ENDS, "user", "command", "arg", "reply_code", "reply_msg", "file_size", "file_sha256",
          *RECORD_TAIL))

CREDENTIALS = Table("credentials", "Credentials", (
    EVIDENCE_PATH, TS, SRC, DST, Column("protocol", "Protocol", width=75), Column("username", "User name", width=150),
    Column("password", "Password", width=150), Column("where", "Where", width=200),
    Column("accepted", "Accepted", YES_NO, 80), SPORT, DPORT, FLOW_ID, EVIDENCE_ID,
), ("ts", *ENDS, "protocol", "username", "password", "where", "accepted", *RECORD_TAIL),
    masked=frozenset({"password"}))

HOSTS = Table("hosts", "Hosts", (
    EVIDENCE_PATH, Column("address", "Address", width=150), Column("macs", "MAC addresses", JSON_LIST, 150),
    Column("names", "Names", JSON_LIST, 260), Column("open_ports", "Open ports", JSON_LIST, 130),
    Column("bytes_out", "Bytes out", INTEGER, 85), Column("bytes_in", "Bytes in", INTEGER, 85),
    Column("packets_out", kind=INTEGER), Column("packets_in", kind=INTEGER), Column("flows", "Flows", INTEGER, 55),
    FIRST_SEEN, LAST_SEEN, Column("dns_names", kind=JSON_LIST), Column("http_hosts", kind=JSON_LIST),
    Column("tls_names", kind=JSON_LIST), Column("ip_version", kind=INTEGER), EVIDENCE_ID,
), ("evidence_id", "address", "names", "macs", "open_ports", "flows", "bytes_out", "bytes_in", "first_seen",
          "last_seen"))

# in the order the exports and `cybertriage info` list them
NETWORK = (FLOWS, DNS, HTTP, TLS, SMTP, FTP, CREDENTIALS, HOSTS)
