"""Issue 25's limits on the package's size, kept: no module over 800 lines, and the application's MainWindow a thin
shell under 400 (each area has its own controller). Complexity is ruff's (C90, at most 20) in `make lint`."""

from __future__ import annotations

import ast
from pathlib import Path

import cybertriage

PACKAGE = Path(cybertriage.__file__).parent


def test_no_module_is_over_800_lines() -> None:
    sizes = {path.relative_to(PACKAGE).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
             for path in PACKAGE.rglob("*.py")}
    assert {name: lines for name, lines in sizes.items() if lines > 800} == {}


def test_the_main_window_is_a_thin_shell() -> None:
    tree = ast.parse((PACKAGE / "gui" / "main_window.py").read_text(encoding="utf-8"))
    [window] = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "MainWindow"]
    assert window.end_lineno is not None and window.end_lineno - window.lineno + 1 < 400
