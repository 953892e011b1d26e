"""The VRS server as the kiosk reaches it: over HTTP with its kiosk bearer token."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import httpx

from common.card_proof import CardProof


class ServerError(Exception):
    """The server refused (``code`` is its message key) or could not be reached."""

    def __init__(self, code: str, detail: str = "", status: int | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail
        self.status = status
        """The HTTP status (``None`` when the server was not reached)."""

    @property
    def retryable(self) -> bool:
        """Not reached, or a server-side failure: the same request may succeed later."""
        return self.status is None or self.status >= 500 and not self.code.startswith("suspension.")


@dataclass(frozen=True)
class Challenge:
    """A single-use card challenge."""

    session_id: str
    challenge: bytes


class VrsClient:
    """Card sessions, preview and issuance (``web/controllers/kiosk_channel.py``), heartbeats
    and completion notices (``web/controllers/kiosk_reports.py``)."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        """Use ``http`` (its base URL is the server) with the kiosk's ``token``."""
        self._http = http
        self._headers = {"Authorization": f"Bearer {token}"}

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = await self._http.post(path, json=body, headers=self._headers, timeout=30)
        except httpx.HTTPError as error:
            raise ServerError("server.unreachable", type(error).__name__) from None
        if response.status_code >= 400:
            code, detail = "server.refused", f"HTTP {response.status_code}"
            try:
                problem = response.json()
                code = problem.get("code") or problem.get("key") or code
                detail = str(problem.get("detail") or detail)
            except (ValueError, AttributeError):
                pass
            raise ServerError(str(code), detail, response.status_code)
        try:
            return dict(response.json())
        except (ValueError, TypeError):
            raise ServerError("server.unreachable", "not JSON") from None

    async def challenge(self) -> Challenge:
        """A fresh challenge."""
        body = await self._post("/api/v1/card-sessions")
        raw = body["challenge"]
        return Challenge(body["session_id"], base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))

    async def preview(
        self, session_id: str, proof: CardProof
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The municipalities that would issue, and the others with why not (nothing issued)."""
        body = await self._post(
            f"/api/v1/card-sessions/{session_id}/kiosk-preview", proof.to_dict()
        )
        return list(body["municipalities"]), list(body.get("not_offered") or [])

    async def issue(
        self, session_id: str, proof: CardProof, kind: str, municipalities: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Issue the certificates of the chosen municipalities (after payment); each has
        ``pdf_base64``."""
        body: dict[str, Any] = {**proof.to_dict(), "kind": kind}
        if municipalities is not None:
            body["municipalities"] = municipalities
        answer = await self._post(f"/api/v1/card-sessions/{session_id}/kiosk-issue", body)
        return list(answer["certificates"])

    async def heartbeat(self, body: dict[str, Any]) -> dict[str, Any]:
        """Report the kiosk's state; the answer says whether kiosk issuance is suspended."""
        return await self._post("/api/v1/kiosk/heartbeat", body)

    async def complete(self, notice: dict[str, Any]) -> dict[str, Any]:
        """交付完了通知: the certificates of ``notice`` are printed (idempotent)."""
        return await self._post("/api/v1/kiosk/completions", notice)

    async def fail(self, notice: dict[str, Any]) -> dict[str, Any]:
        """A failed sale's result: its certificates were not delivered (idempotent)."""
        return await self._post("/api/v1/kiosk/failures", notice)
