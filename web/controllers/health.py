"""Liveness and readiness probes for load balancers and operators."""

from __future__ import annotations

from litestar import get
from litestar.response import Response

from db.engine import tenant_transaction


@get("/healthz", name="healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@get("/readyz", name="readyz", include_in_schema=False)
async def readyz() -> Response[dict[str, str]]:
    """The database answers too; 503 (not 500) while it does not."""
    try:
        async with tenant_transaction(None) as transaction:
            await transaction.connection.fetchval("SELECT 1")
    except (OSError, Exception) as exc:  # noqa: BLE001 - any failure means not ready
        return Response({"status": "unavailable", "reason": type(exc).__name__}, status_code=503)
    return Response({"status": "ready"})


ROUTES = [healthz, readyz]
