"""Piccolo's configuration: the engine (from DATABASE_URL) and the app registry.

``vrs`` sets DATABASE_URL before this module is imported (for the embedded
server it is only known once the server runs). The engine connects as the
URL's user, which owns the schema and runs migrations; serving code switches
every connection to the ``vrs_app`` role (see :mod:`db.engine`).
"""

import os

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

_url = os.environ.get("DATABASE_URL")
if not _url:
    raise RuntimeError("DATABASE_URL is not set; start the system with `vrs`, which sets it")

DB = PostgresEngine(config={"dsn": _url}, log_queries=False)

APP_REGISTRY = AppRegistry(
    apps=[
        "db.tenancy.piccolo_app",
        "db.accounts.piccolo_app",
        "db.residents.piccolo_app",
        "db.vaccines.piccolo_app",
        "db.vaccinations.piccolo_app",
        "db.certificates.piccolo_app",
        "db.audit.piccolo_app",
        "db.security.piccolo_app",
    ]
)
