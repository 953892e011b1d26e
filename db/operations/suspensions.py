"""Nationwide emergency stops (確認事項 第10条): suspend a function with a notice, lift it.

Every change is a new ``suspension_event`` row (who, when, notice); the state of a
function is its latest event. Each guard is one line::

    if (stop := await active_suspension("inquiry")) is not None: ...

or, in a request handler, :func:`web.suspension_guard.refuse_if_suspended`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from db.engine import current_connection, tenant_transaction

#: The functions the national admin may suspend.
FUNCTIONS = ("kiosk_issuance", "app_issuance", "inquiry")
NOTICE_MAX = 1000


class SuspensionError(ValueError):
    """A suspension request is not acceptable; ``key`` names the message."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Suspension:
    """A function suspended nationwide: since when, by whom, with which notice."""

    function: str
    notice_ja: str
    notice_en: str
    since: dt.datetime
    by: str

    def notice(self, language: str) -> str:
        """The notice in ``language`` (Japanese when there is no English one)."""
        return self.notice_en if language == "en" and self.notice_en else self.notice_ja

    def to_dict(self) -> dict[str, Any]:
        """For the kiosk's heartbeat answer and the JSON problems."""
        return {
            "function": self.function,
            "notice_ja": self.notice_ja,
            "notice_en": self.notice_en,
            "since": self.since.isoformat(),
        }


def _check_function(function: str) -> None:
    if function not in FUNCTIONS:
        raise SuspensionError("suspension.function_unknown")


def _suspension(row: Any) -> Suspension | None:
    if row is None or row["action"] != "suspend":
        return None
    return Suspension(
        row["function"], row["notice_ja"], row["notice_en"], row["occurred_at"], row["actor_login"]
    )


async def _latest(function: str) -> Suspension | None:
    row = await current_connection().fetchrow(
        "SELECT function, action, notice_ja, notice_en, occurred_at, actor_login"
        " FROM suspension_event WHERE function = $1 ORDER BY occurred_at DESC, id LIMIT 1",
        function,
    )
    return _suspension(row)


async def active_suspension(function: str) -> Suspension | None:
    """The suspension in force for ``function``, or ``None`` (in its own read-only transaction)."""
    _check_function(function)
    async with tenant_transaction(None):
        return await _latest(function)


async def active_suspensions() -> dict[str, Suspension | None]:
    """Every function's state, inside the caller's transaction."""
    return {function: await _latest(function) for function in FUNCTIONS}


async def suspend(
    function: str, notice_ja: str, notice_en: str, actor: UUID | None, actor_login: str
) -> None:
    """Suspend ``function`` nationwide (or change the notice of a suspension in force)."""
    _check_function(function)
    notice_ja, notice_en = notice_ja.strip(), notice_en.strip()
    if not notice_ja:
        raise SuspensionError("suspension.notice_required")
    if len(notice_ja) > NOTICE_MAX or len(notice_en) > NOTICE_MAX:
        raise SuspensionError("suspension.notice_too_long")
    await _record(function, "suspend", notice_ja, notice_en, actor, actor_login)


async def lift(function: str, actor: UUID | None, actor_login: str) -> None:
    """Lift the suspension of ``function``; lifting one not in force is refused."""
    _check_function(function)
    if await _latest(function) is None:
        raise SuspensionError("suspension.not_suspended")
    await _record(function, "lift", "", "", actor, actor_login)


async def _record(
    function: str, action: str, notice_ja: str, notice_en: str, actor: UUID | None, login: str
) -> None:
    connection = current_connection()
    await connection.execute("SELECT pg_advisory_xact_lock(hashtext('suspension_event'))")
    await connection.execute(
        "INSERT INTO suspension_event (id, function, action, notice_ja, notice_en, actor,"
        " actor_login, occurred_at) VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, $6,"
        " clock_timestamp())",
        function, action, notice_ja, notice_en, actor, login,
    )  # fmt: skip
    await connection.execute(
        "INSERT INTO audit_event (municipality_code, occurred_at, actor, actor_role, action,"
        " object_type, object_id, details) VALUES (NULL, now(), $1, 'national_admin', $2,"
        " 'function', $3, jsonb_build_object('notice_ja', $4::text))",
        actor, f"suspension.{action}", function, notice_ja,
    )  # fmt: skip


async def history(limit: int = 200) -> list[dict[str, Any]]:
    """Every change, newest first."""
    rows = await current_connection().fetch(
        "SELECT function, action, notice_ja, notice_en, actor_login, occurred_at"
        " FROM suspension_event ORDER BY occurred_at DESC, id LIMIT $1",
        limit,
    )
    return [dict(row) for row in rows]
