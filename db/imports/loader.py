"""Import residents and tickets from a CSV file at scale (F1 事前登録).

The file is stored on disk first (the upload is streamed there), then, in one
transaction as ``vrs_app`` in the municipality's area (a failure changes nothing):

1. its encoding is detected (UTF-8 with or without BOM, else CP932/Shift_JIS);
2. rows are read and checked one by one, My Numbers sealed and hashed, and the
   rows of one file checked against each other (duplicates), in file order
   (:mod:`db.imports.rows`);
3. in an area with no rows yet (its first import), the good rows are COPY'd
   straight into new tables of the area's own, which are then indexed and
   attached as the area's partitions of ``resident`` and ``ticket``
   (``vrs_import_open_fresh_area`` / ``vrs_import_attach_fresh_area``, issue 16);
4. otherwise they are COPY'd into a TEMP staging table (COPY into tables under
   RLS is refused; the staging table is the session's own), checked as
   set-based SQL against what is recorded (ticket of another resident, My
   Number of another resident or different from the registered one, erased
   residents), and upserted (INSERT … SELECT … ON CONFLICT), changing only what
   changed; the previous values of each changed resident go to its history
   (``resident_version``, in the same statement); tickets replaced by a new
   number become ``reissued``.

Progress is written to the job row on another connection, which the page polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg

from db.engine import job_connection
from db.imports.format import COLUMNS
from db.imports.rows import (
    RESIDENT_COLUMNS,
    STAGING_COLUMNS,
    TICKET_COLUMNS,
    BatchCheck,
    CheckedBatch,
    ImportFailed,
    InFileDuplicates,
    Rejection,
    RowReader,
    Target,
    check_in_worker,
    check_work,
    detect_encoding,
    worker_pool,
)
from db.job_rows import update_job_row
from db.residents.my_number import MyNumberVault

log = logging.getLogger("vrs.imports")

#: Connections building a first import's indexes at once (each may use 256 MB of memory).
MAX_INDEX_BUILDERS = 4

#: The import job's columns stored as jsonb.
_JSON_COLUMNS = frozenset({"ignored_columns", "error_params"})


async def update_job(municipality_code: str, job_id: UUID, **values: Any) -> None:
    """Write progress or the outcome to the job row (its own short transaction)."""
    await update_job_row("import_job", municipality_code, job_id, values, _JSON_COLUMNS)


#: What is recorded of each staged row's resident and ticket, read once: the checks below
#: and the upsert use it instead of joining the area's tables again.
_KNOWN_RESIDENTS = """
UPDATE import_staging s SET resident_id = r.id, existed = true,
    recorded_my_number_hmac = r.my_number_hmac, recorded_status = r.status
