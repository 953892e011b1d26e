"""Import residents and tickets from a CSV file at scale (F1 事前登録).

The file is stored on disk first (the upload is streamed there), then:

1. its encoding is detected (UTF-8 with or without BOM, else CP932/Shift_JIS);
2. rows are read (a thread of this process) and checked one by one
   (:mod:`db.imports.format`), My Numbers sealed and hashed, batch by batch, in
   one worker process per core for a large file (:data:`PARALLEL_FROM_BYTES`);
3. good rows are COPY'd into a TEMP staging table (COPY into tables under RLS
   is refused; the staging table is the session's own);
4. cross-row checks run as set-based SQL: duplicates within the file, and
   conflicts with what is recorded (ticket of another resident, My Number of
   another resident or different from the registered one, erased residents);
5. good rows are upserted (INSERT … SELECT … ON CONFLICT), changing only what
   changed, and the previous values of each changed resident go to its history
   (``resident_version``, in the same statement); tickets replaced by a new
   number become ``reissued``. In an area with no rows yet (its first import),
   the good rows go instead into new tables of the area's own, which are then
   indexed and attached as the area's partitions of ``resident`` and ``ticket``
   (``vrs_import_open_fresh_area`` / ``vrs_import_attach_fresh_area``, issue 16).

Everything from step 3 runs in one transaction as ``vrs_app`` in the
municipality's area, so a failure changes nothing. Progress is written to the
job row on another connection, which the page polls.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import csv
import datetime as dt
import io
import json
import logging
import multiprocessing
import os
import time
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

from db.engine import job_transaction
from db.imports.format import COLUMNS, RowChecker, first_undecodable_line, map_header
from db.job_rows import update_job_row
from db.residents.my_number import MyNumberVault

log = logging.getLogger("vrs.imports")

#: The longest cell read; a longer one stops the import at its line as malformed CSV.
FIELD_LIMIT = 16 * 1024 * 1024
BATCH_ROWS = 5000
_STAGING_COLUMNS = (
    "line", "resident_number", "my_number_ciphertext", "my_number_hmac", "name", "name_kana",
    "former_name", "birth_date", "sex", "ticket_number", "ticket_type", "ticket_dose_number",
    "ticket_issued_on", "moved_out_on", "deceased_on", "priority_group", "needs_care",
)  # fmt: skip


class ImportFailed(Exception):
    """The whole file cannot be imported; ``key`` names the message."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def detect_encoding(path: Path) -> str:
    """utf-8-sig (BOM), utf-8, or cp932 (Shift_JIS as Windows writes it)."""
    with path.open("rb") as raw:
        head = raw.read(3)
        if head == codecs.BOM_UTF8:
            return "utf-8-sig"
        raw.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := raw.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp932"
    return "utf-8"


#: The import job's columns stored as jsonb.
_JSON_COLUMNS = frozenset({"ignored_columns", "error_params"})


async def update_job(municipality_code: str, job_id: UUID, **values: Any) -> None:
    """Write progress or the outcome to the job row (its own short transaction)."""
    await update_job_row("import_job", municipality_code, job_id, values, _JSON_COLUMNS)


#: One row read from the file: its physical line and its cells.
Cells = tuple[int, list[str]]
#: Why a line is refused: (line, column, message key, JSON parameters).
Rejection = tuple[int, str, str, str]


