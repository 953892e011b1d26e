"""The one htmx rule, and the page-or-partial answer of every URL htmx fetches.

A partial goes only to an htmx request that is neither boosted (htmx navigating
to a whole page) nor a history restore (htmx asking for the whole page after a
miss in its history cache); everything else gets the whole page. A URL that
answers partials declares its partial on the route (``opt=partial("x/_y.html")``)
and answers both with ``Vary: HX-Request``, so a cache never hands one for the
other (the contact-app pattern). The app uses litestar-htmx's request type.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Template
from litestar_htmx import HTMXDetails, HTMXRequest

#: The route option naming the partial a page URL answers htmx with.
PARTIAL = "htmx_partial"
#: Caches keep the page and the partial of one URL apart.
VARY = {"Vary": "HX-Request"}


def partial(template: str) -> dict[str, str]:
    """Route options declaring that this URL answers htmx with ``template``."""
    return {PARTIAL: template}


def htmx_of(request: Request[Any, Any, Any]) -> HTMXDetails:
    """The htmx headers of a request (the app's requests already carry them)."""
    return request.htmx if isinstance(request, HTMXRequest) else HTMXDetails(request)


def wants_partial(request: Request[Any, Any, Any]) -> bool:
    """Whether to answer a fragment rather than the whole page."""
    htmx = htmx_of(request)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def page_or_partial(
    request: Request[Any, Any, Any], page: str, context: dict[str, Any], **options: Any
) -> Template:
    """The route's declared partial for htmx, else the whole ``page``; both vary on HX-Request."""
    chosen = request.route_handler.opt[PARTIAL] if wants_partial(request) else page
    headers = {**VARY, **options.pop("headers", {})}
    return Template(chosen, context=context, headers=headers, **options)
