"""Rate limits on the routes an attacker would hammer, counted in the shared store.

Litestar's :class:`~litestar.middleware.rate_limit.RateLimitMiddleware`, with
two changes: the count is one atomic increment in
:class:`~db.security.rate_limits.PostgresStore` (Litestar's own get-then-set
under a per-process lock would let two processes, or two requests across
them, both pass), and the limit is read from the app's settings at request
time, so a handler opts in with one line::

    @post("/lookup", middleware=[rate_limited("identify")])

A limited request gets 429 with ``Retry-After`` and a ja/en message (an HTML
page for browsers, a problem JSON for the API) through :mod:`web.errors`.

Limits (README, settings table): ``sign_in`` per source address,
``inquiry``, ``identify`` and ``national_admin`` (the national admin's changes in a
municipality's area) per account, ``verify`` per source address.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.middleware import DefineMiddleware
from litestar.middleware.rate_limit import (
    DURATION_VALUES,
    DurationUnit,
    RateLimitConfig,
    RateLimitMiddleware,
)
from litestar.types import ASGIApp, Receive, Scope, Send

from common.settings import Settings
from db.security.rate_limits import Budget, BudgetSpent, PostgresStore
from web.errors import AppError
from web.network import NetworkPolicy

#: The name of the store in ``app.stores``.
STORE_NAME = "rate_limit"


class RateLimited(AppError):
    """Too many requests; ``retry_after`` seconds until the window resets."""

    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__("rate_limit.exceeded", seconds=retry_after)
        self.retry_after = retry_after


def source_address(request: Request[Any, Any, Any], settings: Settings) -> str:
    """The client's address (a trusted proxy's X-Forwarded-For believed, as for staff networks)."""
    address = NetworkPolicy.from_settings(settings).client_address(request.scope)
    return str(address) if address is not None else "unknown"


def _account(request: Request[Any, Any, Any], settings: Settings) -> str:
    user = request.scope.get("user")
    return f"account:{user.account_id}" if user is not None else source_address(request, settings)


@dataclass(frozen=True)
class Limit:
    """One named limit: its window, the setting holding its count, and whom it counts."""

    unit: DurationUnit
    setting: str
    who: Callable[[Request[Any, Any, Any], Settings], str]


LIMITS: dict[str, Limit] = {
    "sign_in": Limit("minute", "rate_sign_in_per_minute", source_address),
    "inquiry": Limit("hour", "rate_inquiry_per_hour", _account),
    "identify": Limit("hour", "rate_identify_per_hour", _account),
    "verify": Limit("minute", "rate_verify_per_minute", source_address),
    "national_admin": Limit("hour", "rate_national_admin_per_hour", _account),
}


def settings_of(scope: Scope) -> Settings:
    """The settings the app was built with (``create_app`` keeps them in ``app.state``)."""
    return scope["litestar_app"].state["settings"]


class SharedRateLimitMiddleware(RateLimitMiddleware):
    """Litestar's rate-limit middleware, counting atomically in the shared store."""

    def __init__(self, app: ASGIApp, config: RateLimitConfig, limit: str) -> None:
        super().__init__(app, config)
        self.limit = LIMITS[limit]
        self.name = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await count_against(scope["litestar_app"].request_class(scope), self.name)
        await self.app(scope, receive, send)


async def count_against(request: Request[Any, Any, Any], limit: str) -> None:
    """Count this request against the named limit; :class:`RateLimited` when over it.

    The middleware counts a whole route; a handler calls this itself to count only
    some of its requests (the venue save counts those that depend on who a ticket's
    person is, as the look-up does, and not the usual save).
    """
    budget = budget_of(request, limit)
    if budget is None:
        return
    try:
        await budget.spend()
    except BudgetSpent as spent:
        raise RateLimited(spent.retry_after) from None


def budget_of(request: Request[Any, Any, Any], limit: str) -> Budget | None:
    """The named limit's counter for this request's account or address (None: no limit set).

    The same key and store :func:`count_against` counts in, for work that spends it
    unit by unit (the CSV upload's rows that match no ticket holder spend ``identify``).
    """
    settings = settings_of(request.scope)
    named = LIMITS[limit]
    allowed = int(getattr(settings, named.setting))
    if allowed <= 0:
        return None
    store = request.app.stores.get(STORE_NAME)
    assert isinstance(store, PostgresStore)
    key = f"rate:{limit}:{named.who(request, settings)}"
    return Budget(store, key, allowed, DURATION_VALUES[named.unit])


def rate_limited(limit: str) -> DefineMiddleware:
    """The middleware for one named limit of :data:`LIMITS`, to put on a route handler."""
    if limit not in LIMITS:
        raise ValueError(f"unknown rate limit {limit!r}")
    config = RateLimitConfig(
        rate_limit=(LIMITS[limit].unit, 1),  # the real count comes from the settings
        middleware_class=SharedRateLimitMiddleware,
        store=STORE_NAME,
        set_rate_limit_headers=False,
    )
    return DefineMiddleware(SharedRateLimitMiddleware, config=config, limit=limit)
