"""Soak: 50 tablets save 5,000 doses against the real server; every acknowledged save is there once.

The tablets are the ones of ``bench/soak.py`` (each its own venue operator and
session, saving like ``web/static/venue.js``: one Idempotency-Key per save,
retried on a network error or a 5xx). The bench runs the same for longer.
"""

from __future__ import annotations

import pytest

from bench.soak import count_against, figures, run_tablets, seed_in_subprocess, sign_in_tablet
from tests.server_process import vrs_server

TABLETS = 50
SAVES = 5000

pytestmark = pytest.mark.xdist_group("soak")


async def test_50_tablets_save_5000_doses_with_none_lost_duplicated_or_refused(
    db: str, tmp_path
) -> None:
    seeded = seed_in_subprocess(db, TABLETS, SAVES)
    with vrs_server(db, workers=2, pool=8, log_path=tmp_path / "server.log") as base:
        tablets = [
            await sign_in_tablet(base, login, seeded["password"], seeded["devices"][login])
            for login in seeded["logins"]
        ]
        try:
            result = await run_tablets(tablets, SAVES)
        finally:
            for tablet in tablets:
                await tablet.client.aclose()
    count = await count_against(db, result)
    shown = figures(result, count)
    print("soak figures (shared CPU):", shown)
    assert result.errors == []
    assert len(result.acknowledged) == SAVES and result.created == SAVES
    assert count.records == SAVES
    assert (count.lost, count.duplicated, count.unacknowledged) == (0, 0, 0)
