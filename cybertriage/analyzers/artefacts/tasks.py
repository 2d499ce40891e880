"""Scheduled tasks (`Windows\\System32\\Tasks\\**`, one XML file per task, UTF-16 as Windows writes them, and the
legacy `Windows\\Tasks\\*.job` files of Windows XP and of `at`): what runs, when, as whom, and whether it hides.
A task is how much malware persists; an Exec action whose command line starts a program from a user-writable
folder, runs encoded PowerShell or lends a Windows binary to someone else's code is a finding (persistence.py says why).

The XML is read with the standard library's ElementTree, which fetches no external entities; a document type
declaration (which no task has, and which an entity expansion attack needs) is refused before parsing.

A .job file (libyal dtformats, 'Job file format'), little-endian: a 68-byte fixed part (product version, format
version 1, job UUID, offsets of the application name and of the triggers, retry count and interval, idle deadline and
wait, priority, maximum run time in ms, exit code, status, flags, last run time as a 16-byte SYSTEMTIME in local
time), then the running instance count (uint16) and five strings (each a uint16 count of characters, NUL included,
then UTF-16LE): application, parameters, working directory, author, comment; user data and reserved data (each a
uint16 size then that many bytes); the number of triggers (uint16) and 48-byte triggers (size, reserved, start
year/month/day, end year/month/day, start hour/minute, duration, interval, flags (4 = disabled), type)."""

from __future__ import annotations

import codecs
import datetime as dt
import re
import struct
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..base import Finding, Item
from ..results import Artefact
from .base import ArtefactParser, Deadline, content_bytes, utc
from .persistence import severity, suspicious_command

NAMESPACE = "http://schemas.microsoft.com/windows/2004/02/mit/task"
_NS = {"t": NAMESPACE}
TASK_SIZE_LIMIT = 4 * 1024 * 1024  # a task is a few kilobytes; anything far larger is not one
_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")
_JOB_FIXED = struct.Struct("<HH16sHHHHHHIIiII8H")
_JOB_TRIGGER = struct.Struct("<HH6H2HIIII")
_JOB_TRIGGER_KINDS = ["once", "daily", "weekly", "monthly (date)", "monthly (day of week)", "at idle",
                      "at system start", "at logon"]
_ZONED = re.compile(r"(Z|[+-]\d\d:\d\d)$")
_TASK_ELEMENT = tuple("<Task".encode(encoding) for encoding in ("utf-8", "utf-16-le", "utf-16-be"))


class ScheduledTask(ArtefactParser):
    """One `task` record per task file (ts = its registration date when the file gives it a time zone; Windows
    usually writes local time, which is kept as written in `registered` and never converted silently)."""

    NAME: ClassVar[str] = "tasks"
    NEEDS_PATH: ClassVar[bool] = False

    def recognise(self, item: Item) -> bool:
        """A `<Task` element in the task schema's namespace, in the first kilobytes (UTF-16 or UTF-8); or a .job
        file whose fixed part says format version 1 of a Windows product version (4.0 to 10.0)."""
        if item.obj.name.lower().endswith(".job"):
            head = item.head
            return len(head) >= _JOB_FIXED.size and head[2:4] == b"\x01\x00" and 4 <= head[1] <= 10
        head = item.head[:8192]
        # Most files hold none of the element's three spellings, and their head is not decoded (random bytes decode
        # slowly: 0.3 s of the disk benchmark's scan, holding the GIL).
        if not any(form in head for form in _TASK_ELEMENT):
            return False
        head_text = _decode(head)
        return "<Task" in head_text and NAMESPACE in head_text

    def parse(self, item: Item, path: Path | None, deadline: Deadline) -> Iterator[Artefact | Finding]:
        if item.obj.size > TASK_SIZE_LIMIT:
            raise ValueError(f"{item.obj.size} bytes, far more than a task holds")
        if item.obj.name.lower().endswith(".job"):
            values = _job(content_bytes(item), item.obj.name)
        else:
            values = _xml_task(content_bytes(item), item.obj.name)
        ts = _registered_utc(values["registered"])
        who = f" as {values['user_id']}" if values.get("user_id") else ""
        summary = f"Task {values['uri'] or values['name']}: {values['command_line'] or values['action_summary']}{who}"
        yield Artefact("task", ts, summary, values)
        yield from _findings(values)


def _findings(values: dict[str, Any]) -> Iterator[Finding]:
    """A finding for each Exec action whose command line deserves a look."""
    for action in values["actions"]:
        if action["kind"] != "Exec":
            continue
        command_line = " ".join(part for part in (action.get("command"), action.get("arguments")) if part)
        reasons = suspicious_command(command_line)
        if reasons:
            yield Finding("tasks", "persistence-suspicious", severity(reasons),
                          f"Scheduled task {values['uri'] or values['name']} {reasons[0]}",
                          {"task": values["uri"] or values["name"], "command_line": command_line,
                           "reasons": reasons, "user_id": values.get("user_id"), "hidden": values["hidden"]})


def _xml_task(data: bytes, name: str) -> dict[str, Any]:
    text = _decode(data)
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ValueError("a document type declaration, which no task has (entity expansion refused)")
    return _task(ElementTree.fromstring(_DECLARATION.sub("", text, count=1)), name)


