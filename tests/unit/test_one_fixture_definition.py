"""Each fixture is defined once (shared ones in tests.fixtures or a conftest), not copied.

Modules may override a shared fixture on purpose (a fixed ``today``, ``settings`` with an
extra service); those names are listed with their reason.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: Deliberate overrides: a module narrows a shared fixture for its own tests.
OVERRIDES = {
    "today": "a module fixes the date its handlers see",
    "settings": "a module adds a service (TSA, PKCS#11 token, kiosk data dir) to the settings",
    "kiosk": "a KioskFlow in unit tests, the kiosk app in a browser in integration tests",
}


def _is_fixture(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return ast.unparse(target).endswith("fixture")


def _fixture_name(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    for decorator in node.decorator_list:
        if _is_fixture(decorator):
            if isinstance(decorator, ast.Call):
                for keyword in decorator.keywords:
                    if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                        return str(keyword.value.value)
            return node.name
    return None


def fixture_definitions(roots: list[Path], base: Path = ROOT) -> dict[str, list[str]]:
    """Fixture name -> where it is defined (file:line)."""
    found: dict[str, list[str]] = defaultdict(list)
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = _fixture_name(node)
                    if name:
                        found[name].append(f"{path.relative_to(base)}:{node.lineno}")
    return found


def test_no_fixture_is_defined_twice() -> None:
    found = fixture_definitions([ROOT / "tests", ROOT / "e2e"])
    twice = {n: places for n, places in found.items() if len(places) > 1 and n not in OVERRIDES}
    assert not twice, f"fixtures defined more than once: {twice}"


def test_the_checker_sees_a_copied_fixture(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"test_{name}.py").write_text(
            "import pytest\n\n@pytest.fixture\nasync def signing_ready(settings):\n    pass\n"
        )
    found = fixture_definitions([tmp_path], base=tmp_path)
    assert found["signing_ready"] == ["test_a.py:4", "test_b.py:4"]
