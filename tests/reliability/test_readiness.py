"""``/readyz`` means "a save would commit now"; a read-only database is a 503, not a 500.

``SELECT 1`` answered on a standby, and on a primary whose COMMITs hung
(synchronous standby gone); the probe is now a small write that must commit
within ``VRS_READY_TIMEOUT``, at most once per ``VRS_READY_INTERVAL`` per
process. A switchover that leaves the pool on a standby made every save a 500
(the read-only error was not classed as "database unavailable").
"""

from __future__ import annotations

import dataclasses

import asyncpg
import pytest

from db.engine import (
    checked_out_connections,
    close_serving_pool,
    get_engine,
    start_serving_pool,
)
from db.operations.readiness import ReadinessProbe
from tests.factories import create_account, create_municipality, sign_in


@pytest.fixture
def settings(database: str):
    """A readiness interval of its own: this module's probe cache is not shared with others."""
    from common.settings import load_settings

    return dataclasses.replace(load_settings(), ready_timeout=2.0, ready_interval=600.0)


async def probe_row(database: str) -> asyncpg.Record | None:
    connection = await asyncpg.connect(database)
    try:
        return await connection.fetchrow("SELECT written_at, written_by FROM readiness_probe")
    finally:
        await connection.close()


async def test_readyz_writes_one_row_and_reuses_the_answer_within_the_interval(
    client, database
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    first = await client.get("/readyz")
    assert first.status_code == 200 and first.json() == {"status": "ready"}
    written = await probe_row(database)
    assert written is not None  # the probe wrote
    again = await client.get("/readyz")
    assert again.status_code == 200
    assert await probe_row(database) == written  # cached: no second write within the interval


async def test_a_write_that_cannot_commit_in_time_is_not_ready_and_leaks_no_connection(
    app, database
) -> None:
    # Another session holds the probe row: the probe's write waits, like a COMMIT waiting
    # for a synchronous standby that does not answer.
    holder = await asyncpg.connect(database)
    try:
        await holder.execute(
            "INSERT INTO readiness_probe VALUES (1, now(), 'test') ON CONFLICT DO NOTHING"
        )
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM readiness_probe WHERE id = 1 FOR UPDATE")
            readiness = await ReadinessProbe(timeout=0.5, interval=0.0).check()
            assert not readiness.ready
            assert readiness.reason == "TimeoutError"
            assert checked_out_connections() == 0
        assert (await ReadinessProbe(timeout=2.0, interval=0.0).check()).ready
    finally:
        await holder.close()


async def test_a_read_only_database_is_a_503_with_retry_after_and_not_ready(
    client, database
) -> None:
    await create_municipality()
    login = await create_account()
    name = database.rsplit("/", 1)[1]
    owner = await asyncpg.connect(database)
    engine = get_engine()
    wanted = engine.config.get("target_session_attrs")
    try:
        # What the server meets on a standby after a switchover.
        await owner.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        await engine.pool.expire_connections()
        # The pool looks for a read-write server (target_session_attrs): none, so 503.
        await assert_refused_and_not_ready(client, login, "DatabaseUnavailable")
        # A pool told to take any server (target_session_attrs=any) lands on the read-only
        # one: its writes fail with the read-only error, which is a 503 too (it was a 500).
        await close_serving_pool()
        engine.config["target_session_attrs"] = "any"
        await start_serving_pool(4)
        await assert_refused_and_not_ready(client, login, "ReadOnlySQLTransactionError")
    finally:
        await owner.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        await owner.close()
        await close_serving_pool()
        engine.config["target_session_attrs"] = wanted
        await start_serving_pool(4)
    assert (await sign_in(client, login)).status_code in (302, 303)


async def assert_refused_and_not_ready(client, login: str, reason: str) -> None:
    refused = await sign_in(client, login)
    assert refused.status_code == 503, refused.text[:300]
    assert refused.headers["retry-after"]
    assert "データベースに接続できない" in refused.text
    readiness = await ReadinessProbe(timeout=2.0, interval=0.0).check()
    assert (readiness.ready, readiness.reason) == (False, reason)
    assert checked_out_connections() == 0
