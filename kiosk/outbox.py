"""Completion notices (交付完了通知) and failure results the kiosk still owes the server,
kept on disk (a failure result: the sale was refunded, its certificates not delivered).

A notice is written here before it is sent (``notices/<id>.json``: store, terminal,
time and the certificate ids printed; no personal data) and removed only once
the server has recorded it, so a notice survives an unreachable server and a
restart; the kiosk sends what is left at start and with each heartbeat. The
server records a notice once however often it arrives. ``notices.jsonl`` logs
what became of each (sent, or refused by the server: it is not sent again).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
from pathlib import Path
from typing import Any

from kiosk.vrs_client import ServerError, VrsClient

_LOG = logging.getLogger("kiosk.outbox")


class NoticeOutbox:
    """The pending notices of one kiosk terminal."""

    def __init__(self, data_dir: Path, server: VrsClient) -> None:
        """Keep notices under ``data_dir/notices``; send them to ``server``."""
        self.folder = Path(data_dir) / "notices"
        self.log_path = Path(data_dir) / "notices.jsonl"
        self.server = server

    def add(
        self,
        store_id: str,
        terminal_id: str,
        completed_at: dt.datetime,
        certificate_ids: list[str],
        failure: str | None = None,
    ) -> dict[str, Any]:
        """Keep a new notice (durably: written, synced, renamed into place).

        ``failure`` (a reason) makes it a failure result: the sale was refunded and the
        certificates were not delivered, so the server voids them.
        """
        notice: dict[str, Any] = {
            "notice_id": f"{completed_at:%Y%m%d%H%M%S}-{secrets.token_hex(6)}",
            "store_id": store_id,
            "terminal_id": terminal_id,
            "certificate_ids": list(certificate_ids),
        }
        if failure:
            notice |= {"failed_at": completed_at.isoformat(timespec="seconds"), "reason": failure}
        else:
            notice["completed_at"] = completed_at.isoformat(timespec="seconds")
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{notice['notice_id']}.json"
        partial = final.with_suffix(".part")
        with partial.open("w", encoding="utf-8") as file:
            json.dump(notice, file)
            file.flush()
            os.fsync(file.fileno())
        partial.replace(final)
        return notice

    def pending(self) -> list[dict[str, Any]]:
        """The notices not yet recorded by the server, oldest first."""
        if not self.folder.is_dir():
            return []
        notices = []
        for path in sorted(self.folder.glob("*.json")):
            try:
                notices.append(json.loads(path.read_text(encoding="utf-8")))
            except ValueError:
                _LOG.warning("unreadable notice file %s left aside", path.name)
                path.rename(path.with_suffix(".unreadable"))
        return notices

    def _settle(self, notice: dict[str, Any], outcome: str, detail: str = "") -> None:
        entry = {
            "notice_id": notice["notice_id"],
            "completion_notice": outcome,
            "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "certificates": len(notice["certificate_ids"]),
        }
        if detail:
            entry["detail"] = detail
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
        (self.folder / f"{notice['notice_id']}.json").unlink(missing_ok=True)

    async def send(self, notice: dict[str, Any]) -> str:
        """Send one notice: ``sent``, ``pending`` (server unreachable: kept) or ``refused``."""
        try:
            if "reason" in notice:
                await self.server.fail(notice)
            else:
                await self.server.complete(notice)
        except ServerError as error:
            if error.retryable:
                return "pending"
            _LOG.warning("completion notice refused: %s", error.code)
            self._settle(notice, "refused", error.code)
            return "refused"
        self._settle(notice, "sent")
        return "sent"

    async def send_pending(self) -> dict[str, int]:
        """Send every pending notice; stops at the first the server cannot take now."""
        counts = {"sent": 0, "pending": 0, "refused": 0}
        notices = self.pending()
        for index, notice in enumerate(notices):
            outcome = await self.send(notice)
            counts[outcome] += 1
            if outcome == "pending":
                counts["pending"] += len(notices) - index - 1
                break
        return counts
