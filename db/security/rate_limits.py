"""Counters shared by every server process, in PostgreSQL (table ``rate_limit_entry``).

:class:`PostgresStore` is a Litestar :class:`~litestar.stores.base.Store`
(``get``/``set``/``delete``/``expires_in``) plus :meth:`PostgresStore.increment`,
one atomic upsert that starts a fixed window or adds to it. Every process
counts in the same row, so ``--workers 2`` does not double a limit, and two
parallel requests never both read "under the limit". The table is unlogged:
counters are disposable. Expired rows are swept now and then by the writers.

:class:`Budget` is one limit's counter spent unit by unit inside the caller's
own transactions, for work that learns only part-way whether a unit counts
(a CSV upload's row counts when it matched no ticket holder).
"""

from __future__ import annotations

import datetime as dt
import itertools
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from litestar.stores.base import Store

from db.engine import current_connection, tenantless_statement

#: One sweep of expired rows per this many writes (per process).
SWEEP_EVERY = 500

_INCREMENT = """
INSERT INTO rate_limit_entry AS e (key, hits, expires_at)
VALUES ($1, $3, now() + make_interval(secs => $2))
ON CONFLICT (key) DO UPDATE SET
    hits = CASE WHEN e.expires_at IS NOT NULL AND e.expires_at <= now()
                THEN excluded.hits ELSE e.hits + excluded.hits END,
    expires_at = CASE WHEN e.expires_at IS NULL OR e.expires_at <= now()
                      THEN excluded.expires_at ELSE e.expires_at END
RETURNING hits, greatest(0, ceil(extract(epoch FROM e.expires_at - now())))::integer AS reset
"""


async def hit(connection: Any, key: str, window_seconds: int, amount: int = 1) -> tuple[int, int]:
    """Add ``amount`` to ``key``'s window: (hits in the window so far, seconds until it resets)."""
    row = await connection.fetchrow(_INCREMENT, key, float(window_seconds), amount)
    return int(row["hits"]), max(1, int(row["reset"]))


async def forget(connection: Any, key: str) -> None:
    """Drop a counter (e.g. the sign-in failures of an address after a right password)."""
    await connection.execute("DELETE FROM rate_limit_entry WHERE key = $1", key)


