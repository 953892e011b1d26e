"""Each archived row checked like input before it is inserted.

A row must be a JSON object whose keys are columns of its table, each value
of the column's type (text within its length and without NUL, whole numbers
in range, dates, times, UUIDs, JSON, hex bytes), never null where the column
is NOT NULL, with the area's ``municipality_code``; accounts only of the
area's municipal roles; municipality codes valid. A refusal names the table,
the row (its line in the table file) and the column, never the value: row
content (names, My Numbers) never reaches a message or a log.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from common.identifiers import IdentifierError, parse_municipality_code
from db.accounts.roles import MUNICIPAL_ROLES

_INT_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
_HEX = re.compile(r"\\x(?:[0-9a-fA-F]{2})*")
_ROLES = frozenset(r.value for r in MUNICIPAL_ROLES)
#: How deep a JSON value in a jsonb column may nest.
_MAX_DEPTH = 32


class RowError(Exception):
    """A row that cannot be restored; ``key`` names the message, ``column`` the column."""

    def __init__(self, key: str, column: str = "") -> None:
        super().__init__(key)
        self.key = key
        self.column = column


@dataclass(frozen=True)
class Column:
    """One column of a table, as the catalog describes it."""

    name: str
    type: str
    """``format_type`` without modifiers: ``character varying``, ``uuid``, …"""
    length: int | None
    """The maximum length of a varchar, else None."""
    not_null: bool


async def columns_of(connection: Any, table: str) -> dict[str, Column]:
    """The table's columns, by name."""
    rows = await connection.fetch(
        "SELECT attname, format_type(atttypid, NULL) AS type, attnotnull,"
        " CASE WHEN atttypid = 'varchar'::regtype AND atttypmod > 4 THEN atttypmod - 4 END"
        " AS length FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0"
        " AND NOT attisdropped ORDER BY attnum",
        table,
    )
    return {
        r["attname"]: Column(r["attname"], r["type"], r["length"], r["attnotnull"]) for r in rows
    }


def check_row(
    table: str, row: Any, columns: dict[str, Column], area: str, archived_at: dt.datetime
) -> None:
    """Raise :class:`RowError` unless ``row`` may be restored into ``area``."""
    if not isinstance(row, dict):
        raise RowError("backup.row_not_object")
    checks = _checks(tuple(columns.values()))
    for name, value in row.items():
        check = checks.get(name)
        if check is None:
            raise RowError("backup.row_unknown_column", name if _plain(name) else "?")
        if value is None:
            if columns[name].not_null:
                raise RowError("backup.row_missing_value", name)
        elif not check(value):
            raise RowError("backup.row_bad_value", name)
    if row.get("municipality_code") != area:
        raise RowError("backup.row_other_municipality", "municipality_code")
    for name in _other_codes(tuple(columns)):
        value = row.get(name)
        if value:
            try:
                parse_municipality_code(value, name)
            except IdentifierError:
                raise RowError("backup.row_bad_value", name) from None
    if table == "account":
        if row.get("role") not in _ROLES:
            raise RowError("backup.row_role", "role")
        if row.get("prefecture_code") is not None:
            raise RowError("backup.row_role", "prefecture_code")
    elif table == "audit_event":
        occurred = row.get("occurred_at")
        if occurred is None or _timestamp(occurred) > archived_at:
            raise RowError("backup.row_after_archive", "occurred_at")


@functools.cache
def _checks(columns: tuple[Column, ...]) -> dict[str, Callable[[Any], bool]]:
    """Each column's value check, made once per table (a restore checks millions of values)."""
    return {c.name: functools.partial(_of_type, column=c) for c in columns}


@functools.cache
def _other_codes(names: tuple[str, ...]) -> tuple[str, ...]:
    """Columns holding another municipality's code (a venue's, a record's home)."""
    return tuple(n for n in names if n != "municipality_code" and n.endswith("municipality_code"))


def _plain(name: str) -> bool:
    return bool(re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name))


def _of_type(value: Any, column: Column) -> bool:
    kind = column.type
    if kind in ("character varying", "text"):
        return (
            isinstance(value, str)
            and "\x00" not in value
            and (column.length is None or len(value) <= column.length)
        )
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("numeric", "double precision", "real"):
        return (
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        )
    if kind == "jsonb" or kind == "json":
        return _json_ok(value, 0)
    if not isinstance(value, str):
        return False
    try:
        if kind == "uuid":
            UUID(value)
        elif kind == "date":
            dt.date.fromisoformat(value)
        elif kind in ("timestamp with time zone", "timestamp without time zone"):
            _timestamp(value)
        elif kind == "time without time zone":
            dt.time.fromisoformat(value)
        elif kind == "bytea":
            return _HEX.fullmatch(value) is not None
        else:
            return False  # a type no archived column has today: refuse rather than guess
    except ValueError:
        return False
    return True


def _json_ok(value: Any, depth: int) -> bool:
    """jsonb refuses NUL in strings; a deep nesting is not data this system writes."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, list):
        return all(_json_ok(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all("\x00" not in k and _json_ok(v, depth + 1) for k, v in value.items())
    return True


def _timestamp(value: str) -> dt.datetime:
    """An archived timestamp (``row_to_json``'s ISO form), aware (UTC when no offset)."""
    if not isinstance(value, str):
        raise ValueError("not a timestamp")
    moment = dt.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
