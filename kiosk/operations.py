"""The kiosk's operations side: device states, fault reports, heartbeats, the service switch,
and what the server says about a nationwide suspension of kiosk issuance.

A heartbeat (every ``heartbeat_seconds``, at start, and right after a device
fault) sends the device states, faults not yet reported (each with its own id,
kept on disk until the server took them) and whether the kiosk is in service;
the answer carries the suspension notice, which the start screen shows. Each
heartbeat also sends the completion notices still owed (:mod:`kiosk.outbox`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kiosk.outbox import NoticeOutbox
from kiosk.settings import KioskSettings
from kiosk.vrs_client import ServerError, VrsClient

_LOG = logging.getLogger("kiosk.operations")
DEVICES = ("reader", "printer", "payment")


class KioskOperations:
    """Device states, pending faults, the out-of-service switch and the suspension notice."""

    def __init__(
        self, settings: KioskSettings, server: VrsClient, clock: Callable[[], dt.datetime]
    ) -> None:
        """Keep state under ``settings.data_dir``; report to ``server``."""
        self.settings = settings
        self.server = server
        self.clock = clock
        self.outbox = NoticeOutbox(settings.data_dir, server)
        self.devices: dict[str, str] = dict.fromkeys(DEVICES, "ok")
        self.suspension: dict[str, Any] | None = None
        self.last_heartbeat: dt.datetime | None = None
        self.server_reachable: bool | None = None

    # --- files -----------------------------------------------------------------------

    @property
    def _folder(self) -> Path:
        return Path(self.settings.data_dir)

    @property
    def _faults_path(self) -> Path:
        return self._folder / "faults-pending.json"

    @property
    def _out_of_service_path(self) -> Path:
        return self._folder / "out-of-service"

    # --- the service switch (maintenance) ---------------------------------------------

    @property
    def out_of_service(self) -> bool:
        """Whether maintenance put the kiosk out of service (kept across restarts)."""
        return self._out_of_service_path.exists()

    def set_out_of_service(self, value: bool) -> None:
        """Put the kiosk out of service, or back in."""
        if value:
            self._folder.mkdir(parents=True, exist_ok=True)
            self._out_of_service_path.write_text(self.clock().isoformat(timespec="seconds"))
        else:
            self._out_of_service_path.unlink(missing_ok=True)

    # --- devices and faults -------------------------------------------------------------

    def pending_faults(self) -> list[dict[str, Any]]:
        """Faults the server has not taken yet."""
        try:
            return list(json.loads(self._faults_path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            return []

    def _keep_faults(self, faults: list[dict[str, Any]]) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        partial = self._faults_path.with_suffix(".part")
        partial.write_text(json.dumps(faults), encoding="utf-8")
        partial.replace(self._faults_path)

    def fault(self, device: str, message: str) -> None:
        """A device failed: note it (reported with the next heartbeat, sent right away)."""
        self.devices[device] = "fault"
        faults = self.pending_faults()
        faults.append(
            {
                "id": secrets.token_hex(8),
                "device": device,
                "message": message[:500],
                "occurred_at": self.clock().isoformat(timespec="seconds"),
            }
        )
        self._keep_faults(faults[-100:])
        _LOG.warning("device fault", extra={"device": device, "reason": message})

    def device_ok(self, device: str) -> None:
        """A device worked again."""
        self.devices[device] = "ok"

    # --- the heartbeat ----------------------------------------------------------------

    def heartbeat_body(self) -> dict[str, Any]:
        """What a heartbeat says (no personal data)."""
        return {
            "store_id": self.settings.store_id,
            "terminal_id": self.settings.terminal_id,
            "interval_seconds": self.settings.heartbeat_seconds,
            "devices": dict(self.devices),
            "in_service": not self.out_of_service,
            "pending_notices": len(self.outbox.pending()),
            "faults": self.pending_faults(),
        }

    async def heartbeat(self) -> bool:
        """Send one heartbeat; learn the suspension state. ``False`` if the server was not reached."""
        body = self.heartbeat_body()
        try:
            answer = await self.server.heartbeat(body)
        except ServerError as error:
            self.server_reachable = not error.retryable
            _LOG.info("heartbeat not taken: %s", error.code)
            return False
        self.server_reachable = True
        self.last_heartbeat = self.clock()
        reported = {fault["id"] for fault in body["faults"]}
        self._keep_faults([f for f in self.pending_faults() if f["id"] not in reported])
        suspension = answer.get("suspension")
        self.suspension = suspension if isinstance(suspension, dict) else None
        return True

    async def sync(self) -> None:
        """A heartbeat, then the completion notices still owed (at start and on each beat)."""
        if await self.heartbeat():
            await self.outbox.send_pending()

    async def run(self) -> None:
        """Heartbeat every ``heartbeat_seconds`` until cancelled."""
        while True:
            try:
                await self.sync()
            except Exception:  # noqa: BLE001 - the loop must outlive any one failure
                _LOG.exception("heartbeat failed")
            await asyncio.sleep(self.settings.heartbeat_seconds)

    def suspension_notice(self, language: str) -> str:
        """The notice of the suspension in force, in ``language`` (Japanese as fallback)."""
        if not self.suspension:
            return ""
        english = self.suspension.get("notice_en") or ""
        return str(
            english if language == "en" and english else self.suspension.get("notice_ja", "")
        )
