"""Registering, listing and closing a municipality's venues (接種会場の管理).

A venue is never deleted: closing it keeps its row, so every record made there
keeps the venue's name; a closed venue takes no new accounts, tablets or
records. Who added or closed a venue and when is in the audit log.
"""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from db.accounts.principal import Principal
from db.audit.queries import record
from db.engine import current_connection
from db.tenancy.tables import Venue

#: 接種会場の種別: 集団接種会場, 個別接種医療機関, 職域接種.
VENUE_KINDS = ("venue", "clinic", "workplace")

_CODE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class VenueError(Exception):
    """Bad venue input or a refused change, as a message key and its parameters."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


async def add_venue(
    municipality_code: str,
    *,
    code: str,
    name: str,
    kind: str,
    address: str = "",
    actor: Principal | None = None,
) -> UUID:
    """Register a new open venue of the current area (audited); refuses a code in use."""
    code, name, address = code.strip(), name.strip(), address.strip()
    if not _CODE.match(code):
        raise VenueError("venue_admin.code_invalid")
    if not name or len(name) > 128:
        raise VenueError("venue_admin.name_required")
    if kind not in VENUE_KINDS:
        raise VenueError("venue_admin.kind_invalid")
    connection = current_connection()
    if await connection.fetchval(
        "SELECT count(*) FROM venue WHERE municipality_code = $1 AND code = $2",
        municipality_code,
        code,
    ):
        raise VenueError("venue_admin.code_taken", code=code)
    venue = Venue(
        municipality_code=municipality_code, code=code, name=name, kind=kind, address=address
    )
    await venue.save()
    await record(
        "venue.create",
        actor=actor,
        municipality_code=municipality_code,
        object_type="venue",
        object_id=str(venue.id),
        details={"code": code, "name": name, "kind": kind},
    )
    return venue.id


async def close_venue(
    municipality_code: str, venue_id: UUID, *, actor: Principal | None = None
) -> int:
    """Close an open venue of the current area; returns how many of its tablets were revoked.

    Its tablets are revoked (a closed venue records nothing more); its accounts
    stay, for their history, but can no longer record (see ``venue_is_open``).
    Raises :class:`VenueError` when there is no such open venue.
    """
    connection = current_connection()
    closed = await connection.fetchval(
        "UPDATE venue SET active = false WHERE id = $1 AND municipality_code = $2 AND active"
        " RETURNING code",
        venue_id,
        municipality_code,
    )
    if closed is None:
        raise VenueError("venue_admin.not_found")
    revoked = await connection.fetch(
        "UPDATE venue_device SET revoked_at = now(), revoked_by = $2, enrolment_code_hash = NULL"
        " WHERE venue = $1 AND revoked_at IS NULL RETURNING id",
        venue_id,
        None if actor is None else actor.account_id,
    )
    await record(
        "venue.close",
        actor=actor,
        municipality_code=municipality_code,
        object_type="venue",
        object_id=str(venue_id),
        details={"code": closed, "devices_revoked": len(revoked)},
    )
    return len(revoked)


async def venue_is_open(venue_id: UUID) -> bool:
    """Whether a venue of the current area exists and is open."""
    return bool(
        await current_connection().fetchval(
            "SELECT count(*) FROM venue WHERE id = $1 AND active", venue_id
        )
    )


async def all_venues(municipality_code: str) -> list[dict[str, Any]]:
    """Every venue of a municipality, open first, with its open tablets and accounts."""
    rows = await current_connection().fetch(
        "SELECT v.id, v.code, v.name, v.kind, v.address, v.active, v.created_at,"
        " (SELECT count(*) FROM venue_device d WHERE d.venue = v.id AND d.revoked_at IS NULL)"
        "   AS devices,"
        " (SELECT count(*) FROM account a WHERE a.venue_id = v.id AND a.active) AS accounts"
        " FROM venue v WHERE v.municipality_code = $1 ORDER BY NOT v.active, v.code",
        municipality_code,
    )
    return [dict(row) for row in rows]


async def venue_by_code(municipality_code: str, code: str) -> dict[str, Any] | None:
    """A venue of a municipality by its code (open or closed), or None."""
    row = await current_connection().fetchrow(
        "SELECT id, code, name, kind, address, active FROM venue"
        " WHERE municipality_code = $1 AND code = $2",
        municipality_code,
        code,
    )
    return None if row is None else dict(row)


#: Venues whose records a clerk may upload as CSV, another area's residents included (F3, F8).
UPLOADING_KINDS = ("clinic", "workplace")


async def upload_venues(municipality_code: str) -> list[dict[str, Any]]:
    """The open clinics and workplace venues a clerk uploads records for, by name."""
    rows = await current_connection().fetch(
        "SELECT id, code, name, kind FROM venue WHERE municipality_code = $1 AND active"
        " AND kind = ANY($2::text[]) ORDER BY name, code",
        municipality_code,
        list(UPLOADING_KINDS),
    )
    return [dict(row) for row in rows]
