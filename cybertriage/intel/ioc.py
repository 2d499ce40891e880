"""Indicators of compromise: importing CSV lists and STIX 2.1 bundles, and matching them against a case.

A CSV list has the columns `type,value,description` and optionally `severity`
(types md5, sha1, sha256, domain, ipv4, ipv6, url, email; a header line is
optional). A STIX 2.1 bundle's `indicator` objects carry patterns, parsed with
the OASIS `stix2-patterns` grammar: every comparison of a supported object path
(`file:hashes.MD5/'SHA-1'/'SHA-256'`, `domain-name:value`, `ipv4-addr:value`,
`ipv6-addr:value` (CIDR too), `url:value`, `email-addr:value`,
`network-traffic:src_ref.value/dst_ref.value`) with `=`, `IN` or `ISSUBSET`
becomes an IOC. Any other comparison is counted as unsupported; a pattern that
needs several observations at once (AND, FOLLOWEDBY, WITHIN…) is matched on
each of its parts alone and counted as approximated — both are reported by the
import, never silently dropped.

The IOC pass (`cybertriage.passes`) runs over a whole case after a scan (or on its own with
`cybertriage ioc match`) and asks `find_hits` what matches: file hashes; DNS queries and answers; HTTP hosts and
URLs; TLS server names; flow endpoints; and domains, addresses, URLs and e-mail
addresses found as strings inside files (the `indicators` table). Domains match
exactly or as a parent domain (`evil.com` matches `a.evil.com`, not
`notevil.com`), without regard to case; addresses match exactly or inside a
CIDR network. Each match is one finding per IOC and per thing matched, keyed so
that running the pass again adds only what is new.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import sqlite_utils

from ..case import lookups, queries
from ..case.intel_store import Intel, ioc_kind_counts, iocs_of, open_for_import, open_read_only, store_ioc_list
from ..errors import UsageError
from ..evidence.integrity import file_sha256
from ..severity import SEVERITIES, SEVERITY_RANK
from .hashsets import ImportReport, normal_hash

IOC_KINDS = ("md5", "sha1", "sha256", "domain", "ipv4", "ipv6", "url", "email")
DEFAULT_SEVERITY = "high"
ANALYZER = "ioc"
MAX_PEERS = 10
_TYPE_ALIASES = {"sha-1": "sha1", "sha-256": "sha256", "hostname": "domain", "domain-name": "domain", "fqdn": "domain",
                 "ip": "ip", "ip-dst": "ip", "ip-src": "ip", "ipv4-addr": "ipv4", "ipv6-addr": "ipv6", "uri": "url",
                 "email-addr": "email", "e-mail": "email"}
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_STIX_HASHES = {"md5": "md5", "sha-1": "sha1", "sha1": "sha1", "sha-256": "sha256", "sha256": "sha256"}


# -- values in one canonical form -------------------------------------------------------


def normal_domain(value: str) -> str | None:
    value = value.strip().lower().rstrip(".")
    return value if value and _DOMAIN.match(value) else None


def normal_ip(value: str) -> tuple[str, str] | None:
    """(kind, text) of an address or CIDR network: ipv4/ipv6, the compressed form; None if neither."""
    value = value.strip().strip("[]")
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    kind = f"ipv{network.version}"
    if network.prefixlen == network.max_prefixlen:
        return kind, str(network.network_address)
    return kind, str(network)


def normal_url(value: str) -> str | None:
    """scheme://host[:port]/path?query, scheme and host in lower case, default ports and fragments dropped."""
    value = value.strip()
    if not value:
        return None
    if "://" not in value:
        value = "http://" + value
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return None
    scheme = parts.scheme.lower()
    shown_port = f":{port}" if port and (scheme, port) not in (("http", 80), ("https", 443)) else ""
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}{shown_port}{parts.path or '/'}" + (f"?{parts.query}" if parts.query else "")


def normal_email(value: str) -> str | None:
    value = value.strip().lower()
    local, at, domain = value.rpartition("@")
    return value if at and local and normal_domain(domain) else None


