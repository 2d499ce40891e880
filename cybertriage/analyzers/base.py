"""The analyzer interface: small classes that examine one object and say what they found."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from ..case.intel_store import Intel
from ..evidence.base import EvidenceObject
from ..severity import SEVERITIES
from .results import Artefact, Result


@dataclass
class Finding:
    """Something an examiner should look at, with the analyzer's reasons in `detail`."""

    analyzer: str
    rule: str
    severity: str
    title: str
    detail: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            self.severity = "medium"


R = TypeVar("R", bound=Result)
Reader = TypeVar("Reader")


@dataclass
class Item:
    """One object under analysis and what has been learned about it so far.

    The pipeline reads the content once, in chunks, feeding each analyzer's stream
    consumer; `head` holds the first bytes and `data` the whole content when it is
    small enough to keep (what YARA scans). Analyzers then run in registry order;
    each adds its typed results, which the ones after it read by type.
    """

    obj: EvidenceObject
    head: bytes = b""
    data: bytes | None = None
    content_read: bool = False  # the whole content was read without error
    results: dict[type[Result], Result] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (stage, reason) for the ledger
    readers: dict[type, Any] = field(default_factory=dict)  # stream readers, by type, until their analyzer runs

    def add(self, result: Result) -> None:
        """Record what an analyzer learned: for the analyzers after it, and for the case."""
        self.results[type(result)] = result

    def result(self, kind: type[R]) -> R | None:
        """What an earlier analyzer learned, of this type; None if it learned nothing."""
        return cast("R | None", self.results.get(kind))

    def keep_reader(self, reader: Reader) -> Reader:
        """Keep a stream reader of the content until its analyzer runs (`take_reader`)."""
        self.readers[type(reader)] = reader
        return reader

    def take_reader(self, kind: type[Reader]) -> Reader | None:
        """The stream reader of this type that fed on the content, if one did."""
        return cast("Reader | None", self.readers.pop(kind, None))


@dataclass(frozen=True)
class Settings:
    """What the examiner chose for this run, shared read-only by every analyzer."""

    keep_limit: int = 64 * 1024 * 1024  # largest content kept in memory for YARA and archives
    yara_timeout: int = 60
    archive_depth: int = 3
    archive_member_limit: int = 256 * 1024 * 1024
    archive_total_limit: int = 1024 * 1024 * 1024
    archive_ratio_limit: int = 200
    archive_max_members: int = 10_000
    rule_paths: tuple[Path, ...] | None = None  # None: YARA is off
    intel: Intel | None = None  # the workstation's hash sets and IOC lists in use; None: none
    sigma_paths: tuple[Path, ...] = ()  # the examiner's Sigma rules, run with the bundled ones over event logs
    keyword_files: tuple[Path, ...] = ()  # the examiner's keyword lists (analyzers/keyword_lists.py)
    builtin_keywords: tuple[str, ...] = ()  # built-in keyword lists by name (card numbers, IBANs…); the CLI's: all


class Analyzer(abc.ABC):
    """Examines one object. Never touches the database, Qt, or global state."""

    NAME: ClassVar[str]
    VERSION: ClassVar[str] = "1"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        """Whether this analyzer runs with the examiner's settings."""
        return True

    def stream(self, item: Item) -> Callable[[bytes], None] | None:
        """A consumer for the content's chunks, if this analyzer reads the stream."""
        return None

    @abc.abstractmethod
    def analyze(self, item: Item) -> Iterable[Finding | EvidenceObject | Artefact]:
        """Yield findings, child objects (archive members) to analyse in turn, and artefact records (a run key,
        an event, a visit), which the case stores tied to this object as they come."""