class _RowReader:
    """Reads the file in batches of cells (:meth:`cells`); :meth:`batch` also checks them.

    The CSV parsing stays in one place (a thread of the importing process) so that
    line numbers and malformed-file errors are those of one ``csv.reader``; the checks
    and the sealing (:func:`check_cells`) may run in other processes.
    """

    def __init__(self, path: Path, encoding: str, vault: MyNumberVault, code: str) -> None:
        self.raw = path.open("rb")
        self.text = io.TextIOWrapper(self.raw, encoding=encoding, newline="")
        # A cell longer than Python's default limit (128 kB) would fail the whole file as
        # "not valid CSV"; read it, and let the row's checks refuse it as too long.
        csv.field_size_limit(max(csv.field_size_limit(), FIELD_LIMIT))
        self.reader = csv.reader(self.text)
        self.vault = vault
        self.code = code
        self.today = dt.date.today()
        self.positions: dict[str, int] = {}
        self.rows_read = 0
        self.rejections: list[Rejection] = []
        self.rejected_lines = 0

    def header(self) -> list[str]:
        try:
            cells = next(self.reader)
        except StopIteration:
            raise ImportFailed("import.empty_file") from None
        except UnicodeDecodeError:
            raise ImportFailed("import.encoding_unreadable", line=1) from None
        positions, missing, ignored, repeated = map_header(cells)
        if missing:
            raise ImportFailed("import.missing_columns", columns="、".join(missing))
        if repeated:
            raise ImportFailed("import.repeated_columns", columns="、".join(repeated))
        self.positions = positions
        self.checker = RowChecker(positions, self.today)
        return ignored

    def cells(self, rows: int = BATCH_ROWS) -> list[Cells]:
        """The next non-blank rows (at most ``rows``), unchecked; [] at the end."""
        batch: list[Cells] = []
        try:
            for cells in self.reader:
                if not cells or all(not c.strip() for c in cells):
                    continue
                self.rows_read += 1
                batch.append((self.reader.line_num, cells))
                if len(batch) >= rows:
                    break
        except UnicodeDecodeError:
            line = first_undecodable_line(Path(self.raw.name), self.text.encoding)
            raise ImportFailed("import.encoding_unreadable", line=line) from None
        except csv.Error:
            raise ImportFailed("import.csv_malformed", line=self.reader.line_num) from None
        return batch

    def batch(self) -> list[tuple[Any, ...]]:
        """The next checked rows (at most :data:`BATCH_ROWS`), My Numbers sealed; [] at the end."""
        while cells := self.cells():
            records, rejections, rejected = check_cells(cells, self.checker, self.vault, self.code)
            self.take(rejections, rejected)
            if records:
                return [tuple(r) for r in records]
        return []

    def take(self, rejections: list[Rejection], rejected_lines: int) -> None:
        """Count the rejections of a checked batch."""
        self.rejections.extend(rejections)
        self.rejected_lines += rejected_lines

    def close(self) -> None:
        self.text.close()


def check_cells(
    batch: list[Cells], checker: RowChecker, vault: MyNumberVault, code: str
) -> tuple[list[list[Any]], list[Rejection], int]:
    """Check rows one by one and seal their My Numbers: (records, rejections, rejected lines).

    A record has the staging table's columns (:data:`_STAGING_COLUMNS`).
    """
    records: list[list[Any]] = []
    rejections: list[Rejection] = []
    rejected = 0
    width = max(checker.positions.values()) + 1
    values = checker.values
    for line, cells in batch:
        if len(cells) < width:
            rejected += 1
            rejections.append((line, "", "import.too_few_fields", json.dumps({"expected": width})))
            continue
        row, problems = values(cells)
        if row is None:
            rejected += 1
            for p in problems:
                rejections.append(
                    (line, p.column, p.reason, json.dumps(p.params, ensure_ascii=False))
                )
            continue
        # CheckedRow's fields in order, with the line first and the hash after the My Number.
        records.append([line, row[0], row[1], None, *row[2:]])
    _seal(records, vault, code)
    return records, rejections, rejected


def _seal(records: list[list[Any]], vault: MyNumberVault, code: str) -> None:
    """Replace each My Number (position 2) by its sealed form and fill its hash (3)."""
    numbered = [r for r in records if r[2]]
    numbers = [r[2] for r in numbered]
    sealed = vault.seal_many(numbers, code)
    hashes = vault.lookup_hashes(numbers)
    for record, ciphertext, digest in zip(numbered, sealed, hashes, strict=True):
        record[2] = ciphertext
        record[3] = digest
    for record in records:
        if not record[2]:
            record[2] = None


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: str) -> str:
    """Free text in COPY's text format."""
    return value.translate(_COPY_ESCAPES)


_NULL = "\\N"
_BYTEA = "\\\\x"


def _optional(value: Any) -> str:
    """A value that may be NULL (digits, a number or a date) in COPY's text format."""
    return _NULL if value is None else str(value)


def copy_text(records: list[list[Any]]) -> bytes:
    """Records (:data:`_STAGING_COLUMNS`) as COPY's text format, for the staging COPY.

    Identifiers, hashes, dates and codes are digits, hex or ASCII words by the time a row
    is a record; only the names are free text.
    """
    lines = []
    for (line, resident, sealed, digest, name, kana, former, birth, sex, ticket, ticket_type,
         dose, issued, moved, deceased, priority, care) in records:  # fmt: skip
        sealed_text = _BYTEA + sealed.hex() if sealed else _NULL
        lines.append(
            f"{line}\t{resident}\t{sealed_text}\t{digest or _NULL}\t{_text(name)}\t{_text(kana)}\t"
            f"{_text(former)}\t{birth}\t{sex}\t{ticket or _NULL}\t{ticket_type}\t"
            f"{_optional(dose)}\t{_optional(issued)}\t{_optional(moved)}\t"
            f"{_optional(deceased)}\t{priority}\t{'t' if care else 'f'}\n"
        )
    return "".join(lines).encode()


