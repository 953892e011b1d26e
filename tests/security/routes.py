"""Every route and method of the app, read from Litestar's router.

New routes appear here by existing, so the suites that walk this list cover
them without being edited — and fail, naming the route, until they say how.
"""

from __future__ import annotations

from typing import Any

from litestar.routes import HTTPRoute

#: Methods Litestar answers by itself on every path (no handler of ours runs).
AUTOMATIC = {"OPTIONS", "HEAD"}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def route_keys(app: Any) -> list[str]:
    """``"METHOD /path"`` of every handler, e.g. ``"POST /residents/{resident_id:uuid}/reveal"``."""
    keys = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                if method not in AUTOMATIC:
                    keys.add(f"{method} {route.path}")
    return sorted(keys)


def state_changing(app: Any) -> list[str]:
    """The routes that may change something: POST, PUT, PATCH, DELETE."""
    return [key for key in route_keys(app) if key.split(" ", 1)[0] in STATE_CHANGING]
