"""The national admin's operations pages: the kiosks' states and the emergency stop.

- ``/national/kiosks``: each kiosk client with its store/terminal id, connection
  state (online while its heartbeats keep coming), last seen, devices and last fault.
  Kiosks are national app clients (``vrs app-client --kind kiosk``, no
  municipality), so only the national admin sees this page.
- ``/national/suspensions``: suspend a function nationwide (kiosk issuance, app
  issuance, inter-municipality inquiry) with a notice, or lift it; every change
  is kept with who and when (確認事項 第10条).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, MediaType, Request, get, post
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from db.accounts.roles import Role
from db.engine import tenant_transaction
from db.operations.kiosks import DEVICES, kiosks
from db.operations.suspensions import (
    FUNCTIONS,
    SuspensionError,
    active_suspensions,
    history,
    lift,
    suspend,
)
from web.auth import requires
from web.forms import Form, SuspensionForm
from web.i18n import language_of, translate


class KioskMonitorController(Controller):
    """The list of kiosks."""

    path = "/national/kiosks"
    include_in_schema = False
    guards = [requires(Role.NATIONAL_ADMIN)]

    @get("/", name="national_kiosks")
    async def index(self) -> Template:
        """Every kiosk, its connection state and its last fault."""
        now = dt.datetime.now(dt.UTC)
        async with tenant_transaction(None):
            rows = await kiosks(now)
        return Template("national/kiosks.html", context={"kiosks": rows, "devices": DEVICES})


class SuspensionsController(Controller):
    """Suspend or lift a function nationwide."""

    path = "/national/suspensions"
    include_in_schema = False
    guards = [requires(Role.NATIONAL_ADMIN)]

    async def _page(self, done: str | None = None, error: str | None = None,
                    status_code: int = 200) -> Template:  # fmt: skip
        async with tenant_transaction(None):
            states = await active_suspensions()
            changes = await history()
        return Template(
            "national/suspensions.html",
            context={
                "functions": FUNCTIONS,
                "states": states,
                "changes": changes,
                "done": done,
                "error": error,
            },
            status_code=status_code,
        )

    @get("/", name="national_suspensions")
    async def index(self, done: FromQuery[str | None] = None) -> Template:
        """Each function's state, the forms and the history."""
        return await self._page(done=done if done in ("suspend", "lift") else None)

    @post("/", name="national_suspensions_change", media_type=MediaType.HTML)
    async def change(self, request: Request[Any, Any, Any], data: Form[SuspensionForm]) -> Any:
        """Suspend (with a notice) or lift one function."""
        function, action = data.function, data.action
        principal = request.user
        try:
            async with tenant_transaction(None):
                if action == "suspend":
                    await suspend(function, data.notice_ja, data.notice_en, principal.account_id,
                                  principal.login)  # fmt: skip
                elif action == "lift":
                    await lift(function, principal.account_id, principal.login)
                else:
                    raise SuspensionError("suspension.action_unknown")
        except SuspensionError as exc:
            return await self._page(error=translate(exc.key, language_of(request)), status_code=422)
        return Redirect(f"/national/suspensions?done={action}", status_code=HTTP_303_SEE_OTHER)


ROUTES = [KioskMonitorController, SuspensionsController]
