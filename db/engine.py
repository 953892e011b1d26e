"""Transactions scoped to one tenant, run as the serving role, on a pool that survives crashes.

Every serving connection starts as ``vrs_app`` (no BYPASSRLS), set as a
connection parameter so that even a query outside :func:`tenant_transaction`
sees no tenant rows. Each request's work runs in :func:`tenant_transaction`,
which sets ``app.municipality_code`` (and the role again) with
``set_config(..., true)``: both end with the transaction, so a pooled
connection never carries one tenant's setting into the next request.

The database may die under a request (a crash, a failover to a standby). A
connection is then always handed back to the pool, and one that may be broken
(its socket gone, a statement timed out, the server turned read-only) is
terminated first, so the pool opens a fresh one to the primary next time
(``target_session_attrs=read-write``). Waiting for a connection, connecting
and every statement are bounded (:class:`DatabaseLimits`); running out of
any of them raises :class:`DatabaseUnavailable`, which the web layer answers
with the 503 problem and Retry-After.

Handing a connection back costs no round trip: nothing on the serving pool
takes session-level state (advisory locks are transaction-level, settings are
``set_config(..., true)``, temporary tables are ``ON COMMIT DROP``), so the
pool's reset only rolls back a transaction left open (:func:`_reset`), instead
of asyncpg's default reset query on every release.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction

SERVING_ROLE = "vrs_app"

log = logging.getLogger("vrs.database")


class DatabaseUnavailable(ConnectionError):
    """No usable connection to the primary in time: the request did nothing, retry later.

    A :class:`ConnectionError`, so the web layer's "database unavailable" mapping
    (503 with Retry-After) covers it.
    """


@dataclass(frozen=True)
class DatabaseLimits:
    """How long the server waits for the database before answering 503 (seconds)."""

    connect_timeout: float = 5.0
    """Opening one connection (each host of a multi-host DSN in turn)."""
    acquire_timeout: float = 5.0
    """Waiting for a free pooled connection."""
    statement_timeout: float | None = 20.0
    """One statement, COMMIT included (a stalled synchronous standby ends in a 503); None: no limit."""
    release_timeout: float = 5.0
    """Resetting a connection handed back to the pool; past it the connection is terminated."""
    close_timeout: float = 5.0
    """Closing the pool on shutdown; past it the remaining connections are terminated."""

    @classmethod
    def from_settings(cls, settings: Any) -> DatabaseLimits:
        """The limits of :class:`common.settings.Settings`."""
        return cls(
            connect_timeout=settings.db_connect_timeout,
            acquire_timeout=settings.db_acquire_timeout,
            statement_timeout=settings.db_statement_timeout,
        )


_limits = DatabaseLimits()
_last_trouble = 0.0
#: The hot standby's pool (DATABASE_REPLICA_URL), for reads that may lag: see replica_transaction.
_replica_pool: Any = None

#: Errors after which a connection is not trusted again: terminated, not reset.
_BREAKS_CONNECTION: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionError and socket errors
    TimeoutError,  # a statement cancelled half-way
    asyncio.CancelledError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash shutdown
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # the server became a standby
)

#: Errors meaning "no database to talk to right now" rather than a bug.
_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,  # incl. TargetServerAttributeNotMatched
    asyncpg.exceptions.OperatorInterventionError,
)


async def _reset(connection: Any) -> None:
    """Nothing to reset beyond asyncpg's own roll-back of an open transaction (see module doc).

    asyncpg calls this after its internal ``_reset()``, which rolls back an
    unfinished transaction and drops listeners; the default reset query
    (advisory unlock, CLOSE ALL, UNLISTEN, RESET ALL) would add a round trip
    to every request for state the serving code never creates.
    """


def get_engine() -> PostgresEngine:
    """The Piccolo engine of :mod:`db.piccolo_conf`."""
    engine = engine_finder()
    if not isinstance(engine, PostgresEngine):
        raise RuntimeError("the VRS needs a PostgreSQL engine")
    return engine


def engine_config(dsn: str) -> dict[str, Any]:
    """The primary engine's asyncpg settings for ``dsn``.

    With several hosts in the DSN the engine must land on the one that accepts
    writes: ``target_session_attrs=read-write`` unless the DSN (or
    ``PGTARGETSESSIONATTRS``) says otherwise.
    """
    config: dict[str, Any] = {"dsn": dsn}
    if "target_session_attrs" not in dsn and not os.environ.get("PGTARGETSESSIONATTRS"):
        config["target_session_attrs"] = "read-write"
    return config


async def start_serving_pool(
    max_size: int = 10, limits: DatabaseLimits | None = None, replica_url: str | None = None
) -> None:
    """Open the connection pool the server uses, as the serving role.

    Without ``limits`` (the command-line tools' long jobs) statements are not time-limited.
    With ``replica_url`` a second, smaller pool serves :func:`replica_transaction`; it
    connects on first use (``target_session_attrs=prefer-standby`` unless the URL says
    otherwise), so a standby that is down does not keep the server from starting.
    """
    global _limits, _replica_pool
    _limits = limits or DatabaseLimits(statement_timeout=None)
    engine = get_engine()
    server_settings = {**(engine.config.get("server_settings") or {}), "role": SERVING_ROLE}
    connection_limits = {
        "server_settings": server_settings,
        "timeout": _limits.connect_timeout,
        "command_timeout": _limits.statement_timeout,
    }
    try:
        await engine.start_connection_pool(
            min_size=1, max_size=max_size, reset=_reset, **connection_limits
        )
    except _UNAVAILABLE as exc:
        raise DatabaseUnavailable(f"cannot open the database pool: {exc!r}") from exc
    if replica_url:
        attributes = {}
        if "target_session_attrs" not in replica_url:
            attributes["target_session_attrs"] = "prefer-standby"
        _replica_pool = await asyncpg.create_pool(
            dsn=replica_url, min_size=0, max_size=max(2, max_size // 2),
            **attributes, **connection_limits,
        )  # fmt: skip


def checked_out_connections() -> int:
    """Pooled connections handed out and not given back (0 when idle; a leak stays > 0)."""
    pool = get_engine().pool
    if pool is None:
        return 0
    # asyncpg counts only live connections in get_size(); a leaked one is usually dead,
    # so count the holders still marked in use.
    return sum(1 for holder in pool._holders if holder._in_use is not None)


async def close_serving_pool() -> None:
    """Close the pool (on shutdown), within ``close_timeout``; then terminate what is left."""
    global _replica_pool
    if _replica_pool is not None:
        try:
            await asyncio.wait_for(_replica_pool.close(), _limits.close_timeout)
        except _UNAVAILABLE:
            _replica_pool.terminate()
        _replica_pool = None
    engine = get_engine()
    pool = engine.pool
    if pool is None:
        return
    leaked = checked_out_connections()
    log.log(logging.WARNING if leaked else logging.INFO,
            "closing the database pool: %d connection(s) checked out", leaked)  # fmt: skip
    try:
        await asyncio.wait_for(pool.close(), _limits.close_timeout)
    except _UNAVAILABLE:  # TimeoutError included
        log.warning("the database pool did not close in %.0f s: terminated", _limits.close_timeout)
        pool.terminate()
    engine.pool = None


def last_trouble() -> float:
    """When (``time.monotonic()``) a connection last failed or could not be had; 0.0 never."""
    return _last_trouble


def _trouble() -> None:
    global _last_trouble
    _last_trouble = time.monotonic()


async def _acquire(pool: Any) -> Any:
    """A pooled connection within the acquire limit, or :class:`DatabaseUnavailable`."""
    try:
        return await pool.acquire(timeout=_limits.acquire_timeout)
    except _UNAVAILABLE as exc:
        _trouble()
        raise DatabaseUnavailable(f"no database connection: {exc!r}") from exc


async def _give_back(pool: Any, connection: Any, *, broken: bool) -> None:
    """Return ``connection`` to ``pool`` whatever happened; terminate it first if ``broken``."""
    if broken:
        _trouble()
        if not connection.is_closed():
            connection.terminate()
    try:
        await pool.release(connection, timeout=_limits.release_timeout)
    except Exception:  # noqa: BLE001 - asyncpg terminated it and freed its slot
        log.info("a database connection could not be reset: terminated")


class ReleasingTransaction(PostgresTransaction):
    """Piccolo's transaction that always gives its connection back.

    Piccolo's ``__aexit__`` rolls back, then releases: when the rollback (or the
    commit, or ``BEGIN`` in ``__aenter__``) fails on a dead connection, the
    connection is never released and the pool shrinks by one for good. Here
    the release is in a ``finally``, a suspect connection is terminated first,
    and a failed rollback does not hide the error that caused it.
    """

    def __init__(self, engine: PostgresEngine, pool: Any = None, readonly: bool = False) -> None:
        super().__init__(engine)
        self.pool = pool or engine.pool  # the engine's pool, or the replica's
        self.readonly = readonly

    async def get_connection(self) -> Any:
        if self.pool:
            return await _acquire(self.pool)
        try:
            return await self.engine.get_new_connection()
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailable(f"cannot connect to the database: {exc!r}") from exc

    async def __aenter__(self) -> PostgresTransaction:
        if self._parent is not None:
            return self._parent
        self.connection = await self.get_connection()
        try:
            self.transaction = self.connection.transaction(readonly=self.readonly)
            await self.transaction.start()  # Piccolo's begin(), which is untyped
        except BaseException:
            await self._finish(broken=True)
            raise
        self.context = self.engine.current_transaction.set(self)
        return self

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if self._parent:
            return exception is None
        broken = isinstance(exception, _BREAKS_CONNECTION)
        try:
            if exception is not None:
                if not self._rolled_back and not broken:
                    try:
                        await self.transaction.rollback()
                        self._rolled_back = True
                    except BaseException:  # noqa: BLE001 - the block's own error is the one to see
                        broken = True
            elif not self._committed and not self._rolled_back:
                try:
                    await self.transaction.commit()
                    self._committed = True
                except BaseException:
                    broken = True
                    raise
        finally:
            self.engine.current_transaction.reset(self.context)
            await self._finish(broken=broken)
        return exception is None

    async def _finish(self, *, broken: bool) -> None:
        if self.pool:
            await _give_back(self.pool, self.connection, broken=broken)
        elif broken:
            self.connection.terminate()
        else:
            await self.connection.close(timeout=_limits.release_timeout)


@asynccontextmanager
async def _bounded(what: str) -> AsyncIterator[None]:
    """Turn a statement timeout inside a database block into :class:`DatabaseUnavailable`."""
    try:
        yield
    except TimeoutError as exc:
        raise DatabaseUnavailable(f"{what}: a statement took too long") from exc


@asynccontextmanager
async def tenant_transaction(
    municipality_code: str | None,
) -> AsyncIterator[PostgresTransaction]:
    """A transaction that sees only ``municipality_code``'s area (none if ``None``).

    Piccolo queries inside the block run on this transaction's connection.
    """
    async with _bounded("tenant transaction"), ReleasingTransaction(get_engine()) as transaction:
        await transaction.connection.execute(
            "SELECT set_config('role', $1, true), set_config('app.municipality_code', $2, true)",
            SERVING_ROLE,
            municipality_code or "",
        )
        yield transaction


@asynccontextmanager
async def replica_transaction(
    municipality_code: str | None,
) -> AsyncIterator[PostgresTransaction]:
    """A read-only :func:`tenant_transaction` on the hot standby, when there is one.

    For reads that may lag the primary by the standby's replay delay and write
    nothing (no audit row): statistics, open data, the dashboard's counts. A read
    that must see a save just made (a record page, the venue's list of the day)
    stays in :func:`tenant_transaction`. Without ``DATABASE_REPLICA_URL`` this
    is :func:`tenant_transaction`. Piccolo queries in the block run on the
    standby's connection: the transaction stands in as the engine's current one.
    """
    if _replica_pool is None:
        async with tenant_transaction(municipality_code) as transaction:
            yield transaction
        return
    async with (
        _bounded("replica transaction"),
        ReleasingTransaction(get_engine(), pool=_replica_pool, readonly=True) as transaction,
    ):
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
    async with _bounded("owner transaction"), ReleasingTransaction(get_engine()) as transaction:
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
    pool = engine.pool
    connection = await _acquire(pool)
    broken = True
    try:
        async with _bounded("statement"):
            yield connection
        broken = False
    except _BREAKS_CONNECTION:
        raise
    except BaseException:
        broken = False  # a refused statement (constraint, bad input): the connection is fine
        raise
    finally:
        await _give_back(pool, connection, broken=broken)


@asynccontextmanager
async def job_connection(municipality_code: str) -> AsyncIterator[Any]:
    """A connection of one area, as ``vrs_app``, of the job's own (closed at the end).

    For the long background jobs of a server process (an import, a backup's
    export): not taken from the serving pool, which it would hold for minutes,
    and not bound by the pool's per-statement limit
    (:attr:`DatabaseLimits.statement_timeout`), which is there so that a request
    answers 503 rather than hang, while a million-row COPY or index build
    legitimately takes longer. The area is the session's, so a job may run
    several transactions on it; advisory locks taken for the session are
    released when the connection closes, whatever stops the job.
    """
    engine = get_engine()
    settings = {
        **(engine.config.get("server_settings") or {}),
        "role": SERVING_ROLE,
        "app.municipality_code": municipality_code,
        # A job's statements may run for minutes: stop them soon after its process is gone.
        "client_connection_check_interval": "2s",
    }
    config = {key: value for key, value in engine.config.items() if key != "server_settings"}
    try:
        connection = await asyncpg.connect(
            **config, server_settings=settings, timeout=_limits.connect_timeout
        )
    except _UNAVAILABLE as exc:
        raise DatabaseUnavailable(f"cannot open a connection for a job: {exc!r}") from exc
    try:
        yield connection
    finally:
        try:
            await connection.close(timeout=_limits.close_timeout)
        except Exception:  # a connection the failure broke, or a server that stopped answering
            connection.terminate()


@asynccontextmanager
async def job_transaction(municipality_code: str, **options: Any) -> AsyncIterator[Any]:
    """One transaction on a :func:`job_connection`; ``options`` go to the transaction
    (isolation, read-only)."""
    async with job_connection(municipality_code) as connection:
        async with connection.transaction(**options):
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
