"""The row of a background job (an import, a backup, a restore): progress and outcome.

A job works in a long transaction of its own (:func:`db.engine.job_transaction`);
what it reports goes to its row in short transactions on other, pooled
connections, so the page that polls the row sees it at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from db.engine import SERVING_ROLE, get_engine


@asynccontextmanager
async def area_connection(municipality_code: str) -> AsyncIterator[Any]:
    """A pooled connection of its own in a short transaction of one area, as the serving role."""
    pool = get_engine().pool
    if pool is None:
        raise RuntimeError("the serving pool is not open")
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute(
            "SELECT set_config('role', $1, true), set_config('app.municipality_code', $2, true)",
            SERVING_ROLE,
            municipality_code,
        )
        yield connection


async def update_job_row(
    table: str,
    municipality_code: str,
    job_id: UUID,
    values: dict[str, Any],
    json_columns: frozenset[str] = frozenset(),
    connection: Any = None,
) -> None:
    """Set ``values`` on the job's row (``json_columns`` are stored as jsonb).

    In a short transaction of its own, or in ``connection``'s (an outcome written with
    the work it reports, so the two commit together).
    """
    assignments = []
    arguments: list[Any] = [job_id]
    for name, value in values.items():
        arguments.append(json.dumps(value) if name in json_columns else value)
        cast = "::jsonb" if name in json_columns else ""
        assignments.append(f"{name} = ${len(arguments)}{cast}")
    statement = f"UPDATE {table} SET {', '.join(assignments)} WHERE id = $1"
    if connection is not None:
        await connection.execute(statement, *arguments)
        return
    async with area_connection(municipality_code) as own:
        await own.execute(statement, *arguments)
