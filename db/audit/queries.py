"""Writing to the append-only audit log."""

from __future__ import annotations

import json
from typing import Any

from db.accounts.principal import Principal
from db.engine import current_connection


async def record(
    action: str,
    *,
    actor: Principal | None,
    municipality_code: str | None,
    object_type: str = "",
    object_id: str = "",
    details: dict[str, Any] | None = None,
    connection: Any = None,
) -> None:
    """Append one event in the current tenant transaction (so RLS checks its area).

    ``connection``: another transaction of the area instead (a background job's).
    ``details`` must never hold a My Number, a PIN or a password.
    """
    await (connection or current_connection()).execute(
        "INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action,"
        " object_type, object_id, details) VALUES ($1, now(), $2, $3, $4, $5, $6, $7::jsonb)",
        municipality_code,
        actor.account_id if actor else None,
        str(actor.role) if actor else "",
        action,
        object_type,
        object_id,
        json.dumps(details or {}, ensure_ascii=False, default=str),
    )
