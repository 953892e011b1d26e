"""Backup of one municipality's whole area (F9, 確認事項 第5条3).

The archive is a zip: one JSON-lines file per table of the allow-list
(:mod:`db.backup.catalog`; every column, as PostgreSQL's ``row_to_json``
writes it, so nothing is rounded or re-encoded), the municipality's
reference row (for people reading the archive; never restored), and
``manifest.json`` with the municipality code, row counts and SHA-256
checksums, sealed with the server's backup key (``manifest.sig``). The
file is written owner-only (0600). The counts kept by triggers are not
archived: the restore's inserts rebuild them. Restore: :mod:`db.backup.restore`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

from db.backup.catalog import EXCLUDED, RESTORED
from db.backup.errors import BackupError
from db.backup.reader import MANIFEST_ENTRY, REFERENCE_ENTRY, table_entry
from db.backup.restore import FORMAT, Progress, restore_area
from db.backup.seal import SEAL_ENTRY, MissingBackupKey, seal
from db.engine import current_connection

__all__ = ["BackupError", "EXCLUDED", "area_tables", "export_area", "restore_area"]

#: Rows fetched and written per step (the writing, with compression, runs in a thread).
CHUNK_ROWS = 2000


async def area_tables(connection: Any = None) -> list[str]:
    """The allow-listed tables this database has, in insert order."""
    rows = await (connection or current_connection()).fetch(
        "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') AND NOT relispartition"
        " AND relnamespace = 'public'::regnamespace AND relname = ANY($1::text[])",
        list(RESTORED),
    )
    present = {r["relname"] for r in rows}
    return [t for t in RESTORED if t in present]


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
    *,
    key: bytes,
) -> dict[str, Any]:
    """Write the area to ``target`` (owner-only), sealed with ``key``; the manifest.

    ``connection`` is a connection in the area's transaction (default: the
    caller's tenant transaction); for a consistent archive it should be a
    REPEATABLE READ one, as the backup job's is.
    """
    if not key:
        raise BackupError("backup.key_missing")
    connection = connection or current_connection()
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "municipality_code": municipality_code,
        "tables": {},
    }
    written = 0
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)  # also when the file was there before
    with (
        os.fdopen(descriptor, "wb") as file,
        zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive,
    ):
        reference = await connection.fetchval(
            "SELECT row_to_json(m)::text FROM municipality m WHERE code = $1", municipality_code
        )
        archive.writestr(REFERENCE_ENTRY, reference or "null")
        tables = await area_tables(connection)
        for done, table in enumerate(tables):
            digest = hashlib.sha256()
            count = 0
            order = await _order_by(connection, table)
            with archive.open(table_entry(table), "w", force_zip64=True) as out:
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
        # When the last row was read: no archived event can be later (restore checks it).
        moment = await connection.fetchval("SELECT clock_timestamp()")
        manifest["created_at"] = moment.isoformat()
        raw = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
        try:
            archive.writestr(SEAL_ENTRY, seal(raw, key))
        except MissingBackupKey:
            raise BackupError("backup.key_missing") from None
        archive.writestr(MANIFEST_ENTRY, raw)
    return manifest


def _write(out: Any, digest: Any, lines: list[bytes]) -> int:
    """Write (and hash) one chunk of lines; how many."""
    data = b"".join(lines)
    digest.update(data)
    out.write(data)
    return len(lines)
