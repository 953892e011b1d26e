"""``vrs import-residents``, ``export-open-data``, ``backup``, ``restore`` and ``expire-files``.

They run the same code as the pages, as the serving role in the
municipality's area (row-level security applies to the shell too).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any


async def import_file(source: Path, municipality_code: str) -> dict[str, Any]:
    """Import a residents-and-tickets CSV into one area; returns the outcome counts.

    The pool must be open (the caller opens it). The user's file is copied
    first, to where the server keeps uploads: the import deletes the copy it
    read, and a job interrupted on the way can be resumed from its page.
    """
    from common.identifiers import parse_municipality_code
    from common.settings import get_settings
    from db.engine import tenant_transaction
    from db.imports.loader import run_import
    from db.imports.queries import create_job, job, rejections
    from db.imports.recovery import mark_interrupted_imports
    from db.residents.my_number import MyNumberVault
    from web.controllers.imports import stored_upload

    code = parse_municipality_code(municipality_code)
    settings = get_settings()
    await mark_interrupted_imports()  # jobs a killed server or command left "running"
    async with tenant_transaction(code):
        job_id = await create_job(code, source.name, None)
    # Where the server keeps uploads: a job this command leaves interrupted can be resumed.
    staging = stored_upload(settings, job_id)
    descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out, source.open("rb") as given:
        shutil.copyfileobj(given, out, 1 << 20)
    await run_import(job_id, staging, code, MyNumberVault(settings.my_number_key), None, "cli")
    async with tenant_transaction(code):
        outcome = await job(job_id) or {}
        outcome["rejections"] = await rejections(job_id, limit=None)
    return outcome


def cmd_import_residents(args: argparse.Namespace) -> None:
    """Import residents and tickets from a CSV file (UTF-8 or CP932)."""
    from cli.main import ensure_database, run_async, settings_or_exit
    from web.i18n import translate

    settings = settings_or_exit()
    ensure_database(settings)
    source = Path(args.file)
    if not source.is_file():
        sys.exit(f"vrs: no such file: {source}")

    async def work() -> dict[str, Any]:
        from common.identifiers import IdentifierError
        from db.engine import close_serving_pool, start_serving_pool

        await start_serving_pool(3)
        try:
            return await import_file(source, args.municipality)
        except IdentifierError as exc:
            sys.exit(f"vrs: --municipality: {translate(exc.key, 'en', **exc.params)}")
        finally:
            await close_serving_pool()

    outcome = run_async(work)
    if outcome.get("status") != "done":
        sys.exit(
            "vrs: import failed: "
            + translate(
                outcome.get("error_key") or "import.failed",
                "en",
                **(outcome.get("error_params") or {}),
            )
        )
    print(
        "vrs: import done: {rows_read} rows, {rows_rejected} rejected; residents {residents_inserted}"
        " added, {residents_updated} updated, {residents_unchanged} unchanged; tickets"
        " {tickets_inserted} added, {tickets_reissued} reissued".format(**outcome)
    )
    for r in outcome["rejections"]:
        print(
            f"  line {r['line_number']}: {r['column_name'] or '-'}: "
            + translate(r["reason"], "en", **r["params"])
        )


def cmd_export_open_data(args: argparse.Namespace) -> None:
    """Write the open-data files (NDJSON and CSV) to a directory."""
    from cli.main import ensure_database, run_async, settings_or_exit

    settings = settings_or_exit()
    ensure_database(settings)
    target = Path(args.directory)
    target.mkdir(parents=True, exist_ok=True)

    async def work() -> list[str]:
        from db.engine import close_serving_pool, start_serving_pool, tenant_transaction
        from db.statistics.open_data import write_open_data

        await start_serving_pool(2)
        try:
            async with tenant_transaction(None):
                return await write_open_data(target, args.prefecture)
        finally:
            await close_serving_pool()

    for name in run_async(work):
        print(f"vrs: wrote {target / name}")


_NO_BACKUP_KEY = (
    "vrs: VRS_BACKUP_KEY is not set: backups are sealed with it and a restore accepts only"
    " archives it sealed. Run `vrs init-secrets` (it adds the key to an existing secrets file)"
    " or, on a new installation restoring an old area, copy VRS_BACKUP_KEY from the old"
    " installation's secrets file."
)


def cmd_backup(args: argparse.Namespace) -> None:
    """Export a municipality's whole area as one sealed zip archive (written 0600)."""
    from cli.main import ensure_database, run_async, settings_or_exit
    from web.i18n import translate

    settings = settings_or_exit()
    if not settings.backup_key:
        sys.exit(_NO_BACKUP_KEY)
    ensure_database(settings)

    async def work() -> dict[str, Any]:
        from db.backup.archive import export_area
        from db.backup.errors import BackupError
        from db.engine import close_serving_pool, start_serving_pool, tenant_transaction

        await start_serving_pool(2)
        try:
            async with tenant_transaction(args.municipality):
                return await export_area(
                    args.municipality, Path(args.output), key=settings.backup_key
                )
        except BackupError as exc:
            sys.exit("vrs: backup failed: " + translate(exc.key, "en", **exc.params))
        finally:
            await close_serving_pool()

    manifest = run_async(work)
    print(f"vrs: wrote {args.output}: " + json.dumps(manifest["tables"], ensure_ascii=False))


