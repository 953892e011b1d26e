"""The app factory: everything the server is made of, registered in one place."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.static_files import create_static_files_router
from litestar_htmx import HTMXPlugin

from common.settings import Settings, get_settings
from db.engine import DatabaseLimits, close_serving_pool, start_serving_pool
from db.imports.recovery import recover_interrupted_jobs, startup_clean_up
from db.security.rate_limits import PostgresStore
from db.statistics.folding import keep_folding
from web.access import AccessMiddleware
from web.auth import BearerAwareCSRFMiddleware, RequestContextMiddleware, csrf_config
from web.clock import today_in_japan
from web.controllers import all_routes
from web.crl_renewal import CrlKeeper
from web.errors import EXCEPTION_HANDLERS
from web.headers import add_security_headers
from web.logs import configure_logging
from web.password_change import PasswordChangeMiddleware
from web.rate_limit import STORE_NAME
from web.signing_context import SigningProvider
from web.templating import template_config

STATIC = Path(__file__).parent / "static"


_frozen = False


def _freeze_what_was_loaded() -> None:
    """Keep what start-up loaded (modules, templates, keys) out of the collector's passes.

    It lives as long as the process, yet every full collection walked it again: a seventh
    of a busy worker's time (docs/performance.md). Once per process (tests start many apps).
    """
    global _frozen
    if not _frozen:
        gc.freeze()
        _frozen = True


def create_app(
    settings: Settings | None = None,
    *,
    manage_pool: bool = True,
    today: Callable[[], dt.date] = today_in_japan,
    rate_limit_store: PostgresStore | None = None,
    renew_crls: bool | None = None,
) -> Litestar:
    """Build the server.

    Args:
        settings: the settings to use (tests pass their own); default from the environment.
        manage_pool: open and close the database pool with the app's lifespan.
        today: the clock handlers see (tests fix the date).
        rate_limit_store: where rate limits count (default: the serving pool's database,
            shared by every server process).
        renew_crls: keep the system's CRLs fresh in the background (web/crl_renewal.py);
            default: when the app manages its pool, i.e. a real server process.
    """
    settings = settings or get_settings()
    configure_logging(settings.log_level)
    signing = SigningProvider(settings)

    @asynccontextmanager
    async def database_pool(_: Litestar) -> AsyncIterator[None]:
        if manage_pool:
            await start_serving_pool(
                settings.db_pool_size,
                DatabaseLimits.from_settings(settings),
                replica_url=settings.database_replica_url,
            )
            signing.load()  # once at start-up; certificate pages say so if keys are missing
            _freeze_what_was_loaded()
        # Background work of a real server process: the dose counters folded in, and the
        # system's CRLs renewed before they expire.
        tasks = [asyncio.create_task(keep_folding())] if manage_pool else []
        if manage_pool if renew_crls is None else renew_crls:
            tasks.append(
                asyncio.create_task(CrlKeeper(settings, signing).run(), name="crl-renewal")
            )
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if manage_pool:
                await close_serving_pool()

    return Litestar(
        route_handlers=[
            *all_routes(),
            create_static_files_router(
                path="/static", directories=[STATIC], include_in_schema=False
            ),
        ],
        dependencies={
            "settings": Provide(lambda: settings, sync_to_thread=False),
            "signing": Provide(signing, sync_to_thread=False),
            "today": Provide(lambda: today(), sync_to_thread=False),
        },
        middleware=[
            RequestContextMiddleware(settings),
            AccessMiddleware(settings),
            PasswordChangeMiddleware(),
            DefineMiddleware(BearerAwareCSRFMiddleware, config=csrf_config(settings)),
        ],
        state=State({"settings": settings}),
        stores={STORE_NAME: rate_limit_store or PostgresStore()},
        template_config=template_config(),
        plugins=[HTMXPlugin()],  # every request is an HTMXRequest (web.htmx has the one rule)
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[add_security_headers],
        lifespan=[database_pool],
        # Jobs a stopped server left running; kept files past their retention period.
        on_startup=[recover_interrupted_jobs, startup_clean_up(settings)],
        openapi_config=OpenAPIConfig(
            title="Vaccination Record System API",
            version="1",
            path="/schema",
            # The JSON document only: Swagger UI loads its scripts from a CDN that our CSP
            # (rightly) blocks, so that page never worked; /schema/openapi.json feeds any viewer.
            render_plugins=[JsonRenderPlugin()],
        ),
        logging_config=None,
        debug=False,
    )
