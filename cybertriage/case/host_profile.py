"""The Windows computer a disk image (or a triage collection) came from, as its registry tells it: the system
profile (name, OS, install date, owner, time zone, last shutdown, network interfaces), its users and the storage
devices attached to it. Read from the `registry.system`, `registry.user` and `registry.usb` artefacts.

Times are UTC, as everywhere in the case. The time zone the registry records is shown beside them, never applied."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

# The profile's fields in the order an examiner reads them, with their labels; other fields follow.
PROFILE_FIELDS = {
    "computer_name": "Computer name",
    "product_name": "Operating system",
    "edition_id": "Edition",
    "display_version": "Version",
    "release_id": "Release",
    "current_build": "Build",
    "ubr": "Update build revision",
    "install_date": "Installed (UTC)",
    "registered_owner": "Registered owner",
    "registered_organization": "Registered organisation",
    "time_zone": "Time zone (recorded, not applied)",
    "last_shutdown": "Last shutdown (UTC)",
    "system_root": "System root",
    "current_control_set": "Current control set",
}


@dataclass
class HostProfile:
    """One evidence item's Windows computer: what its hives say, its accounts and its devices."""

    evidence_id: int
    evidence: str
    fields: dict[str, Any] = field(default_factory=dict)  # PROFILE_FIELDS' keys first
    interfaces: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)  # one per SID (or name), SAM and ProfileList merged
    devices: list[dict[str, Any]] = field(default_factory=list)

    def labelled(self) -> list[tuple[str, str]]:
        """(label, text) pairs of the profile's fields, in reading order."""
        pairs = [(PROFILE_FIELDS.get(key, key.replace("_", " ").capitalize()), _text(value))
                 for key, value in self.fields.items()]
        return [(label, text) for label, text in pairs if text]


def host_profiles(db: sqlite_utils.Database | sqlite3.Connection) -> list[HostProfile]:
    """Each evidence item whose registry was read, with its computer's profile, users and devices (from the core's
    database or the application's read-only connection)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'artifacts'").fetchone() is None:
        return []
    profiles: dict[int, HostProfile] = {}
    rows = db.execute(
        """SELECT a.evidence_id, e.path, a.type, a."values", a.ts FROM artifacts a JOIN evidence e ON e.id = a.evidence_id
           WHERE a.type IN ('registry.system', 'registry.user', 'registry.usb') ORDER BY a.evidence_id, a.id""")
    for evidence_id, evidence, kind, values_json, ts in rows:
        profile = profiles.setdefault(evidence_id, HostProfile(evidence_id, evidence))
        values = json.loads(values_json) if values_json else {}
        if kind == "registry.system":
            profile.interfaces.extend(values.pop("interfaces", None) or [])
            for key, value in values.items():
                profile.fields.setdefault(key, value)
        elif kind == "registry.user":
            _merge_user(profile.users, values)
        else:
            profile.devices.append({"ts": ts, **values})
    for profile in profiles.values():
        profile.fields = _ordered(profile.fields)
    return list(profiles.values())


def _merge_user(users: list[dict[str, Any]], values: dict[str, Any]) -> None:
    """SAM and ProfileList both describe an account: one entry per SID (or name when no SID is known)."""
    key = values.get("sid") or values.get("name")
    for user in users:
        if key and key in (user.get("sid"), user.get("name")):
            for name, value in values.items():
                if value not in (None, "") and user.get(name) in (None, ""):
                    user[name] = value
            return
    users.append(dict(values))


def _ordered(fields: dict[str, Any]) -> dict[str, Any]:
    known = {key: fields[key] for key in PROFILE_FIELDS if key in fields}
    return {**known, **{key: value for key, value in fields.items() if key not in known}}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{key} {_text(item)}" for key, item in value.items() if item not in (None, ""))
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    return str(value)
