"""Windows event logs, EVTX (Vista and later) and legacy EVT (XP, 2003): every record one artefact row, the events
an examiner asks about first (logons, RDP sessions, processes, services, cleared logs, new users, new tasks) with a
named summary, a cleared log as a finding, and the Sigma rules run over each EVTX log's events (legacy EVT records
name no fields for rules to read).

EVTX is read by `evtx` (Rust, fast), EVT by libevt (`pyevt`). A damaged chunk or record is skipped and counted, the
rest of the log is still read, and the count is a recorded problem of the file."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import evtx
import pyevt

from ...text_safety import visible
from ..base import Finding, Item, Settings
from ..results import Artefact
from .base import ArtefactParser, Deadline, OutOfTime, utc
from .sigma import SigmaRules, SigmaRun

EVTX_SIGNATURE = b"ElfFile\x00"
EVTX_HEADER_BLOCK, EVTX_CHUNK = 4096, 65536
EVT_SIGNATURE = b"LfLe"
EVT_HEADER_SIZE = b"\x30\x00\x00\x00"
LEVELS = {0: "Information", 1: "Critical", 2: "Error", 3: "Warning", 4: "Information", 5: "Verbose"}
EVT_TYPES = {0: "Information", 1: "Error", 2: "Warning", 4: "Information", 8: "Audit success", 16: "Audit failure"}
# Legacy logs do not say which log they are; their usual file names do.
EVT_CHANNELS = {"secevent.evt": "Security", "sysevent.evt": "System", "appevent.evt": "Application"}
LOGON_TYPES = {2: "Interactive", 3: "Network", 4: "Batch", 5: "Service", 7: "Unlock", 8: "NetworkCleartext",
               9: "NewCredentials", 10: "RemoteInteractive", 11: "CachedInteractive", 12: "CachedRemoteInteractive",
               13: "CachedUnlock"}
RDP_SESSION_EVENTS = {21: "RDP session logon", 22: "RDP shell start", 23: "RDP session logoff",
                      24: "RDP session disconnected", 25: "RDP session reconnected"}
MAX_SHOWN = 160  # characters of one value in a summary
MAX_PROBLEMS_SHOWN = 3  # damaged chunks described in the recorded problem, the rest counted


@dataclass
class Event:
    """One event record as both formats give it, before it becomes a row."""

    record_id: int | None
    ts: str | None
    event_id: int | None
    channel: str | None
    provider: str | None
    computer: str | None
    level: int | None
    user_sid: str | None
    data: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Named:
    """What an event the examiner asks about means: its category, one readable line, the fields it names."""

    category: str
    summary: str
    fields: dict[str, Any]


@dataclass
class Damage:
    """Records and chunks that could not be read, counted, with the first few reasons."""

    count: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, reason: str) -> None:
        self.count += 1
        if len(self.reasons) < MAX_PROBLEMS_SHOWN:
            self.reasons.append(reason[:200])


class EventLogs(ArtefactParser):
    """EVTX and EVT event logs: one `evtx.event` / `evt.event` row per record, named summaries, Sigma findings."""

    NAME = "event_logs"
    NEEDS_PATH = True

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.sigma = SigmaRules(settings.sigma_paths)
        self._lock = threading.Lock()
        self._rule_problems_told = False

    def recognise(self, item: Item) -> bool:
        head = item.head
        return head.startswith(EVTX_SIGNATURE) or (head[4:8] == EVT_SIGNATURE and head[:4] == EVT_HEADER_SIZE)

    def parse(self, item: Item, path: Path | None, deadline: Deadline) -> Iterator[Artefact | Finding]:
        assert path is not None
        legacy = not item.head.startswith(EVTX_SIGNATURE)
        kind = "evt.event" if legacy else "evtx.event"
        damage = Damage()
        sigma = None if legacy else SigmaRun(self.sigma)
        self._tell_rule_problems(item)
        if not legacy:
            _check_evtx_size(item.head, path.stat().st_size, damage)
        events = _evt_events(path, item.obj.name, damage) if legacy else evtx_events(path, damage)
        try:
            for event in events:
                deadline.check()
                named = None if legacy else describe(event)  # legacy records name no fields
                yield _artefact(kind, event, named)
                if named is not None and named.category == "log_cleared":
                    yield _log_cleared(event, named)
                if sigma is not None:
                    sigma.add(event.record_id, event.ts, event.event_id, event.channel, event.provider,
                              event.computer, event.level, event.data)
            if sigma is not None:
                yield from sigma.findings(deadline.check)
        except OutOfTime:
            if sigma is not None:  # the rules still run over what was read in time (a bounded table)
                yield from sigma.findings()
            raise
        finally:
            if sigma is not None:
                sigma.close()  # the table given back even when reading stopped early
                item.skipped.extend(("sigma", problem) for problem in sigma.problems)
            if damage.count:
                item.skipped.append((self.NAME, f"damaged log: {damage.count} chunks, records or parts not read: "
                                                + "; ".join(damage.reasons)))

    def _tell_rule_problems(self, item: Item) -> None:
        """Rules that do not convert are said once, on the first event log of the run, not on every one."""
        with self._lock:
            if self._rule_problems_told:
                return
            self._rule_problems_told = True
        item.skipped.extend(("sigma", problem) for problem in self.sigma.compiled().problems)


# --- reading -----------------------------------------------------------------------------------------------------

def evtx_events(path: Path, damage: Damage) -> Iterator[Event]:
    """The records of an EVTX log; a damaged chunk or record is counted and passed over (the reader goes on)."""
    records = evtx.PyEvtxParser(str(path)).records_json()
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except RuntimeError as error:  # the Rust reader's error for a bad chunk or record; it resumes after it
            if not _empty_chunk(path, str(error)):
                damage.add(str(error))
            continue
        if record is None:
            continue
        try:
            event = _evtx_event(record)
        except (ValueError, TypeError, AttributeError) as error:  # JSON that is not an event's shape
            damage.add(f"record {record.get('event_record_id')}: {type(error).__name__}: {error}")
            continue
        yield event


_CHUNK_NUMBER = re.compile(r"chunk number (\d+)")


def _empty_chunk(path: Path, error: str) -> bool:
    """Whether the chunk an error names was never written (zeros: space the log grew into), which is no damage."""
    found = _CHUNK_NUMBER.search(error)
    if found is None:
        return False
    with open(path, "rb") as log:
        log.seek(EVTX_HEADER_BLOCK + int(found.group(1)) * EVTX_CHUNK)
        start = log.read(512)
    return bool(start) and not start.strip(b"\x00")


def _check_evtx_size(head: bytes, size: int, damage: Damage) -> None:
    """A log cut short (a partial last chunk, fewer chunks than its header lists): the reader passes over the
    missing part without a word, so it is said here."""
    whole, partial = divmod(max(size - EVTX_HEADER_BLOCK, 0), EVTX_CHUNK)
    listed = int.from_bytes(head[42:44], "little") if len(head) >= 44 else 0
    if partial:
        damage.add(f"the log ends {partial} bytes into chunk {whole + 1}, whose records are not read")
    if listed > whole + (1 if partial else 0):
        damage.add(f"the header lists {listed} chunks, the file holds {whole} whole ones")


def _evtx_event(record: dict[str, Any]) -> Event:
    document = json.loads(record["data"])
    event = document.get("Event") or {}
    system = event.get("System") or {}
    provider = _attributes(system.get("Provider")).get("Name")
    security = _attributes(system.get("Security"))
    event_id = _plain(system.get("EventID"))
    level = _plain(system.get("Level"))
    data: dict[str, Any] = {}
    _flatten(event.get("EventData"), data)
    user_data = event.get("UserData")
    if isinstance(user_data, dict):
        for name, element in user_data.items():
            if name == "#attributes":
                continue
            if isinstance(element, dict):
                _flatten(element, data)
            else:
                data[name] = _plain(element)
    # Event Viewer's record id and time (the XML's); the record header's where the XML has none.
    record_id = _number(_plain(system.get("EventRecordID")))
    created = _attributes(system.get("TimeCreated")).get("SystemTime")
    return Event(
        record_id=record_id if record_id is not None else _number(record.get("event_record_id")),
        ts=_record_time(created) or _record_time(record.get("timestamp")),
        event_id=_number(event_id),
        channel=_text(system.get("Channel")),
        provider=_text(provider),
        computer=_text(system.get("Computer")),
        level=_number(level),
        user_sid=_text(security.get("UserID")),
        data=data,
    )


def _evt_events(path: Path, name: str, damage: Damage) -> Iterator[Event]:
    """The records of a legacy EVT log, then those libevt recovers from its free space (marked `recovered`)."""
    log = pyevt.file()
    with open(path, "rb") as content:
        log.open_file_object(content)
        try:
            channel = EVT_CHANNELS.get(name.lower())
            for recovered, count, get in ((False, log.number_of_records, log.get_record),
                                          (True, log.number_of_recovered_records, log.get_recovered_record)):
                for index in range(count):
                    try:
                        record = get(index)
                        event = _evt_event(record, channel, recovered)
                    except (OSError, ValueError) as error:
                        damage.add(f"{'recovered ' if recovered else ''}record {index}: {error}")
                        continue
                    yield event
        finally:
            log.close()


def _evt_event(record: Any, channel: str | None, recovered: bool) -> Event:
    identifier = int(record.event_identifier)
    strings = [record.get_string(i) for i in range(record.number_of_strings)]
    written = record.written_time
    extra: dict[str, Any] = {
        "event_identifier": identifier, "qualifiers": identifier >> 16,
        "event_type": EVT_TYPES.get(record.event_type, record.event_type),
        "event_category": record.event_category,
        "created": utc(record.creation_time),
    }
    if recovered:
        extra["recovered"] = True
    return Event(record_id=int(record.identifier), ts=utc(written), event_id=identifier & 0xFFFF, channel=channel,
                 provider=record.source_name, computer=record.computer_name, level=None,
                 user_sid=record.user_security_identifier, data={"strings": strings}, extra=extra)


def _attributes(node: Any) -> dict[str, Any]:
    if isinstance(node, dict) and isinstance(node.get("#attributes"), dict):
        return node["#attributes"]
    return {}


def _plain(value: Any) -> Any:
    """A JSON node of the event as a plain value: an element's text, without its XML attributes."""
    if isinstance(value, dict):
        if "#text" in value:
            return _plain(value["#text"])
        return {key: _plain(item) for key, item in value.items() if key != "#attributes"} or None
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _flatten(node: Any, into: dict[str, Any]) -> None:
    """EventData's named fields (or UserData's element's fields) into one object; unnamed data under `Data`."""
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key != "#attributes":
            into[key] = _plain(value)


