"""Restore of an area from an archive this server produced for it, all or nothing.

In order, before any row is written: the archive is opened within its
limits (:mod:`db.backup.reader`); its manifest's seal must be this server's
(:mod:`db.backup.seal`: refused unsigned, altered or another server's) and
name this municipality; it may list only the tables of the allow-list
(:mod:`db.backup.catalog`); every table file must match the manifest's
SHA-256 and row count. Then, under a lock of the area (one restore at a time),
each table is loaded in insert order, every row checked like input
(:mod:`db.backup.rows`), in one transaction of the area as the serving role
(the caller's, or a restore job's: :mod:`db.backup.jobs`), so row-level
security applies and any refusal leaves nothing behind. References between restored rows must stay
inside the area. The derived counts are rebuilt by triggers as the rows go
in: each restored dose appends its change to ``dose_change`` (counted on the
pages at once, folded into ``dose_count`` and ``dose_rollup`` by the server
in the background), each resident counts in ``population_count``.

Nothing here logs or quotes row content: refusals name the table, the row
(its line in the table file) and the column.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import asyncpg

from db.backup.catalog import REFERENCES, RESTORED, SEQUENCE_IDS
from db.backup.errors import BackupError
from db.backup.reader import MANIFEST_ENTRY, Archive, Limits, table_entry
from db.backup.rows import RowError, check_row, columns_of
from db.backup.seal import SEAL_ENTRY, seal_holds
from db.engine import current_connection

FORMAT = "vrs-area-backup-2"
#: Told (table, tables done, tables in all, rows written or restored so far) as a backup's
#: export or a restore goes.
Progress = Callable[[str, int, int, int], Awaitable[None]]
#: Rows (and bytes) sent to PostgreSQL per statement.
BATCH_ROWS = 1000
BATCH_BYTES = 16 << 20
#: A restore goes only into an area that holds none of these yet.
_MUST_BE_EMPTY = (
    "resident", "ticket", "vaccination", "venue", "certificate_issuance", "import_job", "inquiry",
)  # fmt: skip
#: Tables the serving role may not insert into: written by a SECURITY DEFINER function.
_BY_FUNCTION = {
    "kiosk_completion": "vrs_restore_kiosk_completions",
    "kiosk_failure": "vrs_restore_kiosk_failures",
}
#: Numbered histories the new installation may have begun (creating the municipality writes
#: its first settings revision): archived revisions follow the existing ones, in their order.
_CONTINUED = {"municipality_setting": "revision"}


async def restore_area(
    municipality_code: str,
    archive_path: Path,
    key: bytes,
    limits: Limits | None = None,
    *,
    connection: Any = None,
    progress: Progress | None = None,
) -> dict[str, int]:
    """Restore an archive into the current, empty area; rows restored per table.

    ``connection``: the area's transaction to restore in (default: the caller's tenant
    transaction; a restore job's has no statement limit). ``progress`` is told after
    every batch of rows.
    """
    if not key:
        raise BackupError("backup.key_missing")
    archive = await asyncio.to_thread(Archive, archive_path, limits or Limits())
    try:
        manifest = await asyncio.to_thread(_verified_manifest, archive, key, municipality_code)
        await asyncio.to_thread(_verify_tables, archive, manifest)
        connection = connection or current_connection()
        # One restore at a time per area (web jobs and `vrs restore` alike): a second one
        # waits here, then finds the area no longer empty.
        await connection.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('vrs-restore-area:' || $1, 0))",
            municipality_code,
        )
        await check_restore_target(municipality_code, connection)
        archived_at = manifest["archived_at"]
        tables = [t for t in RESTORED if t in manifest["tables"]]
        restored: dict[str, int] = {}
        for done, table in enumerate(tables):
            told = partial(_told, progress, table, done, len(tables), sum(restored.values()))
            restored[table] = await _load(
                connection, archive, table, municipality_code, archived_at, told
            )
            await _told(progress, table, done + 1, len(tables), 0, sum(restored.values()))
        await _check_references(connection, set(restored))
        return restored
    finally:
        archive.close()


async def _told(
    progress: Progress | None, table: str, done: int, total: int, before: int, rows: int
) -> None:
    if progress:
        await progress(table, done, total, before + rows)


async def check_restore_target(municipality_code: str, connection: Any = None) -> None:
    """Refuse (:class:`BackupError`) an area a restore may not go into: none, or not empty."""
    connection = connection or current_connection()
    if not await connection.fetchval(
        "SELECT EXISTS (SELECT 1 FROM municipality WHERE code = $1)", municipality_code
    ):
        raise BackupError("backup.no_municipality", code=municipality_code)
    for table in _MUST_BE_EMPTY:
        if await connection.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):
            raise BackupError("backup.area_not_empty")


def _verified_manifest(archive: Archive, key: bytes, municipality_code: str) -> dict[str, Any]:
    raw = archive.small(MANIFEST_ENTRY)
    if raw is None:
        raise BackupError("backup.not_an_archive")
    signature = archive.small(SEAL_ENTRY)
    if signature is None:
        raise BackupError("backup.unsigned")
    if not seal_holds(raw, signature, key):
        raise BackupError("backup.seal_broken")
    # Sealed by this server: from here on the manifest is this server's own words.
    try:
        manifest: dict[str, Any] = json.loads(raw)
        tables = manifest["tables"]
        archived_at = dt.datetime.fromisoformat(manifest["created_at"])
        code = manifest["municipality_code"]
        if (
            manifest["format"] != FORMAT
            or not isinstance(tables, dict)
            or not all(isinstance(entry, dict) for entry in tables.values())
            or archived_at.tzinfo is None
        ):
            raise ValueError
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BackupError("backup.not_an_archive") from None
    if code != municipality_code:
        raise BackupError("backup.other_municipality", code=code, target=municipality_code)
    for table in tables:
        if table not in RESTORED:
            raise BackupError("backup.table_not_allowed", table=table)
        if table_entry(table) not in archive.entries:
            raise BackupError("backup.not_an_archive")
    for name in archive.entries:
        if name.startswith("tables/") and name[len("tables/") : -len(".jsonl")] not in tables:
            raise BackupError("backup.unexpected_entry")
    manifest["archived_at"] = archived_at
    return manifest


def _verify_tables(archive: Archive, manifest: dict[str, Any]) -> None:
    """Every table file as the sealed manifest says (before any of it is parsed)."""
    for table, entry in manifest["tables"].items():
        digest = hashlib.sha256()
        rows = 0
        for line in archive.lines(table_entry(table)):
            digest.update(line)
            digest.update(b"\n")
            rows += 1
        if digest.hexdigest() != entry.get("sha256") or rows != entry.get("rows"):
            raise BackupError("backup.table_altered", table=table)


def _batches(lines: Iterator[bytes]) -> Iterator[list[tuple[int, bytes]]]:
    batch: list[tuple[int, bytes]] = []
    size = 0
    for number, line in enumerate(lines, start=1):
        batch.append((number, line))
        size += len(line)
        if len(batch) >= BATCH_ROWS or size >= BATCH_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


async def _load(
    connection: Any,
    archive: Archive,
    table: str,
    area: str,
    archived_at: dt.datetime,
    batch_done: Callable[[int], Awaitable[None]],
) -> int:
    """Check and insert one table's rows, telling ``batch_done`` the rows so far; how many."""
    columns = await columns_of(connection, table)
    offset = 0
    if table in _CONTINUED:
        offset = await connection.fetchval(
            f'SELECT coalesce(max("{_CONTINUED[table]}"), 0) FROM "{table}"'
        )
    batches = _batches(archive.lines(table_entry(table)))

    def next_checked() -> tuple[list[tuple[int, bytes]], set[str]] | None:
        batch = next(batches, None)
        if batch is None:
            return None
        return batch, _check_batch(table, batch, columns, area, archived_at)

    names: list[str] | None = None
    total = 0
    # The next batch is read and checked (in a thread) while this one is inserted.
    upcoming = asyncio.ensure_future(asyncio.to_thread(next_checked))
    try:
        while (checked := await upcoming) is not None:
            batch, keys = checked
            upcoming = asyncio.ensure_future(asyncio.to_thread(next_checked))
            if names is None:
                names = [c for c in columns if c in keys]
            elif set(names) != keys:
                raise BackupError("backup.row_columns", table=table, row=batch[0][0])
            total += await _insert(connection, table, names, batch, offset)
            await batch_done(total)
    finally:
        # Never leave a thread reading the archive once this returns (it is closed next).
        await asyncio.gather(upcoming, return_exceptions=True)
    return total