def normalise(kind: str, value: str) -> tuple[str, str] | str:
    """(kind, canonical value) of an IOC, or the reason it cannot be one."""
    kind = _TYPE_ALIASES.get(kind.strip().lower(), kind.strip().lower())
    if kind in ("md5", "sha1", "sha256"):
        hashed = normal_hash(value, kind)
        return (kind, hashed) if hashed else f"not a valid {kind.upper()} hash"
    if kind in ("ipv4", "ipv6", "ip"):
        found = normal_ip(value)
        if found is None:
            return "not an IP address or CIDR network"
        if kind != "ip" and found[0] != kind:
            return f"type {kind} but the value is {found[0].upper()}"
        return found
    normaliser = {"domain": normal_domain, "url": normal_url, "email": normal_email}.get(kind)
    if normaliser is None:
        return f"unknown type {kind!r} (known: {', '.join(IOC_KINDS)})"
    found_value = normaliser(value)
    return (kind, found_value) if found_value else f"not a valid {kind}"


# -- import ---------------------------------------------------------------------------------


@dataclass
class _Row:
    kind: str
    value: str
    description: str
    severity: str
    reference: str


def import_iocs(intel_path: Path, source: Path, name: str | None = None,
                severity: str = DEFAULT_SEVERITY) -> ImportReport:
    """Import a CSV list or a STIX 2.1 bundle as the IOC list `name` (default: the file's stem),
    replacing a list of that name. `severity` is the findings' severity where the list gives none."""
    if not source.is_file():
        raise UsageError(f"IOC list not found: {source}")
    if severity not in SEVERITIES:
        raise UsageError(f"severity must be one of {', '.join(SEVERITIES)}")
    name = name or source.stem
    text = source.read_text(encoding="utf-8-sig", errors="replace")
    stripped = text.lstrip()
    report = ImportReport(name, format="stix2.1" if stripped.startswith(("{", "[")) else "csv")
    rows = _stix_rows(text, source, severity, report) if report.format == "stix2.1" else _csv_rows(text, severity, report)
    if not rows:
        raise UsageError(f"{source}: no usable IOCs" + (f" ({report.problems[0]})" if report.problems else ""))
    report.rows = len(rows)
    report.source_sha256 = file_sha256(source)
    connection = open_for_import(intel_path)
    try:
        store_ioc_list(connection, {
            "name": name, "format": report.format, "source": str(source.resolve()), "source_sha256": report.source_sha256,
            "rows": report.rows, "skipped": report.skipped, "unsupported": report.unsupported,
            "approximated": report.approximated}, [(r.kind, r.value, r.description, r.severity, r.reference) for r in rows])
    finally:
        connection.close()
    return report