def _number(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    value = _plain(value)
    return None if value is None else str(value)


_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6})\d*)?")


def _record_time(text: Any) -> str | None:
    """An EVTX time (the XML's SystemTime, or the record header's), to the microsecond, as ISO 8601 UTC: the text
    cut, not parsed and printed again (a million records a minute), once its fields are checked to be a time."""
    found = _TIME.match(str(text or ""))
    if found is None:
        return None
    year, month, day, hour, minute, second, fraction = found.groups()
    if year <= "1601" or not ("01" <= month <= "12" and "01" <= day <= "31" and hour < "24" and minute < "60"
                              and second < "61"):
        return None
    fraction = (fraction or "").rstrip("0")
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}" + (f".{fraction}" if fraction else "") + "Z"


# --- rows ----------------------------------------------------------------------------------------------------------

def _artefact(kind: str, event: Event, named: Named | None) -> Artefact:
    values: dict[str, Any] = {
        "record_id": event.record_id, "event_id": event.event_id, "channel": event.channel,
        "provider": event.provider, "computer": event.computer, "level": event.level,
    }
    if event.user_sid:
        values["user_sid"] = event.user_sid
    values.update(event.extra)
    values["data"] = event.data
    if named is not None:
        values["category"] = named.category
        values.update({key: value for key, value in named.fields.items() if key not in values})
        return Artefact(kind, event.ts, named.summary, values)
    return Artefact(kind, event.ts, _plain_summary(event), values)


