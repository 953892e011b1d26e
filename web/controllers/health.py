"""Liveness and readiness probes for load balancers and operators.

``/healthz``: the process answers (liveness; never touches the database).
``/readyz``: the process can save — a small write committed on the primary
within ``VRS_READY_TIMEOUT`` (see :mod:`db.operations.readiness`).
"""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.response import Response

from common.settings import Settings
from db.operations.readiness import ReadinessProbe

_probes: dict[tuple[float, float], ReadinessProbe] = {}


def _probe(settings: Settings) -> ReadinessProbe:
    """This process's probe (one per timeout and interval: its cache is per process)."""
    key = (settings.ready_timeout, settings.ready_interval)
    if key not in _probes:
        _probes[key] = ReadinessProbe(*key)
    return _probes[key]


@get("/healthz", name="healthz", include_in_schema=False)
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@get("/readyz", name="readyz", include_in_schema=False)
async def readyz(settings: NamedDependency[Settings]) -> Response[dict[str, str]]:
    """A write commits on the primary in time; 503 (not 500) while it does not."""
    readiness = await _probe(settings).check()
    if not readiness.ready:
        return Response({"status": "unavailable", "reason": readiness.reason}, status_code=503)
    return Response({"status": "ready"})


ROUTES = [healthz, readyz]