def _csv_rows(text: str, severity: str, report: ImportReport) -> list[_Row]:
    rows: list[_Row] = []
    reader = csv.reader(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    for number, cells in enumerate(reader, start=1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if number == 1 and cells[0].lower() == "type":
            continue
        if len(cells) < 2:
            report.skip(f"line {number}", "expected type,value,description")
            continue
        found = normalise(cells[0], cells[1])
        if isinstance(found, str):
            report.skip(f"line {number}", f"{found}: {cells[1][:80]!r}")
            continue
        level = cells[3].lower() if len(cells) > 3 and cells[3] else severity
        if level not in SEVERITIES:
            report.skip(f"line {number}", f"unknown severity {cells[3]!r}")
            continue
        rows.append(_Row(*found, cells[2] if len(cells) > 2 else "", level, f"line {number}"))
    return rows


def _stix_rows(text: str, source: Path, severity: str, report: ImportReport) -> list[_Row]:
    try:
        document = json.loads(text)
    except ValueError as error:
        raise UsageError(f"{source}: not valid JSON: {error}") from None
    objects = document.get("objects", [document]) if isinstance(document, dict) else document
    if not isinstance(objects, list):
        raise UsageError(f"{source}: not a STIX bundle (no objects list)")
    rows: list[_Row] = []
    indicators = [o for o in objects if isinstance(o, dict) and o.get("type") == "indicator"]
    if not indicators:
        raise UsageError(f"{source}: no STIX indicator objects")
    for indicator in indicators:
        where = str(indicator.get("id") or "indicator without id")
        if indicator.get("revoked"):
            report.skip(where, "revoked")
            continue
        if indicator.get("pattern_type", "stix") != "stix":
            report.unsupported += 1
            report.skip(where, f"pattern type {indicator.get('pattern_type')!r} is not a STIX pattern")
            continue
        pattern = indicator.get("pattern")
        if not isinstance(pattern, str):
            report.skip(where, "no pattern")
            continue
        description = ": ".join(str(indicator[k]) for k in ("name", "description") if indicator.get(k))
        try:
            comparisons, approximate = parse_pattern(pattern)
        except UsageError as error:
            report.skip(where, str(error))
            continue
        if approximate:
            report.approximated += 1
        for comparison in comparisons:
            if isinstance(comparison, str):
                report.unsupported += 1
                report.skip(where, comparison)
                continue
            rows.append(_Row(*comparison, description, severity, where))
    return rows


def parse_pattern(pattern: str) -> tuple[list[tuple[str, str] | str], bool]:
    """The IOCs a STIX 2.1 pattern names: (kind, value) per supported comparison, or the reason one is
    not supported; and whether the pattern asks for more than any one comparison (AND, FOLLOWEDBY,
    qualifiers), which matching each comparison alone widens."""
    from stix2patterns.exceptions import ParseException
    from stix2patterns.v21.inspector import InspectionListener
    from stix2patterns.v21.pattern import Pattern

    class Listener(InspectionListener):
        """The package's inspector, also noting AND between comparisons of one observation."""

        conjunction = False

        def exitComparisonExpressionAnd(self, ctx: Any) -> None:  # noqa: N802 - the grammar's name
            if ctx.AND():
                self.conjunction = True

    try:
        parsed = Pattern(pattern)
    except ParseException as error:
        raise UsageError(f"pattern does not parse: {error}") from None
    listener = Listener()
    parsed.walk(listener)
    data = listener.pattern_data()
    approximate = listener.conjunction or bool(data.qualifiers) or bool(set(data.observation_ops) - {"OR"})
    found: list[tuple[str, str] | str] = []
    for object_type, comparisons in data.comparisons.items():
        for path, operator, literal in comparisons:
            found.extend(_comparison(object_type, path, operator, literal))
    return found, approximate


_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _strings(literal: str) -> list[str]:
    return [m.replace("\\'", "'").replace("\\\\", "\\") for m in _STRING.findall(literal)]


def _comparison(object_type: str, path: list[Any], operator: str, literal: str) -> list[tuple[str, str] | str]:
    """The IOCs of one comparison, or why it cannot be matched."""
    text = f"{object_type}:{'.'.join(map(str, path))} {operator} {literal}"
    if path == ["hashes", path[-1]] and str(path[-1]).lower() in _STIX_HASHES and object_type in ("file", "artifact"):
        kind = _STIX_HASHES[str(path[-1]).lower()]
    elif path == ["value"] and object_type in ("domain-name", "ipv4-addr", "ipv6-addr", "url", "email-addr"):
        kind = {"domain-name": "domain", "ipv4-addr": "ipv4", "ipv6-addr": "ipv6", "url": "url",
                "email-addr": "email"}[object_type]
    elif object_type == "network-traffic" and path in (["src_ref", "value"], ["dst_ref", "value"]):
        kind = "address"
    else:
        return [f"unsupported object path: {text}"]
    if operator == "=" or operator == "IN" or (operator == "ISSUBSET" and kind in ("ipv4", "ipv6", "address")):
        values = _strings(literal) if operator == "IN" or literal.startswith("'") else []
    else:
        return [f"unsupported operator: {text}"]
    if not values:
        return [f"not a string value: {text}"]
    found: list[tuple[str, str] | str] = []
    for value in values:
        if kind == "address":
            result = normalise("ip", value) if normal_ip(value) else normalise("domain", value)
        else:
            result = normalise(kind, value)
        found.append(result if isinstance(result, tuple) else f"{result}: {text}")
    return found


# -- the matcher ---------------------------------------------------------------------------


@dataclass
class Ioc:
    """One IOC of one list (several entries of a list with the same value are one IOC)."""

    list_name: str
    list_sha256: str | None
    kind: str
    value: str
    severity: str
    descriptions: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)


class IocMatcher:
    """The IOCs of the chosen lists, indexed for the questions the pass asks."""

    def __init__(self, iocs: list[Ioc]) -> None:
        self.by_value: dict[tuple[str, str], list[Ioc]] = {}
        self.networks: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, Ioc]] = []
        for ioc in iocs:
            if ioc.kind in ("ipv4", "ipv6") and "/" in ioc.value:
                self.networks.append((ipaddress.ip_network(ioc.value), ioc))
            else:
                self.by_value.setdefault((ioc.kind, ioc.value), []).append(ioc)
        self.kinds = {ioc.kind for ioc in iocs}

    def __bool__(self) -> bool:
        return bool(self.by_value or self.networks)

    def hash(self, kind: str, value: str | None) -> list[Ioc]:
        return self.by_value.get((kind, value.lower()), []) if value else []

    def domain(self, name: str | None) -> list[Ioc]:
        """IOCs for this name or any domain it is under."""
        name = normal_domain(name) if name else None
        if not name:
            return []
        labels = name.split(".")
        found: list[Ioc] = []
        for start in range(len(labels)):
            found += self.by_value.get(("domain", ".".join(labels[start:])), [])
        return found

    def ip(self, text: str | None) -> list[Ioc]:
        if not text:
            return []
        try:
            address = ipaddress.ip_address(text.strip().strip("[]"))
        except ValueError:
            return []
        found = list(self.by_value.get((f"ipv{address.version}", str(address)), []))
        found += [ioc for network, ioc in self.networks if network.version == address.version and address in network]
        return found

    def host(self, text: str | None) -> list[Ioc]:
        """A host as HTTP names it: an address or a name, perhaps with a port."""
        if not text:
            return []
        host = text.strip()
        if host.startswith("["):
            host = host[1:].partition("]")[0]
        elif host.count(":") == 1:
            host = host.partition(":")[0]
        return self.ip(host) if normal_ip(host) else self.domain(host)

    def url(self, text: str | None) -> list[Ioc]:
        value = normal_url(text) if text else None
        return self.by_value.get(("url", value), []) if value else []

    def email(self, text: str | None) -> list[Ioc]:
        value = normal_email(text) if text else None
        return self.by_value.get(("email", value), []) if value else []


