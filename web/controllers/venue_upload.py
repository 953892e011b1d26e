"""Dose records as CSV (F3): the page clinics and workplace venues upload to."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, MediaType, Request, get, post
from litestar.di import NamedDependency
from litestar.response import Template

from db.engine import tenant_transaction
from db.vaccinations.bulk import COLUMNS, UnreadableFile, upload
from web.auth import requires
from web.controllers.venue import RECORDING_ROLES, venue_of
from web.forms import DoseFileForm, MultipartForm
from web.i18n import language_of, translate

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


class VenueUploadController(Controller):
    """Upload form and result."""

    path = "/venue/upload"
    include_in_schema = False
    guards = [requires(*RECORDING_ROLES)]

    @get("/", name="venue_upload")
    async def form(self) -> Template:
        """The upload form with the documented columns."""
        return Template(
            "venue/upload.html", context={"columns": COLUMNS, "report": None, "error": None}
        )

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
        """Validate and save every row; list every rejected row with its reason."""
        language = language_of(request)
        if data.file is None:
            return self._error(translate("bulk.no_file", language))
        content = await data.file.read()
        async with tenant_transaction(request.user.tenant):
            venue = await venue_of(request.user)
        try:
            report = await upload(content, venue=venue, actor=request.user, today=today)
        except UnreadableFile as exc:
            return self._error(translate(exc.key, language, **exc.params))
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
            },  # fmt: skip
            status_code=200,
        )

    def _error(self, message: str) -> Template:
        return Template(
            "venue/upload.html",
            context={"columns": COLUMNS, "report": None, "error": message},
            status_code=422,
        )


ROUTES = [VenueUploadController]
