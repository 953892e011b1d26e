"""Transactions scoped to one tenant, run as the serving role.

Every serving connection starts as ``vrs_app`` (no BYPASSRLS), set as a
connection parameter so that even a query outside :func:`tenant_transaction`
sees no tenant rows. Each request's work runs in :func:`tenant_transaction`,
which sets ``app.municipality_code`` (and the role again) with
``set_config(..., true)``: both end with the transaction, so a pooled
connection never carries one tenant's setting into the next request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction

SERVING_ROLE = "vrs_app"


def get_engine() -> PostgresEngine:
    """The Piccolo engine of :mod:`db.piccolo_conf`."""
    engine = engine_finder()
    if not isinstance(engine, PostgresEngine):
        raise RuntimeError("the VRS needs a PostgreSQL engine")
    return engine


async def start_serving_pool(max_size: int = 10) -> None:
    """Open the connection pool the server uses, as the serving role."""
    engine = get_engine()
    server_settings = {**(engine.config.get("server_settings") or {}), "role": SERVING_ROLE}
    await engine.start_connection_pool(
        min_size=1, max_size=max_size, server_settings=server_settings
    )


async def close_serving_pool() -> None:
    """Close the pool (on shutdown)."""
    engine = get_engine()
    if engine.pool is not None:
        await engine.close_connection_pool()


@asynccontextmanager
async def tenant_transaction(
    municipality_code: str | None,
) -> AsyncIterator[PostgresTransaction]:
    """A transaction that sees only ``municipality_code``'s area (none if ``None``).

    Piccolo queries inside the block run on this transaction's connection.
    """
    engine = get_engine()
    async with engine.transaction() as transaction:
        await transaction.connection.execute(
            "SELECT set_config('role', $1, true), set_config('app.municipality_code', $2, true)",
            SERVING_ROLE,
            municipality_code or "",
        )
        yield transaction


@asynccontextmanager
async def owner_transaction() -> AsyncIterator[PostgresTransaction]:
    """A transaction as the schema owner, for the ``vrs`` command-line tools.

    The owner is a superuser or has BYPASSRLS (see README), so this sees every
    area: never use it while serving requests. ``SET LOCAL ROLE NONE`` returns
    a pooled connection (which starts as ``vrs_app``) to the login role for
    this transaction only.
    """
    async with get_engine().transaction() as transaction:
        await transaction.connection.execute("SET LOCAL ROLE NONE")
        yield transaction


@asynccontextmanager
async def tenantless_statement() -> AsyncIterator[Any]:
    """A pooled connection as ``vrs_app`` with no tenant, for one self-contained statement.

    Saves a transaction's three extra round trips on every request's sign-in
    look-up (a SECURITY DEFINER function needs no tenant). Without a pool
    (command-line tools) it falls back to a tenantless transaction.
    """
    engine = get_engine()
    if engine.pool is None:
        async with tenant_transaction(None) as transaction:
            yield transaction.connection
        return
    async with engine.pool.acquire() as connection:
        yield connection


def current_connection() -> Any:
    """The asyncpg connection of the current transaction, for raw statements.

    Raises if there is none: tenant data is only touched inside
    :func:`tenant_transaction`.
    """
    transaction = get_engine().current_transaction.get()
    if transaction is None:
        raise RuntimeError("no transaction: wrap the work in tenant_transaction()")
    return transaction.connection
