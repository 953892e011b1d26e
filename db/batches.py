"""Saves that arrive together share one statement (issue 16).

Under load a server process has many venue saves in flight at once. Each of
them needs the same read (``vrs_save_context``) and the same write
(``vrs_save_dose``); sent one by one, every save pays a full exchange with
PostgreSQL for each, and every write its own commit. A :class:`SharedStatement`
sends whatever is waiting as one call of the list form of the function
(``vrs_save_contexts`` / ``vrs_save_doses``, security migration 2026-12-07
12:00): one exchange, and for the writes one commit, for all of them.

Nobody waits for a batch to fill: when no call of the statement is running,
the first caller's item is sent at once, alone. Items that arrive while a
call runs are sent together as soon as it returns. So a quiet server behaves
as before (one item per statement), and a busy one sends fewer, larger
statements.

Each item gets its own answer row (matched by its index; ``None`` if the
function answered nothing for it). When PostgreSQL refused the statement as a
whole (a unique index, a deadlock, a bad value in one item) nothing of it was
written and every caller gets :class:`SharedStatementRefused`: each then takes
its slow path (for the save: the locked
:func:`db.vaccinations.recording.record_dose`), exactly as for a race it lost.
When the database could not be reached, every caller gets that error, as it
would have alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from db.engine import tenantless_statement

log = logging.getLogger("vrs.save")

#: At most this many items in one statement (a statement holds its people's locks to its end).
LIMIT = 64


class SharedStatementRefused(Exception):
    """PostgreSQL refused the shared statement as a whole: nothing of it was written."""


@dataclass
class _Queue:
    """One statement's waiting items, in one event loop."""

    waiting: list[tuple[dict[str, Any], asyncio.Future[Any]]] = field(default_factory=list)
    #: The task sending them (kept here: the loop holds its tasks only weakly).
    sending: asyncio.Task[None] | None = None


class SharedStatement:
    """One SQL function taking a JSON list of items, called for many callers at once."""

    def __init__(self, function: str) -> None:
        if not function.isidentifier():
            raise ValueError(function)
        self.sql = f"SELECT * FROM {function}($1::jsonb)"
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, item: dict[str, Any]) -> Any:
        """This item's answer row (None: no row for it).

        Raises :class:`SharedStatementRefused` (take the slow path) or the
        error that kept the statement from running (the database unavailable).
        """
        loop = asyncio.get_running_loop()
        queue = self._queues.setdefault(loop, _Queue())
        answer: asyncio.Future[Any] = loop.create_future()
        queue.waiting.append((item, answer))
        if queue.sending is None:
            queue.sending = loop.create_task(self._send(queue))
        return await answer

    async def _send(self, queue: _Queue) -> None:
        batch: list[tuple[dict[str, Any], asyncio.Future[Any]]] = []
        try:
            while queue.waiting:
                batch, queue.waiting = queue.waiting[:LIMIT], queue.waiting[LIMIT:]
                try:
                    rows = await self._run([item for item, _ in batch])
                except Exception as failed:
                    for _, answer in batch:
                        if not answer.done():
                            answer.set_exception(failed)
                else:
                    for n, (_, answer) in enumerate(batch):
                        if not answer.done():
                            answer.set_result(rows.get(n))
                batch = []
        except BaseException:  # cancelled (the loop is closing): nobody is left waiting
            for _, answer in [*batch, *queue.waiting]:
                answer.cancel()
            queue.waiting = []
            raise
        finally:
            queue.sending = None

    async def _run(self, items: list[dict[str, Any]]) -> dict[int, Any]:
        try:
            async with tenantless_statement() as connection:
                rows = await connection.fetch(self.sql, json.dumps(items, ensure_ascii=False))
        except asyncpg.PostgresError as refused:
            log.info("%s refused for %d items (%s); each takes the slow path",
                     self.sql, len(items), refused.sqlstate)  # fmt: skip
            raise SharedStatementRefused(refused.sqlstate) from refused
        return {row["item"]: row for row in rows}
