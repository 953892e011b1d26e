"""The layering rules hold in the repository (see rules.py for the table, docs/architecture.md).

Known violations are listed, each with who removes it; the list can only
shrink: a listed violation that no longer occurs fails the test too, so the
entry is deleted in the change that fixes it.
"""

from __future__ import annotations

import ast
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from tests.architecture.rules import RULES, Module, Violation, check_modules, check_tree

ROOT = Path(__file__).resolve().parents[2]

#: (rule, file) -> how many violations it still has, each with a comment naming who removes
#: it. Shrink only: empty since the venue, certificate and readiness work moved the last SQL
#: out of web/controllers (venue.py, card_sessions.py, kiosk_channel.py, health.py).
KNOWN_VIOLATIONS: dict[tuple[str, str], int] = {}


def _counts(violations: list[Violation]) -> Counter[tuple[str, str]]:
    return Counter((v.rule, v.path) for v in violations)


def beyond_known(violations: list[Violation], known: dict[tuple[str, str], int]) -> list[str]:
    """The violations a file has beyond its listed number, each as ``path:line: [rule] …``."""
    counts = _counts(violations)
    return [
        str(v)
        for v in sorted(violations, key=lambda v: (v.path, v.line))
        if counts[(v.rule, v.path)] > known.get((v.rule, v.path), 0)
    ]


def stale(violations: list[Violation], known: dict[tuple[str, str], int]) -> list[str]:
    """Listed entries with fewer violations than listed: the list must shrink with them."""
    counts = _counts(violations)
    return [
        f"{path}: [{rule}] listed {listed}, found {counts[(rule, path)]}: lower the entry"
        for (rule, path), listed in known.items()
        if counts[(rule, path)] < listed
    ]


def test_the_repository_keeps_its_layering() -> None:
    new = beyond_known(check_tree(ROOT), KNOWN_VIOLATIONS)
    assert not new, "layering rules broken (see docs/architecture.md):\n" + "\n".join(new)


def test_the_known_violations_only_shrink() -> None:
    assert not stale(check_tree(ROOT), KNOWN_VIOLATIONS)


def test_a_listed_violation_covers_only_its_number_and_a_fixed_one_must_leave_the_list() -> None:
    two = [Violation("web-sql", "web/x.py", n, "SQL call .fetch()") for n in (3, 9)]
    known = {("web-sql", "web/x.py"): 1}
    assert beyond_known(two, known) == [
        "web/x.py:3: [web-sql] SQL call .fetch()",
        "web/x.py:9: [web-sql] SQL call .fetch()",
    ]
    assert beyond_known(two[:1], known) == [] and stale(two[:1], known) == []
    assert stale([], known) == ["web/x.py: [web-sql] listed 1, found 0: lower the entry"]


def test_every_rule_says_why() -> None:
    assert len({rule.id for rule in RULES}) == len(RULES)
    assert all(rule.why for rule in RULES)


# --- the checker itself fails where it should ------------------------------------------------


def _module(path: str, source: str) -> Module:
    name = path.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
    return Module(path, name, ast.parse(textwrap.dedent(source)))


def _found(path: str, source: str) -> list[str]:
    return [str(v) for v in check_modules(iter([_module(path, source)]))]


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("db/x.py", "from web.app import create_app\n", "db/x.py:1: [db-imports] imports web.app"),
        (
            "db/x.py",
            "def f():\n    import kiosk.card\n",
            "db/x.py:2: [db-imports] imports kiosk.card",
        ),
        (
            "signing/x.py",
            "import litestar\n",
            "signing/x.py:1: [signing-imports] imports litestar",
        ),
        ("signing/x.py", "from db import engine\n", "signing/x.py:1: [signing-imports] imports db"),
        ("kiosk/x.py", "from signing.qr import encode\n", "kiosk/x.py:1: [kiosk-imports]"),
        ("kiosk/x.py", "from db.engine import pool\n", "kiosk/x.py:1: [kiosk-imports]"),
        (
            "web/commands/x.py",
            "import importlib\nimportlib.import_module('kiosk.app')\n",
            "web/commands/x.py:2: [web-imports] imports kiosk.app",
        ),
        ("web/x.py", "from cli.main import main\n", "web/x.py:1: [web-imports] imports cli.main"),
        ("common/x.py", "from db.engine import pool\n", "common/x.py:1: [common-imports]"),
        (
            "web/x.py",
            "async def f(c):\n    return await c.fetchval('SELECT 1 FROM venue')\n",
            "web/x.py:2: [web-sql] SQL call .fetchval()",
        ),
        (
            "web/x.py",
            "Q = 'UPDATE venue SET name = $1'\n",
            "web/x.py:1: [web-sql] SQL text 'UPDATE venue SET name = $1'",
        ),
        (
            "web/x.py",
            "Q = f'SELECT {columns} ' f'FROM {table}'\n",
            "web/x.py:1: [web-sql] SQL text 'SELECT {} FROM {}'",
        ),
        ("web/x.py", "rows = Venue.raw('x')\n", "web/x.py:1: [web-sql] SQL call .raw()"),
        (
            "web/controllers/x.py",
            "async def f(request):\n    form = await request.form()\n",
            "web/controllers/x.py:2: [web-form-read] request.form() picks form fields by hand",
        ),
        (
            "web/x.py",
            "async def f(self):\n    return (await self.request.form()).get('a')\n",
            "web/x.py:2: [web-form-read] self.request.form() picks form fields by hand",
        ),
        (
            "web/x.py",
            "from db.engine import _pool\n",
            "web/x.py:1: [private-import] imports private name _pool from db.engine",
        ),
        (
            "web/commands/x.py",
            "from web.controllers.imports import _stream_upload\n",
            "[private-import] imports private name _stream_upload",
        ),
        (
            "web/commands/x.py",
            "from ..controllers.imports import _stream_upload\n",
            "[private-import] imports private name _stream_upload from web.controllers.imports",
        ),
    ],
)
def test_a_forbidden_line_is_named_with_file_and_line(
    path: str, source: str, expected: str
) -> None:
    found = _found(path, source)
    assert any(expected in line for line in found), found


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("web/x.py", "from db.venues.saving import save_dose\n"),
        ("cli/x.py", "from kiosk.card import vpcd\nfrom web.app import create_app\n"),
        ("web/x.py", '"""Runs SELECT * FROM nothing: a docstring is prose."""\n'),
        ("web/x.py", "label = 'Select the venue from the list'\n"),
        ("web/access.py", "from web.auth import _cookies\n"),
        ("db/x.py", "async def f(c):\n    await c.execute('DELETE FROM venue')\n"),
        ("kiosk/x.py", "from common.card_proof import Basic4\nimport litestar\n"),
        ("web/x.py", "async def f(data: Form[SignInForm]):\n    return data.login\n"),
        ("cli/x.py", "async def f(request):\n    return await request.form()\n"),
    ],
)
def test_allowed_code_passes(path: str, source: str) -> None:
    assert _found(path, source) == []


def test_a_forbidden_import_added_to_a_copy_of_the_tree_fails(tmp_path: Path) -> None:
    """The whole-tree check on a temporary tree: clean, then one forbidden import."""
    for package in ("db", "web", "kiosk"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "db" / "venues.py").write_text("from common.clock import now\n")
    assert check_tree(tmp_path) == []
    (tmp_path / "db" / "venues.py").write_text("from common.clock import now\nimport web.app\n")
    assert [str(v) for v in check_tree(tmp_path)] == [
        "db/venues.py:2: [db-imports] imports web.app"
    ]
