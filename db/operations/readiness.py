"""Readiness: can this server process write to the primary right now?

``/readyz`` means "send me traffic": the server can save a dose. ``SELECT 1``
answers on a standby, on a primary whose synchronous standby is gone (where
every COMMIT then hangs) and during a promotion; so readiness is one small
write — the readiness table's single row — that must commit within a bound.
With synchronous replication on, COMMIT returns only once the synchronous
standby confirmed, so the bound covers that too.

At most one write every ``interval`` seconds per process: answers in between
reuse the last one, so a load balancer probing often adds no load (unless a
connection failed since the last "ready": then the next probe writes again).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from dataclasses import dataclass

from db.engine import last_trouble, tenantless_statement

_WRITE = (
    "INSERT INTO readiness_probe (id, written_at, written_by) VALUES (1, now(), $1)"
    " ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at,"
    " written_by = excluded.written_by"
)


@dataclass(frozen=True)
class Readiness:
    """The outcome of one probe write."""

    ready: bool
    reason: str = ""
    """Why not (the error's class name), empty when ready."""


class ReadinessProbe:
    """One process's cached readiness: a bounded write every ``interval`` seconds at most."""

    def __init__(self, timeout: float = 2.0, interval: float = 3.0) -> None:
        self.timeout = timeout
        self.interval = interval
        self._lock = asyncio.Lock()
        self._last: Readiness | None = None
        self._at = 0.0
        self._writer = f"{socket.gethostname()}:{os.getpid()}"

    async def check(self) -> Readiness:
        """The last answer if it is fresh, else a new probe write."""
        async with self._lock:
            fresh = time.monotonic() - self._at < self.interval
            # A connection failed since the last "ready": write again rather than trust it.
            doubted = self._last is not None and self._last.ready and last_trouble() > self._at
            if self._last is not None and fresh and not doubted:
                return self._last
            self._last = await self._write()
            self._at = time.monotonic()
            return self._last

    async def _write(self) -> Readiness:
        try:
            async with asyncio.timeout(self.timeout), tenantless_statement() as connection:
                await connection.execute(_WRITE, self._writer)
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return Readiness(False, type(exc).__name__)
        return Readiness(True)
