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
    device_records: dict[int, list[dict[str, Any]]] = {}
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
            device_records.setdefault(evidence_id, []).append({"ts": ts, **values})
    for evidence_id, profile in profiles.items():
        profile.fields = _ordered(profile.fields)
        profile.devices = storage_devices(device_records.get(evidence_id, []))
    return list(profiles.values())


def storage_devices(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The storage devices the registry remembers, one per serial number: USBSTOR's vendor, product and times,
    with the USB key's vendor and product ids, the drive letter MountedDevices gave it and the volume name Windows
    Portable Devices knew it by. Hubs, keyboards and other USB devices that hold no files are left out; a portable
    device known only to Windows Portable Devices stays."""
    devices: dict[str, dict[str, Any]] = {}
    for record in records:
        if record.get("source") == "USBSTOR":
            devices.setdefault(str(record.get("serial") or record.get("device")), dict(record))
    for record in records:
        source, serial = record.get("source"), str(record.get("serial") or "")
        device = devices.get(serial)
        if source == "USB" and device is not None:
            device.setdefault("vid", record.get("vid"))
            device.setdefault("pid", record.get("pid"))
        elif source == "Windows Portable Devices":
            if device is not None:
                device.setdefault("volume_name", record.get("friendly_name"))
            else:
                devices[serial or str(record.get("device"))] = {**record, "volume_name": record.get("friendly_name")}
        elif source == "MountedDevices" and record.get("drive_letter"):
            for key, found in devices.items():
                if key and key in str(record.get("device") or "") and "USBSTOR" in str(record.get("device")).upper():
                    found.setdefault("drive_letter", record["drive_letter"])
    return list(devices.values())

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


def device_name(device: dict[str, Any]) -> str:
    """What an examiner calls a device: its friendly name, else vendor and product, else its registry id."""
    if device.get("friendly_name"):
        return str(device["friendly_name"])
    named = " ".join(str(device[key]) for key in ("vendor", "product") if device.get(key))
    return named or str(device.get("device") or "-")


def _time_zone(value: dict[str, Any]) -> str:
    """'Eastern Standard Time (UTC-05:00; UTC-04:00 when last running)' from the registry's names and biases
    (minutes west of UTC, as TimeZoneInformation stores them)."""
    def offset(minutes: Any) -> str:
        east = -int(minutes)
        return f"UTC{'+' if east >= 0 else '-'}{abs(east) // 60:02d}:{abs(east) % 60:02d}"

    name = value.get("name") or value.get("standard_name") or "time zone"
    parts = [offset(value["bias_minutes"])] if isinstance(value.get("bias_minutes"), int) else []
    active = value.get("active_bias_minutes")
    if isinstance(active, int) and active != value.get("bias_minutes"):
        parts.append(f"{offset(active)} when last running")
    return f"{name} ({'; '.join(parts)})" if parts else str(name)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and ("bias_minutes" in value or "standard_name" in value):
        return _time_zone(value)
    if isinstance(value, dict):
        return ", ".join(f"{key} {_text(item)}" for key, item in value.items() if item not in (None, ""))
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    return str(value)