# --- checking in worker processes --------------------------------------------------------
# A large file is checked and sealed by one process per core (the GIL would keep threads on
# one core): each gets its batch of cells and gives back COPY text and the rejections.

#: Files from this size on are checked in worker processes; smaller ones in a thread.
PARALLEL_FROM_BYTES = 4 << 20
_worker: dict[str, Any] = {}


def _start_worker(
    positions: dict[str, int], today: dt.date, vault: MyNumberVault, code: str
) -> None:
    _worker.update(checker=RowChecker(positions, today), vault=vault, code=code)


def _check_in_worker(batch: list[Cells]) -> tuple[bytes, list[Rejection], int]:
    w = _worker
    records, rejections, rejected = check_cells(batch, w["checker"], w["vault"], w["code"])
    return copy_text(records), rejections, rejected


def _check_here(reader: _RowReader, batch: list[Cells]) -> tuple[bytes, list[Rejection], int]:
    records, rejections, rejected = check_cells(batch, reader.checker, reader.vault, reader.code)
    return copy_text(records), rejections, rejected


def _duplicates(column: str, key: str) -> str:
    """Rows whose ``key`` an earlier row of the file has: every occurrence after the first.

    Only keys seen more than once are sorted (a hashed count finds them), so a file with
    no duplicate costs two scans and no sort.
    """
    return f"""INSERT INTO import_rejects SELECT line, '{column}', 'import.duplicate_in_file',
           json_build_object('first_line', first)::text
       FROM (SELECT line, min(line) OVER (PARTITION BY {key}) AS first
             FROM import_staging
             WHERE {key} IN (SELECT {key} FROM import_staging WHERE {key} IS NOT NULL
                             GROUP BY {key} HAVING count(*) > 1)) x
       WHERE line <> first"""


