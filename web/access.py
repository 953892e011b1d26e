"""Where and from what a signed-in account may be served, checked on every request.

Runs after :class:`web.auth.RequestContextMiddleware` (which found the
principal) and before the CSRF check and the route:

- a staff account (everyone but venue operators) only from the closed
  network's ranges (:mod:`web.network`);
- a venue operator's browser session only from a registered device of its
  venue: the ``vrs_device`` cookie the tablet got at enrolment
  (:mod:`db.devices.queries`). Revoking the device ends this at the next
  request. Without one, a page opens the enrolment form instead.

Bearer tokens of venue accounts are machine credentials the admin issued
(``vrs create-token``) and need no device cookie; kiosk and app clients have no
account here at all and authenticate on their own tokens in their routes.
"""

from __future__ import annotations

from litestar import Request
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPResponseStartEvent, Receive, Scope, Send

from common.settings import Settings
from db.accounts.roles import Role
from db.devices.queries import device_for_credential
from db.engine import tenantless_statement
from web.auth import _cookies
from web.errors import NotAllowed
from web.htmx import wants_partial
from web.network import NetworkPolicy, OutsideStaffNetwork

DEVICE_COOKIE = "vrs_device"
DEVICE_COOKIE_DAYS = 400  # the longest browsers keep a cookie
ENROL_PATH = "/venue/enrol"

#: What a venue account may open before its tablet is registered.
DEVICE_FREE_PATHS = frozenset({ENROL_PATH, "/sign-in", "/sign-out", "/healthz", "/readyz"})
DEVICE_FREE_PREFIXES = ("/static/", "/language/")


class DeviceRequired(NotAllowed):
    """A venue session from a browser that is not a registered device of its venue."""


def device_free(path: str) -> bool:
    """Paths a venue account reaches without a device (enrolment, sign-in and out, assets)."""
    return path in DEVICE_FREE_PATHS or path.startswith(DEVICE_FREE_PREFIXES)


async def _redirect(send: Send, location: str) -> None:
    start: HTTPResponseStartEvent = {
        "type": "http.response.start",
        "status": 303,
        "headers": [(b"location", location.encode()), (b"content-length", b"0")],
    }
    await send(start)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


class AccessMiddleware(ASGIMiddleware):
    """The closed-network allowlist for staff and the device binding for venue tablets."""

    def __init__(self, settings: Settings) -> None:
        self.policy = NetworkPolicy.from_settings(settings)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal = scope.get("user")
        try:
            self.policy.check(principal, scope)
        except OutsideStaffNetwork:
            raise NotAllowed("network.outside_staff_networks") from None
        if (
            principal is not None
            and principal.role is Role.VENUE_OPERATOR
            and scope.get("auth") == "session"
            and not device_free(scope.get("path", ""))
        ):
            device = None
            credential = _cookies(scope).get(DEVICE_COOKIE)
            if credential:
                async with tenantless_statement() as connection:
                    device = await device_for_credential(credential, connection)
            if (
                device is None
                or device.venue_id != principal.venue_id
                or device.municipality_code != principal.municipality_code
            ):
                if (
                    scope.get("method") == "GET"
                    and not scope.get("path", "").startswith("/api/")
                    and not wants_partial(Request(scope))
                ):
                    await _redirect(send, ENROL_PATH)
                    return
                raise DeviceRequired("device.required")
            scope.setdefault("state", {})["device"] = device
        await next_app(scope, receive, send)
