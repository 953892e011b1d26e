"""Import jobs left ``running`` by a stopped process are marked interrupted, and can be resumed.

A real ``vrs import-residents`` process is killed (SIGKILL) in the middle of
its import; the job row stays ``running``; the server's start-up (or the next
command) marks it interrupted; its page says what to do; resuming it, or
importing the same file again, duplicates nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import asyncpg

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction, tenant_transaction
from db.imports.recovery import mark_interrupted_imports
from tests.factories import create_account, create_municipality, sign_in
from tests.integration.test_imports import HEADER, row, wait_done

ROOT = Path(__file__).resolve().parents[2]
ROWS = 8_000


def big_file(path: Path, rows: int = ROWS) -> Path:
    path.write_text("\r\n".join([HEADER, *(row(n) for n in range(rows))]) + "\r\n")
    return path


def vrs_import(source: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "import-residents",
            str(source),
            "--municipality",
            "131016",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def finish_import(source: Path) -> subprocess.CompletedProcess[str]:
    """Run the command to its end (in a thread: the app's loop keeps serving)."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "cli", "import-residents", str(source), "--municipality", "131016"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=600, stdin=subprocess.DEVNULL, check=True,
    )  # fmt: skip


async def jobs() -> list[dict]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT id, status, error_key FROM import_job ORDER BY created_at"
        )
    return [dict(r) for r in rows]


async def residents() -> int:
    async with owner_transaction():
        return await current_connection().fetchval("SELECT count(*) FROM resident")


async def lock_is_free(database: str, job_id: UUID) -> bool:
    connection = await asyncpg.connect(database)
    try:
        return not await connection.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND ((classid::bigint << 32) | objid::bigint) = vrs_job_lock_key($1))",
            job_id,
        )
    finally:
        await connection.close()


async def kill_while_running(database: str, source: Path) -> UUID:
    """Start the command, SIGKILL it once its job runs; the job id (its lock released)."""
    process = vrs_import(source)
    try:
        for _ in range(2000):
            running = [j for j in await jobs() if j["status"] == "running"]
            if running:
                break
            assert process.poll() is None, process.communicate()
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the import never started")
        process.send_signal(signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    job_id = running[0]["id"]
    await lock_released(database, job_id)
    return job_id


async def lock_released(database: str, job_id: UUID) -> None:
    """Until PostgreSQL has ended a killed client's transaction, and with it the job's lock."""
    for _ in range(3000):
        if await lock_is_free(database, job_id):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the killed job's lock was never released: {job_id}")


async def test_a_killed_import_is_marked_at_startup_and_resumed_without_duplicates(
    app, client, database, tmp_path
) -> None:
    await create_municipality("131016")
    source = big_file(tmp_path / "residents.csv")
    job_id = await kill_while_running(database, source)
    assert [j["status"] for j in await jobs()] == ["running"]
    assert await residents() == 0  # all or nothing: the killed transaction applied nothing

    async with app.lifespan():  # the server starts again
        pass
    [left] = await jobs()
    assert left["status"] == "interrupted" and left["error_key"] == "import.interrupted"

    await sign_in(client, await create_account("resume-clerk", Role.CLERK))
    page = await client.get(f"/imports/{job_id}")
    assert 'data-status="interrupted"' in page.text
    assert "中断されました" in page.text and 'data-testid="import-resume"' in page.text
    listing = await client.get("/imports")
    assert "中断" in listing.text
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    resumed = await client.post(f"/imports/{job_id}/resume", data={"_csrf_token": token})
    assert resumed.status_code == 303
    assert await wait_done(client, f"/imports/{job_id}") == "done"
    assert await residents() == ROWS
    again = await client.post(f"/imports/{job_id}/resume", data={"_csrf_token": token})
    assert again.status_code == 422  # only an interrupted job resumes

    # The same file once more, from the shell: nothing duplicated.
    finished = await finish_import(source)
    assert f"{ROWS} unchanged" in finished.stdout
    assert await residents() == ROWS


async def test_the_next_command_marks_a_killed_commands_job(app, database, tmp_path) -> None:
    await create_municipality("131016")
    source = big_file(tmp_path / "residents.csv", 5_000)
    first = await kill_while_running(database, source)
    small = tmp_path / "small.csv"
    small.write_text("\r\n".join([HEADER, row(1), row(2)]) + "\r\n")
    finished = await finish_import(small)
    assert "2 added" in finished.stdout
    statuses = {j["id"]: j["status"] for j in await jobs()}
    assert statuses.pop(first) == "interrupted"
    assert list(statuses.values()) == ["done"]


async def insert_job(status: str, created_at: dt.datetime | None = None) -> UUID:
    async with tenant_transaction("131016"):
        return await current_connection().fetchval(
            "INSERT INTO import_job (municipality_code, filename, status, phase, created_at)"
            " VALUES ('131016', 'x.csv', $1, 'read', $2) RETURNING id",
            status,
            created_at or dt.datetime.now(dt.UTC),
        )


async def test_a_job_a_live_process_works_on_is_left_alone(app, database) -> None:
    await create_municipality("131016")
    live = await insert_job("running")
    dead = await insert_job("running")
    young = await insert_job("queued")
    old = await insert_job("queued", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    done = await insert_job("done")
    holder = await asyncpg.connect(database)
    try:
        async with holder.transaction():
            await holder.execute("SELECT pg_advisory_xact_lock(vrs_job_lock_key($1))", live)
            assert await mark_interrupted_imports() == 2
            statuses = {j["id"]: j["status"] for j in await jobs()}
            assert statuses == {
                live: "running", dead: "interrupted", young: "queued", old: "interrupted",
                done: "done",
            }  # fmt: skip
        assert await mark_interrupted_imports() == 1  # the holder is gone now
    finally:
        await holder.close()
    assert {j["status"] for j in await jobs() if j["id"] in {live, dead}} == {"interrupted"}


async def test_an_interrupted_job_without_its_file_asks_for_the_file_again(app, client) -> None:
    await create_municipality("131016")
    await sign_in(client, await create_account("reupload-clerk", Role.CLERK))
    job_id = await insert_job("running")
    await mark_interrupted_imports()
    partial = (await client.get(f"/imports/{job_id}", headers={"hx-request": "true"})).text
    assert 'data-testid="import-reupload"' in partial and "import-resume" not in partial
    page = await client.get(f"/imports/{job_id}")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    refused = await client.post(f"/imports/{job_id}/resume", data={"_csrf_token": token})
    assert refused.status_code == 422
    assert "もう一度アップロード" in refused.text
