"""The baseline for bench/venue_save.py: a minimal Litestar app inserting one row via asyncpg.

Served by the same command (uvicorn), workers and pool size as the real
server, so the ratio measures what our save path costs on top of one insert.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import asyncpg
from litestar import Litestar, post

pool: asyncpg.Pool | None = None


async def open_pool() -> None:
    global pool
    size = int(os.environ.get("VRS_DB_POOL_SIZE", "10"))
    pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=size)
    # Every uvicorn worker runs this; two concurrent CREATE TABLE IF NOT EXISTS can
    # still collide on the catalog's unique index, so one worker at a time (the bench
    # also creates the table before starting the server).
    async with pool.acquire() as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(hashtext('bench_save'))")
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS bench_save (id uuid PRIMARY KEY, payload jsonb, created_at timestamptz DEFAULT now())"
        )


async def close_pool() -> None:
    if pool is not None:
        await pool.close()


@post("/save")
async def save(data: dict[str, Any]) -> dict[str, str]:
    """Insert the body as one row and answer its id."""
    assert pool is not None
    row_id = uuid.uuid4()
    async with pool.acquire() as connection:
        await connection.execute(
            "INSERT INTO bench_save (id, payload) VALUES ($1, $2::jsonb)", row_id, json.dumps(data)
        )
    return {"id": str(row_id)}


app = Litestar(route_handlers=[save], on_startup=[open_pool], on_shutdown=[close_pool])