def _check_batch(
    table: str,
    batch: list[tuple[int, bytes]],
    columns: dict[str, Any],
    area: str,
    archived_at: dt.datetime,
) -> set[str]:
    """Check every row of a batch; the columns they all carry."""
    keys: set[str] | None = None
    for number, line in batch:
        try:
            row = json.loads(line, object_pairs_hook=_unique_keys)
        except (ValueError, RecursionError):
            raise BackupError("backup.row_unreadable", table=table, row=number) from None
        try:
            check_row(table, row, columns, area, archived_at)
        except RowError as exc:
            raise BackupError(exc.key, table=table, row=number, column=exc.column) from None
        if keys is None:
            keys = set(row)
        elif keys != set(row):
            raise BackupError("backup.row_columns", table=table, row=number)
    return keys or set()


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are unique: a repeated key could mean one value to this check
    and another to the database."""
    values = dict(pairs)
    if len(values) != len(pairs):
        raise ValueError("repeated key")
    return values


async def _insert(
    connection: Any, table: str, names: list[str], batch: list[tuple[int, bytes]], offset: int = 0
) -> int:
    rows = b"[" + b",".join(line for _, line in batch) + b"]"
    first, last = batch[0][0], batch[-1][0]
    try:
        if table in _BY_FUNCTION:
            return int(
                await connection.fetchval(f"SELECT {_BY_FUNCTION[table]}($1::json)", rows.decode())
            )
        inserted = [n for n in names if not (table in SEQUENCE_IDS and n == "id")]
        listed = ", ".join(f'"{n}"' for n in inserted)
        values = ", ".join(
            f'"{n}" + {int(offset)}' if _CONTINUED.get(table) == n else f'"{n}"' for n in inserted
        )
        status = await connection.execute(
            f'INSERT INTO "{table}" ({listed}) SELECT {values}'
            f' FROM json_populate_recordset(NULL::"{table}", $1::json)',
            rows.decode(),
        )
        return int(status.split()[-1])
    except asyncpg.PostgresError as exc:
        # The database's message may quote a value: only its class and constraint are kept.
        if exc.sqlstate == "23505" and table == "account":
            key = "backup.login_taken"
        elif exc.sqlstate == "23505":
            key = "backup.rows_conflict"
        else:
            key = "backup.rows_refused"
        constraint = getattr(exc, "constraint_name", None) or ""
        raise BackupError(key, table=table, first=first, last=last, constraint=constraint) from None


async def _check_references(connection: Any, restored: set[str]) -> None:
    """A restored row may refer only to rows of this area (a foreign key alone ignores RLS)."""
    for (table, column), target in REFERENCES.items():
        if table not in restored:
            continue
        stray = await connection.fetchval(
            f'SELECT t.id::text FROM "{table}" t WHERE t."{column}" IS NOT NULL AND NOT EXISTS'
            f' (SELECT 1 FROM "{target}" r WHERE r.id::text = t."{column}"::text) LIMIT 1'
        )
        if stray is not None:
            raise BackupError("backup.row_reference", table=table, column=column, id=stray)
