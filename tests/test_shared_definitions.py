"""The definitions the CLI, the GUI and the reports share (severity ladder, safe text, sizes and times),
checked against the project's design document, Python's own unicode-escape decoder, coreutils `numfmt`
and `date`, and checked to be defined once."""

from __future__ import annotations

import ast
import codecs
import datetime as dt
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest

from cybertriage.formatting import duration, exact_size, human_size, utc_iso, utc_now
from cybertriage.severity import SEVERITIES, SEVERITIES_WORST_FIRST, SEVERITY_RANK
from cybertriage.text_safety import FORMULA_STARTS, spreadsheet_safe, visible, visible_html

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "cybertriage"
# Characters a terminal, a Qt label or a PDF would obey or hide instead of showing.
HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def test_the_ladder_is_the_one_the_design_documents() -> None:
    design = (ROOT / "docs" / "DESIGN.md").read_text(encoding="utf-8")
    documented = re.search(r"`severity` \(([a-z|]+)\)", design)
    assert documented, "docs/DESIGN.md no longer names the severities"
    assert SEVERITIES == tuple(documented.group(1).split("|"))
    assert SEVERITIES_WORST_FIRST == ("critical", "high", "medium", "low", "info")
    assert [SEVERITY_RANK[s] for s in SEVERITIES] == [0, 1, 2, 3, 4]


def _ladder_literals(tree: ast.AST) -> list[int]:
    """Lines of literals that spell out the whole ladder: a sequence of the five names, or names → ranks 0…4."""
    names = set(SEVERITIES)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            strings = {e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            if names <= strings:
                found.append(node.lineno)
        elif isinstance(node, ast.Dict):
            pairs = {(k.value, v.value) for k, v in zip(node.keys, node.values)
                     if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)}
            if {(s, r) for s, r in SEVERITY_RANK.items()} <= pairs:
                found.append(node.lineno)
    return found


def test_no_module_defines_the_ladder_again() -> None:
    again = {str(path.relative_to(ROOT)): lines for path in PACKAGE.rglob("*.py") if path.name != "severity.py"
             if (lines := _ladder_literals(ast.parse(path.read_text(encoding="utf-8"))))}
    assert again == {}, "import the ladder from cybertriage/severity.py"


def test_visible_writes_out_every_hidden_character_and_keeps_the_rest() -> None:
    every = "".join(chr(code) for code in range(0x110000) if code != ord("\\"))
    shown = visible(every)
    assert not {unicodedata.category(c) for c in shown} & HIDDEN_CATEGORIES
    # Python's unicode-escape decoder reads the written-out characters back: nothing lost, nothing added.
    assert codecs.decode(shown.encode("ascii", "backslashreplace"), "unicode_escape") == every
    assert visible("report\u202eexe.txt") == "report\\u202eexe.txt"  # a right-to-left override
    assert visible("a\u2066b\u200bc\x1b[31md\re\x85f\U000e0041") == "a\\u2066b\\u200bc\\u001b[31md\\u000de\\u0085f\\U000e0041"
    assert visible("Ü报告файл 🙂 <b>&") == "Ü报告файл 🙂 <b>&"
    assert visible(None) == "" and visible(42) == "42"


def test_visible_html_escapes_markup_after_writing_out_hidden_characters() -> None:
    assert visible_html('<img src=x onerror="a">&\u202e\'') == "&lt;img src=x onerror=&quot;a&quot;&gt;&amp;\\u202e&#x27;"
    assert visible_html(None) == ""


@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t", "\r"])
def test_spreadsheet_safe_defuses_each_formula_start(first: str) -> None:
    assert first in FORMULA_STARTS
    assert spreadsheet_safe(f"{first}HYPERLINK(\"http://x\")") == f"'{first}HYPERLINK(\"http://x\")"


def test_spreadsheet_safe_leaves_other_cells_alone() -> None:
    for cell in ("report.pdf", " =1+1", "'=1", "", "Ü=1"):
        assert spreadsheet_safe(cell) == cell
    for cell in (-1, 3.5, None):
        assert spreadsheet_safe(cell) == cell


def _ties(count: int) -> bool:
    """Whether `count` in its unit lies exactly half-way between two tenths: numfmt rounds those away from
    zero, Python's format to even; neither is wrong."""
    value = count
    while round(value, 1) >= 1024:
        value /= 1024
    return (value * 20) == int(value * 20) and int(value * 20) % 2 == 1


@pytest.mark.skipif(shutil.which("numfmt") is None, reason="coreutils numfmt not installed")
def test_human_size_agrees_with_numfmt() -> None:
    sizes = [0, 1, 512, 1023, 1024, 1536, 1048575, 1048576, 1572864, 7_340_032, 999_999_999, 4_294_967_296,
             5_000_000_000, 1_099_511_627_776, 2**50 - 1, 3_000_000_000_000_000]
    sizes += [(7919 * n**5) % 2**52 for n in range(1, 300)]
    sizes = [n for n in sizes if not _ties(n)]
    out = subprocess.run(["numfmt", "--to=iec-i", "--suffix=B", "--round=nearest", "--format=%.1f", *map(str, sizes)],
                         capture_output=True, text=True, check=True).stdout.split()
    for size, expected in zip(sizes, out, strict=True):
        number, unit = re.fullmatch(r"([\d.]+)([KMGTPE]iB|B)", expected).groups()
        assert human_size(size) == (f"{float(number):.0f} B" if unit == "B" else f"{number} {unit}"), size


def test_exact_size_adds_the_byte_count() -> None:
    assert exact_size(512) == "512 bytes"
    assert exact_size(1_572_864) == "1.5 MiB (1,572,864 bytes)"
    assert exact_size(None) == human_size(None) == ""


def test_duration() -> None:
    assert [duration(s) for s in (0, 44.6, 185, 7800, -3)] == ["0 s", "45 s", "3 min 05 s", "2 h 10 min", "0 s"]


@pytest.mark.skipif(shutil.which("date") is None, reason="coreutils date not installed")
@pytest.mark.parametrize("epoch", [0, 951782400, 1714557600, 4102444799])
def test_utc_iso_agrees_with_date(epoch: int) -> None:
    expected = subprocess.run(["date", "-u", "-d", f"@{epoch}", "+%Y-%m-%dT%H:%M:%SZ"], capture_output=True, text=True,
                              check=True).stdout.strip()
    moment = dt.datetime.fromtimestamp(epoch, dt.timezone(dt.timedelta(hours=-5)))  # any zone: written as UTC
    assert utc_iso(moment) == expected
    assert utc_iso(moment + dt.timedelta(microseconds=250)) == expected[:-1] + ".000250Z"


def test_utc_now_is_utc_to_the_second() -> None:
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    now = dt.datetime.fromisoformat(utc_now().replace("Z", "+00:00"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", utc_now())
    assert before <= now <= dt.datetime.now(dt.timezone.utc)
