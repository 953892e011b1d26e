"""Backup and restore of the municipality's area, for its admin (F9).

A backup is a job (like an import): asking for one queues it and answers
with its page, which polls the job row until the archive is ready to
download. A restore is a job too: the uploaded archive is stored, a restore
job is queued (one at a time, into an empty area only) and run in the
background, all or nothing; it accepts only archives this server sealed for
this municipality (:mod:`db.backup.restore`), and its page shows the rows
restored or why nothing was. Every backup and restore stays listed with who
asked, when and how it ended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import File, Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from litestar_htmx import HTMXRequest

from common.settings import Settings
from db.accounts.principal import Principal
from db.accounts.roles import Role
from db.audit.queries import record
from db.backup.errors import BackupError
from db.backup.jobs import (
    archive_path,
    backup_job,
    create_backup_job,
    queue_restore,
    recent_backup_jobs,
    run_backup,
    run_restore,
)
from db.engine import tenant_transaction
from web.auth import requires
from web.controllers.imports import IMPORT_MAX_BYTES, _stream_upload, upload_directory
from web.errors import BadInput, NotFound
from web.forms import StreamedUpload
from web.htmx import page_or_partial, partial, wants_partial

_RUNNING: set[asyncio.Task[Any]] = set()


def _in_background(work: Coroutine[Any, Any, None]) -> asyncio.Task[Any]:
    """Run a job as a task of this process, kept referenced until it ends."""
    task = asyncio.create_task(work)
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    return task


def start_backup(job_id: UUID, municipality_code: str, settings: Settings) -> asyncio.Task[Any]:
    """Run the backup in the background."""
    return _in_background(
        run_backup(job_id, municipality_code, settings.data_dir, settings.backup_key)
    )


def start_restore(
    job_id: UUID, municipality_code: str, upload: Path, actor: Principal, settings: Settings
) -> asyncio.Task[Any]:
    """Run the restore of ``upload`` into the area in the background (audited as ``actor``)."""
    return _in_background(
        run_restore(job_id, municipality_code, upload, settings.backup_key, actor)
    )


class BackupController(Controller):
    """Back the area up as a job and download the archive; restore an archive."""

    include_in_schema = False
    path = "/admin/backup"
    guards = [requires(Role.MUNICIPAL_ADMIN)]

    @get("/", name="admin_backup")
    async def index(self, request: Request[Any, Any, Any]) -> Template:
        """What a backup holds, the two forms, and the backups and restores so far."""
        async with tenant_transaction(request.user.tenant):
            jobs = await recent_backup_jobs()
        return Template("backup/index.html", context={"jobs": jobs})

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
        """A backup's or restore's progress (the partial, for htmx polling) or its page."""
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
            if current is None or current["kind"] != "backup":
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
    ) -> Any:
        """Store an uploaded archive, queue its restore into this (empty) area, answer with
        the job's progress (the partial for htmx, else its page)."""
        principal = request.user
        if not settings.backup_key:
            raise BadInput("backup.key_missing")
        upload = upload_directory(settings) / f"restore-{uuid4()}.zip"
        await _stream_upload(request, upload)
        try:
            async with tenant_transaction(principal.tenant):
                job_id = await queue_restore(principal.tenant, principal.account_id)
                current = await backup_job(job_id)
        except BackupError as exc:
            upload.unlink(missing_ok=True)
            raise BadInput(exc.key, **exc.params) from None
        except BaseException:
            upload.unlink(missing_ok=True)
            raise
        start_restore(job_id, principal.tenant, upload, principal, settings)
        if wants_partial(request):
            return Template("backup/_job.html", context={"job": current})
        return Redirect(f"/admin/backup/jobs/{job_id}", status_code=HTTP_303_SEE_OTHER)


ROUTES = [BackupController]
