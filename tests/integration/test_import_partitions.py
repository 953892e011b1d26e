"""Residents and tickets partitioned by area (issue 16): a first import loads fresh tables.

The first import into an area with no rows fills tables of its own, builds their
indexes and attaches them as the area's partitions; later imports update through
the parents. Either way the area's rows stay under forced row-level security,
the references stay foreign keys, and the population count is right.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from common.identifiers import municipality_check_digit
from db.engine import SERVING_ROLE, current_connection, owner_transaction, tenant_transaction
from tests.factories import create_municipality
from tests.fixtures import database_url, recreate_database, server_url
from tests.integration.test_imports import HEADER, row

ROOT = Path(__file__).resolve().parents[2]


def area(five: str) -> str:
    """A valid municipality code (check digit included)."""
    return five + municipality_check_digit(five)


async def fresh_area(five: str) -> str:
    """A municipality whose area has no partitions yet (left by an earlier test)."""
    code = area(five)
    await create_municipality(code)
    async with owner_transaction():
        await current_connection().execute(
            f'DROP TABLE IF EXISTS "ticket_{code}", "resident_{code}"'
        )
    return code


async def run(tmp_path: Path, code: str, lines: list[str]) -> dict:
    from cli.commands.workspace import import_file

    source = tmp_path / f"residents-{code}.csv"
    source.write_bytes(("\n".join([HEADER, *lines]) + "\n").encode())
    return await import_file(source, code)


async def partitions_of(code: str) -> dict[str, set[str]]:
    async with owner_transaction():
        c = current_connection()
        return {
            table: {
                r["part"]
                for r in await c.fetch(
                    f"SELECT DISTINCT tableoid::regclass::text AS part FROM {table}"
                    " WHERE municipality_code = $1",
                    code,
                )
            }
            for table in ("resident", "ticket")
        }


async def test_a_first_import_loads_the_area_into_partitions_of_its_own(app, tmp_path) -> None:
    code = await fresh_area("01100")
    lines = [row(1), row(2), row(3), row(4, resident_number="1001"), row(5, sex="x")]
    outcome = await run(tmp_path, code, lines)
    assert outcome["residents_inserted"] == 3 and outcome["tickets_inserted"] == 3
    assert outcome["rows_rejected"] == 2  # the repeated resident number, the bad sex
    assert await partitions_of(code) == {
        "resident": {f"resident_{code}"},
        "ticket": {f"ticket_{code}"},
    }
    async with owner_transaction():
        c = current_connection()
        for table in (f"resident_{code}", f"ticket_{code}"):
            protected = await c.fetchrow(
                "SELECT relrowsecurity, relforcerowsecurity, relispartition,"
                " EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = c.oid) AS policy"
                " FROM pg_class c WHERE oid = $1::regclass",
                table,
            )
            assert tuple(protected) == (True, True, True, True), table
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                assert not await c.fetchval(
                    "SELECT has_table_privilege($1, $2, $3)", SERVING_ROLE, table, privilege
                )
        indexes = await c.fetchval(
            "SELECT count(*) FROM pg_indexes WHERE tablename = $1 AND indexdef LIKE '%gin_trgm_ops%'",
            f"resident_{code}",
        )
        assert indexes == 2  # the search indexes, built after the rows went in
        assert (
            await c.fetchval(
                "SELECT residents FROM population_count WHERE municipality_code = $1", code
            )
            == 3
        )
        # The tickets' references are the parent's foreign key.
        assert (
            await c.fetchval(
                "SELECT count(*) FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'f'"
                " AND conparentid <> 0",
                f"ticket_{code}",
            )
            == 1
        )
    async with tenant_transaction("131016"):
        assert (
            await current_connection().fetchval(
                "SELECT count(*) FROM resident WHERE municipality_code = $1", code
            )
            == 0
        )
    async with tenant_transaction(code):
        c = current_connection()
        found = await c.fetch(
            "SELECT r.name FROM ticket t JOIN resident r ON r.id = t.resident"
            " WHERE t.municipality_code = $1 AND t.ticket_number = $2",
            code,
            "9000000002",
        )
        assert [r["name"] for r in found] == ["山田 太郎2"]
        # A ticket cannot point at a resident that is not there.
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            async with c.transaction():
                await c.execute(
                    "INSERT INTO ticket (municipality_code, ticket_number, resident)"
                    " VALUES ($1, '9999999999', gen_random_uuid())",
                    code,
                )

    # The next import of the area updates it through the parents and keeps the history.
    again = await run(tmp_path, code, [row(1), row(2, name="山田 次郎"), row(3)])
    assert (again["residents_updated"], again["residents_unchanged"]) == (1, 2)
    async with tenant_transaction(code):
        kept = await current_connection().fetch(
            "SELECT v.snapshot->>'name' AS name FROM resident_version v"
            " JOIN resident r ON r.id = v.resident WHERE r.resident_number = '1002'"
        )
    assert [k["name"] for k in kept] == ["山田 太郎2"]


async def test_an_area_with_rows_is_updated_through_the_parents(app, tmp_path) -> None:
    code = await fresh_area("01202")
    async with owner_transaction():
        await current_connection().execute(
            "INSERT INTO resident (municipality_code, resident_number, name, name_kana,"
            " birth_date, sex) VALUES ($1, '1001', '手入力 花子', 'テニュウリョク ハナコ',"
            " '1980-01-01', '2')",
            code,
        )
    outcome = await run(tmp_path, code, [row(1), row(2)])
    assert (outcome["residents_inserted"], outcome["residents_updated"]) == (1, 1)
    # Rows of an area with no partition of its own are in the default partitions.
    assert await partitions_of(code) == {"resident": {"resident_other"}, "ticket": {"ticket_other"}}


async def index_shapes(table: str) -> list[str]:
    """A table's index definitions without their names (the parent's are ``ON ONLY``)."""
    async with owner_transaction():
        found = await current_connection().fetch(
            "SELECT regexp_replace(regexp_replace(pg_get_indexdef(indexrelid),"
            "   ' INDEX \\S+ ON (ONLY )?\\S+ ', ' INDEX ON '), '\\s+', ' ', 'g') AS shape"
            " FROM pg_index WHERE indrelid = $1::regclass ORDER BY 1",
            table,
        )
    return [r["shape"] for r in found]


async def test_a_first_import_builds_each_index_once_and_attaches_it(app, tmp_path) -> None:
    """The indexes are built on several connections before ATTACH, which takes them: the
    partition has exactly the parent's indexes, each attached to it, constraints included."""
    code = await fresh_area("01208")
    await run(tmp_path, code, [row(1), row(2)])
    for parent in ("resident", "ticket"):
        child = f"{parent}_{code}"
        assert await index_shapes(child) == await index_shapes(parent)
        async with owner_transaction():
            c = current_connection()
            unattached = await c.fetchval(
                "SELECT count(*) FROM pg_index x WHERE x.indrelid = $1::regclass"
                " AND NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = x.indexrelid)",
                child,
            )
            constraints = await c.fetch(
                "SELECT contype::text, conparentid <> 0 AS inherited FROM pg_constraint"
                " WHERE conrelid = $1::regclass AND contype IN ('p', 'u') ORDER BY 1",
                child,
            )
        assert unattached == 0
        assert [tuple(k) for k in constraints] == [("p", True), ("u", True)]


