"""Two more house rules that check themselves: every ``type: ignore`` says why, and every
raw-SQL migration written from now on carries its backward step (docs/architecture.md).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SKIPPED = {
    ".venv",
    ".git",
    ".mypy_cache",
    ".pytest_cache",
    "test-artifacts",
    "build",
    "node_modules",
}

#: ``# type: ignore[code]  # why``: the code for mypy, the reason for the reader.
_IGNORE = re.compile(r"#\s*type:\s*ignore(?P<code>\[[^\]]*\])?(?P<rest>.*)$")
_REASON = re.compile(r"^\s+#\s*\S")

#: Migrations before this id were landed without backward steps and are frozen (never edited).
BACKWARD_STEPS_FROM = "2026-12-06"


def ignores_without_reason(source: str) -> list[int]:
    """Lines with a ``type: ignore`` that lacks its error code or its ``# reason``."""
    found = []
    for number, line in enumerate(source.splitlines(), start=1):
        match = _IGNORE.search(line)
        if match and not (match["code"] and _REASON.match(match["rest"])):
            found.append(number)
    return found


def python_files() -> list[Path]:
    return [
        path
        for path in sorted(ROOT.rglob("*.py"))
        if not SKIPPED & set(path.relative_to(ROOT).parts)
    ]


def test_every_type_ignore_carries_its_code_and_reason() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in python_files()
        for line in ignores_without_reason(path.read_text(encoding="utf-8"))
    ]
    assert not bad, "write `# type: ignore[code]  # why` (or fix the type):\n" + "\n".join(bad)


def test_the_ignore_check_catches_a_bare_ignore() -> None:
    ignore = "# type: " + "ignore"  # split, so this file does not trip its own check
    source = (
        f"a = f(x)  {ignore}\n"
        f"b = f(x)  {ignore}[arg-type]\n"
        f"c = f(x)  {ignore}[arg-type]  # segno takes a list of segments too\n"
    )
    assert ignores_without_reason(source) == [1, 2]


def missing_backward_step(source: str) -> bool:
    """A migration that runs raw SQL forwards (``add_raw``) with no ``add_raw_backwards``."""
    calls = {
        node.func.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    return "add_raw" in calls and "add_raw_backwards" not in calls


def _migration_id(source: str) -> str:
    match = re.search(r'^ID = "([^"]+)"', source, flags=re.M)
    return match.group(1) if match else ""


def test_every_new_raw_sql_migration_has_a_backward_step() -> None:
    bad = []
    for path in sorted(ROOT.glob("db/*/piccolo_migrations/*.py")):
        source = path.read_text(encoding="utf-8")
        if _migration_id(source) >= BACKWARD_STEPS_FROM and missing_backward_step(source):
            bad.append(str(path.relative_to(ROOT)))
    assert not bad, "raw-SQL migrations without manager.add_raw_backwards(...):\n" + "\n".join(bad)


def test_the_migration_check_catches_a_one_way_migration() -> None:
    one_way = "async def forwards():\n    manager = M()\n    manager.add_raw(run)\n"
    both = one_way + "    manager.add_raw_backwards(undo)\n"
    assert missing_backward_step(one_way) and not missing_backward_step(both)


def test_nothing_runs_the_vrs_command_from_its_old_place() -> None:
    """``vrs`` lives in cli/ (``python -m cli``); web.cli and web.commands are gone."""
    old = re.compile(r"\bweb[./](cli|commands)\b")
    bad = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in python_files()
        if path.parent != Path(__file__).parent
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if old.search(line)
    ]
    assert not bad, "use `python -m cli` / cli.main / cli.commands:\n" + "\n".join(bad)


def test_the_docker_image_copies_every_package_the_project_installs() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = [p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    missing = [p for p in packages if f"COPY {p} {p}" not in dockerfile]
    assert not missing, f"Dockerfile does not COPY {missing} (the image would lack them)"
