"""The municipal dashboard and the prefecture/national statistics (F6), plus open data.

Figures come from counts kept by triggers (:mod:`db.statistics.queries`);
the page refreshes its figures with htmx every few seconds. Viewers' pages
and API reach sums only, through the statistics crossings.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromPath
from litestar.response import Template
from litestar_htmx import HTMXRequest

from common.clock import now_in_japan
from db.accounts.roles import Role
from db.engine import replica_transaction
from db.statistics.open_data import FILES, open_data, render
from db.statistics.queries import municipality_figures, viewer_figures
from db.tenancy.queries import PREFECTURES
from web.auth import requires
from web.errors import NotFound
from web.htmx import page_or_partial, partial
from web.i18n import language_of, translate


def _now() -> str:
    return now_in_japan().strftime("%Y-%m-%d %H:%M:%S")


def _viewer_scope(request: Request[Any, Any, Any]) -> str | None:
    """The prefecture a viewer sees, or None for the nation."""
    principal = request.user
    return principal.prefecture_code if principal.role is Role.PREFECTURE_VIEWER else None


class DashboardController(Controller):
    """The municipality's own dashboard."""

    include_in_schema = False
    path = "/dashboard"
    guards = [requires(Role.CLERK, Role.MUNICIPAL_ADMIN)]

    @get("/", name="dashboard", opt=partial("dashboard/_figures.html"))
    async def index(self, request: HTMXRequest) -> Template:
        """Counts and charts; an htmx request gets only the figures (the refresh)."""
        async with replica_transaction(request.user.tenant):
            figures = await municipality_figures()
        context = {"figures": figures, "now": _now(), "refresh_url": "/dashboard"}
        return page_or_partial(request, "dashboard/index.html", context)


class StatisticsController(Controller):
    """Prefecture and national viewers: sums, side by side, and the open data."""

    include_in_schema = False
    path = "/statistics"
    guards = [requires(Role.PREFECTURE_VIEWER, Role.NATIONAL_VIEWER)]

    @get("/", name="statistics", opt=partial("dashboard/_figures.html"))
    async def index(self, request: HTMXRequest) -> Template:
        """A prefecture's municipalities, or the nation's prefectures."""
        prefecture = _viewer_scope(request)
        async with replica_transaction(None):
            figures = await viewer_figures(prefecture)
        language = language_of(request)
        scope = (
            translate(
                "stats.scope_prefecture", language, name=_prefecture_name(prefecture, language)
            )
            if prefecture
            else translate("stats.scope_national", language)
        )
        context = {
            "figures": figures,
            "now": _now(),
            "refresh_url": "/statistics",
            "scope": scope,
            "files": FILES,
        }
        return page_or_partial(request, "statistics/index.html", context)

    @get("/open-data/{name:str}", name="statistics_open_data")
    async def file(self, request: Request[Any, Any, Any], name: FromPath[str]) -> Response[str]:
        """One open-data file (NDJSON or CSV) of the viewer's scope."""
        async with replica_transaction(None):
            content = await render(name, _viewer_scope(request))
        if content is None:
            raise NotFound("error.not_found")
        media = "application/x-ndjson" if name.endswith(".ndjson") else "text/csv"
        return Response(
            content,
            media_type=f"{media}; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )


class StatisticsApiController(Controller):
    """``/api/v1/statistics``: the same sums for machine clients, no personal field."""

    path = "/api/v1/statistics"
    guards = [requires(Role.PREFECTURE_VIEWER, Role.NATIONAL_VIEWER)]

    @get("/", name="api_statistics", summary="Aggregated counts (prefecture or national)")
    async def summary(self, request: Request[Any, Any, Any]) -> dict[str, Any]:
        """Totals per dose and per area, and the open-data detail."""
        prefecture = _viewer_scope(request)
        async with replica_transaction(None):
            figures = await viewer_figures(prefecture)
            tables = await open_data(prefecture)
        return {
            "prefecture": prefecture,
            "total": figures["total"],
            "population": figures["population"],
            "by_dose": [{"status": d, "count": c} for d, c in figures["by_dose"]],
            "areas": [
                {k: a[k] for k in ("code", "name", "population", "total")} for a in figures["areas"]
            ],
            "detail": tables["prefecture"],
        }


ROUTES = [DashboardController, StatisticsController, StatisticsApiController]


def _prefecture_name(code: str, language: str) -> str:
    """東京都 for ``13`` (the code itself only for a code no prefecture has)."""
    names = PREFECTURES.get(code)
    if names is None:
        return code
    return names[0] if language == "ja" else names[1]
