"""Stored certificate PDFs kept valid: reading them in batches and replacing re-timestamped ones.

Every issuance keeps its signed PDF (``certificate_issuance.pdf``). ``vrs keys
retimestamp`` reads them here (every area: it runs as the schema owner), adds
the next archival timestamp outside any transaction, and writes the result
back with :func:`replace_pdf`, which changes a row only if its PDF is still the
one that was read. Revoked certificates are left as they are.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from db.audit.queries import record
from db.engine import current_connection


async def stored_pdfs_after(last_id: UUID | None, limit: int) -> list[dict[str, Any]]:
    """The next ``limit`` unrevoked issuances with a PDF, in id order after ``last_id``."""
    rows = await current_connection().fetch(
        "SELECT id, municipality_code, certificate_id, pdf FROM certificate_issuance"
        " WHERE pdf IS NOT NULL AND revoked_at IS NULL AND ($1::uuid IS NULL OR id > $1)"
        " ORDER BY id LIMIT $2",
        last_id,
        limit,
    )
    return [dict(row) for row in rows]


async def replace_pdf(row: dict[str, Any], extended: bytes) -> bool:
    """Store ``extended`` in place of ``row``'s PDF, if that PDF is unchanged; audited.

    Returns False (nothing written) when the row's PDF changed meanwhile or the
    certificate was revoked.
    """
    updated = await current_connection().fetchval(
        "UPDATE certificate_issuance SET pdf = $2"
        " WHERE id = $1 AND pdf = $3 AND revoked_at IS NULL RETURNING id",
        row["id"],
        extended,
        row["pdf"],
    )
    if updated is None:
        return False
    await record(
        "certificate.retimestamp",
        actor=None,
        municipality_code=row["municipality_code"],
        object_type="certificate",
        object_id=row["certificate_id"],
        details={"bytes_added": len(extended) - len(row["pdf"])},
    )
    return True
