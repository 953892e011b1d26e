"""The one-line guard of a suspended function (確認事項 第10条 emergency stop).

``await refuse_if_suspended(request, "inquiry")`` raises :class:`Suspended` (503, the
notice in the user's language; a JSON problem on ``/api/``) while the national
admin has the function suspended.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.status_codes import HTTP_503_SERVICE_UNAVAILABLE

from db.operations.suspensions import Suspension, active_suspension
from web.errors import AppError
from web.i18n import language_of


class Suspended(AppError):
    """The function is suspended nationwide; the message carries the notice."""

    status_code = HTTP_503_SERVICE_UNAVAILABLE


async def refuse_if_suspended(request: Request[Any, Any, Any], function: str) -> None:
    """Raise :class:`Suspended` if ``function`` is suspended now."""
    suspension = await active_suspension(function)
    if suspension is not None:
        raise Suspended(f"suspension.{function}", notice=suspension.notice(language_of(request)))


async def suspension_notice(function: str) -> Suspension | None:
    """The suspension in force, for pages that show its notice."""
    return await active_suspension(function)
