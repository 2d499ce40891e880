"""YARA rules (the project's rules/ plus the examiner's own) over every file's content."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable
from pathlib import Path

import yara

from ..errors import UsageError
from ..severity import SEVERITIES
from .base import Analyzer, Finding, Item, Settings

RULE_SUFFIXES = (".yar", ".yara")
MAX_STRINGS = 10
MAX_MATCHED_BYTES = 64


def rule_files(paths: list[Path]) -> list[tuple[str, Path]]:
    """(namespace, file) for every rule file under the given files and folders, in a stable order."""
    found: list[tuple[str, Path]] = []
    for base in paths:
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                if path.suffix.lower() in RULE_SUFFIXES and path.is_file():
                    found.append((f"{base.name}/{path.relative_to(base).as_posix()}", path))
        elif base.is_file():
            found.append((base.name, base))
        else:
            raise UsageError(f"rules not found: {base}")
    return found


def ruleset_sha256(files: list[tuple[str, Path]]) -> str:
    """One hash naming the exact rule set used, recorded with every run."""
    digest = hashlib.sha256()
    for namespace, path in files:
        digest.update(namespace.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def compile_rules(files: list[tuple[str, Path]]) -> yara.Rules:
    """Compile every rule file once, each in its own namespace; a broken rule is a usage error."""
    if not files:
        raise UsageError("no YARA rule files found")
    try:
        return yara.compile(filepaths={namespace: str(path) for namespace, path in files})
    except yara.Error as error:
        raise UsageError(f"YARA rules do not compile: {error}") from None


def _shown(data: bytes) -> str:
    """Matched bytes as text an examiner can read: printable ASCII kept, the rest escaped."""
    clipped = data[:MAX_MATCHED_BYTES]
    text = "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02x}" for b in clipped)
    return text + ("…" if len(data) > MAX_MATCHED_BYTES else "")


class YaraScan(Analyzer):
    NAME = "yara"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        files = rule_files(list(settings.rule_paths or ()))
        self.rules_sha256 = ruleset_sha256(files)  # names the exact rule set in the run's record
        self.rules = compile_rules(files)

    @classmethod
    def enabled(cls, settings: Settings) -> bool:
        return settings.rule_paths is not None

    def analyze(self, item: Item) -> Iterable[Finding]:
        obj = item.obj
        if obj.kind not in ("file", "virtual") or not item.content_read:
            return
        if item.data is None:
            item.skipped.append(("yara", "larger than the in-memory limit"))
            return
        try:
            matches = self.rules.match(data=item.data, timeout=self.settings.yara_timeout)
        except yara.TimeoutError:
            item.skipped.append(("yara", "timed out"))
            return
        except yara.Error as error:
            item.skipped.append(("yara", f"scan error: {error}"))
            return
        for match in matches:
            meta = dict(match.meta)
            severity = str(meta.get("severity", "medium")).lower()
            instances = ((s.identifier, i) for s in match.strings for i in s.instances)
            strings = [
                {"identifier": identifier, "offset": instance.offset, "length": instance.matched_length,
                 "data": _shown(instance.matched_data)}
                for identifier, instance in itertools.islice(instances, MAX_STRINGS)
            ]
            description = meta.get("description") or match.rule
            yield Finding(
                self.NAME, match.rule, severity if severity in SEVERITIES else "medium",
                f"YARA {match.rule}: {description}",
                {"namespace": match.namespace, "tags": list(match.tags), "meta": meta, "strings": strings},
            )