def load_iocs(intel: Intel) -> IocMatcher:
    """Every IOC of the lists `intel` names, grouped by list, kind and value."""
    connection = open_read_only(intel.path)
    if connection is None:
        return IocMatcher([])
    grouped: dict[tuple[str, str, str], Ioc] = {}
    try:
        for lst in intel.ioc_lists:
            for kind, value, description, severity, reference in iocs_of(connection, lst.id):
                ioc = grouped.setdefault((lst.name, kind, value), Ioc(lst.name, lst.source_sha256, kind, value, severity))
                if SEVERITY_RANK.get(severity, 0) > SEVERITY_RANK.get(ioc.severity, 0):
                    ioc.severity = severity
                if description and description not in ioc.descriptions:
                    ioc.descriptions.append(description)
                if reference:
                    ioc.references.append(reference)
    finally:
        connection.close()
    return IocMatcher(list(grouped.values()))


# -- the pass over a case --------------------------------------------------------------------


@dataclass
class Hit:
    """One IOC matched by one thing in the case."""

    ioc: Ioc
    evidence_id: int
    source: str  # file | dns | http | tls | flow | string in file
    field_name: str  # md5 | query | answer | host | url | sni | src | dst | domain | ipv4 | …
    matched: str
    object_kind: str = "evidence"  # file for hashes and strings in files
    object_id: int | None = None
    object: str | None = None
    count: int = 1
    first_seen: str | None = None
    last_seen: str | None = None
    peers: list[str] = field(default_factory=list)
    offset: int | None = None

    @property
    def key(self) -> str:
        """What makes this hit the same one when the pass runs again."""
        return "|".join(map(str, (self.ioc.list_name, self.ioc.kind, self.ioc.value, self.evidence_id, self.source,
                                  self.field_name, self.matched, self.object_kind, self.object_id)))


SOURCE_WORDS = {("file", "md5"): "file MD5", ("file", "sha1"): "file SHA-1", ("file", "sha256"): "file SHA-256",
                ("dns", "query"): "DNS query", ("dns", "answer"): "DNS answer", ("http", "host"): "HTTP host",
                ("http", "url"): "HTTP URL", ("tls", "sni"): "TLS server name", ("flow", "src"): "flow source",
                ("flow", "dst"): "flow destination"}