def cmd_restore(args: argparse.Namespace) -> None:
    """Restore an archive this server sealed for the municipality into its empty area."""
    from cli.main import ensure_database, run_async, settings_or_exit
    from web.i18n import translate

    settings = settings_or_exit()
    if not settings.backup_key:
        sys.exit(_NO_BACKUP_KEY)
    ensure_database(settings)
    archive = Path(args.archive)
    if not archive.is_file():
        sys.exit(f"vrs: no such file: {archive}")

    async def work() -> dict[str, int]:
        from common.identifiers import IdentifierError, parse_municipality_code
        from db.audit.queries import record
        from db.backup.errors import BackupError
        from db.backup.reader import Limits
        from db.backup.restore import restore_area
        from db.engine import close_serving_pool, start_serving_pool, tenant_transaction

        try:
            code = parse_municipality_code(args.municipality)
        except IdentifierError as exc:
            sys.exit(f"vrs: --municipality: {translate(exc.key, 'en', **exc.params)}")
        await start_serving_pool(2)
        try:
            async with tenant_transaction(code):
                limits = Limits(ratio=args.max_ratio) if args.max_ratio else Limits()
                restored = await restore_area(code, archive, settings.backup_key, limits)
                await record(
                    "backup.restore", actor=None, municipality_code=code,
                    object_type="municipality", object_id=code,
                    details={**restored, "channel": "cli"},
                )  # fmt: skip
                return restored
        except BackupError as exc:
            sys.exit("vrs: restore refused: " + translate(exc.key, "en", **exc.params))
        finally:
            await close_serving_pool()

    print("vrs: restored " + json.dumps(run_async(work), ensure_ascii=False))


def cmd_expire_files(args: argparse.Namespace) -> None:
    """Delete backup archives and interrupted uploads past their retention periods."""
    from cli.main import ensure_database, run_async, settings_or_exit

    settings = settings_or_exit()
    ensure_database(settings)

    async def work() -> dict[str, int]:
        from db.engine import close_serving_pool, start_serving_pool
        from db.imports.recovery import expire_kept_files

        await start_serving_pool(2)
        try:
            return await expire_kept_files(settings)
        finally:
            await close_serving_pool()

    expired = run_async(work)
    print(
        f"vrs: deleted {expired['backups']} backup archive(s) older than"
        f" {settings.backup_retention_days} days and {expired['uploads']} interrupted"
        f" upload(s) older than {settings.upload_retention_days} days"
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the workspace's sub-commands."""
    sub = subparsers.add_parser("import-residents", help=cmd_import_residents.__doc__)
    sub.add_argument("file")
    sub.add_argument("--municipality", required=True, help="6-digit municipality code")
    sub.set_defaults(func=cmd_import_residents)
    sub = subparsers.add_parser("export-open-data", help=cmd_export_open_data.__doc__)
    sub.add_argument("directory")
    sub.add_argument("--prefecture", default=None, help="2-digit prefecture code (default: all)")
    sub.set_defaults(func=cmd_export_open_data)
    sub = subparsers.add_parser("backup", help=cmd_backup.__doc__)
    sub.add_argument("--municipality", required=True)
    sub.add_argument("--output", required=True)
    sub.set_defaults(func=cmd_backup)
    sub = subparsers.add_parser("restore", help=cmd_restore.__doc__)
    sub.add_argument("archive")
    sub.add_argument("--municipality", required=True)
    sub.add_argument(
        "--max-ratio", type=int, default=0,
        help="allow entries compressed more than this many times (default 200: zip bombs)",
    )  # fmt: skip
    sub.set_defaults(func=cmd_restore)
    sub = subparsers.add_parser("expire-files", help=cmd_expire_files.__doc__)
    sub.set_defaults(func=cmd_expire_files)
