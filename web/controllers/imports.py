"""Import of residents and tickets (F1 事前登録): upload, progress, report, template.

The upload is streamed to a file under the data directory (never held in
memory; this route alone accepts large bodies), then imported by a task of
the server process, so the import carries on when the browser closes. The
page polls the job row with htmx and draws a progress bar.
"""

from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import multipart
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from litestar_htmx import HTMXRequest

from common.csv_cells import spreadsheet_writer
from common.settings import Settings
from db.accounts.roles import Role
from db.engine import tenant_transaction
from db.imports.format import COLUMNS, template_csv
from db.imports.loader import run_import
from db.imports.queries import create_job, job, recent_jobs, rejections, requeue_job
from db.residents.my_number import MyNumberVault
from web.auth import requires
from web.errors import BadInput, NotFound
from web.forms import StreamedUpload
from web.htmx import page_or_partial, partial, wants_partial
from web.i18n import language_of, translate

#: The largest upload accepted (a million residents is about 150 MB).
IMPORT_MAX_BYTES = 2 * 1024**3
_RUNNING: set[asyncio.Task[Any]] = set()
_HEADERS = {c.key: c.header for c in COLUMNS}


def upload_directory(settings: Settings) -> Path:
    """Where uploads wait for their import (deleted after it: they may hold My Numbers)."""
    directory = settings.data_dir / "imports"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def stored_upload(settings: Settings, job_id: UUID) -> Path:
    """Where a job's file waits (also the CLI's copy); still there after an interruption."""
    return upload_directory(settings) / f"{job_id}.csv"


def start_import(
    job_id: UUID, path: Path, municipality_code: str, settings: Settings, actor: Any
) -> asyncio.Task[Any]:
    """Run the import as a task of this process, kept referenced until it ends."""
    task = asyncio.create_task(
        run_import(
            job_id,
            path,
            municipality_code,
            MyNumberVault(settings.my_number_key),
            actor.account_id,
            str(actor.role),
        )
    )
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return task


async def _stream_upload(request: Request[Any, Any, Any], target: Path) -> tuple[str, int]:
    """Write the multipart body's ``file`` part to ``target``; (filename, bytes)."""
    content_type, options = request.content_type
    boundary = options.get("boundary")
    if content_type != "multipart/form-data" or not boundary:
        raise BadInput("import.not_multipart")
    filename = ""
    size = 0
    in_file = False
    found = False
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as out:
            parser = multipart.PushMultipartParser(boundary, max_segment_count=16)
            async for chunk in request.stream():
                for event in parser.parse(chunk):
                    if isinstance(event, multipart.MultipartSegment):
                        in_file = event.name == "file" and not found
                        if in_file:
                            found = True
                            filename = Path(event.filename or "").name
                    elif event is None:
                        in_file = False
                    elif in_file:
                        out.write(event)
                        size += len(event)
            parser.close()
    except multipart.MultipartError:
        target.unlink(missing_ok=True)
        raise BadInput("import.upload_malformed") from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if not found or size == 0:
        target.unlink(missing_ok=True)
        raise BadInput("import.no_file", field="file")
    return filename, size


def _describe(rejection: dict[str, Any], language: str) -> dict[str, Any]:
    column = rejection["column_name"]
    return {
        "line": rejection["line_number"],
        "column": _HEADERS.get(column.removesuffix("_on"), _HEADERS.get(column, column)),
        "column_key": column,
        "reason": translate(rejection["reason"], language, **rejection["params"]),
        "reason_key": rejection["reason"],
    }


