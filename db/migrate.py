"""Apply pending migrations (Piccolo's, in dependency order)."""

from __future__ import annotations

import contextlib
import io

from piccolo.apps.migrations.commands.forwards import run_forwards


class MigrationFailed(RuntimeError):
    """A migration did not apply; the message says which and why."""


async def migrate(quiet: bool = True) -> None:
    """Run every migration that has not run yet on the configured database."""
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
        result = await run_forwards("all")
    if not result.success:
        raise MigrationFailed(result.message or sink.getvalue()[-2000:])