async def test_a_first_import_that_fails_after_loading_leaves_no_table(
    app, tmp_path, monkeypatch
) -> None:
    """Between the load's commit and ATTACH, a row of the area typed in by hand lands in the
    default partition: ATTACH refuses, the import fails whole, and its tables are dropped."""
    from db.imports import loader

    code = await fresh_area("01209")
    build = loader._build_indexes

    async def a_row_typed_in_meanwhile(connection, area: str) -> None:
        async with owner_transaction():
            await current_connection().execute(
                "INSERT INTO resident (municipality_code, resident_number, name, name_kana,"
                " birth_date, sex) VALUES ($1, '5001', '手入力 花子', 'テニュウリョク ハナコ',"
                " '1980-01-01', '2')",
                area,
            )
        await build(connection, area)

    monkeypatch.setattr(loader, "_build_indexes", a_row_typed_in_meanwhile)
    job = await run(tmp_path, code, [row(1), row(2)])
    assert (job["status"], job["error_key"]) == ("failed", "import.area_changed_meanwhile")
    async with owner_transaction():
        c = current_connection()
        for table in (f"resident_{code}", f"ticket_{code}"):
            assert await c.fetchval("SELECT to_regclass($1)", table) is None
        numbers = await c.fetch(
            "SELECT resident_number FROM resident WHERE municipality_code = $1", code
        )
        rejected = await c.fetchval(
            "SELECT count(*) FROM import_rejection WHERE job = $1", job["id"]
        )
    assert [r[0] for r in numbers] == ["5001"]
    assert rejected == 0
    # The next import of the area goes through the parents.
    monkeypatch.setattr(loader, "_build_indexes", build)
    again = await run(tmp_path, code, [row(1), row(2)])
    assert (again["status"], again["residents_inserted"]) == ("done", 2)