class ImportsController(Controller):
    """Upload a residents-and-tickets file, watch it run, read its report."""

    include_in_schema = False
    path = "/imports"
    guards = [requires(Role.CLERK, Role.MUNICIPAL_ADMIN)]

    @get("/", name="imports")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        """The upload form, the file's columns, and recent imports."""
        async with tenant_transaction(request.user.tenant):
            jobs = await recent_jobs()
        return Template(
            "imports/index.html",
            context={"columns": COLUMNS, "jobs": jobs},
        )

    @get("/template.csv", name="imports_template")
    async def template(self) -> Response[bytes]:
        """The header and an example row, UTF-8 with BOM (opens in Excel as is)."""
        return Response(
            ("\ufeff" + template_csv()).encode("utf-8"),
            media_type="text/csv",  # Litestar appends "; charset=utf-8"
            headers={"content-disposition": 'attachment; filename="residents-template.csv"'},
        )

    @post("/", name="imports_upload", request_max_body_size=IMPORT_MAX_BYTES,
          opt={"form": StreamedUpload})  # fmt: skip
    async def upload(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]
    ) -> Any:
        """Store the upload, queue its import, answer with the progress partial."""
        principal = request.user
        job_id = uuid4()
        path = upload_directory(settings) / f"{job_id}.csv"
        filename, _ = await _stream_upload(request, path)
        async with tenant_transaction(principal.tenant):
            job_id = await create_job(principal.municipality_code, filename, principal.account_id)
        final = stored_upload(settings, job_id)
        path.rename(final)
        start_import(job_id, final, principal.municipality_code, settings, principal)
        if wants_partial(request):
            async with tenant_transaction(principal.tenant):
                current = await job(job_id)
            return Template("imports/_job.html", context={"job": current})
        return Redirect(f"/imports/{job_id}", status_code=HTTP_303_SEE_OTHER)

    @get("/{job_id:uuid}", name="imports_job", opt=partial("imports/_job.html"))
    async def show(
        self,
        request: HTMXRequest,
        job_id: FromPath[UUID],
        settings: NamedDependency[Settings],
    ) -> Template:
        """A job's progress (the partial, for htmx polling) or its whole report."""
        async with tenant_transaction(request.user.tenant):
            current = await job(job_id)
            if current is None:
                raise NotFound("error.not_found")
            rows = await rejections(job_id) if current["status"] == "done" else []
        language = language_of(request)
        context = {
            "job": current,
            "rejections": [_describe(r, language) for r in rows],
            "resumable": current["status"] == "interrupted"
            and stored_upload(settings, job_id).is_file(),
        }
        return page_or_partial(request, "imports/job.html", context)

    @post("/{job_id:uuid}/resume", name="imports_resume")
    async def resume(
        self,
        request: Request[Any, Any, Any],
        job_id: FromPath[UUID],
        settings: NamedDependency[Settings],
    ) -> Redirect:
        """Run an interrupted job again from its stored file (nothing is duplicated)."""
        principal = request.user
        path = stored_upload(settings, job_id)
        async with tenant_transaction(principal.tenant):
            current = await job(job_id)
            if current is None:
                raise NotFound("error.not_found")
            if current["status"] != "interrupted":
                raise BadInput("import.resume_not_interrupted")
            if not path.is_file():
                raise BadInput("import.resume_no_file")
            if not await requeue_job(job_id):
                raise BadInput("import.resume_not_interrupted")
        start_import(job_id, path, principal.municipality_code, settings, principal)
        return Redirect(f"/imports/{job_id}", status_code=HTTP_303_SEE_OTHER)

    @get("/{job_id:uuid}/rejections.csv", name="imports_rejections")
    async def rejections_csv(
        self, request: Request[Any, Any, Any], job_id: FromPath[UUID]
    ) -> Response[bytes]:
        """Every rejected row: line, column, reason (UTF-8 with BOM)."""
        async with tenant_transaction(request.user.tenant):
            if await job(job_id) is None:
                raise NotFound("error.not_found")
            rows = await rejections(job_id, limit=None)
        language = language_of(request)
        buffer = io.StringIO()
        writer = spreadsheet_writer(buffer, lineterminator="\r\n")
        writer.writerow(
            [translate(k, language) for k in ("import.line", "import.column", "import.reason")]
        )
        for row in rows:
            described = _describe(row, language)
            writer.writerow([described["line"], described["column"], described["reason"]])
        return Response(
            ("\ufeff" + buffer.getvalue()).encode("utf-8"),
            media_type="text/csv",  # Litestar appends "; charset=utf-8"
            headers={"content-disposition": f'attachment; filename="rejections-{job_id}.csv"'},
        )


ROUTES = [ImportsController]
