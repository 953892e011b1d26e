"""One Idempotency-Key makes one record, even when the tickets belong to different areas.

A key is unique per area in the database; a venue that reused a key for its own
resident and for another area's resident (F8, 住所地外接種) used to get two
records. Whatever the order, the second body with a used key is refused
(``idempotency_key_reused``) and writes nothing; the same body again is still a
replay of the first.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from db.accounts.queries import create_api_token
from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import create_account, create_municipality, create_resident

BORN = dt.date(1960, 4, 1)


@pytest.fixture
async def key_reusing_venue(app) -> dict[str, Any]:
    """A Chiyoda venue's bearer token; a resident at home and one each in Sapporo and Hakodate."""
    for code in ("131016", "011002", "012025"):
        await create_municipality(code)
    login = await create_account("key-venue", Role.VENUE_OPERATOR, "131016")
    async with owner_transaction():
        account = await current_connection().fetchval(
            "SELECT id FROM account WHERE login = $1", login
        )
        token = await create_api_token(account, "tablet")
    people = {code: await create_resident(code, birth_date=BORN) for code in ("131016", "011002", "012025")}  # fmt: skip
    return {"token": token, "people": people}


async def _save(client: Any, venue: dict[str, Any], area: str, key: str) -> Any:
    person = venue["people"][area]
    body = {"ticket": f"11{area}{person['ticket_number']}", "dose_number": "1",
            "vaccinated_on": "2021-06-01", "product": "pfizer-comirnaty", "lot_number": "EY0779",
            "volume_ml": "0.3", "doctor_name": "接種 医師", "birth_date": "19600401"}  # fmt: skip
    headers = {"Authorization": f"Bearer {venue['token']}", "Idempotency-Key": key}
    return await client.post("/api/v1/vaccinations", json=body, headers=headers)


async def _records() -> list[str]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT municipality_code FROM vaccination ORDER BY municipality_code"
        )
    return [r["municipality_code"] for r in rows]


@pytest.mark.parametrize(
    ("first", "second"),
    [("131016", "011002"), ("011002", "131016"), ("011002", "012025")],
    ids=["own-then-elsewhere", "elsewhere-then-own", "two-other-areas"],
)
async def test_a_key_used_in_one_area_is_refused_for_a_ticket_of_another(
    client, key_reusing_venue, first: str, second: str
) -> None:
    key = uuid.uuid4().hex
    assert (await _save(client, key_reusing_venue, first, key)).status_code == 201
    reused = await _save(client, key_reusing_venue, second, key)
    assert reused.status_code == 422, reused.text
    assert reused.json()["code"] == "idempotency_key_reused"
    assert await _records() == [first]
    # The first body again is still a replay of its record, not a new one.
    again = await _save(client, key_reusing_venue, first, key)
    assert again.status_code == 200 and await _records() == [first]
