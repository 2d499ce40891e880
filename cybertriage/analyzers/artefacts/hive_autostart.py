"""What starts by itself: Run and RunOnce keys (the machine's in SOFTWARE, a user's in NTUSER.DAT), services and
drivers (SYSTEM), Winlogon's Shell and Userinit, and Image File Execution Options debuggers (a debugger set for
sethc.exe or utilman.exe is the classic logon-screen backdoor). Each command is also judged by persistence.py:
a finding says why one deserves a look."""

from __future__ import annotations

from collections.abc import Iterator

from .hive_common import Hive, Record, autostart, key_time, number, text, values

_RUN_KEYS = {
    "SOFTWARE": [r"Microsoft\Windows\CurrentVersion\Run", r"Microsoft\Windows\CurrentVersion\RunOnce",
                 r"Microsoft\Windows\CurrentVersion\Policies\Explorer\Run",
                 r"WOW6432Node\Microsoft\Windows\CurrentVersion\Run",
                 r"WOW6432Node\Microsoft\Windows\CurrentVersion\RunOnce"],
    "NTUSER": [r"Software\Microsoft\Windows\CurrentVersion\Run", r"Software\Microsoft\Windows\CurrentVersion\RunOnce",
               r"Software\Microsoft\Windows\CurrentVersion\Policies\Explorer\Run"],
}
_WINLOGON = {"SOFTWARE": r"Microsoft\Windows NT\CurrentVersion\Winlogon",
             "NTUSER": r"Software\Microsoft\Windows NT\CurrentVersion\Winlogon"}
_IFEO = [r"Microsoft\Windows NT\CurrentVersion\Image File Execution Options",
         r"WOW6432Node\Microsoft\Windows NT\CurrentVersion\Image File Execution Options"]
START_TYPES = {0: "boot", 1: "system", 2: "automatic", 3: "manual", 4: "disabled"}
SERVICE_TYPES = {0x1: "kernel driver", 0x2: "file system driver", 0x4: "adapter", 0x8: "recognizer driver",
                 0x10: "own process", 0x20: "share process", 0x50: "user own process", 0x60: "user share process",
                 0x110: "own process, interactive", 0x120: "share process, interactive"}


def run_keys(hive: Hive) -> Iterator[Record]:
    """Each value of a Run or RunOnce key: a program started at every logon (RunOnce: at the next one)."""
    for path in _RUN_KEYS.get(hive.kind, []):
        key = hive.key(path)
        ts = key_time(key)
        for name, command in values(key).items():
            hive.deadline.check()
            command_text = text(command)
            yield from autostart("registry.run", name, command_text, path, ts,
                                 f"{hive.kind} {path.rsplit(chr(92), 1)[-1]}: {name} = {command_text}",
                                 {"hive": hive.kind})


def services(hive: Hive) -> Iterator[Record]:
    """Each service and driver of the current control set: its program, how it starts, as whom it runs."""
    control_set = hive.control_set()
    for key in hive.subkeys(hive.key(f"{control_set}\\Services")) if control_set else ():
        found = values(key)
        kind = number(found.get("Type"))
        if kind is None:
            continue  # a parameters-only key (e.g. a driver's settings), not a service
        start = number(found.get("Start"))
        image = text(found.get("ImagePath"))
        extra = {"display_name": text(found.get("DisplayName")), "image_path": image,
                 "start": START_TYPES.get(start, str(start)) if start is not None else None,
                 "service_type": SERVICE_TYPES.get(kind, f"0x{kind:x}"), "object_name": text(found.get("ObjectName")),
                 "service_dll": text(values(hive.subkey(key, "Parameters")).get("ServiceDll"))}
        extra = {field: value for field, value in extra.items() if value not in (None, "")}
        yield from autostart("service", key.name, image, f"{control_set}\\Services\\{key.name}", key_time(key),
                             f"Service {key.name} ({extra.get('start', 'start unknown')}): {image or 'no image path'}",
                             extra)


def winlogon(hive: Hive) -> Iterator[Record]:
    """Winlogon's Shell (explorer.exe) and Userinit (userinit.exe,): anything added there runs at every logon."""
    path = _WINLOGON.get(hive.kind)
    key = hive.key(path) if path else None
    found = values(key)
    for name in ("Shell", "Userinit"):
        if name in found and path:
            command = text(found[name])
            yield from autostart("registry.winlogon", name, command, path, key_time(key),
                                 f"Winlogon {name} = {command}", {"hive": hive.kind})


def ifeo(hive: Hive) -> Iterator[Record]:
    """Image File Execution Options debuggers: the program Windows starts instead of the named one."""
    for path in _IFEO:
        for key in hive.subkeys(hive.key(path)):
            debugger = text(values(key).get("Debugger"))
            if debugger:
                yield from autostart("registry.ifeo", key.name, debugger, f"{path}\\{key.name}", key_time(key),
                                     f"Debugger for {key.name}: {debugger}", {"hive": hive.kind})
