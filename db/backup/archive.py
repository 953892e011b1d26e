"""Backup and restore of one municipality's whole area (F9, 確認事項 第5条3).

The archive is a zip: one JSON-lines file per tenant table (every column, as
PostgreSQL's ``row_to_json`` writes it, so nothing is rounded or re-encoded),
the municipality's reference row, and ``manifest.json`` with row counts and
SHA-256 checksums. Restore checks the manifest, refuses an area that already
holds residents or records, and inserts every row as the serving role inside
the area (RLS applies). The counts kept by triggers are not archived: the
restore's inserts rebuild them. Audit events get new sequence ids in the new
installation (ids are installation-local); every other value is kept.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from db.engine import current_connection

FORMAT = "vrs-area-backup-1"
#: Rows fetched and written per step (the writing, with compression, runs in a thread).
CHUNK_ROWS = 2000
#: Told (table, tables done, tables in all, rows written) after every chunk.
Progress = Callable[[str, int, int, int], Awaitable[None]]
#: Insert order for tables that reference others; any other tenant table follows, by name.
ORDER = (
    "municipality_setting", "venue", "account", "resident", "ticket", "vaccination",
    "vaccination_version", "certificate_issuance", "import_job", "import_rejection", "inquiry",
)  # fmt: skip
#: Kept by triggers, rebuilt on restore; and the backup jobs (files of this installation).
DERIVED = frozenset({"dose_count", "dose_rollup", "population_count", "backup_job"})
#: Tables whose id is a sequence number of the installation.
SEQUENCE_IDS = frozenset({"audit_event"})


class BackupError(Exception):
    """The archive cannot be restored here; ``key`` names the message."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


async def area_tables(connection: Any = None) -> list[str]:
    """Every table carrying ``municipality_code`` except derived counts, in insert order."""
    rows = await (connection or current_connection()).fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
        " AND a.attname = 'municipality_code' AND NOT a.attisdropped"
        " WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
    )
    names = {r["relname"] for r in rows} - DERIVED
    known = [t for t in ORDER if t in names]
    return known + sorted(names - set(known) - {"audit_event"}) + ["audit_event"]


async def _order_by(connection: Any, table: str) -> str:
    columns = await connection.fetch(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid"
        " AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::regclass AND i.indisprimary",
        table,
    )
    return ", ".join(f'"{c["attname"]}"' for c in columns) or "1"


async def export_area(
    municipality_code: str,
    target: Path,
    connection: Any = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Write the area to ``target``; the manifest.

    ``connection`` is a connection in the area's transaction (default: the
    caller's tenant transaction); for a consistent archive it should be a
    REPEATABLE READ one, as the backup job's is.
    """
    connection = connection or current_connection()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "municipality_code": municipality_code,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "tables": {},
    }
    written = 0
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        reference = await connection.fetchval(
            "SELECT row_to_json(m)::text FROM municipality m WHERE code = $1", municipality_code
        )
        archive.writestr("municipality.json", reference or "null")
        tables = await area_tables(connection)
        for done, table in enumerate(tables):
            digest = hashlib.sha256()
            count = 0
            order = await _order_by(connection, table)
            with archive.open(f"tables/{table}.jsonl", "w") as out:
                chunk: list[bytes] = []
                async for record in connection.cursor(
                    f'SELECT row_to_json(t)::text AS line FROM "{table}" t ORDER BY {order}',
                    prefetch=CHUNK_ROWS,
                ):
                    chunk.append((record["line"] + "\n").encode())
                    if len(chunk) >= CHUNK_ROWS:
                        count += await asyncio.to_thread(_write, out, digest, chunk)
                        chunk = []
                        if progress:
                            await progress(table, done, len(tables), written + count)
                count += await asyncio.to_thread(_write, out, digest, chunk)
            written += count
            manifest["tables"][table] = {"rows": count, "sha256": digest.hexdigest()}
            if progress:
                await progress(table, done + 1, len(tables), written)
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False))
    return manifest


def _write(out: Any, digest: Any, lines: list[bytes]) -> int:
    """Write (and hash) one chunk of lines; how many."""
    data = b"".join(lines)
    digest.update(data)
    out.write(data)
    return len(lines)


def _read(archive_path: Path) -> tuple[dict[str, Any], Any, dict[str, list[str]]]:
    try:
        with zipfile.ZipFile(archive_path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            reference = json.loads(archive.read("municipality.json"))
            tables: dict[str, list[str]] = {}
            for table, entry in manifest["tables"].items():
                data = archive.read(f"tables/{table}.jsonl")
                if hashlib.sha256(data).hexdigest() != entry["sha256"]:
                    raise BackupError("backup.checksum", table=table)
                lines = data.decode().splitlines()
                if len(lines) != entry["rows"]:
                    raise BackupError("backup.checksum", table=table)
                tables[table] = lines
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError):
        raise BackupError("backup.not_an_archive") from None
    if manifest.get("format") != FORMAT:
        raise BackupError("backup.not_an_archive")
    return manifest, reference, tables


async def restore_area(municipality_code: str, archive_path: Path) -> dict[str, int]:
    """Restore an archive into the current, empty area; rows restored per table."""
    manifest, reference, tables = _read(archive_path)
    if manifest["municipality_code"] != municipality_code:
        raise BackupError(
            "backup.other_municipality",
            code=manifest["municipality_code"],
            target=municipality_code,
        )
    connection = current_connection()
    for table in ("resident", "ticket", "vaccination"):
        if await connection.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):
            raise BackupError("backup.area_not_empty")
    if reference:
        await connection.execute(
            "INSERT INTO municipality SELECT * FROM json_populate_record(NULL::municipality, $1::json)"
            " ON CONFLICT DO NOTHING",
            json.dumps(reference),
        )
    present = set(await area_tables())
    restored: dict[str, int] = {}
    for table in [t for t in await area_tables() if t in tables] + sorted(set(tables) - present):
        if table not in present:
            raise BackupError("backup.unknown_table", table=table)
        columns = [
            r["attname"]
            for r in await connection.fetch(
                "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0"
                " AND NOT attisdropped ORDER BY attnum",
                table,
            )
            if not (table in SEQUENCE_IDS and r["attname"] == "id")
        ]
        names = ", ".join(f'"{c}"' for c in columns)
        lines = tables[table]
        total = 0
        for start in range(0, len(lines), 5000):
            batch = "[" + ",".join(lines[start : start + 5000]) + "]"
            status = await connection.execute(
                f'INSERT INTO "{table}" ({names}) SELECT {names} FROM'
                f' json_populate_recordset(NULL::"{table}", $1::json) ON CONFLICT DO NOTHING',
                batch,
            )
            total += int(status.split()[-1])
        restored[table] = total
    return restored
