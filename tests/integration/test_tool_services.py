"""The db/ services the vrs command uses instead of SQL of its own (look-ups, demo kiosk)."""

from __future__ import annotations

import asyncpg

from db.accounts.queries import account_id_by_login
from db.cards.queries import create_app_client, retire_app_clients
from db.engine import owner_transaction
from db.tenancy.queries import venue_id_by_code
from tests.factories import create_account, create_municipality, create_venue


async def test_a_venue_is_found_by_its_code_in_its_municipality_only(db: str) -> None:
    await create_municipality("131016")
    await create_municipality("131041")
    venue = await create_venue("131016", "V001")
    async with owner_transaction():
        assert await venue_id_by_code("131016", "V001") == venue
        assert await venue_id_by_code("131041", "V001") is None
        assert await venue_id_by_code("131016", "V999") is None


async def test_an_account_is_found_by_its_login(db: str) -> None:
    await create_municipality("131016")
    login = await create_account("tool-clerk")
    async with owner_transaction():
        found = await account_id_by_login(login)
        assert found is not None
        assert await account_id_by_login("nobody") is None


async def test_retiring_a_label_frees_it_and_keeps_an_earlier_revocation_time(db: str) -> None:
    async with owner_transaction():
        await create_app_client("demo-kiosk", kind="kiosk")
    connection = await asyncpg.connect(db)
    try:
        # Revoked earlier (as an admin would), its label kept: the old code stamped it again.
        await connection.execute(
            "UPDATE app_client SET revoked_at = now() - interval '3 days' WHERE label = 'demo-kiosk'"
        )
        earlier = await connection.fetchval("SELECT revoked_at FROM app_client")
        async with owner_transaction():
            assert await retire_app_clients("demo-kiosk") == 1
            await create_app_client("demo-kiosk", kind="kiosk")  # the label is free again
            assert await retire_app_clients("demo-kiosk") == 1
        rows = await connection.fetch(
            "SELECT label, revoked_at FROM app_client ORDER BY created_at"
        )
    finally:
        await connection.close()
    assert [r["revoked_at"] is not None for r in rows] == [True, True]
    assert rows[0]["revoked_at"] == earlier
    assert all(r["label"].startswith("demo-kiosk-") for r in rows)