#: Duplicates within the file.
_IN_FILE_CHECKS = [
    _duplicates("resident_number", "resident_number"),
    _duplicates("ticket_number", "ticket_number"),
    _duplicates("my_number", "my_number_hmac"),
]
_RECORDED_CHECKS = [
    # Conflicts with what is recorded.
    """INSERT INTO import_rejects SELECT s.line, 'ticket_number', 'import.ticket_taken',
           json_build_object('resident_number', r.resident_number)::text
       FROM import_staging s
       JOIN ticket t ON t.municipality_code = $1 AND t.ticket_number = s.ticket_number
       JOIN resident r ON r.id = t.resident AND r.municipality_code = $1
       WHERE r.resident_number <> s.resident_number""",
    """INSERT INTO import_rejects SELECT s.line, 'my_number', 'import.my_number_taken',
           json_build_object('resident_number', r.resident_number)::text
       FROM import_staging s
       JOIN resident r ON r.municipality_code = $1 AND r.my_number_hmac = s.my_number_hmac
       WHERE r.resident_number <> s.resident_number""",
    """INSERT INTO import_rejects SELECT s.line, 'my_number', 'import.my_number_differs', '{}'
       FROM import_staging s
       JOIN resident r ON r.municipality_code = $1 AND r.resident_number = s.resident_number
       WHERE r.my_number_hmac IS NOT NULL AND s.my_number_hmac IS NOT NULL
         AND r.my_number_hmac <> s.my_number_hmac""",
    """INSERT INTO import_rejects SELECT s.line, 'resident_number', 'import.resident_erased', '{}'
       FROM import_staging s
       JOIN resident r ON r.municipality_code = $1 AND r.resident_number = s.resident_number
       WHERE r.status <> 'active'""",
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

#: Staged rows of known residents carry their id; new ones keep the id drawn at COPY.
_KNOWN_RESIDENTS = """
UPDATE import_staging s SET resident_id = r.id, existed = true
FROM resident r
WHERE r.municipality_code = $1 AND r.resident_number = s.resident_number
"""

#: Staged tickets already recorded (to count the new ones).
_KNOWN_TICKETS = """
UPDATE import_staging s SET ticket_existed = true
FROM ticket t
WHERE t.municipality_code = $1 AND t.ticket_number = s.ticket_number
"""

#: A first import into an area with no rows: the good rows go straight into the area's own
#: new tables (no index yet; see ``vrs_import_open_fresh_area``), which are then indexed and
#: attached as the area's partitions. ``{code}`` is a checked six-digit area code.
_FRESH_RESIDENTS = """
INSERT INTO "resident_{code}" (id, municipality_code, resident_number, my_number_ciphertext,
    my_number_hmac, name, name_kana, former_name, birth_date, sex, moved_out_on, deceased_on,
    priority_group, needs_care)
SELECT resident_id, $1, resident_number, my_number_ciphertext, my_number_hmac, name, name_kana,
    former_name, birth_date, sex, moved_out_on, deceased_on, priority_group, needs_care
FROM import_staging WHERE NOT rejected
"""

_FRESH_TICKETS = """
INSERT INTO "ticket_{code}" (municipality_code, ticket_number, resident, ticket_type,
    dose_number, issued_on)
SELECT $1, ticket_number, resident_id, ticket_type, ticket_dose_number, ticket_issued_on
FROM import_staging WHERE NOT rejected AND ticket_number IS NOT NULL
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


def _worker_pool(reader: _RowReader, size: int) -> ProcessPoolExecutor | None:
    """Worker processes for a file of ``size`` bytes (None: check in a thread of this one)."""
    workers = os.cpu_count() or 1
    if size < PARALLEL_FROM_BYTES or workers < 2:
        return None
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),  # never fork a running server
        initializer=_start_worker,
        initargs=(reader.positions, reader.today, reader.vault, reader.code),
    )


async def _staged_copy(
    reader: _RowReader, code: str, job_id: UUID, pool: ProcessPoolExecutor | None
) -> AsyncIterator[bytes]:
    """The checked rows as COPY text, in file order, batch by batch.

    A thread reads the cells; the checks and sealing run in ``pool`` (or in threads),
    a few batches ahead of the one COPY is sending.
    """
    loop = asyncio.get_running_loop()
    ahead = 2 * (os.cpu_count() or 1) if pool else 2
    pending: deque[asyncio.Future[tuple[bytes, list[Rejection], int]]] = deque()
    reading = True
    reported = time.monotonic()
    try:
        while True:
            while reading and len(pending) < ahead:
                cells = await asyncio.to_thread(reader.cells)
                if not cells:
                    reading = False
                elif pool is not None:
                    pending.append(loop.run_in_executor(pool, _check_in_worker, cells))
                else:
                    pending.append(
                        asyncio.ensure_future(asyncio.to_thread(_check_here, reader, cells))
                    )
            if not pending:
                return
            payload, rejections, rejected = await pending.popleft()
            reader.take(rejections, rejected)
            if payload:
                yield payload
            if time.monotonic() - reported >= 0.5 or not pending:
                reported = time.monotonic()
                await update_job(
                    code, job_id, processed_bytes=reader.raw.tell(),
                    rows_read=reader.rows_read, rows_rejected=reader.rejected_lines,
                )  # fmt: skip
    finally:
        for future in pending:
            future.cancel()
        for future in pending:
            with contextlib.suppress(BaseException):
                await future


async def _load(
    job_id: UUID,
    path: Path,
    code: str,
    vault: MyNumberVault,
    actor_id: UUID | None,
    actor_role: str,
) -> dict[str, Any]:
    timings = _Timings()
    # A connection of its own, without the requests' statement limit: staging a million
    # rows is one COPY, building their indexes one statement, each longer than a request.
    async with job_transaction(code) as connection:
        # Held until this transaction ends, released by PostgreSQL if the process dies.
        await connection.execute("SELECT pg_advisory_xact_lock(vrs_job_lock_key($1))", job_id)
        await update_job(
            code, job_id, status="running", phase="read", total_bytes=path.stat().st_size,
            error_key="", error_params={}, finished_at=None,
        )  # fmt: skip
        # One import at a time per area: the ids staged below stay right until commit.
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('vrs-import-area:' || $1, 0))", code
        )
        # An area with no rows yet is loaded into tables of its own (issue 16).
        fresh = bool(await connection.fetchval("SELECT vrs_import_open_fresh_area($1)", code))
        encoding = await asyncio.to_thread(detect_encoding, path)
        reader = _RowReader(path, encoding, vault, code)
        try:
            ignored = await asyncio.to_thread(reader.header)
            await update_job(code, job_id, encoding=encoding, ignored_columns=ignored)
            await connection.execute(
                """CREATE TEMP TABLE import_staging (
                    line integer, resident_number text, my_number_ciphertext bytea,
                    my_number_hmac text, name text, name_kana text, former_name text,
                    birth_date date, sex text, ticket_number text, ticket_type text,
                    ticket_dose_number integer, ticket_issued_on date, moved_out_on date,
                    deceased_on date, priority_group text, needs_care boolean,
                    rejected boolean NOT NULL DEFAULT false,
                    resident_id uuid NOT NULL DEFAULT gen_random_uuid(),
                    existed boolean NOT NULL DEFAULT false,
                    ticket_existed boolean NOT NULL DEFAULT false
                ) ON COMMIT DROP;
                CREATE TEMP TABLE import_rejects (
                    line integer, column_name text, reason text, params text
                ) ON COMMIT DROP"""
            )
            timings.mark("open")
            pool = await asyncio.to_thread(_worker_pool, reader, path.stat().st_size)
            try:
                await connection.copy_to_table(
                    "import_staging",
                    source=_staged_copy(reader, code, job_id, pool),
                    columns=_STAGING_COLUMNS,
                    format="text",
                )
            finally:
                if pool is not None:
                    pool.shutdown(wait=False, cancel_futures=True)
            if reader.rejections:
                await connection.copy_records_to_table("import_rejects", records=reader.rejections)
            timings.mark("read, check and stage")
        finally:
            reader.close()
        await update_job(
            code, job_id, phase="apply", processed_bytes=path.stat().st_size,
            rows_read=reader.rows_read, rows_rejected=reader.rejected_lines,
        )  # fmt: skip
        # The checks hash a million keys at a time: in memory, not in batches on disk.
        await connection.execute("SET LOCAL work_mem = '256MB'")
        await connection.execute("ANALYZE import_staging")
        if not fresh:
            await connection.execute(
                "CREATE INDEX ON import_staging (resident_number);"
                "CREATE INDEX ON import_staging (ticket_number)"
            )
        # In an area with no rows (checked under the area's lock) nothing recorded can conflict.
        for check in _IN_FILE_CHECKS if fresh else _IN_FILE_CHECKS + _RECORDED_CHECKS:
            arguments = (code,) if "$1" in check else ()
            await connection.execute(check, *arguments)
        await connection.execute(
            "UPDATE import_staging s SET rejected = true"
            " WHERE s.line IN (SELECT line FROM import_rejects)"
        )
        timings.mark("cross-row checks")
        if fresh:
            assert code.isdigit() and len(code) == 6  # vrs_import_open_fresh_area checked it
            inserted = int(
                (await connection.execute(_FRESH_RESIDENTS.format(code=code), code)).split()[-1]
            )
            residents = {"inserted": inserted, "updated": 0}
            timings.mark("residents")
            tickets_inserted = int(
                (await connection.execute(_FRESH_TICKETS.format(code=code), code)).split()[-1]
            )
            reissued = 0
            timings.mark("tickets")
            await connection.execute("SELECT vrs_import_attach_fresh_area($1)", code)
            timings.mark("indexes and attach")
        else:
            await connection.execute(_KNOWN_RESIDENTS, code)
            await connection.execute(_KNOWN_TICKETS, code)
            # Before the new tickets exist: a resident's other valid tickets become reissued.
            reissued = int((await connection.execute(_REISSUE, code)).split()[-1])
            timings.mark("reissue")
            residents = await connection.fetchrow(
                _UPSERT_RESIDENTS, code, actor_id, actor_role, str(job_id)
            )
            timings.mark("residents")
            tickets_inserted = await connection.fetchval(_UPSERT_TICKETS, code)
            timings.mark("tickets")
        await connection.execute(
            "INSERT INTO import_rejection (municipality_code, job, line_number, column_name,"
            " reason, params) SELECT $1, $2, line, column_name, reason, params::jsonb"
            " FROM import_rejects ORDER BY line, column_name",
            code,
            job_id,
        )
        rejected = await connection.fetchval("SELECT count(DISTINCT line) FROM import_rejects")
        good = await connection.fetchval("SELECT count(*) FROM import_staging WHERE NOT rejected")
        outcome = {
            "rows_read": reader.rows_read,
            "rows_rejected": int(rejected),
            "residents_inserted": residents["inserted"],
            "residents_updated": residents["updated"],
            "residents_unchanged": good - residents["inserted"] - residents["updated"],
            "tickets_inserted": tickets_inserted,
            "tickets_reissued": reissued,
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
        timings.mark("report")
    log.info("import job %s: %s rows; %s", job_id, reader.rows_read, timings)
    return outcome


__all__ = ["COLUMNS", "ImportFailed", "run_import"]