def _seconds(value: int | dt.timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


class PostgresStore(Store):
    """A Litestar store on ``rate_limit_entry``, shared by all server processes.

    Args:
        pool: an asyncpg pool to use; by default the server's serving pool
            (tests give two stores two pools to show they share counts).
        namespace: a key prefix, so several stores can share the table.
    """

    def __init__(self, pool: Any = None, namespace: str = "") -> None:
        self._pool = pool
        self._namespace = namespace
        self._writes = itertools.count(1)

    def _connection(self) -> AbstractAsyncContextManager[Any]:
        return self._pool.acquire() if self._pool is not None else tenantless_statement()

    def row_key(self, key: str) -> str:
        """The ``rate_limit_entry.key`` a counter is stored under (the namespace prefixed)."""
        return f"{self._namespace}:{key}" if self._namespace else key

    async def _maybe_sweep(self, connection: Any) -> None:
        if next(self._writes) % SWEEP_EVERY == 0:
            await connection.execute(
                "DELETE FROM rate_limit_entry WHERE expires_at < now() - interval '1 minute'"
            )

    async def increment(
        self, key: str, window_seconds: int, amount: int = 1, *, connection: Any = None
    ) -> tuple[int, int]:
        """Atomically count ``amount`` in ``key``'s window: (hits, seconds to reset).

        ``connection``: count in the caller's transaction instead (the count then
        commits or rolls back with it, and the counter's row stays locked until then).
        """
        if connection is not None:
            return await hit(connection, self.row_key(key), window_seconds, amount)
        async with self._connection() as own:
            result = await hit(own, self.row_key(key), window_seconds, amount)
            await self._maybe_sweep(own)
        return result

    async def set(
        self, key: str, value: str | bytes, expires_in: int | dt.timedelta | None = None
    ) -> None:
        data = value.encode() if isinstance(value, str) else value
        seconds = _seconds(expires_in)
        async with self._connection() as connection:
            await connection.execute(
                "INSERT INTO rate_limit_entry (key, value, expires_at) VALUES ($1, $2,"
                " CASE WHEN $3::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $3) END)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                " expires_at = excluded.expires_at",
                self.row_key(key),
                data,
                seconds,
            )
            await self._maybe_sweep(connection)

    async def get(self, key: str, renew_for: int | dt.timedelta | None = None) -> bytes | None:
        async with self._connection() as connection:
            if renew_for is not None:
                value = await connection.fetchval(
                    "UPDATE rate_limit_entry SET expires_at = now() + make_interval(secs => $2)"
                    " WHERE key = $1 AND expires_at > now() RETURNING value",
                    self.row_key(key),
                    _seconds(renew_for),
                )
                if value is not None:
                    return bytes(value)
            value = await connection.fetchval(
                "SELECT value FROM rate_limit_entry WHERE key = $1"
                " AND (expires_at IS NULL OR expires_at > now())",
                self.row_key(key),
            )
        return bytes(value) if value is not None else None

    async def delete(self, key: str) -> None:
        async with self._connection() as connection:
            await forget(connection, self.row_key(key))

    async def delete_all(self) -> None:
        async with self._connection() as connection:
            if self._namespace:
                await connection.execute(
                    "DELETE FROM rate_limit_entry WHERE starts_with(key, $1)", self._namespace + ":"
                )
            else:
                await connection.execute("DELETE FROM rate_limit_entry")

    async def exists(self, key: str) -> bool:
        async with self._connection() as connection:
            return bool(
                await connection.fetchval(
                    "SELECT 1 FROM rate_limit_entry WHERE key = $1"
                    " AND (expires_at IS NULL OR expires_at > now())",
                    self.row_key(key),
                )
            )

    async def expires_in(self, key: str) -> int | None:
        async with self._connection() as connection:
            seconds = await connection.fetchval(
                "SELECT ceil(extract(epoch FROM expires_at - now()))::integer"
                " FROM rate_limit_entry WHERE key = $1 AND expires_at > now()",
                self.row_key(key),
            )
        return int(seconds) if seconds is not None else None


class BudgetSpent(Exception):
    """Nothing is left of a :class:`Budget`; ``retry_after`` seconds until its window resets."""

    def __init__(self, allowed: int, retry_after: int) -> None:
        super().__init__(f"{allowed} per window spent; {retry_after} s to reset")
        self.allowed = allowed
        self.retry_after = retry_after


@dataclass(frozen=True)
class Budget:
    """One rate limit's counter (the same key the limiter counts), spent unit by unit.

    For work that learns only part-way whether a unit counts. In the unit's own
    transaction, :meth:`check` first (it holds the counter's row until commit, so
    nobody else spends in between), then :meth:`spend` once the unit turned out
    to count: the count commits with the unit, or neither does. A unit that
    failed (its transaction rolled back) spends outside any transaction.
    """

    store: PostgresStore
    key: str
    allowed: int
    window_seconds: int

    @property
    def row_key(self) -> str:
        """Its row's key in ``rate_limit_entry``, for SQL that reads the counter itself
        (the venue save's read, ``vrs_save_contexts``: spent when ``hits >= allowed`` in a
        window that has not expired)."""
        return self.store.row_key(self.key)

    async def check(self) -> None:
        """In a transaction: :class:`BudgetSpent` when nothing is left, else hold the counter."""
        hits, reset = await self.store.increment(
            self.key, self.window_seconds, 0, connection=current_connection()
        )
        if hits >= self.allowed:
            raise BudgetSpent(self.allowed, reset)

    async def spend(self, *, in_transaction: bool = False) -> None:
        """Count one unit; :class:`BudgetSpent` when that goes over (undo it by rolling back)."""
        connection = current_connection() if in_transaction else None
        hits, reset = await self.store.increment(
            self.key, self.window_seconds, connection=connection
        )
        if hits > self.allowed:
            raise BudgetSpent(self.allowed, reset)


__all__ = ["Budget", "BudgetSpent", "PostgresStore", "forget", "hit"]
