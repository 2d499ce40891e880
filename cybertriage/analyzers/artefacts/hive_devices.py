"""Storage and other devices plugged into the computer (`registry.usb`): USB mass storage (USBSTOR) with its
vendor, product, serial and connection times, USB devices by vendor and product id, the drive letters and volumes
Windows mounted (MountedDevices), and the names portable devices were shown under (Windows Portable Devices).

Since Windows 7, a device's Properties key {83da6326-97a6-4088-9453-a1923f573b29} keeps its first install (0064),
last arrival (0066) and last removal (0067) as FILETIMEs; older systems only have the keys' last-written times."""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from typing import Any

from regipy.registry import NKRecord

from ..results import Artefact
from .hive_common import Hive, Record, binary, default_value_bytes, filetime_at, key_time, text, values

_DEVICE_TIMES = "{83da6326-97a6-4088-9453-a1923f573b29}"
_TIME_PROPERTIES = {"0064": "first_connected", "0066": "last_connected", "0067": "last_removed"}
_USBSTOR_NAME = re.compile(r"(?P<kind>[^&]*)&Ven_(?P<vendor>[^&]*)&Prod_(?P<product>[^&]*)(&Rev_(?P<revision>.*))?", re.I)
_USB_NAME = re.compile(r"VID_(?P<vid>[0-9A-F]{4})&PID_(?P<pid>[0-9A-F]{4})", re.I)


def usbstor(hive: Hive) -> Iterator[Record]:
    """One row per USB mass-storage device instance (ControlSet\\Enum\\USBSTOR\\<device>\\<serial>)."""
    control_set = hive.control_set()
    for device in hive.subkeys(hive.key(f"{control_set}\\Enum\\USBSTOR")) if control_set else ():
        match = _USBSTOR_NAME.fullmatch(device.name)
        for instance in hive.subkeys(device):
            found = values(instance)
            row: dict[str, Any] = {
                "source": "USBSTOR", "device": device.name,
                "vendor": match["vendor"] if match else None, "product": match["product"] if match else None,
                "revision": match["revision"] if match else None,
                "instance": instance.name, "serial": re.sub(r"&\d+$", "", instance.name),
                # an instance with '&' as its second character was named by Windows: the device reported no serial
                "serial_made_by_windows": instance.name[1:2] == "&" or None,
                "friendly_name": text(found.get("FriendlyName")), "key_time": key_time(instance),
                **_connection_times(hive, instance),
            }
            row = {name: value for name, value in row.items() if value not in (None, "")}
            ts = row.get("last_connected") or row["key_time"]
            yield Artefact("registry.usb", ts, f"USB storage {row.get('friendly_name') or device.name}, serial "
                           f"{row['serial']}, first connected {row.get('first_connected', 'unknown')}, last "
                           f"connected {row.get('last_connected', 'unknown')}", row)


def _connection_times(hive: Hive, instance: NKRecord) -> dict[str, Any]:
    times: dict[str, Any] = {}
    properties = hive.subkey(hive.subkey(instance, "Properties"), _DEVICE_TIMES)
    for number, field in _TIME_PROPERTIES.items():
        moment = filetime_at(default_value_bytes(hive.subkey(properties, number)), 0)
        if moment:
            times[field] = moment
    return times


def usb(hive: Hive) -> Iterator[Record]:
    """One row per USB device instance by vendor and product id (ControlSet\\Enum\\USB\\VID_xxxx&PID_yyyy)."""
    control_set = hive.control_set()
    for device in hive.subkeys(hive.key(f"{control_set}\\Enum\\USB")) if control_set else ():
        match = _USB_NAME.match(device.name)
        if not match:
            continue
        for instance in hive.subkeys(device):
            found = values(instance)
            description = text(found.get("DeviceDesc"))  # '@usb.inf,%usb.devicedesc%;USB Composite Device'
            shown = text(found.get("FriendlyName")) or (description.rsplit(";", 1)[-1] if description else None)
            row = {"source": "USB", "vid": match["vid"].upper(), "pid": match["pid"].upper(), "serial": instance.name,
                   "description": description, "friendly_name": shown,
                   "key_time": key_time(instance), **_connection_times(hive, instance)}
            row = {name: value for name, value in row.items() if value not in (None, "")}
            ts = row.get("last_connected") or row["key_time"]
            yield Artefact("registry.usb", ts, f"USB device VID {row['vid']} PID {row['pid']}, serial "
                           f"{instance.name}" + (f" ({row['friendly_name']})" if "friendly_name" in row else ""), row)


def mounted_devices(hive: Hive) -> Iterator[Record]:
    """Each drive letter or volume GUID and the device it was last given to: a device path (a USB stick's names
    its USBSTOR device), or a disk signature and partition offset for a fixed disk's MBR partition."""
    key = hive.key("MountedDevices")
    ts = key_time(key)
    for name, data in values(key).items():
        hive.deadline.check()
        letter = re.fullmatch(r"\\DosDevices\\([A-Za-z]:)", name)
        row = {"source": "MountedDevices", "drive_letter": letter.group(1).upper() if letter else None,
               "volume": None if letter else name, "device": _mounted_device(binary(data))}
        row = {field: value for field, value in row.items() if value}
        yield Artefact("registry.usb", ts, f"Mounted {row.get('drive_letter') or name} -> {row.get('device')}", row)


def _mounted_device(data: bytes) -> str:
    if len(data) == 12:
        signature, offset = struct.unpack("<IQ", data)
        return f"disk signature {signature:08X}, partition offset {offset}"
    if data.startswith(b"DMIO:ID:") and len(data) >= 24:
        return "dynamic disk " + data[8:24].hex()
    try:
        return data.decode("utf-16-le").split("\x00", 1)[0]
    except UnicodeDecodeError:
        return data.hex()


def portable_devices(hive: Hive) -> Iterator[Record]:
    """SOFTWARE's Windows Portable Devices: the name (often the volume label) a device was shown under."""
    for key in hive.subkeys(hive.key(r"Microsoft\Windows Portable Devices\Devices")):
        name = text(values(key).get("FriendlyName"))
        serial = re.search(r"USBSTOR#[^#]*#([^#]+)#", key.name, re.I)
        row = {"source": "Windows Portable Devices", "device": key.name, "friendly_name": name,
               "serial": serial.group(1).rsplit("&", 1)[0] if serial else None, "key_time": key_time(key)}
        row = {field: value for field, value in row.items() if value}
        yield Artefact("registry.usb", key_time(key), f"Portable device {name or key.name}", row)
