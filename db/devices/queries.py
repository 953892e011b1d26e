"""Issuing, enrolling, revoking and recognising venue devices.

A device's life: the municipal admin *issues* it for a venue and reads out a
one-time enrolment code; the tablet, signed in as that venue's account,
*enrols* with the code and receives the long-lived device credential (a
cookie); the admin may *revoke* it, which the next request notices. Only
SHA-256 hashes of the code and the credential are stored.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from db.accounts.queries import token_hash
from db.engine import current_connection

ENROLMENT_HOURS = 24
#: Crockford's base32 without look-alikes: easy to read out and type on a tablet.
_CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 12


class DeviceError(ValueError):
    """A device cannot be issued, enrolled or revoked as asked; ``key`` names the message."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Device:
    """A live device credential, as the request middleware sees it."""

    device_id: UUID
    municipality_code: str
    venue_id: UUID


def normalise_code(text: str) -> str:
    """What the tablet typed, as issued: upper case, no spaces or dashes, O→0, I/L→1."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -\t\u3000")
    return cleaned.translate(str.maketrans("OIL", "011"))


def format_code(code: str) -> str:
    """``ABCD-EFGH-JKMN``: the code as the admin's page shows it."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def new_enrolment_code() -> str:
    """A fresh random code (60 bits)."""
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def issue_device(
    *, municipality_code: str, venue_id: UUID, label: str, created_by: UUID
) -> tuple[UUID, str]:
    """Register a device for a venue of the current area; returns its id and enrolment code."""
    label = label.strip()
    if not label or len(label) > 64:
        raise DeviceError("device.label_invalid", length=64)
    connection = current_connection()
    if not await connection.fetchval(
        "SELECT count(*) FROM venue WHERE id = $1 AND active", venue_id
    ):
        raise DeviceError("device.venue_required")
    code = new_enrolment_code()
    device_id = await connection.fetchval(
        "INSERT INTO venue_device (municipality_code, venue, label, enrolment_code_hash,"
        " enrolment_expires_at, created_by) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        municipality_code,
        venue_id,
        label,
        token_hash(code),
        datetime.now(UTC) + timedelta(hours=ENROLMENT_HOURS),
        created_by,
    )
    return device_id, code


async def enrol_device(code: str, *, venue_id: UUID | None, enrolled_by: UUID) -> tuple[UUID, str]:
    """Exchange a one-time code for the device credential; returns the device id and credential."""
    normalised = normalise_code(code)
    if len(normalised) != CODE_LENGTH:
        raise DeviceError("device.code_invalid")
    connection = current_connection()
    row = await connection.fetchrow(
        "SELECT id, venue, enrolled_at, revoked_at, enrolment_expires_at FROM venue_device"
        " WHERE enrolment_code_hash = $1",
        token_hash(normalised),
    )
    if row is None or row["enrolled_at"] is not None or row["revoked_at"] is not None:
        raise DeviceError("device.code_invalid")
    if row["enrolment_expires_at"] <= datetime.now(UTC):
        raise DeviceError("device.code_expired")
    if row["venue"] != venue_id:
        raise DeviceError("device.code_other_venue")
    credential = "vrsdev_" + secrets.token_urlsafe(32)
    updated = await connection.fetchval(
        "UPDATE venue_device SET credential_hash = $2, enrolment_code_hash = NULL,"
        " enrolled_at = now(), enrolled_by = $3 WHERE id = $1 AND enrolled_at IS NULL"
        " AND revoked_at IS NULL RETURNING id",
        row["id"],
        token_hash(credential),
        enrolled_by,
    )
    if updated is None:  # another tablet used the code in the same instant
        raise DeviceError("device.code_invalid")
    return row["id"], credential


async def revoke_device(device_id: UUID, *, revoked_by: UUID) -> bool:
    """Revoke a device of the current area; False if it is unknown or already revoked."""
    result: str = await current_connection().execute(
        "UPDATE venue_device SET revoked_at = now(), revoked_by = $2, enrolment_code_hash = NULL"
        " WHERE id = $1 AND revoked_at IS NULL",
        device_id,
        revoked_by,
    )
    return result.endswith(" 1")


async def list_devices() -> list[dict[str, Any]]:
    """Every device of the current area, revoked ones too (newest first)."""
    rows = await current_connection().fetch(
        "SELECT d.id, d.label, d.created_at, d.enrolled_at, d.revoked_at, d.last_seen_at,"
        " d.enrolment_expires_at, v.name AS venue_name, c.login AS created_by_login,"
        " e.login AS enrolled_by_login, r.login AS revoked_by_login"
        " FROM venue_device d JOIN venue v ON v.id = d.venue"
        " LEFT JOIN account c ON c.id = d.created_by"
        " LEFT JOIN account e ON e.id = d.enrolled_by"
        " LEFT JOIN account r ON r.id = d.revoked_by"
        " ORDER BY d.created_at DESC"
    )
    now = datetime.now(UTC)
    devices = []
    for row in rows:
        state = "enrolled"
        if row["revoked_at"] is not None:
            state = "revoked"
        elif row["enrolled_at"] is None:
            state = "expired" if row["enrolment_expires_at"] <= now else "issued"
        devices.append({**dict(row), "state": state})
    return devices


async def device_for_credential(credential: str, connection: Any) -> Device | None:
    """The live device a credential belongs to (any area: called before the tenant is known)."""
    row = await connection.fetchrow(
        "SELECT * FROM vrs_device_for_credential($1)", token_hash(credential)
    )
    if row is None:
        return None
    return Device(row["device_id"], row["municipality_code"], row["venue"])
