"""The layering rules of the repository, as one table, and the code that checks them.

Each rule names the packages it applies to and a check that reads a module's
syntax tree (nothing is imported or run). :func:`check_tree` applies the table
to a source tree and returns every violation with its file and line, so a
failure says exactly where the rule was broken. ``docs/architecture.md``
explains the layering these rules protect.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

#: The application's top-level packages (tests, e2e and bench are not checked).
PACKAGES = ("common", "signing", "db", "web", "kiosk", "cli")


@dataclass(frozen=True)
class Module:
    """One source file: where it is, its dotted name and its syntax tree."""

    path: str  # relative to the root, with forward slashes
    name: str  # e.g. "web.controllers.venue"
    tree: ast.Module

    @property
    def package(self) -> str:
        return self.name.split(".")[0]


@dataclass(frozen=True)
class Violation:
    """A rule broken at one place."""

    rule: str
    path: str
    line: int
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.detail}"


Check = Callable[[Module], Iterator[tuple[int, str]]]


@dataclass(frozen=True)
class Rule:
    """A rule of the table: an id, the packages it applies to, what it checks, and why."""

    id: str
    applies_to: tuple[str, ...]
    check: Check
    why: str


# --- what a module imports ----------------------------------------------------------------


def _imports(module: Module) -> Iterator[tuple[int, str, list[str]]]:
    """(line, imported module, names taken from it) for every import, lazy ones included."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, _absolute(module, node), [a.name for a in node.names]
        elif (
            isinstance(node, ast.Call)
            and _dotted(node.func) in ("importlib.import_module", "import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value, []


def _absolute(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module an ``import from`` names (``from .x import y`` resolved)."""
    if not node.level:
        return node.module or ""
    is_package = module.path.endswith("__init__.py")
    parts = module.name.split(".")
    base = parts[: len(parts) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def never_imports(*forbidden: str) -> Check:
    """A check: the module imports none of these packages (at top level or lazily)."""

    def check(module: Module) -> Iterator[tuple[int, str]]:
        for line, imported, _ in _imports(module):
            top = imported.split(".")[0]
            if top in forbidden:
                yield line, f"imports {imported}"

    return check


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _parent(module: Module) -> str:
    """The package a module belongs to (a package's ``__init__`` belongs to itself)."""
    if module.path.endswith("__init__.py"):
        return module.name
    return module.name.rpartition(".")[0]


def no_private_imports_across_packages(module: Module) -> Iterator[tuple[int, str]]:
    """A private name (``_x``) or private module taken from outside the module's own package.

    ``web/access.py`` may use ``web.auth._cookies`` (same package); ``web/commands/x.py``
    may not use ``web.controllers.imports._stream_upload``, nor ``db`` anything of ``web``.
    """
    home = _parent(module)
    for line, imported, names in _imports(module):
        if imported.split(".")[0] not in PACKAGES:
            continue
        parts = imported.split(".")
        inside = imported == home or ".".join(parts[:-1]) == home
        if inside:
            continue
        for part in parts[1:]:
            if _private(part):
                yield line, f"imports private module {imported}"
        for name in names:
            if _private(name):
                yield line, f"imports private name {name} from {imported}"


# --- SQL text -----------------------------------------------------------------------------

_SQL = re.compile(
    r"\bSELECT\b[\s\S]+?\bFROM\b"  # a query
    r"|\bSELECT\s+[a-z_][\w.]*\s*\("  # a function call: SELECT vrs_something($1)
    r"|\bINSERT\s+INTO\b"
    r"|\bUPDATE\s+\w+\s+SET\b"
    r"|\bDELETE\s+FROM\b",
)
#: Calls that send SQL text: Piccolo's ``raw`` and asyncpg's ``fetch*``/``execute*``/``copy*``.
_SQL_CALLS = re.compile(r"raw|fetch\w*|execute\w*|copy_\w+")


def _docstrings(tree: ast.Module) -> set[int]:
    """Ids of the docstring nodes (prose about SQL is not SQL)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def _text(node: ast.Constant | ast.JoinedStr) -> str:
    """A literal's text; an f-string's parts joined with ``{}`` for what is filled in."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    return "".join(str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values)


def no_sql_text(module: Module) -> Iterator[tuple[int, str]]:
    """String literals (f-strings too) that read as SQL, and calls that run SQL text."""
    skip = _docstrings(module.tree)
    for node in ast.walk(module.tree):
        if isinstance(node, ast.JoinedStr):
            skip |= {id(v) for v in node.values}  # judged as a whole, not part by part
        if (
            (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                or isinstance(node, ast.JoinedStr)
            )
            and id(node) not in skip
            and _SQL.search(_text(node))
        ):
            first = " ".join(_text(node).split())[:40]
            yield node.lineno, f"SQL text {first!r}"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and _SQL_CALLS.fullmatch(node.func.attr)
        ):
            yield node.lineno, f"SQL call .{node.func.attr}()"


# --- form bodies --------------------------------------------------------------------------


def no_request_form(module: Module) -> Iterator[tuple[int, str]]:
    """``request.form()`` read by hand: every form is a typed Struct (``web/forms.py``)."""
    for node in ast.walk(module.tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "form"
            and not node.args
            and not node.keywords
        ):
            called = _dotted(node.func) or "request.form"
            why = "declare the form as a Struct in web/forms.py and take it as `data: Form[...]`"
            yield node.lineno, f"{called}() picks form fields by hand: {why}"


# --- the table ----------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    Rule(
        "db-imports",
        ("db",),
        never_imports("web", "kiosk", "cli"),
        "db/ is the data layer: it serves the web app and the CLI, and knows neither",
    ),
    Rule(
        "signing-imports",
        ("signing",),
        never_imports("db", "web", "kiosk", "cli", "litestar"),
        "signing/ is bytes in, bytes out: no database, no HTTP framework",
    ),
    Rule(
        "kiosk-imports",
        ("kiosk",),
        never_imports("web", "db", "signing", "cli"),
        "the kiosk is another machine: it reaches the server over HTTP only",
    ),
    Rule(
        "web-imports",
        ("web",),
        never_imports("kiosk", "cli"),
        "the server never runs kiosk code; the vrs CLI (cli/) may use both",
    ),
    Rule(
        "common-imports",
        ("common",),
        never_imports("db", "web", "kiosk", "signing", "cli"),
        "common/ is shared by every part, so it depends on none of them",
    ),
    Rule(
        "web-sql",
        ("web",),
        no_sql_text,
        "controllers parse and call services; SQL belongs to the services in db/",
    ),
    Rule(
        "web-form-read",
        ("web",),
        no_request_form,
        "a form read by hand is untyped: a missing or wrong field gives no specific message",
    ),
    Rule(
        "private-import",
        PACKAGES,
        no_private_imports_across_packages,
        "a name starting with _ is private to its package; make it public or move it",
    ),
)


def modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> Iterator[Module]:
    """Every Python file of the application packages under ``root`` (not migrations)."""
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if "piccolo_migrations" in relative.parts:
                continue  # generated and frozen once landed
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(relative))
            yield Module(relative.as_posix(), ".".join(parts), tree)


def check_modules(items: Iterator[Module], rules: tuple[Rule, ...] = RULES) -> list[Violation]:
    """Every violation of the rules in these modules."""
    found = []
    for module in items:
        for rule in rules:
            if module.package in rule.applies_to:
                found += [Violation(rule.id, module.path, n, d) for n, d in rule.check(module)]
    return found


def check_tree(root: Path, rules: tuple[Rule, ...] = RULES) -> list[Violation]:
    """Every violation of the rules in the source tree at ``root``."""
    return check_modules(modules(root), rules)
