"""Piccolo's configuration: the engine (from DATABASE_URL) and the app registry.

``vrs`` sets DATABASE_URL before this module is imported (for the embedded
server it is only known once the server runs). The engine connects as the
URL's user, which owns the schema and runs migrations; serving code switches
every connection to the ``vrs_app`` role (see :mod:`db.engine`).
"""

import os
from pathlib import Path

from piccolo.conf.apps import AppRegistry
from piccolo.engine.postgres import PostgresEngine

_url = os.environ.get("DATABASE_URL")
if not _url:
    raise RuntimeError("DATABASE_URL is not set; start the system with `vrs`, which sets it")

DB = PostgresEngine(config={"dsn": _url}, log_queries=False)

def _apps() -> list[str]:
    """Every ``db/<domain>/piccolo_app.py``: a new domain registers itself by existing.

    Piccolo orders their migrations by each app's ``migration_dependencies``.
    """
    here = Path(__file__).parent
    return sorted(f"db.{p.parent.name}.piccolo_app" for p in here.glob("*/piccolo_app.py"))


APP_REGISTRY = AppRegistry(apps=_apps())
