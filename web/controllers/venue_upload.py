"""Dose records as CSV (F3): the page clinics and workplace venues upload to."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, MediaType, Request, get, post
from litestar.di import NamedDependency
from litestar.response import Template

from db.accounts.principal import Principal
from db.accounts.roles import Role
from db.engine import tenant_transaction
from db.tenancy.venues import upload_venues
from db.vaccinations.bulk import COLUMNS, UnreadableFile, upload
from db.vaccinations.recording import Venue
from web.auth import requires
from web.controllers.venue import RECORDING_ROLES, venue_of
from web.forms import DoseFileForm, MultipartForm
from web.i18n import language_of, translate
from web.rate_limit import budget_of

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class VenueUploadController(Controller):
    """Upload form and result."""

    path = "/venue/upload"
    include_in_schema = False
    guards = [requires(*RECORDING_ROLES)]

    @get("/", name="venue_upload")
    async def form(self, request: Request[Any, Any, Any]) -> Template:
        """The upload form with the documented columns (and a clerk's venues to upload for)."""
        return Template("venue/upload.html", context={
            "columns": COLUMNS, "report": None, "error": None,
            "venues": await _venues_to_choose(request.user), "chosen": None})  # fmt: skip

    @post(
        "/",
        name="venue_upload_post",
        media_type=MediaType.HTML,
        request_max_body_size=MAX_UPLOAD_BYTES,
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        today: NamedDependency[dt.date],
        data: MultipartForm[DoseFileForm],
    ) -> Template:
        """Validate and save every row; list every rejected row with its reason.

        Rows that match no ticket holder spend the account's look-up budget
        (``identify``, as the tablet's look-ups and the API's saves do): once it is
        spent, the rest of the file is refused unread (:mod:`db.vaccinations.bulk`).
        """
        language = language_of(request)
        if data.file is None:
            return self._error(
                translate("bulk.no_file", language), await _venues_to_choose(request.user)
            )
        content = await data.file.read()
        choices = await _venues_to_choose(request.user)
        async with tenant_transaction(request.user.tenant):
            venue = await venue_of(request.user)
        if data.venue_id:
            chosen = next((v for v in choices if str(v["id"]) == data.venue_id.strip()), None)
            if chosen is None:  # a venue account, or not one of the clinics and workplaces
                return self._error(translate("bulk.venue_not_for_upload", language), choices)
            venue = Venue(venue.municipality_code, chosen["id"], chosen["name"])
        try:
            report = await upload(content, venue=venue, actor=request.user, today=today,
                                  budget=budget_of(request, "identify"))  # fmt: skip
        except UnreadableFile as exc:
            return self._error(translate(exc.key, language, **exc.params), choices)
        problems, notices = (
            [
                translate("venue.upload_row", language, line=p.line, field=p.field,
                          message=translate(p.key, language, **p.params))
                for p in rows
            ]
            for rows in (report.problems, report.notices)
        )  # fmt: skip
        return Template(
            "venue/upload.html",
            context={
                "columns": COLUMNS,
                "report": report,
                "problems": problems,
                "notices": notices,
                "error": None,
                "venues": choices,
                "chosen": venue.venue_id if data.venue_id else None,
            },  # fmt: skip
            status_code=200,
        )

    def _error(self, message: str, venues: list[dict[str, Any]]) -> Template:
        return Template(
            "venue/upload.html",
            context={
                "columns": COLUMNS,
                "report": None,
                "error": message,
                "venues": venues,
                "chosen": None,
            },  # fmt: skip
            status_code=422,
        )


async def _venues_to_choose(principal: Principal) -> list[dict[str, Any]]:
    """A clerk's choice of the municipality's open clinics and workplaces; none for a venue."""
    if principal.role is not Role.CLERK or principal.municipality_code is None:
        return []
    async with tenant_transaction(principal.tenant):
        return await upload_venues(principal.municipality_code)


ROUTES = [VenueUploadController]