def _peers(text: str | None) -> list[str]:
    return sorted(set((text or "").split(",")) - {""})[:MAX_PEERS]


def find_hits(db: sqlite_utils.Database, matcher: IocMatcher) -> Iterator[Hit]:
    """Every IOC match in the case, one per IOC and thing matched (records of the same value in the
    same evidence are counted together, with their first and last times and peers)."""
    for hits_in in HIT_SOURCES:
        yield from hits_in(db, matcher)


_NETWORK_KINDS = frozenset(("domain", "ipv4", "ipv6", "url"))  # what network records can match


def _file_hashes(db: sqlite_utils.Database, matcher: IocMatcher) -> Iterator[Hit]:
    if not matcher.kinds & {"md5", "sha1", "sha256"}:
        return
    for file_id, evidence_id, path, md5, sha1, sha256, *_ in lookups.hashed_files(db):
        for kind, value in zip(("md5", "sha1", "sha256"), (md5, sha1, sha256)):
            if not value:  # this hash not computed
                continue
            for ioc in matcher.hash(kind, value):
                yield Hit(ioc, evidence_id, "file", kind, value, "file", file_id, path)


def _dns_queries(db: sqlite_utils.Database, matcher: IocMatcher) -> Iterator[Hit]:
    if not matcher.kinds & _NETWORK_KINDS or not queries.has_columns(db, "dns", ["query"]):
        return
    for evidence_id, query, count, first, last, peers in lookups.dns_queries(db):
        for ioc in matcher.host(query):
            yield Hit(ioc, evidence_id, "dns", "query", query, object=f"DNS query {query}", count=count,
                      first_seen=first, last_seen=last, peers=_peers(peers))


def _dns_answers(db: sqlite_utils.Database, matcher: IocMatcher) -> Iterator[Hit]:
    """Each answer (an address or a name) once per evidence, over every response that gave it."""
    if not matcher.kinds & _NETWORK_KINDS or not queries.has_columns(db, "dns", ["query"]):
        return
    answers: dict[tuple[int, str], list[Any]] = {}
    for evidence_id, text, count, first, last, names in lookups.dns_answer_lists(db):
        try:
            values = json.loads(text)
        except ValueError:
            continue
        for answer in {str(v).lower().rstrip(".") for v in values if isinstance(v, str)}:
            seen = answers.setdefault((evidence_id, answer), [0, [], set()])
            seen[0] += count
            seen[1] += [t for t in (first, last) if t]
            seen[2].update(_peers(names))
    for (evidence_id, answer), (count, times, asked) in sorted(answers.items()):
        for ioc in matcher.host(answer) if " " not in answer else []:
            yield Hit(ioc, evidence_id, "dns", "answer", answer, object=f"DNS answer {answer}", count=count,
                      first_seen=min(times, default=None), last_seen=max(times, default=None),
                      peers=sorted(asked)[:MAX_PEERS])


def _http(db: sqlite_utils.Database, matcher: IocMatcher) -> Iterator[Hit]:
    if not matcher.kinds & _NETWORK_KINDS or not queries.has_columns(db, "http", ["host", "uri"]):
        return
    for evidence_id, host, count, first, last, peers in lookups.http_hosts(db):
        for ioc in matcher.host(host):
            yield Hit(ioc, evidence_id, "http", "host", host, object=f"HTTP host {host}", count=count,
                      first_seen=first, last_seen=last, peers=_peers(peers))
    if "url" not in matcher.kinds:
        return
    for evidence_id, host, uri, count, first, last in lookups.http_requests(db):
        url = normal_url(f"http://{host}{uri if (uri or '').startswith('/') else '/' + (uri or '')}")
        if url is None:  # not a URL that normalises: no IOC can name it
            continue
        for ioc in matcher.url(url):
            yield Hit(ioc, evidence_id, "http", "url", url, object=f"HTTP URL {url}", count=count,
                      first_seen=first, last_seen=last)


def _tls_names(db: sqlite_utils.Database, matcher: IocMatcher) -> Iterator[Hit]:
    if not matcher.kinds & _NETWORK_KINDS or not queries.has_columns(db, "tls", ["sni"]):
        return
    for evidence_id, sni, count, first, last, peers in lookups.tls_names(db):
        for ioc in matcher.domain(sni):
            yield Hit(ioc, evidence_id, "tls", "sni", sni, object=f"TLS server name {sni}", count=count,
                      first_seen=first, last_seen=last, peers=_peers(peers))