async def test_tables_a_stopped_first_import_left_are_dropped(app, tmp_path) -> None:
    """A first import whose process stopped between its load's commit and ATTACH leaves
    unattached tables of residents' data: the server drops them at start-up unless an import
    of the area is running, and the area's next first import drops them too."""
    from db.engine import job_connection
    from db.imports.recovery import discard_abandoned_fresh_areas

    async def left_behind(code: str) -> None:
        async with job_connection(code) as c, c.transaction():
            assert await c.fetchval("SELECT vrs_import_open_fresh_area($1)", code)
            await c.execute(
                f"INSERT INTO resident_{code} (municipality_code, resident_number, name,"
                " name_kana, birth_date, sex) VALUES ($1, '1', '残 太郎', 'ノコリ タロウ',"
                " '1980-01-01', '1')",
                code,
            )
            await c.execute("SELECT vrs_import_close_fresh_area($1)", code)

    async def tables(code: str) -> list[str | None]:
        async with owner_transaction():
            c = current_connection()
            return [
                await c.fetchval("SELECT to_regclass($1)::text", f"{t}_{code}")
                for t in ("resident", "ticket")
            ]

    stopped, running, next_import = (
        await fresh_area("01210"), await fresh_area("01211"), await fresh_area("01212")
    )  # fmt: skip
    for code in (stopped, running, next_import):
        await left_behind(code)
    async with job_connection(running) as importing:
        await importing.execute(
            "SELECT pg_advisory_lock(hashtextextended('vrs-import-area:' || $1, 0))", running
        )
        assert await discard_abandoned_fresh_areas() == 2 + 2  # stopped's and next_import's
        assert await tables(stopped) == [None, None]
        assert await tables(running) == [f"resident_{running}", f"ticket_{running}"]
    await left_behind(next_import)
    job = await run(tmp_path, next_import, [row(1)])
    assert (job["status"], job["residents_inserted"]) == ("done", 1)
    async with tenant_transaction(next_import):
        names = await current_connection().fetch("SELECT name FROM resident")
    assert [n[0] for n in names] == ["山田 太郎1"]


async def test_only_the_running_import_touches_its_fresh_tables(app) -> None:
    """Another session of the serving role cannot drop, attach or index a running first
    import's tables (it waits for the import, or is refused), and the clean-up never drops a
    table of the same name that no import made (an operator's detached partition)."""
    from db.engine import job_connection
    from db.imports.recovery import discard_abandoned_fresh_areas

    code, operators = await fresh_area("01213"), await fresh_area("01214")
    async with job_connection(code) as importing:
        await importing.execute(
            "SELECT pg_advisory_lock(hashtextextended('vrs-import-area:' || $1, 0))", code
        )
        async with importing.transaction():
            assert await importing.fetchval("SELECT vrs_import_open_fresh_area($1)", code)
            await importing.execute("SELECT vrs_import_close_fresh_area($1)", code)
        async with job_connection(code) as other:
            await other.execute("SET lock_timeout = '300ms'")
            for function in ("vrs_import_discard_fresh_area", "vrs_import_attach_fresh_area"):
                with pytest.raises(asyncpg.LockNotAvailableError):
                    await other.execute(f"SELECT {function}($1)", code)
        async with owner_transaction():
            c = current_connection()
            assert (
                await c.fetchval("SELECT count(*) FROM vrs_unattached_fresh_tables($1)", code) == 2
            )
    # With no import of the area running, nobody may build its indexes.
    async with job_connection(code) as other:
        with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError):
            await other.execute("SELECT vrs_import_index_fresh_area($1, 'resident_pkey')", code)
    async with owner_transaction():
        await current_connection().execute(f"CREATE TABLE resident_{operators} (LIKE resident)")
    await discard_abandoned_fresh_areas()
    async with owner_transaction():
        c = current_connection()
        assert await c.fetchval("SELECT to_regclass($1)::text", f"resident_{code}") is None
        assert await c.fetchval("SELECT to_regclass($1)::text", f"resident_{operators}") == (
            f"resident_{operators}"
        )
        await c.execute(f"DROP TABLE resident_{operators}")


