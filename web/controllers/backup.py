"""Backup and restore of the municipality's area, for its admin (F9).

A backup is a job (like an import): asking for one queues it and answers
with its page, which polls the job row until the archive is ready to
download; every backup stays listed with who asked, when and how it ended.
Restore of an uploaded archive into an empty area runs in the request, in
one transaction; it accepts only archives this server sealed for this
municipality (:mod:`db.backup.restore`).
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import File, Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from litestar_htmx import HTMXRequest

from common.settings import Settings
from db.accounts.roles import Role
from db.audit.queries import record
from db.backup.errors import BackupError
from db.backup.jobs import (
    archive_path,
    backup_job,
    create_backup_job,
    recent_backup_jobs,
    run_backup,
)
from db.backup.restore import restore_area
from db.engine import tenant_transaction
from web.auth import requires
from web.controllers.imports import IMPORT_MAX_BYTES, _stream_upload, upload_directory
from web.errors import BadInput, NotFound
from web.forms import StreamedUpload
from web.htmx import page_or_partial, partial

_RUNNING: set[asyncio.Task[Any]] = set()


def start_backup(job_id: UUID, municipality_code: str, settings: Settings) -> asyncio.Task[Any]:
    """Run the backup as a task of this process, kept referenced until it ends."""
    task = asyncio.create_task(
        run_backup(job_id, municipality_code, settings.data_dir, settings.backup_key)
    )
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return task


class BackupController(Controller):
    """Back the area up as a job and download the archive; restore an archive."""

    include_in_schema = False
    path = "/admin/backup"
    guards = [requires(Role.MUNICIPAL_ADMIN)]

    @get("/", name="admin_backup")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        """What a backup holds, the two forms, and the backups made so far."""
        async with tenant_transaction(request.user.tenant):
            jobs = await recent_backup_jobs()
        return Template("backup/index.html", context={"restored": None, "jobs": jobs})

    @post("/export", name="admin_backup_export")
    async def export(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]
    ) -> Any:
        """Queue a backup of the whole area (audited); answer with its page."""
        principal = request.user
        if not settings.backup_key:
            raise BadInput("backup.key_missing")
        async with tenant_transaction(principal.tenant):
            job_id = await create_backup_job(principal.tenant, principal.account_id)
            await record(
                "backup.export", actor=principal, municipality_code=principal.tenant,
                object_type="backup_job", object_id=str(job_id),
            )  # fmt: skip
        start_backup(job_id, principal.tenant, settings)
        return Redirect(f"/admin/backup/jobs/{job_id}", status_code=HTTP_303_SEE_OTHER)

    @get("/jobs/{job_id:uuid}", name="admin_backup_job", opt=partial("backup/_job.html"))
    async def show(self, request: HTMXRequest, job_id: FromPath[UUID]) -> Template:
        """A backup's progress (the partial, for htmx polling) or its page."""
        async with tenant_transaction(request.user.tenant):
            current = await backup_job(job_id)
        if current is None:
            raise NotFound("error.not_found")
        return page_or_partial(request, "backup/job.html", {"job": current})

    @get("/jobs/{job_id:uuid}/download", name="admin_backup_download")
    async def download(
        self,
        request: Request[Any, Any, Any],
        job_id: FromPath[UUID],
        settings: NamedDependency[Settings],
    ) -> File:
        """A finished backup's archive (each download audited)."""
        principal = request.user
        async with tenant_transaction(principal.tenant):
            current = await backup_job(job_id)
            if current is None:
                raise NotFound("error.not_found")
            if current["status"] == "expired":
                raise NotFound("backup.expired")
            if current["status"] != "done":
                raise BadInput("backup.not_ready")
            path = archive_path(settings.data_dir, job_id)
            if not path.is_file():
                raise NotFound("backup.file_gone")
            await record(
                "backup.download", actor=principal, municipality_code=principal.tenant,
                object_type="backup_job", object_id=str(job_id),
            )  # fmt: skip
        stamp = current["created_at"].strftime("%Y%m%d-%H%M%S")
        return File(
            path,
            filename=f"vrs-backup-{principal.tenant}-{stamp}.zip",
            media_type="application/zip",
        )

    @post("/restore", name="admin_backup_restore", request_max_body_size=IMPORT_MAX_BYTES,
          opt={"form": StreamedUpload})  # fmt: skip
    async def restore(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]
    ) -> Template:
        """Restore an uploaded archive into this (empty) area, all or nothing."""
        principal = request.user
        if not settings.backup_key:
            raise BadInput("backup.key_missing")
        path = upload_directory(settings) / f"restore-{uuid4()}.zip"
        await _stream_upload(request, path)
        try:
            async with tenant_transaction(principal.tenant):
                restored = await restore_area(principal.tenant, path, settings.backup_key)
                await record(
                    "backup.restore", actor=principal, municipality_code=principal.tenant,
                    object_type="municipality", object_id=principal.tenant, details=restored,
                )  # fmt: skip
                jobs = await recent_backup_jobs()
        except BackupError as exc:
            raise BadInput(exc.key, **exc.params) from None
        finally:
            path.unlink(missing_ok=True)
        return Template("backup/index.html", context={"restored": restored, "jobs": jobs})


ROUTES = [BackupController]
