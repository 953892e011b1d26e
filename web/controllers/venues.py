"""A municipality's venues, managed by its admin (接種会場の管理).

Adding a venue is what lets the admin create its venue accounts and register
its tablets; closing one keeps its row and every record made there (with the
venue's name), revokes its tablets and takes no new accounts or records.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, MediaType, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from db.accounts.roles import Role
from db.engine import tenant_transaction
from db.tenancy.venues import VENUE_KINDS, VenueError, add_venue, all_venues, close_venue
from web.auth import requires
from web.errors import NotFound
from web.forms import Form, VenueForm
from web.i18n import language_of, translate


class VenuesController(Controller):
    """The venue list, the form to add one, and closing."""

    include_in_schema = False
    path = "/admin/venues"
    guards = [requires(Role.MUNICIPAL_ADMIN)]

    @get("/", name="admin_venues")
    async def index(
        self, request: Request[Any, Any, Any], done: FromQuery[str | None] = None
    ) -> Template:
        """Every venue of the municipality, open first, and the form for a new one."""
        notice = None
        if done in ("added", "closed"):
            notice = translate(f"venue_admin.{done}", language_of(request))
        return await self._page(request, notice=notice)

    async def _page(
        self,
        request: Request[Any, Any, Any],
        *,
        notice: str | None = None,
        error: str | None = None,
        form: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Template:
        async with tenant_transaction(request.user.tenant):
            venues = await all_venues(request.user.municipality_code)
        return Template(
            "venues/index.html",
            context={
                "venues": venues,
                "kinds": VENUE_KINDS,
                "notice": notice,
                "error": error,
                "form": form or {"kind": "venue"},
            },  # fmt: skip
            status_code=status_code,
        )

    @post("/", name="admin_venues_add", media_type=MediaType.HTML)
    async def add(self, request: Request[Any, Any, Any], data: Form[VenueForm]) -> Any:
        """Register a venue; bad input comes back with the form as typed."""
        principal = request.user
        form = {key: value.strip() for key, value in data.values().items()}
        try:
            async with tenant_transaction(principal.tenant):
                await add_venue(principal.municipality_code, code=form["code"], name=form["name"],
                                kind=form["kind"], address=form["address"], actor=principal)  # fmt: skip
        except VenueError as exc:
            return await self._page(
                request, error=translate(exc.key, language_of(request), **exc.params), form=form,
                status_code=422,
            )  # fmt: skip
        return Redirect("/admin/venues?done=added", status_code=HTTP_303_SEE_OTHER)

    @post("/{venue_id:uuid}/close", name="admin_venues_close", media_type=MediaType.HTML)
    async def close(self, request: Request[Any, Any, Any], venue_id: FromPath[UUID]) -> Any:
        """Close a venue of the admin's own municipality."""
        principal = request.user
        try:
            async with tenant_transaction(principal.tenant):
                await close_venue(principal.municipality_code, venue_id, actor=principal)
        except VenueError as exc:
            raise NotFound(exc.key) from exc
        return Redirect("/admin/venues?done=closed", status_code=HTTP_303_SEE_OTHER)


ROUTES = [VenuesController]
