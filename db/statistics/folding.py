"""Folding the pending dose changes into the counts, in the background (F6).

The dose triggers only append to ``dose_change`` (no shared row, so saves
never wait for each other's counter locks); readers add the pending changes
to the folded counts (``dose_count_now``, ``dose_rollup_now``), so a page is
exact at any moment. Folding keeps ``dose_change`` short: every few seconds
one server process moves the changes into ``dose_count`` in a transaction of
its own (``vrs_fold_dose_changes``; a second caller at the same moment
returns at once).
"""

from __future__ import annotations

import asyncio
import logging

from db.engine import DatabaseUnavailable, tenantless_statement

#: Seconds between two folds: pages stay exact without it, this only bounds the pending rows.
FOLD_EVERY = 2.0

log = logging.getLogger("vrs.statistics")


async def fold_dose_changes() -> int:
    """Fold what is pending now; the number of count rows it changed (0 if another process folds)."""
    async with tenantless_statement() as connection:
        return int(await connection.fetchval("SELECT vrs_fold_dose_changes()"))


async def keep_folding(every: float = FOLD_EVERY) -> None:
    """Fold every ``every`` seconds until cancelled; a database outage only delays it."""
    while True:
        await asyncio.sleep(every)
        try:
            await fold_dose_changes()
        except (DatabaseUnavailable, OSError) as exc:
            log.info("dose counts not folded this time: %s", exc)
        except Exception:
            log.exception("folding the dose counts failed")
