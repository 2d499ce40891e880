"""Who the computer is and who used it: the system profile a SYSTEM or SOFTWARE hive tells (`registry.system`, one
row per hive) and the accounts (`registry.user`: SAM's local accounts, SOFTWARE's profile list).

SAM keeps an account's times in the binary `F` value and its name in `V` (offsets into a table, as Windows' own
SAM service writes them; layout as documented by RegRipper's samparse and libyal's Windows Registry notes)."""

from __future__ import annotations

import datetime as dt
import re
import struct
from collections.abc import Iterator
from typing import Any

from ..results import Artefact
from .hive_common import Hive, Record, binary, filetime_at, key_time, number, signed32, text, values

_CURRENT_VERSION = r"Microsoft\Windows NT\CurrentVersion"
_SOFTWARE_FIELDS = {  # value name -> profile key
    "ProductName": "product_name", "EditionID": "edition_id", "DisplayVersion": "display_version",
    "ReleaseId": "release_id", "CurrentBuild": "current_build", "RegisteredOwner": "registered_owner",
    "RegisteredOrganization": "registered_organization", "SystemRoot": "system_root",
}
_ACCOUNT_DISABLED = 0x0001  # SAM's ACB_DISABLED
_DOMAIN_SID = re.compile(rb"\x01\x04\x00\x00\x00\x00\x00\x05\x15\x00\x00\x00(.{12})", re.S)


def system_profile(hive: Hive) -> Iterator[Record]:
    """A SYSTEM hive's row: computer name, time zone, last shutdown, current control set, network interfaces."""
    control_set = hive.control_set()
    if control_set is None:
        return
    control = f"{control_set}\\Control"
    name_key = hive.key(f"{control}\\ComputerName\\ComputerName")
    profile: dict[str, Any] = {
        "computer_name": text(values(name_key).get("ComputerName")),
        "current_control_set": control_set,
        "time_zone": _time_zone(values(hive.key(f"{control}\\TimeZoneInformation"))),
        "last_shutdown": filetime_at(binary(values(hive.key(f"{control}\\Windows")).get("ShutdownTime")), 0),
        "interfaces": list(_interfaces(hive, control_set)),
    }
    profile = {key: value for key, value in profile.items() if value not in (None, "", [])}
    addresses = ", ".join(i["ip_address"] for i in profile.get("interfaces", []) if i.get("ip_address"))
    summary = (f"Computer {profile.get('computer_name', '(unnamed)')}, time zone "
               f"{(profile.get('time_zone') or {}).get('name', 'unknown')}, last shut down "
               f"{profile.get('last_shutdown', 'unknown')}" + (f", addresses {addresses}" if addresses else ""))
    yield Artefact("registry.system", profile.get("last_shutdown") or key_time(name_key), summary, profile)


def _time_zone(tz: dict[str, Any]) -> dict[str, Any] | None:
    """The time zone as recorded: its name, standard and daylight names, bias in minutes (UTC = local + bias)."""
    zone = {
        "name": text(tz.get("TimeZoneKeyName")) or text(tz.get("StandardName")),
        "standard_name": text(tz.get("StandardName")),
        "daylight_name": text(tz.get("DaylightName")),
        "bias_minutes": signed32(tz.get("Bias")),
        "active_bias_minutes": signed32(tz.get("ActiveTimeBias")),
    }
    zone = {key: value for key, value in zone.items() if value not in (None, "")}
    return zone or None


def _interfaces(hive: Hive, control_set: str) -> Iterator[dict[str, Any]]:
    """Each TCP/IP interface's addresses: the DHCP-leased ones when DHCP is on, the static ones otherwise."""
    interfaces = hive.key(f"{control_set}\\Services\\Tcpip\\Parameters\\Interfaces")
    for key in hive.subkeys(interfaces):
        found = values(key)
        dhcp = found.get("EnableDHCP") == 1
        prefix = "Dhcp" if dhcp else ""
        interface = {
            "guid": key.name,
            "dhcp": dhcp,
            "ip_address": text(found.get(f"{prefix}IPAddress")),
            "subnet": text(found.get(f"{prefix}SubnetMask")),
            "gateway": text(found.get(f"{prefix}DefaultGateway")),
            "dhcp_server": text(found.get("DhcpServer")) if dhcp else None,
            "domain": text(found.get(f"{prefix}Domain")) or text(found.get("Domain")),
            "name_server": text(found.get(f"{prefix}NameServer")) or text(found.get("NameServer")),
        }
        if interface["ip_address"] in ("0.0.0.0", ""):
            interface["ip_address"] = None
        if any(interface[name] for name in ("ip_address", "gateway", "name_server", "domain")):
            yield {name: value for name, value in interface.items() if value not in (None, "")}


