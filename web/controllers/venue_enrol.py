"""Enrolling a venue tablet (端末登録): the one-time code becomes the device cookie.

A venue account signs in on the tablet and enters the code its municipal
admin issued for its venue; the tablet then keeps a long-lived, HttpOnly
device cookie that every venue request needs besides the session
(:mod:`web.access`). Signing out keeps the cookie: the tablet stays registered.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from common.settings import Settings
from db.accounts.roles import Role
from db.audit.queries import record
from db.devices.queries import DeviceError, enrol_device
from db.engine import tenant_transaction
from web.access import DEVICE_COOKIE, DEVICE_COOKIE_DAYS
from web.auth import requires
from web.forms import EnrolForm, Form
from web.i18n import language_of, translate


class VenueEnrolController(Controller):
    """The enrolment form on the tablet."""

    include_in_schema = False
    path = "/venue/enrol"
    guards = [requires(Role.VENUE_OPERATOR)]

    @get("/", name="venue_enrol")
    async def form(
        self, request: Request[Any, Any, Any], code: FromQuery[str | None] = None
    ) -> Template:
        """Ask for the code (pre-filled from the admin's link)."""
        registered = bool(request.cookies.get(DEVICE_COOKIE))
        return Template(
            "venue/enrol.html",
            context={"code": (code or "")[:32], "error": None, "registered": registered},
        )

    @post("/", name="venue_enrol_post", media_type=MediaType.HTML)
    async def enrol(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        data: Form[EnrolForm],
    ) -> Any:
        """Check the code and give the tablet its device cookie."""
        principal = request.user
        code = data.code.strip()
        try:
            async with tenant_transaction(principal.tenant):
                device_id, credential = await enrol_device(
                    code, venue_id=principal.venue_id, enrolled_by=principal.account_id
                )
                await record(
                    "device.enrol",
                    actor=principal,
                    municipality_code=principal.tenant,
                    object_type="venue_device",
                    object_id=str(device_id),
                )
        except DeviceError as exc:
            return Template(
                "venue/enrol.html",
                context={
                    "code": code[:32],
                    "registered": False,
                    "error": translate(exc.key, language_of(request), **exc.params),
                },  # fmt: skip
                status_code=422,
            )
        response = Redirect("/venue", status_code=HTTP_303_SEE_OTHER)
        response.cookies.append(
            Cookie(
                key=DEVICE_COOKIE,
                value=credential,
                httponly=True,
                samesite="lax",
                secure=settings.secure_cookies,
                path="/",
                max_age=DEVICE_COOKIE_DAYS * 86400,
            )
        )
        return response


ROUTES = [VenueEnrolController]