def _decode(data: bytes) -> str:
    """The task's text: by its byte order mark, else UTF-16LE when it opens with '<' and a NUL, else UTF-8 (some
    tools write UTF-8 under a declaration that says UTF-16)."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, "replace")
    if data[1:2] == b"\0":
        return data.decode("utf-16-le", "replace")
    return data.decode("utf-8", "replace")


def _text(element: ElementTree.Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path, _NS)
    return found.text.strip() if found is not None and found.text else None


def _flag(element: ElementTree.Element | None, path: str, default: bool) -> bool:
    text = _text(element, path)
    return default if text is None else text.lower() == "true"


def _task(root: ElementTree.Element, name: str) -> dict[str, Any]:
    registration = root.find("t:RegistrationInfo", _NS)
    settings = root.find("t:Settings", _NS)
    principal = root.find("t:Principals/t:Principal", _NS)
    actions = [_action(action) for action in root.findall("t:Actions/*", _NS)]
    execs = [action for action in actions if action["kind"] == "Exec"]
    first = execs[0] if execs else None
    return {
        "name": name, "uri": _text(registration, "t:URI"), "author": _text(registration, "t:Author"),
        "description": _text(registration, "t:Description"), "registered": _text(registration, "t:Date"),
        "schema_version": root.get("version"),
        "user_id": _text(principal, "t:UserId"), "group_id": _text(principal, "t:GroupId"),
        "logon_type": _text(principal, "t:LogonType"), "run_level": _text(principal, "t:RunLevel"),
        "enabled": _flag(settings, "t:Enabled", True), "hidden": _flag(settings, "t:Hidden", False),
        "triggers": [_trigger(trigger) for trigger in root.findall("t:Triggers/*", _NS)],
        "actions": actions,
        "command_line": " ".join(part for part in (first.get("command"), first.get("arguments")) if part)
        if first else None,
        "action_summary": ", ".join(_local(action["kind"]) + (f" {action['class_id']}" if action.get("class_id")
                                                                else "") for action in actions) or "no action",
    }


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _trigger(trigger: ElementTree.Element) -> dict[str, Any]:
    values: dict[str, Any] = {"kind": _local(trigger.tag), "enabled": _flag(trigger, "t:Enabled", True)}
    for key, path in (("start", "t:StartBoundary"), ("end", "t:EndBoundary"), ("delay", "t:Delay"),
                      ("repeat_every", "t:Repetition/t:Interval"), ("user_id", "t:UserId"),
                      ("days_interval", "t:ScheduleByDay/t:DaysInterval"), ("subscription", "t:Subscription"),
                      ("state_name", "t:StateName")):
        text = _text(trigger, path)
        if text is not None:
            values[key] = text
    return values


def _action(action: ElementTree.Element) -> dict[str, Any]:
    values: dict[str, Any] = {"kind": _local(action.tag)}
    for key, path in (("command", "t:Command"), ("arguments", "t:Arguments"),
                      ("working_directory", "t:WorkingDirectory"), ("class_id", "t:ClassId"), ("data", "t:Data"),
                      ("to", "t:To"), ("title", "t:Title")):
        text = _text(action, path)
        if text is not None:
            values[key] = text
    return values


def _registered_utc(text: str | None) -> str | None:
    """The registration date as UTC, only when it carries its zone; None otherwise or when it is no date."""
    if not text or not _ZONED.search(text):
        return None
    try:
        return utc(dt.datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def _job(data: bytes, name: str) -> dict[str, Any]:
    """A legacy .job task in the same shape as an XML one; its times are local, kept as written."""
    fixed = _JOB_FIXED.unpack_from(data)
    application_at, triggers_at, exit_code, flags, run = fixed[3], fixed[4], fixed[11], fixed[13], fixed[14:]
    offset = application_at  # the application name's count, after the running instance count
    strings = []
    for _ in range(5):
        (count,) = struct.unpack_from("<H", data, offset)
        raw = data[offset + 2:offset + 2 + count * 2]
        if len(raw) < count * 2:
            raise ValueError(f"a string of {count} characters at {offset} runs past the file's {len(data)} bytes")
        strings.append(raw.decode("utf-16-le", "replace").rstrip("\0") or None)
        offset += 2 + count * 2
    application, parameters, working_directory, author, comment = strings
    (count,) = struct.unpack_from("<H", data, triggers_at)
    triggers = []
    for index in range(count):
        (_, _, start_y, start_m, start_d, end_y, end_m, end_d, hour, minute, _, interval, trigger_flags,
         kind) = _JOB_TRIGGER.unpack_from(data, triggers_at + 2 + index * _JOB_TRIGGER.size)
        trigger: dict[str, Any] = {
            "kind": _JOB_TRIGGER_KINDS[kind] if kind < len(_JOB_TRIGGER_KINDS) else f"type {kind}",
            "enabled": not trigger_flags & 4,
            "start": f"{start_y:04d}-{start_m:02d}-{start_d:02d}T{hour:02d}:{minute:02d}:00"}
        if trigger_flags & 1:
            trigger["end"] = f"{end_y:04d}-{end_m:02d}-{end_d:02d}"
        if interval:
            trigger["repeat_every"] = f"PT{interval}M"
        triggers.append(trigger)
    year, month, _, day, hour, minute, second, millisecond = run
    last_run = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{millisecond:03d}"
    action = {"kind": "Exec", "command": application, "arguments": parameters, "working_directory": working_directory}
    return {
        "name": name, "uri": None, "author": author, "description": comment, "registered": None, "format": "job",
        "job_id": str(uuid.UUID(bytes_le=fixed[2])), "last_run_local": last_run if year else None,
        "exit_code": exit_code,
        "user_id": None, "group_id": None, "logon_type": None, "run_level": None,
        "enabled": not flags & 4, "hidden": bool(flags & 0x200), "triggers": triggers,
        "actions": [{key: value for key, value in action.items() if value is not None}],
        "command_line": " ".join(part for part in (application, parameters) if part) or None,
        "action_summary": "Exec",
    }
