"""HTTP handlers, one module per part of the system.

Each module lists what it serves in ``ROUTES``; :func:`all_routes` collects
them for the app factory, so a new part registers itself by existing.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any


def all_routes() -> list[Any]:
    """The ``ROUTES`` of every controller module, in module-name order."""
    routes: list[Any] = []
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        routes.extend(getattr(importlib.import_module(f"{__name__}.{module}"), "ROUTES", []))
    return routes