def _plain_summary(event: Event) -> str:
    where = event.channel or event.provider or "event"
    level = f" {LEVELS[event.level]}" if event.level in LEVELS else ""
    fields = ", ".join(f"{key}={_brief(value)}" for key, value in list(event.data.items())[:4]
                       if value not in (None, "", "-"))
    line = f"{where} event {event.event_id}{level} from {event.provider or '?'} on {event.computer or '?'}"
    return _shown(line + (f": {fields}" if fields else ""), 400)


def _brief(value: Any) -> str:
    """A field's value cut short for a line that is made safe to show as a whole (`_shown`)."""
    if isinstance(value, list):
        value = ", ".join(str(item) for item in value if item is not None)
    return str(value)[:MAX_SHOWN]


def _shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """A value of the evidence in a one-line summary: whitespace runs as one space, control characters escaped."""
    if isinstance(value, list):
        value = ", ".join(str(item) for item in value if item is not None)
    text = visible(" ".join(str(value).split()))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _log_cleared(event: Event, named: Named) -> Finding:
    who = _account(named.fields.get("user"), named.fields.get("domain")) or "an unknown account"
    log = named.fields.get("log") or event.channel or "event"
    return Finding(EventLogs.NAME, "log_cleared", "high", f"{_shown(log)} log cleared by {_shown(who)} at {event.ts}",
                   {"time": event.ts, "user": named.fields.get("user"), "domain": named.fields.get("domain"),
                    "user_sid": named.fields.get("user_sid") or event.user_sid, "log": log,
                    "event_id": event.event_id, "record_id": event.record_id, "computer": event.computer})


