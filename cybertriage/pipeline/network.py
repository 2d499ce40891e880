"""A capture's records as rows of their tables: flows, DNS, HTTP, TLS, SMTP, FTP, credentials and hosts, and
findings about the capture itself. They go straight from the listing to the case, examined by no analyzer."""

from __future__ import annotations

from typing import Any

from ..analyzers import Finding
from .record import EvidenceRecord

NETWORK_TABLES = {"flow": "flows", "dns": "dns", "http": "http", "tls": "tls", "smtp": "smtp", "ftp": "ftp",
                  "credential": "credentials", "host": "hosts"}


def queue_network_record(record: Any, evidence: EvidenceRecord, batch: dict[str, list[dict[str, Any]]]) -> str | None:
    """One network record as a row of its table, queued in the batch; lists become JSON. A finding about the
    capture (NetFinding) becomes a row of the findings. The record's table, None for a finding.

    Records the analysis sent as rows already (RecordRows) go to the case writer as they are, with the
    evidence item's id added: None."""
    if record.KIND == "rows":
        names = tuple("flow_id" if name == "id" else name for name in record.names) if record.kind == "flow" \
            else record.names
        evidence_id = (evidence.evidence_id,)
        evidence.writer.add_values(NETWORK_TABLES[record.kind], (*names, "evidence_id"),
                                   [values + evidence_id for values in record.values])
        return None
    if record.KIND == "net_finding":
        finding = Finding("network", record.rule, record.severity, record.title, record.detail)
        batch.setdefault("findings", []).extend(evidence.finding_rows(None, [finding], object_text=record.object))
        return None
    table = NETWORK_TABLES[record.KIND]
    row = record.row()
    row["evidence_id"] = evidence.evidence_id
    if record.KIND == "flow":
        row["flow_id"] = row.pop("id")
    batch.setdefault(table, []).append(row)
    if record.KIND == "credential":
        where = f"flow {record.flow_id} ({record.src} → {record.dst}:{record.dport})"
        batch.setdefault("findings", []).extend(
            evidence.finding_rows(None, [credential_finding(record)], object_text=where))
    return table


def credential_finding(record: Any) -> Finding:
    """A password that crossed the network in clear: the finding names it, the credentials table holds it.
    Only a user name in clear (POP3 APOP sends the password as a digest) is low."""
    outcome = {True: "accepted", False: "refused"}.get(record.accepted, "outcome unknown")
    detail = {"protocol": record.protocol, "where": record.where, "username": record.username, "src": record.src,
              "dst": record.dst, "dport": record.dport, "ts": record.ts, "flow_id": record.flow_id,
              "accepted": record.accepted}
    if record.password is None:
        return Finding("network", "cleartext-credentials", "low",
                       f"User name sent in clear ({record.where}): {record.username or '?'} to {record.dst}, {outcome}",
                       detail)
    return Finding("network", "cleartext-credentials", "medium",
                   f"Cleartext credentials ({record.where}) for {record.username or '?'} to {record.dst}, {outcome}",
                   detail)