def _flow_ends(db: sqlite_utils.Database, matcher: IocMatcher) -> Iterator[Hit]:
    if not matcher.kinds & {"ipv4", "ipv6"} or not queries.has_columns(db, "flows", ["src", "dst"]):
        return
    for end in ("src", "dst"):
        for evidence_id, address, count, first, last, peers in lookups.flow_addresses(db, end):
            for ioc in matcher.ip(address):
                yield Hit(ioc, evidence_id, "flow", end, address, object=f"{SOURCE_WORDS['flow', end]} {address}",
                          count=count, first_seen=first, last_seen=last, peers=_peers(peers))


def _strings_in_files(db: sqlite_utils.Database, matcher: IocMatcher) -> Iterator[Hit]:
    """Names, addresses, URLs and e-mail addresses the indicators analyzer found written inside files."""
    if (not matcher.kinds & {"domain", "ipv4", "ipv6", "url", "email"}
            or not queries.has_columns(db, "indicators", ["kind", "value", "sha256"])):
        return
    look = {"domain": matcher.domain, "ip": matcher.ip, "ipv4": matcher.ip, "ipv6": matcher.ip, "url": matcher.url,
            "email": matcher.email}  # the indicators analyzer writes "ip" for both address families
    for kind, value in lookups.indicator_values(db):
        iocs = look.get(kind, lambda _: [])(value)
        if not iocs:
            continue
        for evidence_id, file_id, path, count, offset in lookups.files_holding(db, kind, value):
            for ioc in iocs:
                yield Hit(ioc, evidence_id, "string in file", kind, value, "file", file_id, path, count=count,
                          offset=offset)


# Where find_hits looks, in the order its hits come out: one generator per thing in the case an IOC can match.
HIT_SOURCES: tuple[Callable[[sqlite_utils.Database, IocMatcher], Iterator[Hit]], ...] = (
    _file_hashes, _dns_queries, _dns_answers, _http, _tls_names, _flow_ends, _strings_in_files)


def hit_finding(hit: Hit, now: str) -> dict[str, Any]:
    """The finding that records a hit: a row of the findings table, its detail keyed by the hit's key."""
    ioc = hit.ioc
    where = SOURCE_WORDS.get((hit.source, hit.field_name), f"{hit.source} {hit.field_name}")
    if hit.source == "string in file":
        where = f"{hit.field_name} written inside the file"
    title = f"IOC {ioc.kind} {ioc.value} ({ioc.list_name}): {where} {hit.matched}"
    if hit.count > 1 and hit.source != "file":
        title += f" (seen {hit.count} times)"
    detail = {"ioc": {"list": ioc.list_name, "list_sha256": ioc.list_sha256, "kind": ioc.kind, "value": ioc.value,
                      "description": "; ".join(ioc.descriptions) or None, "references": ioc.references[:MAX_PEERS]},
              "description": "; ".join(ioc.descriptions) or None,
              "matched": {"source": hit.source, "field": hit.field_name, "value": hit.matched, "count": hit.count,
                          "first_seen": hit.first_seen, "last_seen": hit.last_seen, "peers": hit.peers,
                          "offset": hit.offset},
              "match_key": hit.key}
    return {"evidence_id": hit.evidence_id, "object_kind": hit.object_kind,
            "object_id": hit.object_id if hit.object_kind == "file" else hit.evidence_id,
            "object": hit.object or hit.matched, "analyzer": ANALYZER, "rule": ioc.list_name, "severity": ioc.severity,
            "severity_rank": SEVERITY_RANK[ioc.severity], "title": title,
            "detail": json.dumps(detail, ensure_ascii=False), "created_at": now}


def kind_counts(intel_path: Path, list_id: int) -> dict[str, int]:
    """How many IOCs of each kind a list holds, for `ioc list`."""
    connection = open_read_only(intel_path)
    if connection is None:
        return {}
    try:
        return ioc_kind_counts(connection, list_id)
    except sqlite3.DatabaseError:
        return {}
    finally:
        connection.close()