# --- named summaries ---------------------------------------------------------------------------------------------

def _account(user: Any, domain: Any) -> str:
    user, domain = _given(user), _given(domain)
    if user and domain:
        return f"{domain}\\{user}"
    return user or ""


def _given(value: Any) -> str:
    """A field's value as written, or '' where Windows writes '-' or nothing."""
    if value is None:
        return ""
    text = str(value)
    return "" if text.strip() in ("-", "") else text


def _logon(event: Event) -> Named:
    data = event.data
    logon_type = _number(data.get("LogonType"))
    failed = event.event_id == 4625
    category = "logon_failed" if failed else ("rdp" if logon_type == 10 else "logon")
    fields = {"user": _given(data.get("TargetUserName")), "domain": _given(data.get("TargetDomainName")),
              "user_sid": _given(data.get("TargetUserSid")), "logon_type": logon_type,
              "logon_type_name": LOGON_TYPES.get(logon_type or -1), "source_address": _given(data.get("IpAddress")),
              "source_port": _given(data.get("IpPort")), "workstation": _given(data.get("WorkstationName")),
              "logon_process": _given(data.get("LogonProcessName")),
              "authentication": _given(data.get("AuthenticationPackageName"))}
    if failed:
        fields |= {"status": _given(data.get("Status")), "sub_status": _given(data.get("SubStatus"))}
    what = "Failed logon" if failed else ("RDP logon" if logon_type == 10 else "Logon")
    kind = f"type {logon_type} {fields['logon_type_name'] or ''}".strip() if logon_type is not None else "type ?"
    source = f" from {_shown(fields['source_address'])}" if fields["source_address"] else ""
    workstation = f" ({_shown(fields['workstation'])})" if fields["workstation"] else ""
    account = _account(fields["user"], fields["domain"]) or "?"
    return Named(category, f"{what} of {_shown(account)} ({kind}){source}{workstation}", fields)


def _process(event: Event) -> Named:
    data = event.data
    fields: dict[str, Any]
    if event.event_id == 4688:
        # The new process's account (Target, Windows 10 and later) where given, else the creator's (Subject).
        side = "Target" if _given(data.get("TargetUserName")) else "Subject"
        fields = {"process": _given(data.get("NewProcessName")), "command_line": _given(data.get("CommandLine")),
                  "parent": _given(data.get("ParentProcessName")), "user": _given(data.get(f"{side}UserName")),
                  "domain": _given(data.get(f"{side}DomainName")), "process_id": _given(data.get("NewProcessId"))}
    else:  # Sysmon 1
        user = _given(data.get("User"))
        domain, _, name = user.rpartition("\\")
        fields = {"process": _given(data.get("Image")), "command_line": _given(data.get("CommandLine")),
                  "parent": _given(data.get("ParentImage")),
                  "parent_command_line": _given(data.get("ParentCommandLine")), "user": name, "domain": domain,
                  "process_id": _number(data.get("ProcessId")), "hashes": _given(data.get("Hashes"))}
    command = f": {_shown(fields['command_line'], 300)}" if fields["command_line"] else ""
    by = _account(fields["user"], fields["domain"])
    parent = f", parent {_shown(fields['parent'])}" if fields["parent"] else ""
    summary = f"Process started {_shown(fields['process'] or '?')}{command}{parent}"
    return Named("process", summary + (f", by {_shown(by)}" if by else ""), fields)


def _service(event: Event) -> Named:
    data = event.data
    if event.event_id == 4697:
        fields = {"service": _given(data.get("ServiceName")), "image_path": _given(data.get("ServiceFileName")),
                  "start_type": _given(data.get("ServiceStartType")), "account": _given(data.get("ServiceAccount")),
                  "user": _given(data.get("SubjectUserName")), "domain": _given(data.get("SubjectDomainName"))}
    else:  # 7045
        fields = {"service": _given(data.get("ServiceName")), "image_path": _given(data.get("ImagePath")),
                  "start_type": _given(data.get("StartType")), "account": _given(data.get("AccountName"))}
    summary = f"Service installed {_shown(fields['service'] or '?')}: {_shown(fields['image_path'] or '?', 300)}"
    start = f" ({_shown(fields['start_type'])})" if fields["start_type"] else ""
    return Named("service_installed", summary + start, fields)


