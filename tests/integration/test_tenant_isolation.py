"""Row-level security: one municipality never sees another's residents.

Every query path is tried through the serving role: Piccolo queries, raw SQL
on the app's own connection, and a pooled connection that once held a
setting. The catalog test makes a new table without RLS fail the suite.
"""

from __future__ import annotations

import asyncpg
import pytest

from db.engine import SERVING_ROLE, current_connection, get_engine, tenant_transaction
from db.residents.tables import Resident, Ticket
from tests.factories import create_municipality, create_resident, create_vaccination


@pytest.fixture
async def resident_in_each_area(app):
    """Chiyoda (A) and Sapporo (B), a resident in each; the serving pool is open."""
    await create_municipality("131016")
    await create_municipality("011002")
    chiyoda = await create_resident("131016", name="千代田 花子")
    sapporo = await create_resident("011002", name="札幌 次郎")
    return chiyoda, sapporo


async def test_piccolo_queries_see_only_their_own_area(resident_in_each_area) -> None:
    chiyoda, sapporo = resident_in_each_area
    async with tenant_transaction("011002"):
        names = {r["name"] for r in await Resident.select(Resident.name)}
        assert names == {"札幌 次郎"}
        assert await Resident.objects().get(Resident.id == chiyoda["id"]) is None
        assert await Ticket.count().where(Ticket.ticket_number == chiyoda["ticket_number"]) == 0


async def test_raw_sql_on_the_app_connection_sees_only_its_own_area(resident_in_each_area) -> None:
    chiyoda, _ = resident_in_each_area
    async with tenant_transaction("011002"):
        connection = current_connection()
        assert await connection.fetchval("SELECT current_user") == SERVING_ROLE
        rows = await connection.fetch("SELECT municipality_code FROM resident")
        assert {r["municipality_code"] for r in rows} == {"011002"}
        assert (
            await connection.fetchval("SELECT count(*) FROM resident WHERE id = $1", chiyoda["id"])
            == 0
        )


async def test_writes_into_another_area_are_refused(resident_in_each_area) -> None:
    chiyoda, _ = resident_in_each_area
    async with tenant_transaction("011002"):
        connection = current_connection()
        updated = await connection.execute(
            "UPDATE resident SET name = 'x' WHERE id = $1", chiyoda["id"]
        )
        assert updated == "UPDATE 0"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction("011002"):
            await current_connection().execute(
                "INSERT INTO resident (municipality_code, resident_number, name, name_kana,"
                " birth_date, sex) VALUES ('131016', '999', 'x', 'x', '2000-01-01', '1')"
            )


async def test_without_the_setting_nothing_is_visible(resident_in_each_area) -> None:
    async with tenant_transaction(None):
        assert await current_connection().fetchval("SELECT count(*) FROM resident") == 0
        assert await Resident.count() == 0
    # Outside any transaction the pool's connections are vrs_app too.
    engine = get_engine()
    async with engine.pool.acquire() as connection:
        assert await connection.fetchval("SELECT current_user") == SERVING_ROLE
        assert await connection.fetchval("SELECT count(*) FROM resident") == 0


async def test_a_pooled_connection_does_not_carry_the_setting_over(resident_in_each_area) -> None:
    engine = get_engine()
    async with tenant_transaction("131016"):
        assert await current_connection().fetchval("SELECT count(*) FROM resident") == 1
    # Every pooled connection has now held (or not) the setting: none sees rows.
    connections = [await engine.pool.acquire() for _ in range(engine.pool.get_size())]
    try:
        for connection in connections:
            setting = await connection.fetchval(
                "SELECT current_setting('app.municipality_code', true)"
            )
            assert setting in ("", None)
            assert await connection.fetchval("SELECT count(*) FROM resident") == 0
    finally:
        for connection in connections:
            await engine.pool.release(connection)


async def test_the_serving_role_cannot_delete_or_rewrite_history(resident_in_each_area) -> None:
    chiyoda, _ = resident_in_each_area
    await create_vaccination(chiyoda, "131016")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction("131016"):
            await current_connection().execute("DELETE FROM vaccination")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with tenant_transaction("131016"):
            await current_connection().execute("DELETE FROM audit_event")


async def test_the_audit_log_is_append_only_even_for_the_owner(database) -> None:
    connection = await asyncpg.connect(database)
    try:
        await connection.execute(
            "INSERT INTO audit_event (municipality_code, action) VALUES ('131016', 'test.event')"
        )
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute("UPDATE audit_event SET action = 'rewritten'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await connection.execute("DELETE FROM audit_event")
    finally:
        await connection.close()


async def test_every_tenant_table_has_forced_row_level_security(database) -> None:
    connection = await asyncpg.connect(database)
    try:
        rows = await connection.fetch(
            """
            SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                   EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid) AS has_policy
            FROM pg_class c
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'municipality_code'
            WHERE c.relkind IN ('r', 'p') AND c.relnamespace = 'public'::regnamespace
            """
        )
        assert len(rows) >= 9  # every tenant table of SPEC §3 carries the column
        unprotected = [
            r["relname"]
            for r in rows
            if not (r["relrowsecurity"] and r["relforcerowsecurity"] and r["has_policy"])
        ]
        assert unprotected == []
        role = await connection.fetchrow(
            "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1",
            SERVING_ROLE,
        )
        assert role is not None
        assert (role["rolsuper"], role["rolbypassrls"], role["rolcanlogin"]) == (
            False,
            False,
            False,
        )
        # Views that cross tables must run with the caller's rights.
        views = await connection.fetch(
            "SELECT c.relname, c.reloptions FROM pg_class c"
            " WHERE c.relkind = 'v' AND c.relnamespace = 'public'::regnamespace"
        )
        for view in views:
            assert "security_invoker=true" in (view["reloptions"] or []), view["relname"]
        # SECURITY DEFINER functions pin their search_path.
        functions = await connection.fetch(
            "SELECT proname, proconfig FROM pg_proc"
            " WHERE prosecdef AND pronamespace = 'public'::regnamespace"
        )
        assert functions
        for function in functions:
            assert any(c.startswith("search_path=") for c in function["proconfig"] or []), function[
                "proname"
            ]
    finally:
        await connection.close()