async def test_the_fresh_area_functions_work_only_inside_their_area(app) -> None:
    code = await fresh_area("01203")
    for function in (
        "vrs_import_open_fresh_area", "vrs_import_close_fresh_area",
        "vrs_import_attach_fresh_area", "vrs_import_discard_fresh_area",
    ):  # fmt: skip
        async with tenant_transaction("131016"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await current_connection().fetchval(f"SELECT {function}($1)", code)


async def test_checks_in_worker_processes_give_what_checks_in_a_thread_give(
    app, tmp_path, monkeypatch
) -> None:
    from db.imports import rows

    lines = [row(n) for n in range(1, 40)] + [
        row(40, sex="x"),
        row(41, resident_number="1001"),
        row(42, my_number="123"),
        row(43, name="改行\tと\\記号"),
    ]
    keys = ("status", "rows_read", "rows_rejected", "residents_inserted", "tickets_inserted")

    async def outcome(five: str) -> tuple:
        code = await fresh_area(five)
        job = await run(tmp_path, code, lines)
        async with tenant_transaction(code):
            rejected = await current_connection().fetch(
                "SELECT line_number, column_name, reason, params::text FROM import_rejection"
                " WHERE job = $1 ORDER BY 1, 2",
                job["id"],
            )
        return code, [job[k] for k in keys], [tuple(r) for r in rejected]

    _, here, here_rejected = await outcome("01204")
    monkeypatch.setattr(rows, "PARALLEL_FROM_BYTES", 0)
    parallel_code, there, there_rejected = await outcome("01205")
    assert (here, here_rejected) == (there, there_rejected)
    assert there == ["done", 43, 3, 40, 40]
    assert [r[:3] for r in there_rejected] == [
        (41, "sex", "import.sex_invalid"),
        (42, "resident_number", "import.duplicate_in_file"),
        (43, "my_number", "id.wrong_length"),
    ]
    async with tenant_transaction(parallel_code):
        name = await current_connection().fetchval(
            "SELECT name FROM resident WHERE resident_number = '1043'"
        )
    assert name == "改行\tと\\記号"


async def test_the_checks_between_rows_answer_alike_on_a_first_import_and_an_update(
    app, tmp_path
) -> None:
    """A first import checks the file's rows against each other as it reads them; an update
    stages every row and checks against what is recorded too. Both say the same of a file."""
    from tests.factories import valid_my_number

    lines = [
        row(1),  # line 2: good
        row(2, resident_number="1001"),  # 3: resident of line 2
        row(3, ticket_number=f"{9000000000 + 2}"),  # 4: ticket of line 3, itself refused
        row(4, my_number=valid_my_number(501)),  # 5: My Number of line 2
        row(5, sex="x"),  # 6: refused alone, so its numbers do not count ...
        row(6, resident_number="1005", ticket_number=f"{9000000000 + 5}"),  # 7: ... good
        row(7, resident_number="1001", ticket_number=f"{9000000000 + 1}",
            my_number=valid_my_number(501)),  # 8: all three of line 2
        row(8, my_number=""),  # 9: good, no My Number
        row(9, my_number=""),  # 10: good: no My Number is no duplicate
    ]  # fmt: skip

    async def rejected(code: str, job: dict) -> list[tuple]:
        async with tenant_transaction(code):
            found = await current_connection().fetch(
                "SELECT line_number, column_name, reason, params FROM import_rejection"
                " WHERE job = $1 ORDER BY 1, 2",
                job["id"],
            )
        return [(r[0], r[1], r[2], json.loads(r[3])) for r in found]

    first = await fresh_area("01206")
    first_job = await run(tmp_path, first, lines)
    updated = await fresh_area("01207")
    await run(tmp_path, updated, [row(90)])  # the area has a resident: the next is an update
    update_job = await run(tmp_path, updated, lines)

    expected = [
        (3, "resident_number", "import.duplicate_in_file", {"first_line": 2}),
        (4, "ticket_number", "import.duplicate_in_file", {"first_line": 3}),
        (5, "my_number", "import.duplicate_in_file", {"first_line": 2}),
        (6, "sex", "import.sex_invalid", {}),
        (8, "my_number", "import.duplicate_in_file", {"first_line": 2}),
        (8, "resident_number", "import.duplicate_in_file", {"first_line": 2}),
        (8, "ticket_number", "import.duplicate_in_file", {"first_line": 2}),
    ]
    assert [r[:3] for r in await rejected(first, first_job)] == [r[:3] for r in expected]
    assert await rejected(first, first_job) == await rejected(updated, update_job)
    assert [r[3] for r in await rejected(first, first_job) if r[2] != "import.sex_invalid"] == [
        r[3] for r in expected if r[2] != "import.sex_invalid"
    ]
    for job in (first_job, update_job):
        assert (job["rows_read"], job["rows_rejected"], job["residents_inserted"]) == (9, 5, 4)
    async with owner_transaction():
        c = current_connection()
        stored = {
            code: sorted(
                r[0] for r in await c.fetch(
                    "SELECT resident_number FROM resident WHERE municipality_code = $1", code
                )
            )
            for code in (first, updated)
        }  # fmt: skip
    assert stored[first] == ["1001", "1005", "1008", "1009"]
    assert stored[updated] == ["1001", "1005", "1008", "1009", "1090"]


MIGRATION = "2026-12-06T09:30:00:000000"
_STEPS = r"""
import asyncio, json, sys
import asyncpg
from piccolo.apps.migrations.commands.backwards import run_backwards
from db.migrate import migrate

async def main(url, step):
    if step == "up":
        await migrate()
        return
    result = await run_backwards("security", migration_id=sys.argv[3], auto_agree=True)
    assert result.success, result.message

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def _migrate(url: str, step: str) -> None:
    subprocess.run(
        [sys.executable, "-c", _STEPS, url, step, MIGRATION],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        capture_output=True,
        timeout=600,
    )


async def test_the_partitioning_migration_moves_existing_rows_and_goes_back(database) -> None:
    """On a database with rows: down to the unpartitioned tables, rows added, up again."""
    server = server_url()
    name = f"vrs_test_partitions_{os.getpid()}"
    url = await recreate_database(server, name)
    try:
        await asyncio.to_thread(_migrate, url, "up")
        await asyncio.to_thread(_migrate, url, "down")
        c = await asyncpg.connect(url)
        try:
            assert (
                await c.fetchval("SELECT relkind::text FROM pg_class WHERE relname = 'resident'")
                == "r"
            )
            await c.execute(
                "INSERT INTO resident (id, municipality_code, resident_number, name, name_kana,"
                " birth_date, sex) SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid,"
                " CASE WHEN i <= 3 THEN '131016' ELSE '271004' END, i::text, '名前', 'ナマエ',"
                " '1970-01-01', '1' FROM generate_series(1, 5) i;"
                "INSERT INTO ticket (municipality_code, ticket_number, resident)"
                " SELECT municipality_code, lpad(resident_number, 10, '0'), id FROM resident;"
                "INSERT INTO resident_version (municipality_code, resident, version, snapshot,"
                " source, reason) SELECT municipality_code, id, 1, '{}', 'edit', 'test'"
                " FROM resident WHERE resident_number = '1'"
            )
            counted = json.loads(
                await c.fetchval(
                    "SELECT json_object_agg(municipality_code, residents) FROM population_count"
                )  # fmt: skip
            )
            assert counted == {"131016": 3, "271004": 2}  # the statistics triggers were there
        finally:
            await c.close()
        await asyncio.to_thread(_migrate, url, "up")
        c = await asyncpg.connect(url)
        try:
            assert (
                await c.fetchval("SELECT relkind::text FROM pg_class WHERE relname = 'resident'")
                == "p"
            )
            parts = await c.fetch(
                "SELECT tableoid::regclass::text AS part, count(*) FROM resident GROUP BY 1 ORDER BY 1"
            )
            assert [(p["part"], p["count"]) for p in parts] == [
                ("resident_131016", 3),
                ("resident_271004", 2),
            ]
            tickets = await c.fetch(
                "SELECT tableoid::regclass::text AS part, count(*) FROM ticket GROUP BY 1 ORDER BY 1"
            )
            assert [(t["part"], t["count"]) for t in tickets] == [
                ("ticket_131016", 3),
                ("ticket_271004", 2),
            ]
            assert await c.fetchval("SELECT count(*) FROM resident_version") == 1
            # The population triggers are on the new parent: a new resident is counted.
            await c.execute(
                "INSERT INTO resident (municipality_code, resident_number, name, name_kana,"
                " birth_date, sex) VALUES ('131016', '9', '名前', 'ナマエ', '1970-01-01', '1')"
            )
            assert (
                await c.fetchval(
                    "SELECT residents FROM population_count WHERE municipality_code = '131016'"
                )
                == 4
            )
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await c.execute(
                    "INSERT INTO ticket (municipality_code, ticket_number, resident)"
                    " SELECT '271004', '5555555555', id FROM resident WHERE resident_number = '1'"
                )
            # The history refers to a resident of its own area, that stays.
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await c.execute(
                    "INSERT INTO resident_version (municipality_code, resident, version, snapshot,"
                    " source, reason) SELECT '271004', id, 2, '{}', 'edit', 'test'"
                    " FROM resident WHERE resident_number = '1'"
                )
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await c.execute("DELETE FROM resident WHERE resident_number = '1'")
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await c.execute(
                    "UPDATE resident SET id = gen_random_uuid() WHERE resident_number = '1'"
                )
            await c.execute("DELETE FROM ticket WHERE municipality_code = '271004'")
            await c.execute("DELETE FROM resident WHERE municipality_code = '271004'")  # no history
        finally:
            await c.close()
    finally:
        admin = await asyncpg.connect(database_url(server, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