def software_profile(hive: Hive) -> Iterator[Record]:
    """A SOFTWARE hive's row: the Windows product, version, build, install date and registered owner."""
    key = hive.key(_CURRENT_VERSION)
    found = values(key)
    if key is None:
        return
    profile: dict[str, Any] = {field: text(found.get(name)) for name, field in _SOFTWARE_FIELDS.items()}
    profile["current_build"] = profile["current_build"] or text(found.get("CurrentBuildNumber"))
    profile["ubr"] = number(found.get("UBR"))
    installed = number(found.get("InstallDate"))
    if installed:
        profile["install_date"] = dt.datetime.fromtimestamp(installed, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    profile = {name: value for name, value in profile.items() if value not in (None, "")}
    version = " ".join(str(profile[name]) for name in ("display_version", "release_id") if name in profile)
    build = ".".join(str(profile[name]) for name in ("current_build", "ubr") if name in profile)
    summary = (f"{profile.get('product_name', 'Windows')} {version} build {build}, installed "
               f"{profile.get('install_date', 'unknown')}, owner {profile.get('registered_owner', 'unknown')}")
    yield Artefact("registry.system", profile.get("install_date") or key_time(key), summary, profile)


def profile_list(hive: Hive) -> Iterator[Record]:
    """SOFTWARE's ProfileList: one row per SID with a profile folder; the user name is the folder's name."""
    for key in hive.subkeys(hive.key(f"{_CURRENT_VERSION}\\ProfileList")):
        path = text(values(key).get("ProfileImagePath"))
        name = re.split(r"[\\/]", path.rstrip("\\/"))[-1] if path else None
        user = {"sid": key.name, "name": name, "profile_path": path}
        yield Artefact("registry.user", key_time(key), f"Profile of {name or key.name} ({key.name}) at {path}",
                       {field: value for field, value in user.items() if value})


def sam_users(hive: Hive) -> Iterator[Record]:
    """SAM's local accounts: RID, name, full name, created, last logon, last password change, logon count, disabled.
    The SID is the computer's domain SID (SAM\\Domains\\Account's V) followed by the RID."""
    account = hive.key(r"SAM\Domains\Account")
    domain_sid = _domain_sid(binary(values(account).get("V")))
    users = hive.subkey(account, "Users")
    created = {_rid(key): key_time(key) for key in hive.subkeys(hive.subkey(users, "Names"))}
    for key in hive.subkeys(users):
        if key.name.lower() == "names" or not re.fullmatch(r"[0-9A-Fa-f]{8}", key.name):
            continue
        rid = int(key.name, 16)
        found = values(key)
        user: dict[str, Any] = {"sid": f"{domain_sid}-{rid}" if domain_sid else None, "rid": rid,
                                **_names(binary(found.get("V"))), "created": created.get(rid)}
        user.update(_account_times(binary(found.get("F"))))
        user = {field: value for field, value in user.items() if value not in (None, "")}
        yield Artefact("registry.user", user.get("last_logon") or key_time(key),
                       f"Local account {user.get('name', rid)} (RID {rid}), last logon "
                       f"{user.get('last_logon', 'never')}, {user.get('logon_count', 0)} logons"
                       + (", disabled" if user.get("disabled") else ""), user)


def _rid(key: Any) -> int | None:
    """A Names\\<user> key's RID, which Windows stores as the default value's type."""
    try:
        return int(next(key.iter_values()).value_type) if key.values_count else None
    except (StopIteration, ValueError, TypeError):
        return None


def _domain_sid(v: bytes) -> str | None:
    match = _DOMAIN_SID.search(v)
    if not match:
        return None
    return "S-1-5-21-" + "-".join(str(part) for part in struct.unpack("<3I", match.group(1)))


def _names(v: bytes) -> dict[str, Any]:
    """The user name and full name from V: (offset, length) pairs at 0x0C and 0x18, offsets counted from 0xCC."""
    found = {}
    for field, at in (("name", 0x0C), ("full_name", 0x18)):
        if len(v) < at + 8:
            continue
        offset, length = struct.unpack_from("<II", v, at)
        start = 0xCC + offset
        if length and start + length <= len(v):
            found[field] = v[start:start + length].decode("utf-16-le", "replace")
    return found


def _account_times(f: bytes) -> dict[str, Any]:
    """F: last logon (0x08), password last set (0x18), account flags (0x38), logon count (0x42)."""
    if len(f) < 0x44:
        return {}
    flags, = struct.unpack_from("<H", f, 0x38)
    return {"last_logon": filetime_at(f, 0x08), "last_password_change": filetime_at(f, 0x18),
            "logon_count": struct.unpack_from("<H", f, 0x42)[0], "disabled": bool(flags & _ACCOUNT_DISABLED)}