FROM resident r
WHERE r.municipality_code = $1 AND r.resident_number = s.resident_number
"""
_KNOWN_TICKETS = """
UPDATE import_staging s SET ticket_existed = true, ticket_holder = t.resident
FROM ticket t
WHERE t.municipality_code = $1 AND t.ticket_number = s.ticket_number
"""

#: Conflicts with what is recorded (the checks within the file ran while reading it). A new
#: resident's staged id is drawn at COPY, so it is no ticket's holder.
_RECORDED_CHECKS = [
    """INSERT INTO import_rejects SELECT s.line, 'ticket_number', 'import.ticket_taken',
           json_build_object('resident_number', r.resident_number)::text
       FROM import_staging s
       JOIN resident r ON r.municipality_code = $1 AND r.id = s.ticket_holder
       WHERE s.ticket_existed AND s.ticket_holder <> s.resident_id""",
    """INSERT INTO import_rejects SELECT s.line, 'my_number', 'import.my_number_taken',
           json_build_object('resident_number', r.resident_number)::text
       FROM import_staging s
       JOIN resident r ON r.municipality_code = $1 AND r.my_number_hmac = s.my_number_hmac
       WHERE r.resident_number <> s.resident_number""",
    """INSERT INTO import_rejects SELECT s.line, 'my_number', 'import.my_number_differs', '{}'
       FROM import_staging s
       WHERE s.recorded_my_number_hmac IS NOT NULL AND s.my_number_hmac IS NOT NULL
         AND s.recorded_my_number_hmac <> s.my_number_hmac""",
    """INSERT INTO import_rejects SELECT s.line, 'resident_number', 'import.resident_erased', '{}'
       FROM import_staging s
       WHERE s.existed AND s.recorded_status <> 'active'""",
]

_UPSERT_RESIDENTS = """
WITH up AS (
    INSERT INTO resident AS r (id, municipality_code, resident_number, my_number_ciphertext,
        my_number_hmac, name, name_kana, former_name, birth_date, sex, moved_out_on,
        deceased_on, priority_group, needs_care)
    SELECT resident_id, $1, resident_number, my_number_ciphertext, my_number_hmac, name, name_kana,
        former_name, birth_date, sex, moved_out_on, deceased_on, priority_group, needs_care
    FROM import_staging WHERE NOT rejected
    ON CONFLICT (municipality_code, resident_number) DO UPDATE SET
        my_number_ciphertext = coalesce(r.my_number_ciphertext, excluded.my_number_ciphertext),
        my_number_hmac = coalesce(r.my_number_hmac, excluded.my_number_hmac),
        name = excluded.name, name_kana = excluded.name_kana, former_name = excluded.former_name,
        birth_date = excluded.birth_date, sex = excluded.sex,
        moved_out_on = excluded.moved_out_on, deceased_on = excluded.deceased_on,
        priority_group = excluded.priority_group, needs_care = excluded.needs_care,
        version = r.version + 1, updated_at = now()
    WHERE (r.name, r.name_kana, r.former_name, r.birth_date, r.sex, r.moved_out_on,
           r.deceased_on, r.priority_group, r.needs_care,
           r.my_number_hmac IS NULL AND excluded.my_number_hmac IS NOT NULL)
        IS DISTINCT FROM
          (excluded.name, excluded.name_kana, excluded.former_name, excluded.birth_date,
           excluded.sex, excluded.moved_out_on, excluded.deceased_on, excluded.priority_group,
           excluded.needs_care, false)
    -- A new resident is at version 1; an updated one at 2 or more. (``xmax = 0`` would say
    -- which rows are new, but a partitioned table's RETURNING has no system columns.)
    RETURNING r.id, (r.version = 1) AS inserted
), kept AS (
    -- The values before this import of each changed resident, in the resident's history:
    -- every part of one statement sees the table as it was, so ``old`` is the row before.
    INSERT INTO resident_version (municipality_code, resident, version, snapshot, source,
                                  import_job, changed_by, reason)
    SELECT $1, old.id, old.version,
           jsonb_build_object('name', old.name, 'name_kana', old.name_kana,
               'former_name', old.former_name, 'moved_out_on', old.moved_out_on,
               'deceased_on', old.deceased_on, 'priority_group', old.priority_group,
               'needs_care', old.needs_care, 'birth_date', old.birth_date, 'sex', old.sex,
               'status', old.status, 'has_my_number', old.my_number_hmac IS NOT NULL),
           'import', $4::text::uuid, $2, 'CSV取込'
    FROM up JOIN resident old ON old.id = up.id AND old.municipality_code = $1
    WHERE NOT up.inserted
), audited AS (
    INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action,
                             object_type, object_id, details)
    SELECT $1, now(), $2, $3, 'resident.update', 'resident', id::text,
           jsonb_build_object('import_job', $4::text)
    FROM up WHERE NOT inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated
FROM up
"""

_UPSERT_TICKETS = """
WITH tk AS (
    INSERT INTO ticket AS t (municipality_code, ticket_number, resident, ticket_type,
                             dose_number, issued_on)
    SELECT $1, s.ticket_number, s.resident_id, s.ticket_type, s.ticket_dose_number,
           s.ticket_issued_on
    FROM import_staging s
    -- A ticket recorded as it is in the file is left alone (not even locked).
    LEFT JOIN ticket o ON o.municipality_code = $1 AND o.ticket_number = s.ticket_number
    WHERE NOT s.rejected AND s.ticket_number IS NOT NULL
      AND (o.id IS NULL
           OR (o.resident, o.ticket_type, o.dose_number, o.issued_on, o.status) IS DISTINCT FROM
              (s.resident_id, s.ticket_type, s.ticket_dose_number,
               coalesce(s.ticket_issued_on, o.issued_on), 'valid'))
    ON CONFLICT (municipality_code, ticket_number) DO UPDATE SET
        ticket_type = excluded.ticket_type, dose_number = excluded.dose_number,
        issued_on = coalesce(excluded.issued_on, t.issued_on), status = 'valid',
        updated_at = now()
    WHERE t.resident = excluded.resident
      AND (t.ticket_type, t.dose_number, t.issued_on, t.status) IS DISTINCT FROM
          (excluded.ticket_type, excluded.dose_number,
           coalesce(excluded.issued_on, t.issued_on), 'valid')
    RETURNING t.ticket_number
)
SELECT count(*) FROM tk JOIN import_staging s ON s.ticket_number = tk.ticket_number
WHERE NOT s.rejected AND NOT s.ticket_existed
"""

_REISSUE = """
UPDATE ticket t SET status = 'reissued', updated_at = now()
FROM import_staging s
WHERE s.existed AND NOT s.rejected AND s.ticket_number IS NOT NULL
  AND t.municipality_code = $1 AND t.resident = s.resident_id AND t.status = 'valid'
  AND t.ticket_number <> s.ticket_number
"""


async def run_import(
    job_id: UUID,
    path: Path,
    municipality_code: str,
    vault: MyNumberVault,
    actor_id: UUID | None = None,
    actor_role: str = "",
) -> dict[str, Any]:
    """Import one stored file into one area; the job row says how it went.

    Never raises for a bad file: the job ends ``failed`` with a message key.
    The file is deleted afterwards (it may hold My Numbers). While the job
    works it holds its advisory lock (see :mod:`db.imports.recovery`), so a
    restart can tell a job left behind by a stopped process from a live one.
    """
    code = municipality_code
    try:
        outcome = await _load(job_id, path, code, vault, actor_id, actor_role)
        await update_job(
            code, job_id, status="done", phase="done", finished_at=dt.datetime.now(dt.UTC),
            processed_bytes=path.stat().st_size, error_key="", error_params={}, **outcome,
        )  # fmt: skip
        return outcome
    except ImportFailed as exc:
        await update_job(
            code, job_id, status="failed", phase="done", error_key=exc.key,
            error_params=exc.params, finished_at=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        return {"error": exc.key}
    except asyncio.CancelledError:  # the process is stopping: nothing was applied
        await asyncio.shield(
            update_job(
                code,
                job_id,
                status="interrupted",
                phase="done",
                error_key="import.interrupted",
                error_params={},
                finished_at=dt.datetime.now(dt.UTC),
            )  # fmt: skip
        )
        raise
    except Exception:
        log.exception("import job %s failed", job_id)
        await update_job(
            code, job_id, status="failed", phase="done", error_key="import.failed",
            error_params={}, finished_at=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        return {"error": "import.failed"}
    finally:
        path.unlink(missing_ok=True)


class _Timings:
    """How long each step took (logged at the end, for operators and the benchmark)."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []
        self._last = time.perf_counter()

    def mark(self, step: str) -> None:
        now = time.perf_counter()
        self.steps.append((step, now - self._last))
        self._last = now

    def __str__(self) -> str:
        return ", ".join(f"{step} {seconds:.2f} s" for step, seconds in self.steps)


async def _checked_batches(
    reader: RowReader,
    check: BatchCheck,
    duplicates: InFileDuplicates,
    pool: ProcessPoolExecutor | None,
    report: Callable[[], Awaitable[None]],
) -> AsyncIterator[tuple[CheckedBatch, set[int]]]:
    """The file's good rows in file order, batch by batch, with the positions of the rows
    :class:`InFileDuplicates` refuses.

    A thread reads the cells; the checks and sealing run in ``pool`` (or in threads), a few
    batches ahead of the one being sent.
    """
    loop = asyncio.get_running_loop()
    ahead = 2 * (os.cpu_count() or 1) if pool else 2
    pending: deque[asyncio.Future[CheckedBatch]] = deque()
    reading = True
    reported = time.monotonic()
    try:
        while True:
            while reading and len(pending) < ahead:
                work = await asyncio.to_thread(reader.work)
                if not work:
                    reading = False
                elif pool is not None:
                    pending.append(loop.run_in_executor(pool, check_in_worker, work))
                else:
                    pending.append(
                        asyncio.ensure_future(asyncio.to_thread(check_work, check, work))
                    )
            if not pending:
                return
            batch = await pending.popleft()
            reader.take_checked(batch)
            yield batch, duplicates.refused(batch.keys)
            if time.monotonic() - reported >= 0.5 or not pending:
                reported = time.monotonic()
                await report()
    finally:
        for future in pending:
            future.cancel()
        for future in pending:
            with contextlib.suppress(BaseException):
                await future


async def _staging_text(
    batches: AsyncIterator[tuple[CheckedBatch, set[int]]],
) -> AsyncIterator[bytes]:
    """COPY text for the staging table; a duplicate is staged, marked rejected, so that the
    checks against what is recorded still report on its line."""
    async for batch, refused in batches:
        lines = batch.lines
        if refused:
            lines = [f"{line[:-2]}t\n" if at in refused else line for at, line in enumerate(lines)]
        if lines:
            yield "".join(lines).encode()


class _FreshArea:
    """An area's first import: the good rows go straight into its new tables.

    The residents are sent while the file is read; their tickets wait in memory (a few
    dozen bytes each) and follow in a second COPY on the same connection.
    """

    def __init__(self, code: str) -> None:
        self.residents_table = f"resident_{code}"
        self.tickets_table = f"ticket_{code}"
        self.tickets: list[str] = []
        self.residents_inserted = 0
        self.tickets_inserted = 0

    async def resident_text(
        self, batches: AsyncIterator[tuple[CheckedBatch, set[int]]]
    ) -> AsyncIterator[bytes]:
        async for batch, refused in batches:
            residents, tickets = batch.lines, batch.tickets
            if refused:
                residents = [r for at, r in enumerate(residents) if at not in refused]
                tickets = [t for at, t in enumerate(tickets) if at not in refused]
            self.residents_inserted += len(residents)
            self.tickets_inserted += sum(1 for t in tickets if t)
            self.tickets.append("".join(tickets))
            if residents:
                yield "".join(residents).encode()

    async def ticket_text(self) -> AsyncIterator[bytes]:
        while self.tickets:
            text = self.tickets.pop(0)
            if text:
                yield text.encode()

    async def load(
        self, connection: Any, batches: AsyncIterator[tuple[CheckedBatch, set[int]]]
    ) -> None:
        # FREEZE: the tables were made in this transaction, so their rows need no later
        # visibility work (nobody can see them before it commits).
        await connection.copy_to_table(
            self.residents_table, source=self.resident_text(batches),
            columns=RESIDENT_COLUMNS, format="text", freeze=True,
        )  # fmt: skip
        self.tickets.reverse()
        self.tickets.reverse()
        await connection.copy_to_table(
            self.tickets_table, source=self.ticket_text(), columns=TICKET_COLUMNS,
            format="text", freeze=True,
        )  # fmt: skip


async def _load(
    job_id: UUID,
    path: Path,
    code: str,
    vault: MyNumberVault,
    actor_id: UUID | None,
    actor_role: str,
) -> dict[str, Any]:
    timings = _Timings()
    # A connection of its own, without the requests' statement limit: loading a million
    # rows is one COPY, building their indexes one statement, each longer than a request.
    async with job_connection(code) as connection:
        # Held until the connection closes, released by PostgreSQL if the process dies.
        await connection.execute("SELECT pg_advisory_lock(vrs_job_lock_key($1))", job_id)
        await update_job(
            code, job_id, status="running", phase="read", total_bytes=path.stat().st_size,
            error_key="", error_params={}, finished_at=None,
        )  # fmt: skip
        # One import at a time per area: the ids staged below stay right until commit.
        await connection.execute(
            "SELECT pg_advisory_lock(hashtextextended('vrs-import-area:' || $1, 0))", code
        )
        async with connection.transaction():
            # An area with no rows yet is loaded into tables of its own (issue 16).
            fresh = bool(await connection.fetchval("SELECT vrs_import_open_fresh_area($1)", code))
            read = await _read(connection, job_id, path, code, vault, fresh, timings)
            if fresh:
                # Committed with this transaction, out of everyone's reach, so that their
                # indexes can be built on several connections.
                await connection.execute("SELECT vrs_import_close_fresh_area($1)", code)
            else:
                applied = await _apply_update(
                    connection, code, job_id, actor_id, actor_role, timings
                )
                outcome = await _report(
                    connection, job_id, code, read, applied, actor_id, actor_role
                )
        if fresh:
            try:
                await _build_indexes(connection, code)
                timings.mark("indexes")
                async with connection.transaction():
                    # Nothing recorded can conflict in an area with no rows (checked under
                    # its lock); ATTACH finds the indexes built and checks the tickets' residents.
                    try:
                        await connection.execute("SELECT vrs_import_attach_fresh_area($1)", code)
                    except asyncpg.CheckViolationError:  # a row of the area typed in meanwhile
                        raise ImportFailed("import.area_changed_meanwhile") from None
                    timings.mark("attach")
                    outcome = await _report(
                        connection, job_id, code, read, read.fresh_area_applied(), actor_id,
                        actor_role,
                    )  # fmt: skip
            except BaseException:
                await asyncio.shield(_discard_fresh_area(connection, code))
                raise
        timings.mark("report")
    log.info("import job %s: %s rows; %s", job_id, read.rows_read, timings)
    return outcome


class _Applied(NamedTuple):
    """What the import changed in the area."""

    residents_inserted: int
    residents_updated: int
    tickets_inserted: int
    tickets_reissued: int
    good_rows: int


class _Read(NamedTuple):
    """The file as read: counts, the rows refused, and a first import's loaded rows."""

    rows_read: int
    rejections: list[Rejection]
    fresh_area: _FreshArea | None

    def fresh_area_applied(self) -> _Applied:
        assert self.fresh_area is not None
        inserted = self.fresh_area.residents_inserted
        return _Applied(inserted, 0, self.fresh_area.tickets_inserted, 0, inserted)


async def _read(
    connection: Any,
    job_id: UUID,
    path: Path,
    code: str,
    vault: MyNumberVault,
    fresh: bool,
    timings: _Timings,
) -> _Read:
    """Read, check and load the file: into the area's fresh tables, or the staging table."""
    encoding = await asyncio.to_thread(detect_encoding, path)
    reader = RowReader(path, encoding, vault, code)
    duplicates = InFileDuplicates()
    fresh_area = _FreshArea(code) if fresh else None
    try:
        ignored = await asyncio.to_thread(reader.header)
        await update_job(code, job_id, encoding=encoding, ignored_columns=ignored)
        if not fresh:
            await connection.execute(_CREATE_STAGING)
        timings.mark("open")
        target = Target.FRESH_AREA if fresh else Target.STAGING
        check = BatchCheck(reader.checker, vault, code, target, encoding)
        pool = await asyncio.to_thread(worker_pool, check, path.stat().st_size)

        async def report() -> None:
            await update_job(
                code, job_id, processed_bytes=reader.raw.tell(), rows_read=reader.rows_read,
                rows_rejected=reader.rejected_lines + duplicates.rejected_lines,
            )  # fmt: skip

        batches = _checked_batches(reader, check, duplicates, pool, report)
        try:
            if fresh_area is not None:
                await fresh_area.load(connection, batches)
            else:
                await connection.copy_to_table(
                    "import_staging", source=_staging_text(batches),
                    columns=STAGING_COLUMNS, format="text",
                )  # fmt: skip
        finally:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
        timings.mark("read, check and load" if fresh else "read, check and stage")
    finally:
        reader.close()
    await update_job(
        code, job_id, phase="apply", processed_bytes=path.stat().st_size,
        rows_read=reader.rows_read, rows_rejected=reader.rejected_lines + duplicates.rejected_lines,
    )  # fmt: skip
    read = _Read(reader.rows_read, reader.rejections + duplicates.rejections, fresh_area)
    if not fresh:  # the checks against what is recorded add theirs
        await _stash_rejections(connection, read.rejections)
    return read


async def _stash_rejections(connection: Any, rejections: list[Rejection]) -> None:
    """The rows refused so far, in a TEMP table of this transaction."""
    await connection.execute(
        "CREATE TEMP TABLE import_rejects ("
        " line integer, column_name text, reason text, params text) ON COMMIT DROP"
    )
    if rejections:
        await connection.copy_records_to_table("import_rejects", records=rejections)


async def _build_indexes(connection: Any, code: str) -> None:
    """The parents' indexes on a first import's committed, unattached tables, built on one
    connection per core (a trigram index on one while btrees go on the other); ``connection``
    is the import's own, which holds the area's lock."""
    pending = deque(
        await connection.fetchval("SELECT array_agg(i) FROM vrs_import_fresh_area_indexes() i")
    )

    async def builder() -> None:
        async with job_connection(code) as connection:
            while pending:
                await connection.execute(
                    "SELECT vrs_import_index_fresh_area($1, $2)", code, pending.popleft()
                )

    # A failed build stops the others (the import then drops the tables).
    async with asyncio.TaskGroup() as builders:
        for _ in range(min(len(pending), os.cpu_count() or 1, MAX_INDEX_BUILDERS)):
            builders.create_task(builder())


async def _discard_fresh_area(connection: Any, code: str) -> None:
    """Drop a failed first import's tables (logged, never raising over the first failure)."""
    try:
        await connection.execute("SELECT vrs_import_discard_fresh_area($1)", code)
    except Exception:
        log.exception("could not drop the fresh tables of area %s", code)


async def _report(
    connection: Any,
    job_id: UUID,
    code: str,
    read: _Read,
    applied: _Applied,
    actor_id: UUID | None,
    actor_role: str,
) -> dict[str, Any]:
    """Store the refused rows and audit the import (in its last transaction); the outcome."""
    if read.fresh_area is not None:
        await _stash_rejections(connection, read.rejections)
    await connection.execute(
        "INSERT INTO import_rejection (municipality_code, job, line_number, column_name,"
        " reason, params) SELECT $1, $2, line, column_name, reason, params::jsonb"
        " FROM import_rejects ORDER BY line, column_name",
        code,
        job_id,
    )
    rejected = await connection.fetchval("SELECT count(DISTINCT line) FROM import_rejects")
    outcome = {
        "rows_read": read.rows_read,
        "rows_rejected": int(rejected),
        "residents_inserted": applied.residents_inserted,
        "residents_updated": applied.residents_updated,
        "residents_unchanged": (
            applied.good_rows - applied.residents_inserted - applied.residents_updated
        ),
        "tickets_inserted": applied.tickets_inserted,
        "tickets_reissued": applied.tickets_reissued,
    }
    await connection.execute(
        "INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role,"
        " action, object_type, object_id, details)"
        " VALUES ($1, now(), $2, $3, 'resident.import', 'import_job', $4, $5::jsonb)",
        code,
        actor_id,
        actor_role,
        str(job_id),
        json.dumps(outcome),
    )
    return outcome


_CREATE_STAGING = """
CREATE TEMP TABLE import_staging (
    line integer, resident_number text, my_number_ciphertext bytea, my_number_hmac text,
    name text, name_kana text, former_name text, birth_date date, sex text,
    ticket_number text, ticket_type text, ticket_dose_number integer, ticket_issued_on date,
    moved_out_on date, deceased_on date, priority_group text, needs_care boolean,
    rejected boolean NOT NULL DEFAULT false,
    resident_id uuid NOT NULL DEFAULT gen_random_uuid(),
    existed boolean NOT NULL DEFAULT false,
    recorded_my_number_hmac text, recorded_status text,
    ticket_existed boolean NOT NULL DEFAULT false, ticket_holder uuid
) ON COMMIT DROP
"""


async def _apply_update(
    connection: Any,
    code: str,
    job_id: UUID,
    actor_id: UUID | None,
    actor_role: str,
    timings: _Timings,
) -> _Applied:
    """The staged rows checked against what is recorded, then upserted with their history."""
    # The checks hash a million keys at a time: in memory, not in batches on disk.
    await connection.execute("SET LOCAL work_mem = '256MB'")
    await connection.execute("ANALYZE import_staging")
    await connection.execute(
        "CREATE INDEX ON import_staging (resident_number);"
        "CREATE INDEX ON import_staging (ticket_number)"
    )
    await connection.execute(_KNOWN_RESIDENTS, code)
    await connection.execute(_KNOWN_TICKETS, code)
    for check in _RECORDED_CHECKS:
        await connection.execute(check, *((code,) if "$1" in check else ()))
    await connection.execute(
        "UPDATE import_staging s SET rejected = true"
        " WHERE NOT s.rejected AND s.line IN (SELECT line FROM import_rejects)"
    )
    timings.mark("checks against the area")
    # Before the new tickets exist: a resident's other valid tickets become reissued.
    reissued = int((await connection.execute(_REISSUE, code)).split()[-1])
    timings.mark("reissue")
    residents = await connection.fetchrow(
        _UPSERT_RESIDENTS, code, actor_id, actor_role, str(job_id)
    )
    timings.mark("residents")
    tickets_inserted = await connection.fetchval(_UPSERT_TICKETS, code)
    timings.mark("tickets")
    good = await connection.fetchval("SELECT count(*) FROM import_staging WHERE NOT rejected")
    return _Applied(
        residents["inserted"], residents["updated"], int(tickets_inserted), reissued, int(good)
    )


__all__ = ["COLUMNS", "ImportFailed", "run_import"]
