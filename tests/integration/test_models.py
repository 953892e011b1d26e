"""Piccolo's models match the tables the migrations made (column names, nullability)."""

from __future__ import annotations

import asyncpg
from piccolo.conf.apps import Finder
from piccolo.table import Table


def _models() -> list[type[Table]]:
    return [table for config in Finder().get_app_registry().app_configs.values()
            for table in config.table_classes]  # fmt: skip


async def test_every_model_matches_its_table(database: str) -> None:
    connection = await asyncpg.connect(database)
    try:
        rows = await connection.fetch(
            "SELECT table_name, column_name, is_nullable = 'YES' AS nullable"
            " FROM information_schema.columns WHERE table_schema = 'public'"
        )
    finally:
        await connection.close()
    actual: dict[str, dict[str, bool]] = {}
    for row in rows:
        actual.setdefault(row["table_name"], {})[row["column_name"]] = row["nullable"]
    problems = []
    for model in _models():
        name = model._meta.tablename
        columns = actual.get(name)
        if columns is None:
            problems.append(f"{model.__name__}: no table {name}")
            continue
        modelled = {c._meta.db_column_name: c._meta.null for c in model._meta.columns}
        if set(modelled) != set(columns):
            problems.append(f"{name}: model {sorted(modelled)} != table {sorted(columns)}")
        problems += [
            f"{name}.{column}: null={null} in the model, {columns[column]} in the table"
            for column, null in modelled.items()
            if column in columns and null != columns[column]
        ]
    assert not problems, "\n".join(problems)


def test_venue_device_is_modelled() -> None:
    assert "venue_device" in {model._meta.tablename for model in _models()}
