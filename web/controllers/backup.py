"""Backup and restore of the municipality's area, for its admin (F9)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from uuid import uuid4

from litestar import Controller, Request, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.response import File, Template

from common.settings import Settings
from db.accounts.roles import Role
from db.audit.queries import record
from db.backup.archive import BackupError, export_area, restore_area
from db.engine import tenant_transaction
from web.auth import requires
from web.controllers.imports import IMPORT_MAX_BYTES, _stream_upload, upload_directory
from web.errors import BadInput


class BackupController(Controller):
    """Export the area as one archive; restore an archive into an empty area."""

    include_in_schema = False
    path = "/admin/backup"
    guards = [requires(Role.MUNICIPAL_ADMIN)]

    @get("/", name="admin_backup")
    async def index(self) -> Template:
        """What a backup holds, and the two forms."""
        return Template("backup/index.html", context={"restored": None})

    @post("/export", name="admin_backup_export")
    async def export(self, request: Request[Any, Any, Any]) -> File:
        """The whole area as a zip with a manifest and checksums (audited)."""
        principal = request.user
        target = Path(tempfile.mkdtemp(prefix="vrs-backup-")) / "backup.zip"
        async with tenant_transaction(principal.tenant):
            await record(
                "backup.export", actor=principal, municipality_code=principal.tenant,
                object_type="municipality", object_id=principal.tenant,
            )  # fmt: skip
            await export_area(principal.tenant, target)
        return File(
            target,
            filename=f"vrs-backup-{principal.tenant}.zip",
            media_type="application/zip",
            background=BackgroundTask(_remove, target),
        )

    @post("/restore", name="admin_backup_restore", request_max_body_size=IMPORT_MAX_BYTES)
    async def restore(
        self, request: Request[Any, Any, Any], settings: NamedDependency[Settings]
    ) -> Template:
        """Restore an uploaded archive into this (empty) area."""
        principal = request.user
        path = upload_directory(settings) / f"restore-{uuid4()}.zip"
        await _stream_upload(request, path)
        try:
            async with tenant_transaction(principal.tenant):
                restored = await restore_area(principal.tenant, path)
                await record(
                    "backup.restore", actor=principal, municipality_code=principal.tenant,
                    object_type="municipality", object_id=principal.tenant, details=restored,
                )  # fmt: skip
        except BackupError as exc:
            raise BadInput(exc.key, **exc.params) from None
        finally:
            path.unlink(missing_ok=True)
        return Template("backup/index.html", context={"restored": restored})


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.parent.rmdir()


ROUTES = [BackupController]
