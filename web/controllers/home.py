"""The home page each role lands on, and the language switch."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.datastructures import Cookie
from litestar.exceptions import NoRouteMatchFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from db.accounts.roles import Role
from db.engine import tenant_transaction
from db.operations.suspensions import active_suspensions
from db.tenancy.queries import PREFECTURES, municipality
from db.tenancy.settings import open_tasks
from web.auth import signed_in
from web.controllers.session import safe_next
from web.i18n import LANGUAGE_COOKIE, LANGUAGES

#: What each role finds on its home page: route names, in order. A route that
#: is not registered (yet) is left out, so the page never links to a 404.
NAVIGATION: dict[Role, list[str]] = {
    Role.NATIONAL_ADMIN: [
        "national_vaccines",
        "national_municipalities",
        "national_kiosks",
        "national_clients",
        "national_suspensions",
    ],
    Role.MUNICIPAL_ADMIN: [
        "admin_accounts",
        "admin_devices",
        "admin_venues",
        "admin_settings",
        "admin_backup",
    ],
    Role.CLERK: [
        "residents",
        "imports",
        "quality_queue",
        "inquiries",
        "certificates",
        "dashboard",
        "venue_upload",
    ],
    Role.VENUE_OPERATOR: ["venue", "venue_upload"],
    Role.PREFECTURE_VIEWER: ["statistics"],
    Role.NATIONAL_VIEWER: ["statistics"],
}


def navigation_for(request: Request[Any, Any, Any], role: Role) -> list[tuple[str, str]]:
    """(message key, path) of each page the role may open that exists."""
    items = []
    for name in [*NAVIGATION[role], "own_account"]:  # everyone may change their password
        try:
            items.append((f"nav.{name}", request.app.route_reverse(name)))
        except NoRouteMatchFoundException:
            continue
    return items


class HomeController(Controller):
    """Home and language."""

    include_in_schema = False

    @get("/", name="home", guards=[signed_in])
    async def home(self, request: Request[Any, Any, Any]) -> Template:
        """The signed-in account's start page, with what its role may open."""
        principal = request.user
        area = None
        setup: list[str] = []
        if principal.municipality_code:
            async with tenant_transaction(principal.tenant):
                area = await municipality(principal.municipality_code)
                if principal.role is Role.MUNICIPAL_ADMIN:
                    setup = await open_tasks(principal.municipality_code)
        # Municipal users see every national suspension in force (kiosk terms 第14条3).
        suspensions = []
        if principal.role.is_municipal:
            async with tenant_transaction(None):
                suspensions = [s for s in (await active_suspensions()).values() if s is not None]
        return Template(
            "home/index.html",
            context={
                "principal": principal,
                "area": area,
                "navigation": navigation_for(request, principal.role),
                "setup": setup,
                "suspensions": suspensions,
                "prefecture": PREFECTURES.get(principal.prefecture_code or ""),
            },
        )

    @get("/language/{chosen:str}", name="language")
    async def switch_language(
        self, chosen: FromPath[str], back: FromQuery[str | None] = None
    ) -> Redirect:
        """Remember the chosen language and go back to the page the user was on.

        A GET link, not a form: it only sets a preference, and it works on every
        page, including error pages no session reached.
        """
        response = Redirect(safe_next(back), status_code=HTTP_303_SEE_OTHER)
        if chosen in LANGUAGES:
            response.cookies.append(
                Cookie(
                    key=LANGUAGE_COOKIE, value=chosen, samesite="lax", path="/", max_age=365 * 86400
                )
            )
        return response


ROUTES = [HomeController]
