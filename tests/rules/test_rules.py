"""Tests for the project YARA rules in ``rules/``.

Matching is checked with the independent ``yara`` command-line scanner, not
with yara-python (which cybertriage itself uses), so a bug in how we call
yara-python cannot hide a broken rule. yara-python is used only to read the
rules' meta and to check that the rules compile there too.

Positive samples are named after the rule they exercise: the part of the file
name before the first dot is the rule name (``Webshell_China_Chopper.aspx``).
The ``sample_dir`` fixture (conftest.py) holds the committed samples plus the
ones generated at run time.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yara

TESTS_DIR = Path(__file__).resolve().parents[1]
RULES_DIR = TESTS_DIR.parent / "rules"
POSITIVE_DIR = TESTS_DIR / "data" / "rules" / "positive"
NEGATIVE_DIR = TESTS_DIR / "data" / "rules" / "negative"

SEVERITIES = frozenset({"info", "low", "medium", "high", "critical"})
REQUIRED_META = ("description", "severity", "reference")
CORPUS_SUBDIRS = ("pe", "disk", "pcap")

_COMMENT_RE = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_RULE_RE = re.compile(r"^\s*(?:(?:private|global)\s+)*rule\s+(\w+)", re.M)


def _declared_rule_names() -> list[str]:
    """Rule names found by reading the rule files as text (for parametrizing)."""
    names = []
    for path in sorted(RULES_DIR.glob("*.yar")):
        text = _COMMENT_RE.sub("", path.read_text(encoding="utf-8"))
        names.extend(_RULE_RE.findall(text))
    return names


RULE_NAMES = _declared_rule_names()


def _run_yara(yara_cli: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([yara_cli, *args], capture_output=True, text=True, timeout=120, check=False)


def _parse_matches(stdout: str) -> dict[str, set[str]]:
    """``yara`` output ("RULE PATH" lines, -s string lines) -> {file name: rules}."""
    matches: dict[str, set[str]] = {}
    for line in stdout.splitlines():
        if not line or line.startswith("0x"):
            continue
        rule, _, path = line.partition(" ")
        matches.setdefault(Path(path).name, set()).add(rule)
    return matches


def _rule_of_sample(file_name: str) -> str:
    return file_name.split(".", 1)[0]


@pytest.fixture(scope="session")
def compiled_rules(rule_files: list[Path]) -> yara.Rules:
    """All rule files compiled by yara-python, one namespace per file."""
    return yara.compile(filepaths={path.stem: str(path) for path in rule_files}, error_on_warning=True)


@pytest.fixture(scope="session")
def rule_meta(compiled_rules: yara.Rules) -> dict[str, tuple[list[str], dict]]:
    """{rule name: (tags, meta)} as yara-python sees them."""
    return {rule.identifier: (list(rule.tags), dict(rule.meta)) for rule in compiled_rules}


@pytest.fixture(scope="session")
def positive_matches(yara_cli: str, rule_files: list[Path], sample_dir: Path) -> dict[str, set[str]]:
    """{sample file name: rules the yara CLI reports for it}."""
    result = _run_yara(yara_cli, ["-w", "-r", *map(str, rule_files), str(sample_dir)])
    assert result.returncode == 0, result.stderr
    return _parse_matches(result.stdout)


# --- compilation ------------------------------------------------------------


def test_rule_files_declare_rules() -> None:
    assert RULE_NAMES, f"no rules declared in {RULES_DIR}"
    duplicates = sorted({name for name in RULE_NAMES if RULE_NAMES.count(name) > 1})
    assert not duplicates, f"rule names used more than once: {duplicates}"


def test_cli_compiles_all_rules_together_without_warnings(yara_cli: str, rule_files: list[Path], tmp_path: Path) -> None:
    # cybertriage loads every file at once: names must be unique across files,
    # and no rule may trigger yara's "slow down scanning" warning.
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    result = _run_yara(yara_cli, ["--fail-on-warnings", *map(str, rule_files), str(empty)])
    assert result.returncode == 0 and not result.stderr, result.stderr


@pytest.mark.parametrize("rule_file", sorted(p.name for p in RULES_DIR.glob("*.yar")))
def test_cli_compiles_each_file_alone(yara_cli: str, rule_file: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    result = _run_yara(yara_cli, ["--fail-on-warnings", str(RULES_DIR / rule_file), str(empty)])
    assert result.returncode == 0 and not result.stderr, result.stderr


def test_yara_python_compiles_rules(rule_files: list[Path]) -> None:
    # Both as separate namespaces and as one namespace, with warnings as errors.
    yara.compile(filepaths={p.stem: str(p) for p in rule_files}, error_on_warning=True)
    source = "\n".join(p.read_text(encoding="utf-8") for p in rule_files)
    yara.compile(source=source, error_on_warning=True)


def test_declared_rules_are_the_compiled_rules(rule_meta: dict) -> None:
    # Guards the text parser used to parametrize the per-rule tests.
    assert sorted(RULE_NAMES) == sorted(rule_meta)


# --- meta -------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_rule_has_required_meta(rule: str, rule_meta: dict) -> None:
    tags, meta = rule_meta[rule]
    missing = [key for key in REQUIRED_META if not str(meta.get(key, "")).strip()]
    assert not missing, f"{rule}: missing or empty meta {missing}"
    assert meta["severity"] in SEVERITIES, f"{rule}: severity {meta['severity']!r}"
    assert tags, f"{rule}: no tags"


# --- positive samples ---------------------------------------------------------


@pytest.mark.parametrize("rule", RULE_NAMES)
def test_rule_matches_its_named_sample(rule: str, sample_dir: Path, positive_matches: dict[str, set[str]]) -> None:
    samples = sorted(p.name for p in sample_dir.iterdir() if _rule_of_sample(p.name) == rule)
    assert samples, f"no positive sample named {rule}.* (committed or generated)"
    missed = [name for name in samples if rule not in positive_matches.get(name, set())]
    assert not missed, f"{rule} does not match its samples {missed}"


def test_every_rule_matches_some_positive_sample(positive_matches: dict[str, set[str]]) -> None:
    matched = set().union(*positive_matches.values())
    assert sorted(set(RULE_NAMES) - matched) == []


def test_every_positive_sample_is_named_after_a_rule(sample_dir: Path) -> None:
    orphans = sorted(p.name for p in sample_dir.iterdir() if _rule_of_sample(p.name) not in RULE_NAMES)
    assert not orphans, f"samples not named after any rule: {orphans}"


def test_eicar_sample_is_the_standard_string() -> None:
    data = (POSITIVE_DIR / "EICAR_Test_File.com").read_bytes()
    assert len(data) == 68
    assert data.startswith(b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!")


# --- negative samples -----------------------------------------------------------


@pytest.mark.parametrize("which", ["committed", "generated"])
def test_near_miss_samples_do_not_match(yara_cli: str, rule_files: list[Path], generated_negative_dir: Path, which: str) -> None:
    # Benign files that use the same tools and words as the rules (admin
    # scripts, docs, news, non-Office OLE files): each rule's combination
    # logic must reject them.
    target = NEGATIVE_DIR if which == "committed" else generated_negative_dir
    assert any(target.iterdir()), f"no samples in {target}"
    result = _run_yara(yara_cli, ["-s", "-r", *map(str, rule_files), str(target)])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", f"unexpected matches:\n{result.stdout}"


@pytest.mark.parametrize("subdir", CORPUS_SUBDIRS)
def test_benign_corpus_has_no_matches(yara_cli: str, rule_files: list[Path], corpus_dir: Path, subdir: str) -> None:
    target = corpus_dir / subdir
    assert any(p.is_file() for p in target.rglob("*")), f"no files under {target}"
    # Without -w: a runtime warning (e.g. "too many matches") also fails the test.
    result = _run_yara(yara_cli, ["-s", "-r", *map(str, rule_files), str(target)])
    assert result.returncode == 0, result.stderr
    assert result.stdout == "", f"false positives in {target}:\n{result.stdout}"
    assert result.stderr == "", result.stderr
