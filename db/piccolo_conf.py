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

from db.engine import engine_config

_url = os.environ.get("DATABASE_URL")
if not _url:
    raise RuntimeError("DATABASE_URL is not set; start the system with `vrs`, which sets it")

DB = PostgresEngine(config=engine_config(_url), log_queries=False)


def _apps() -> list[str]:
    """Every ``db/<domain>/piccolo_app.py``: a new domain registers itself by existing.

    Piccolo orders their migrations by each app's ``migration_dependencies``.
    """
    here = Path(__file__).parent
    return sorted(f"db.{p.parent.name}.piccolo_app" for p in here.glob("*/piccolo_app.py"))


APP_REGISTRY = AppRegistry(apps=_apps())


def _after_security(registry: AppRegistry) -> None:
    """Apps the security app does not build on run after it.

    The security app holds the RLS helper (``vrs_protect_tenant_table``), the
    serving role and the crossings; a domain added later protects its tables
    with them, so its migrations must follow.
    """
    security = registry.get_app_config("security")
    assert security is not None  # the security app is always installed
    foundation = {"security"} | {d.split(".")[1] for d in security.migration_dependencies}
    for name, config in registry.app_configs.items():
        if (
            name not in foundation
            and "db.security.piccolo_app" not in config.migration_dependencies
        ):
            config.migration_dependencies.append("db.security.piccolo_app")


_after_security(APP_REGISTRY)
