"""Import jobs: create, read and list them, and their rejected rows (current area)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from db.engine import current_connection


async def create_job(municipality_code: str, filename: str, started_by: UUID | None) -> UUID:
    """A queued job for a file about to be imported."""
    found: UUID = await current_connection().fetchval(
        "INSERT INTO import_job (municipality_code, filename, started_by, status, phase)"
        " VALUES ($1, $2, $3, 'queued', 'upload') RETURNING id",
        municipality_code,
        filename[:255],
        started_by,
    )
    return found


async def requeue_job(job_id: UUID) -> bool:
    """An interrupted job queued again, to run from its stored file; False if it was not."""
    status: str = await current_connection().execute(
        "UPDATE import_job SET status = 'queued', phase = 'upload', processed_bytes = 0,"
        " error_key = '', error_params = '{}', finished_at = NULL"
        " WHERE id = $1 AND status = 'interrupted'",
        job_id,
    )
    return status.endswith(" 1")


async def job(job_id: UUID) -> dict[str, Any] | None:
    """One job of the current area, or None."""
    row = await current_connection().fetchrow("SELECT * FROM import_job WHERE id = $1", job_id)
    return _decoded(row) if row else None


async def recent_jobs(limit: int = 20) -> list[dict[str, Any]]:
    """The area's latest jobs, newest first."""
    rows = await current_connection().fetch(
        "SELECT * FROM import_job ORDER BY created_at DESC LIMIT $1", limit
    )
    return [_decoded(r) for r in rows]


def _decoded(row: Any) -> dict[str, Any]:
    """A job row with its JSON columns as Python values and its progress in percent."""
    values = dict(row)
    for name in ("ignored_columns", "error_params"):
        if isinstance(values.get(name), str):
            values[name] = json.loads(values[name])
    if values["status"] == "done":
        percent = 100
    elif values["phase"] == "apply":
        percent = 95
    elif values["total_bytes"]:
        percent = int(90 * values["processed_bytes"] / values["total_bytes"])
    else:
        percent = 0
    values["percent"] = percent
    return values


async def rejections(job_id: UUID, limit: int | None = 500) -> list[dict[str, Any]]:
    """A job's rejected rows by line and column (all of them when ``limit`` is None)."""
    rows = await current_connection().fetch(
        "SELECT line_number, column_name, reason, params FROM import_rejection"
        " WHERE job = $1 ORDER BY line_number, column_name LIMIT $2",
        job_id,
        limit,
    )
    return [
        {
            **dict(r),
            "params": json.loads(r["params"]) if isinstance(r["params"], str) else r["params"],
        }
        for r in rows
    ]