def _cleared(event: Event) -> Named:
    data = event.data
    fields = {"user": _given(data.get("SubjectUserName")), "domain": _given(data.get("SubjectDomainName")),
              "user_sid": _given(data.get("SubjectUserSid")),
              "log": _given(data.get("Channel")) or event.channel or ""}
    who = _account(fields["user"], fields["domain"]) or "?"
    return Named("log_cleared", f"{_shown(fields['log'] or 'Event')} log cleared by {_shown(who)}", fields)


def _user_created(event: Event) -> Named:
    data = event.data
    fields = {"user": _given(data.get("TargetUserName")), "domain": _given(data.get("TargetDomainName")),
              "user_sid": _given(data.get("TargetSid")), "by": _account(data.get("SubjectUserName"),
                                                                       data.get("SubjectDomainName"))}
    by = f" by {_shown(fields['by'])}" if fields["by"] else ""
    return Named("user_created", f"User created {_shown(_account(fields['user'], fields['domain']) or '?')}{by}",
                 fields)


_TASK_COMMAND = re.compile(r"<Command>([^<]{0,1000})</Command>(?:\s*<Arguments>([^<]{0,2000})</Arguments>)?")


def _task_created(event: Event) -> Named:
    data = event.data
    action = _TASK_COMMAND.search(str(data.get("TaskContent") or ""))
    command = " ".join(part.strip() for part in action.groups() if part) if action else ""
    fields = {"task": _given(data.get("TaskName")), "command": command,
              "user": _given(data.get("SubjectUserName")), "domain": _given(data.get("SubjectDomainName"))}
    by = _account(fields["user"], fields["domain"])
    runs = f": {_shown(command, 300)}" if command else ""
    return Named("task_created", f"Scheduled task created {_shown(fields['task'] or '?')}{runs}"
                                 + (f", by {_shown(by)}" if by else ""), fields)


def _rdp_session(event: Event) -> Named:
    data = event.data
    user = _given(data.get("User"))
    domain, _, name = user.rpartition("\\")
    fields = {"user": name, "domain": domain, "source_address": _given(data.get("Address")),
              "session": _given(data.get("SessionID")), "rdp_event": RDP_SESSION_EVENTS[event.event_id or 0]}
    source = f" from {_shown(fields['source_address'])}" if fields["source_address"] else ""
    return Named("rdp", f"{fields['rdp_event']} of {_shown(user or '?')}{source} (session {fields['session']})",
                 fields)


def _rdp_authenticated(event: Event) -> Named:
    data = event.data
    fields = {"user": _given(data.get("Param1")), "domain": _given(data.get("Param2")),
              "source_address": _given(data.get("Param3")), "rdp_event": "RDP user authenticated"}
    account = _account(fields["user"], fields["domain"]) or "?"
    source = f" from {_shown(fields['source_address'])}" if fields["source_address"] else ""
    return Named("rdp", f"RDP user authenticated {_shown(account)}{source}", fields)


SECURITY = "Microsoft-Windows-Security-Auditing"
EVENTLOG = "Microsoft-Windows-Eventlog"
# (provider, event id) -> what it means; the provider keeps another source's event of the same number out.
NAMED: dict[tuple[str, int], Callable[[Event], Named]] = {
    (SECURITY, 4624): _logon,
    (SECURITY, 4625): _logon,
    (SECURITY, 4688): _process,
    ("Microsoft-Windows-Sysmon", 1): _process,
    (SECURITY, 4697): _service,
    ("Service Control Manager", 7045): _service,
    (EVENTLOG, 1102): _cleared,
    (EVENTLOG, 104): _cleared,
    (SECURITY, 4720): _user_created,
    (SECURITY, 4698): _task_created,
    **{("Microsoft-Windows-TerminalServices-LocalSessionManager", number): _rdp_session
       for number in RDP_SESSION_EVENTS},
    ("Microsoft-Windows-TerminalServices-RemoteConnectionManager", 1149): _rdp_authenticated,
}


def describe(event: Event) -> Named | None:
    """The named summary of an event the examiner asks about first; None for the others."""
    if event.provider is None or event.event_id is None:
        return None
    explain = NAMED.get((event.provider, event.event_id))
    return explain(event) if explain is not None else None
