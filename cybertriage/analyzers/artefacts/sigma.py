"""Sigma rules over an event log's events, through pySigma and its SQLite backend, as Zircolite runs them.

Each rule is converted to SQL once per run. A log's events go into a private SQLite table whose columns are the Sigma
field names (EventID, Channel, Provider_Name, Computer and the EventData fields); each rule then runs on the events
its logsource names: a service is a channel (security: Security, sysmon: Microsoft-Windows-Sysmon/Operational), a
category the channels and event ids that record it (process_creation: Sysmon 1 and Security 4688, whose fields are
also given their Sysmon names so that one rule reads both). A rule that matches is one finding with its title,
level, id, tags, the number of events it matched and the first of them."""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pySigma loads when rules are first compiled (an event log is read), not with every scan
    from sigma.backends.sqlite import sqliteBackend
    from sigma.rule import SigmaRule


from ...assets import asset_dir
from ...errors import UsageError
from ..base import Finding

ANALYZER = "sigma"
RULE_SUFFIXES = (".yml", ".yaml")
SEVERITY = {"informational": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical"}
SHOWN_EVENTS = 5  # matching events listed in a finding's detail; all are counted
BATCH = 2000  # events inserted at a time
MAX_COLUMNS = 1500  # fields kept for the rules; SQLite allows 2000 columns, a hostile log may name more
RECORD, TIME = "EventRecordID", "SystemTime"  # columns the findings report, filled from the record itself
SYSMON = "Microsoft-Windows-Sysmon/Operational"
POWERSHELL = "Microsoft-Windows-PowerShell/Operational"

# Sigma logsource service -> the channel that records it.
SERVICES = {
    "security": "Security", "system": "System", "application": "Application", "sysmon": SYSMON,
    "powershell": POWERSHELL, "powershell-classic": "Windows PowerShell",
    "taskscheduler": "Microsoft-Windows-TaskScheduler/Operational",
    "terminalservices-localsessionmanager": "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
    "windefend": "Microsoft-Windows-Windows Defender/Operational",
    "bits-client": "Microsoft-Windows-Bits-Client/Operational",
    "wmi": "Microsoft-Windows-WMI-Activity/Operational",
    "codeintegrity-operational": "Microsoft-Windows-CodeIntegrity/Operational",
    "ntlm": "Microsoft-Windows-NTLM/Operational",
    "dns-server": "DNS Server",
    "firewall-as": "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
}
# Sigma logsource category -> (channel, event ids) that record it.
CATEGORIES: dict[str, tuple[tuple[str, tuple[int, ...]], ...]] = {
    "process_creation": ((SYSMON, (1,)), ("Security", (4688,))),
    "network_connection": ((SYSMON, (3,)),),
    "sysmon_status": ((SYSMON, (4, 16)),),
    "process_termination": ((SYSMON, (5,)),),
    "driver_load": ((SYSMON, (6,)),),
    "image_load": ((SYSMON, (7,)),),
    "create_remote_thread": ((SYSMON, (8,)),),
    "raw_access_thread": ((SYSMON, (9,)),),
    "process_access": ((SYSMON, (10,)),),
    "file_event": ((SYSMON, (11,)),),
    "registry_add": ((SYSMON, (12,)),),
    "registry_delete": ((SYSMON, (12,)),),
    "registry_set": ((SYSMON, (13,)),),
    "registry_rename": ((SYSMON, (14,)),),
    "registry_event": ((SYSMON, (12, 13, 14)),),
    "create_stream_hash": ((SYSMON, (15,)),),
    "pipe_created": ((SYSMON, (17, 18)),),
    "wmi_event": ((SYSMON, (19, 20, 21)),),
    "dns_query": ((SYSMON, (22,)),),
    "file_delete": ((SYSMON, (23, 26)),),
    "process_tampering": ((SYSMON, (25,)),),
    "ps_module": ((POWERSHELL, (4103,)),),
    "ps_script": ((POWERSHELL, (4104,)),),
    "ps_classic_start": (("Windows PowerShell", (400,)),),
    "ps_classic_provider_start": (("Windows PowerShell", (600,)),),
}
# Security 4688's fields under the names Sysmon 1 gives them, which process_creation rules use.
PROCESS_CREATION_4688 = {"NewProcessName": "Image", "ParentProcessName": "ParentImage", "NewProcessId": "ProcessId",
                         "ProcessId": "ParentProcessId"}


@dataclass(frozen=True)
class Scope:
    """The events a logsource names: some channels, each with all its events or some event ids."""

    name: str
    sources: tuple[tuple[str, tuple[int, ...]], ...]  # (channel, event ids; empty: all)

    def view(self) -> str:
        return "scope_" + re.sub(r"\W", "_", self.name)

    def where(self) -> str:
        parts = []
        for channel, ids in self.sources:
            test = f"Channel = {_literal(channel)}"
            if ids:
                test += f" AND EventID IN ({', '.join(str(number) for number in ids)})"
            parts.append(f"({test})")
        return " OR ".join(parts)


SCOPES = {**{f"service:{name}": Scope(f"service_{name}", ((channel, ()),)) for name, channel in SERVICES.items()},
          **{f"category:{name}": Scope(name, sources) for name, sources in CATEGORIES.items()}}


@dataclass(frozen=True)
class CompiledRule:
    rule_id: str
    title: str
    level: str | None
    tags: tuple[str, ...]
    author: str | None  # the Detection Rule License asks that a match's message name the rule's author
    scope: Scope
    queries: tuple[str, ...]
    fields: tuple[str, ...]
    source: str


@dataclass
class CompiledRules:
    """The run's rules converted to SQL, by scope, and the rules that could not be, with why."""

    rules: list[CompiledRule] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def scopes(self) -> set[Scope]:
        return {rule.scope for rule in self.rules}

    def fields(self) -> list[str]:
        """Every event field some rule reads, once each (as SQLite names columns: without case)."""
        return list({name.lower(): name for rule in self.rules for name in rule.fields}.values())


def bundled_rules() -> Path | None:
    """The curated SigmaHQ rules shipped in rules/sigma (None if this installation has none)."""
    try:
        folder = asset_dir("rules") / "sigma"
    except FileNotFoundError:
        return None
    return folder if folder.is_dir() else None


def rule_files(paths: Iterable[Path]) -> list[Path]:
    """Every .yml/.yaml under the given files and folders, in a stable order; a missing path is skipped."""
    found: list[Path] = []
    for base in paths:
        if base.is_dir():
            found.extend(path for path in sorted(base.rglob("*"))
                         if path.suffix.lower() in RULE_SUFFIXES and path.is_file())
        elif base.is_file():
            found.append(base)
    return found


class SigmaRules:
    """The bundled rules and the examiner's (`--sigma`), converted once, when the first event log needs them; the
    analyzer's worker threads share them."""

    def __init__(self, examiner_paths: Sequence[Path], bundled: bool = True) -> None:
        missing = [str(path) for path in examiner_paths if not path.exists()]
        if missing:  # said before the scan starts, as for YARA rules
            raise UsageError(f"Sigma rules not found: {', '.join(missing)}")
        folder = bundled_rules() if bundled else None
        self.paths = ([folder] if folder is not None else []) + list(examiner_paths)
        self._compiled: CompiledRules | None = None
        self._lock = threading.Lock()
        self._tables = threading.local()  # each worker thread's EventTable

    def compiled(self) -> CompiledRules:
        with self._lock:
            if self._compiled is None:
                self._compiled = compile_rules(rule_files(self.paths))
            return self._compiled

    def take_table(self) -> EventTable:
        """This thread's table for one log's pass, or a table of its own if the thread's is in use."""
        table: EventTable | None = getattr(self._tables, "table", None)
        if table is None:
            table = self._tables.table = EventTable(self.compiled())
        if table.busy:
            table = EventTable(self.compiled())
        table.busy = True
        return table

    def give_back(self, table: EventTable) -> None:
        if table is getattr(self._tables, "table", None):
            try:
                table.empty()
                table.busy = False
                return
            except sqlite3.Error:  # a table that cannot be emptied is not used again
                self._tables.table = None
        table.db.close()


def compile_rules(files: list[Path]) -> CompiledRules:
    from sigma.collection import SigmaCollection
    from sigma.rule import SigmaRule

    compiled = CompiledRules()
    backends: dict[Scope, sqliteBackend] = {}
    for path in files:
        try:
            collection = SigmaCollection.from_yaml(path.read_text(encoding="utf-8"), collect_errors=True)
        except Exception as error:  # unreadable, not YAML, not Sigma: said, and the other files still read
            compiled.problems.append(f"Sigma rule file {path.name} not read: {error}")
            continue
        for problem in collection.errors:
            compiled.problems.append(f"Sigma rule in {path.name} not read: {problem}")
        for rule in collection.rules:
            if isinstance(rule, SigmaRule) and not rule.errors:  # a rule with errors was said above
                _compile_rule(rule, path, backends, compiled)
    return compiled


def _compile_rule(rule: SigmaRule, path: Path, backends: dict[Scope, sqliteBackend], into: CompiledRules) -> None:
    name = f"{rule.title!r} ({path.name})"
    scope = _scope(rule)
    if scope is None:
        logsource = rule.logsource
        into.problems.append(f"Sigma rule {name} not run: its logsource (product {logsource.product}, category "
                             f"{logsource.category}, service {logsource.service}) is not one read from event logs")
        return
    from sigma.backends.sqlite import sqliteBackend

    backend = backends.setdefault(scope, sqliteBackend(table=scope.view()))
    try:
        queries = tuple(backend.convert_rule(rule))
        fields = tuple(backend.required_fields(rule))
    except Exception as error:  # pySigma raises more than SigmaError on a malformed rule; the others still run
        into.problems.append(f"Sigma rule {name} does not convert for SQLite: {type(error).__name__}: {error}")
        return
    level = rule.level.name.lower() if rule.level is not None else None
    into.rules.append(CompiledRule(str(rule.id or rule.title), str(rule.title), level,
                                   tuple(str(tag) for tag in rule.tags), rule.author, scope, queries, fields,
                                   path.name))


def _scope(rule: SigmaRule) -> Scope | None:
    logsource = rule.logsource
    if logsource.product not in (None, "windows"):
        return None
    if logsource.category is not None:
        return SCOPES.get(f"category:{logsource.category}")
    if logsource.service is not None:
        return SCOPES.get(f"service:{logsource.service}")
    return None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _column(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@functools.lru_cache(maxsize=512)
def _pattern(expression: str) -> re.Pattern[str] | None:
    try:
        return re.compile(expression)
    except re.error:
        return None


def _regexp(expression: str, value: Any) -> bool:
    """SQLite's REGEXP (`value REGEXP expression` calls regexp(expression, value)), as Sigma's `|re` means it."""
    pattern = _pattern(expression)
    return value is not None and pattern is not None and pattern.search(str(value)) is not None


def _cell(value: Any) -> Any:
    """An event field as the rules compare it: text or a number; lists one per line, nested objects as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and not -(1 << 63) <= value < 1 << 63:
        return str(value)  # past SQLite's integers (a damaged or hostile record)
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, list):
        return "\n".join(str(_cell(item)) for item in value if item is not None)
    return str(value)


class EventTable:
    """The SQLite table a log's events are loaded into for the rules, kept by a worker thread from one log to the
    next (emptied between them), so that each rule's SQL is prepared once per thread, not once per log: most logs
    are small, and preparing 350 rules costs more than running them."""

    def __init__(self, rules: CompiledRules) -> None:
        # A private on-disk temporary database: a large log spills to disk instead of filling memory.
        self.db = sqlite3.connect("", check_same_thread=True, cached_statements=4096)
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("PRAGMA cache_size = -131072")
        self.db.create_function("REGEXP", 2, _regexp, deterministic=True)
        # The fields the rules read are columns from the start (one statement, not one ALTER TABLE each).
        self.columns = {RECORD.lower(): RECORD, TIME.lower(): TIME}  # lower-case name -> the column's name
        for name in ("EventID", "Channel", "Provider_Name", "Computer", "Level", *rules.fields()):
            self.columns.setdefault(name.lower(), name)
        typed = [f"{_column(RECORD)} INTEGER", f"{_column(TIME)} TEXT"]
        typed += [f"{_column(name)} TEXT COLLATE NOCASE" for name in list(self.columns.values())[2:]]
        self.db.execute(f"CREATE TABLE logs ({', '.join(typed)})")
        self.db.execute("CREATE INDEX logs_source ON logs (Channel, EventID)")
        for scope in rules.scopes():
            self.db.execute(f"CREATE TEMP VIEW {scope.view()} AS SELECT * FROM logs WHERE {scope.where()}")
        self.layouts: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[int, ...]]] = {}
        self.dropped_fields = 0  # field names past MAX_COLUMNS, over the table's life
        self.busy = False

    def insert(self, rows: list[dict[str, Any]]) -> None:
        groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for row in rows:
            columns, picked = self._layout(tuple(row))
            values = list(row.values())
            groups.setdefault(columns, []).append(tuple(values[index] for index in picked))
        for columns, grouped in groups.items():
            marks = ", ".join("?" * len(columns))
            self.db.executemany(f"INSERT INTO logs ({', '.join(map(_column, columns))}) VALUES ({marks})", grouped)

    def empty(self) -> None:
        self.db.execute("DELETE FROM logs")

    def _layout(self, names: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """The columns an event with these field names fills, and which of its values go in them (the last of
        names equal but for case: the record's own fields come last); worked out once per set of names."""
        layout = self.layouts.get(names)
        if layout is None:
            chosen: dict[str, int] = {}
            for index, name in enumerate(names):
                column = self._column_for(name.replace("\x00", ""))
                if column is None:
                    self.dropped_fields += 1
                else:
                    chosen[column] = index
            layout = self.layouts[names] = (tuple(chosen), tuple(chosen.values()))
        return layout

    def _column_for(self, name: str) -> str | None:
        column = self.columns.get(name.lower())
        if column is None and len(self.columns) < MAX_COLUMNS:
            self.db.execute(f"ALTER TABLE logs ADD COLUMN {_column(name)} TEXT COLLATE NOCASE")
            column = self.columns[name.lower()] = name
        return column


class SigmaRun:
    """One event log's pass: its events loaded as they are read, then every rule whose logsource it holds run."""

    def __init__(self, rules: SigmaRules) -> None:
        self.source = rules
        self.rules = rules.compiled()
        self.problems: list[str] = []
        self._wanted = {(channel, number) for scope in self.rules.scopes() for channel, ids in scope.sources
                        for number in (ids or (None,))}
        self._channels = {channel for channel, number in self._wanted if number is None}
        self._table: EventTable | None = None
        self._pending: list[dict[str, Any]] = []
        self._loaded = 0
        self._dropped_before = 0
        self._failed = False  # the table refused an event: no rule runs on a part of the log

    def add(self, record_id: int | None, ts: str | None, event_id: int | None, channel: str | None,
            provider: str | None, computer: str | None, level: int | None, data: dict[str, Any]) -> None:
        """One event; kept only if a rule's logsource covers its channel and event id."""
        if not self.rules.rules or self._failed or channel is None or (
                channel not in self._channels and (channel, event_id) not in self._wanted):
            return
        row = {key: _cell(value) for key, value in data.items() if key}
        if channel == "Security" and event_id == 4688:
            row.update({alias: _cell(data.get(name)) for name, alias in PROCESS_CREATION_4688.items()})
            user = "\\".join(part for part in (row.get("SubjectDomainName"), row.get("SubjectUserName")) if part)
            row["User"] = user or None
        row.update({"EventID": _cell(event_id), "Channel": channel, "Provider_Name": provider, "Computer": computer,
                    "Level": _cell(level), RECORD: _cell(record_id), TIME: ts})
        self._pending.append(row)
        if len(self._pending) >= BATCH:
            self._flush()

    def findings(self, check: Callable[[], None] | None = None) -> Iterator[Finding]:
        """Each rule that matched as a finding (`check`, the parser's time limit, called between rules); the table
        is emptied afterwards. A failure of the table itself is a problem said, not raised."""
        try:
            self._flush()
            if self._table is None or self._failed:
                return
            yield from self._run_rules(self._table.db, check)
        except sqlite3.Error as error:
            self.problems.append(f"Sigma pass stopped: {type(error).__name__}: {error}")
        finally:
            self._release()

    def close(self) -> None:
        """Give the table back, emptied, if the pass stopped before its findings (the log's reading failed)."""
        self._pending = []
        self._release()

    def _flush(self) -> None:
        if not self._pending or self._failed:
            return
        if self._table is None:
            self._table = self.source.take_table()
            self._dropped_before = self._table.dropped_fields
        try:
            self._table.insert(self._pending)
        except (sqlite3.Error, OverflowError, ValueError) as error:  # the log is still read; only its rules stop
            self._failed = True
            self.problems.append(f"Sigma pass stopped after {self._loaded} events: {type(error).__name__}: {error}")
        self._loaded += len(self._pending)
        self._pending = []

    def _release(self) -> None:
        table, self._table = self._table, None
        if table is None:
            return
        if table.dropped_fields > self._dropped_before:
            self.problems.append(f"{table.dropped_fields - self._dropped_before} event field names past the first "
                                 f"{MAX_COLUMNS} not given to the Sigma rules")
        self.source.give_back(table)

    def _run_rules(self, db: sqlite3.Connection, check: Callable[[], None] | None) -> Iterator[Finding]:
        held = {scope for scope in self.rules.scopes()
                if db.execute(f"SELECT 1 FROM {scope.view()} LIMIT 1").fetchone()}
        for rule in self.rules.rules:
            if check is not None:
                check()
            if rule.scope in held:
                finding = self._run_rule(db, rule)
                if finding is not None:
                    yield finding

    def _run_rule(self, db: sqlite3.Connection, rule: CompiledRule) -> Finding | None:
        matched: dict[Any, Any] = {}
        try:
            for query in rule.queries:
                for record_id, ts in db.execute(f"SELECT {_column(RECORD)}, {_column(TIME)} FROM ({query})"):
                    matched[record_id] = ts
        except sqlite3.Error as error:
            self.problems.append(f"Sigma rule {rule.title!r} ({rule.source}) failed on this log: {error}")
            return None
        if not matched:
            return None
        first = sorted(matched.items(), key=_record_order)[:SHOWN_EVENTS]
        severity = SEVERITY.get(rule.level or "", "medium")
        return Finding(ANALYZER, rule.rule_id, severity, f"Sigma: {rule.title}",
                       {"rule_id": rule.rule_id, "level": rule.level, "tags": list(rule.tags),
                        "author": rule.author, "count": len(matched), "rule_file": rule.source,
                        "events": [{"record_id": record_id, "time": ts} for record_id, ts in first]})


def _record_order(pair: tuple[Any, Any]) -> tuple[bool, float, str]:
    """Record ids in number order; a damaged record's id kept as text (or none) after them, never a TypeError."""
    record_id = pair[0]
    number = isinstance(record_id, (int, float)) and not isinstance(record_id, bool)
    return (not number, record_id if number else 0, str(record_id))
