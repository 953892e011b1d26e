"""Card sessions (single-use challenges), the J-LIS linkage, app client tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any
from uuid import UUID

from db.engine import current_connection

#: How long a card challenge may be answered.
CHALLENGE_LIFETIME = dt.timedelta(minutes=5)


def token_hash(token: str) -> str:
    """What is stored of an app client token."""
    return hashlib.sha256(token.encode()).hexdigest()


async def create_app_client(label: str, kind: str = "app") -> str:
    """A new app (or kiosk) client; returns its bearer token (only the hash is kept)."""
    token = "vrsapp_" + secrets.token_urlsafe(32)
    await current_connection().execute(
        "INSERT INTO app_client (id, label, kind, token_hash, created_at)"
        " VALUES (gen_random_uuid(), $1, $2, $3, now())",
        label,
        kind,
        token_hash(token),
    )
    return token


async def retire_app_clients(label: str) -> int:
    """Revoke the clients with this label and free it for a new one (the rows stay, renamed)."""
    status: str = await current_connection().execute(
        "UPDATE app_client SET revoked_at = coalesce(revoked_at, now()),"
        " label = label || '-' || left(id::text, 8) WHERE label = $1",
        label,
    )
    return int(status.split()[-1])


async def list_app_clients() -> list[dict[str, Any]]:
    """Every app and kiosk client (label, kind, dates): live ones first, then by label."""
    rows = await current_connection().fetch(
        "SELECT id, label, kind, created_at, revoked_at FROM app_client"
        " ORDER BY revoked_at IS NOT NULL, kind, label"
    )
    return [dict(row) for row in rows]


async def revoke_app_client(client_id: UUID) -> dict[str, Any] | None:
    """Revoke one live client: its token is refused from its next request.

    Returns its label and kind, or None when there is no such live client.
    """
    row = await current_connection().fetchrow(
        "UPDATE app_client SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL"
        " RETURNING label, kind",
        client_id,
    )
    return dict(row) if row else None


async def app_client_for_token(token: str, max_days: int = 365) -> dict[str, Any] | None:
    """The active client this bearer token belongs to, if not older than ``max_days``."""
    row = await current_connection().fetchrow(
        "SELECT id, label, kind FROM app_client WHERE token_hash = $1 AND revoked_at IS NULL"
        " AND created_at > now() - make_interval(days => $2)",
        token_hash(token),
        max_days,
    )
    return dict(row) if row else None


async def open_card_session(client_id: UUID | None, now: dt.datetime) -> dict[str, Any]:
    """Store a fresh challenge; returns id, challenge bytes and expiry."""
    challenge = secrets.token_bytes(32)
    row = await current_connection().fetchrow(
        "INSERT INTO card_session (id, challenge, client, created_at, expires_at)"
        " VALUES (gen_random_uuid(), $1, $2, $3, $4) RETURNING id, challenge, expires_at",
        challenge,
        client_id,
        now,
        now + CHALLENGE_LIFETIME,
    )
    return dict(row)


async def consume_card_session(
    session_id: UUID, now: dt.datetime, client_id: UUID | None = None
) -> tuple[str, bytes | None]:
    """Use a challenge once: ("ok", challenge), or ("unknown" | "replayed" | "expired", None).

    A challenge is answered only by the client that opened it: another client's
    attempt is "unknown" and leaves the challenge unused.
    """
    connection = current_connection()
    row = await connection.fetchrow(
        "UPDATE card_session SET used_at = $2 WHERE id = $1 AND used_at IS NULL"
        " AND client IS NOT DISTINCT FROM $3 RETURNING challenge, expires_at",
        session_id,
        now,
        client_id,
    )
    if row is None:
        exists = await connection.fetchval(
            "SELECT 1 FROM card_session WHERE id = $1 AND client IS NOT DISTINCT FROM $2",
            session_id,
            client_id,
        )
        return ("replayed" if exists else "unknown"), None
    if now >= row["expires_at"]:
        return "expired", None
    return "ok", bytes(row["challenge"])


async def linked_my_number_hmac(certificate_fingerprint: str) -> str | None:
    """The My Number HMAC J-LIS links this authentication certificate to."""
    found: str | None = await current_connection().fetchval(
        "SELECT my_number_hmac FROM card_link WHERE certificate_fingerprint = $1",
        certificate_fingerprint,
    )
    return found


async def link_certificate(certificate_fingerprint: str, my_number_hmac: str) -> None:
    """Record a linkage (owner only: J-LIS data, loaded by tools and the demo)."""
    await current_connection().execute(
        "INSERT INTO card_link (certificate_fingerprint, my_number_hmac, linked_at)"
        " VALUES ($1, $2, now()) ON CONFLICT (certificate_fingerprint)"
        " DO UPDATE SET my_number_hmac = excluded.my_number_hmac",
        certificate_fingerprint,
        my_number_hmac,
    )
