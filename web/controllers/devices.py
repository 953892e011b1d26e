"""Venue tablets, registered and revoked by the municipal admin (会場端末の登録).

Registering a tablet gives a one-time enrolment code (and a link carrying it)
the admin passes to the venue; the tablet, signed in as a venue account of
that venue, enters it at ``/venue/enrol`` and keeps a device cookie from then
on. Revoking takes effect on the tablet's next request. The list keeps every
device ever registered, with who issued, enrolled and revoked it and when.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, MediaType, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from common.settings import Settings
from db.accounts.roles import Role
from db.audit.queries import record
from db.devices.queries import DeviceError, format_code, issue_device, list_devices, revoke_device
from db.engine import tenant_transaction
from db.tenancy.queries import list_venues
from web.auth import requires
from web.errors import NotFound
from web.forms import DeviceForm, Form
from web.i18n import language_of, translate


class DevicesController(Controller):
    """The admin's list of venue devices, the form to register one, and revocation."""

    include_in_schema = False
    path = "/admin/devices"
    guards = [requires(Role.MUNICIPAL_ADMIN)]

    @get("/", name="admin_devices")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        """Every device of the municipality and the registration form."""
        return await self._page(request)

    async def _page(
        self,
        request: Request[Any, Any, Any],
        *,
        issued: dict[str, Any] | None = None,
        error: str | None = None,
        notice: str | None = None,
        form: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        async with tenant_transaction(request.user.tenant):
            devices = await list_devices()
            venues = await list_venues(open_only=True)
        return Template(
            "devices/index.html",
            context={
                "devices": devices,
                "venues": venues,
                "issued": issued,
                "error": error,
                "notice": notice,
                "form": form or {},
            },  # fmt: skip
            status_code=status_code,
        )

    @post("/", name="admin_devices_issue", media_type=MediaType.HTML)
    async def issue(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        data: Form[DeviceForm],
    ) -> Template:
        """Register a tablet for a venue and show its one-time code (once)."""
        principal = request.user
        form = {"label": data.label.strip(), "venue_id": data.venue_id.strip()}
        language = language_of(request)
        try:
            venue_id = UUID(form["venue_id"])
        except ValueError:
            return await self._page(
                request, error=translate("device.venue_required", language), form=form,
                status_code=422,
            )  # fmt: skip
        try:
            async with tenant_transaction(principal.tenant):
                device_id, code = await issue_device(
                    municipality_code=principal.municipality_code,
                    venue_id=venue_id,
                    label=form["label"],
                    created_by=principal.account_id,
                )
                await record(
                    "device.issue",
                    actor=principal,
                    municipality_code=principal.tenant,
                    object_type="venue_device",
                    object_id=str(device_id),
                    details={"venue": str(venue_id), "label": form["label"]},
                )
        except DeviceError as exc:
            return await self._page(
                request, error=translate(exc.key, language, **exc.params), form=form,
                status_code=422,
            )  # fmt: skip
        base = settings.base_url.rstrip("/")  # never the Host header: a link must not be forged
        return await self._page(
            request,
            issued={
                "label": form["label"],
                "code": format_code(code),
                "link": f"{base}/venue/enrol?code={format_code(code)}",
            },  # fmt: skip
            status_code=201,
        )

    @post("/{device_id:uuid}/revoke", name="admin_devices_revoke", media_type=MediaType.HTML)
    async def revoke(self, request: Request[Any, Any, Any], device_id: FromPath[UUID]) -> Any:
        """Revoke a device: its next request is refused; the row and its history stay."""
        principal = request.user
        async with tenant_transaction(principal.tenant):
            if not await revoke_device(device_id, revoked_by=principal.account_id):
                raise NotFound("device.not_found")
            await record(
                "device.revoke",
                actor=principal,
                municipality_code=principal.tenant,
                object_type="venue_device",
                object_id=str(device_id),
            )
        return Redirect("/admin/devices", status_code=HTTP_303_SEE_OTHER)


ROUTES = [DevicesController]
