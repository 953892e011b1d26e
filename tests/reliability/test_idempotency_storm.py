"""Idempotency storms: one key sent 50 times at once makes exactly one record, on every keyed route.

Routes that take an idempotency key: ``POST /api/v1/vaccinations`` (its storm
is ``tests/integration/test_venue.py::test_one_key_sent_50_times_concurrently_makes_exactly_one_record``),
the tablet's form save ``POST /venue/doses`` (``idempotency_key`` field) and
``POST /api/v1/certificates`` (Idempotency-Key header). Corrections carry no key
(a correction is judged against the record it changes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from db.accounts.queries import create_api_token
from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    csrf_token,
    enrol_device,
    sign_in,
)

STORM = 50


@pytest.fixture
def today() -> dt.date:
    return dt.date(2021, 7, 1)


async def count(sql: str, *args) -> int:
    async with owner_transaction():
        return await current_connection().fetchval(sql, *args)


async def test_the_tablet_form_saved_50_times_at_once_with_one_key_makes_one_record(
    client, today
) -> None:
    await create_municipality("131016")
    operator = await create_account("storm-op", Role.VENUE_OPERATOR, "131016")
    person = await create_resident("131016", ticket_number="0000000001")
    await enrol_device(operator, client)
    await sign_in(client, operator)
    csrf = await csrf_token(client, "/venue")
    key = uuid.uuid4().hex
    form = {"ticket": "11131016" + person["ticket_number"], "dose_number": "1",
            "vaccinated_on": "2021-06-22", "product": "pfizer-comirnaty", "lot_number": "EY0779",
            "volume_ml": "0.3", "doctor_name": "接種 医師", "idempotency_key": key,
            "birth_date": "19600401",
            "_csrf_token": csrf}  # fmt: skip
    responses = await asyncio.gather(
        *(
            client.post("/venue/doses", data=form, headers={"HX-Request": "true"})
            for _ in range(STORM)
        )
    )
    assert [r.status_code for r in responses] == [200] * STORM
    assert (
        sum('data-testid="saved"' in r.text or "記録しました" in r.text for r in responses) == STORM
    )
    assert await count("SELECT count(*) FROM vaccination WHERE idempotency_key = $1", key) == 1
    assert await count("SELECT count(*) FROM vaccination") == 1


async def test_a_certificate_requested_50_times_at_once_with_one_key_is_issued_once(
    client, signing_ready
) -> None:
    await create_municipality("131016")
    login = await create_account(role=Role.CLERK)
    async with owner_transaction():
        account = await current_connection().fetchval(
            "SELECT id FROM account WHERE login = $1", login
        )
        token = await create_api_token(account, "storm")
    person = await create_resident("131016")
    await create_vaccination(person)
    body = {"resident_id": str(person["id"]), "kind": "overseas", "passport_number": "TK7654321",
            "nationality": "JPN", "family_name_roman": "SATO", "given_name_roman": "HANAKO"}  # fmt: skip
    headers = {
        "Authorization": f"Bearer {token}",
        "Idempotency-Key": "storm-" + uuid.uuid4().hex[:16],
    }
    responses = await asyncio.gather(
        *(client.post("/api/v1/certificates", json=body, headers=headers) for _ in range(STORM))
    )
    assert [r.status_code for r in responses] == [201] * STORM, {
        r.status_code: r.text[:300] for r in responses
    }
    assert len({r.headers["x-certificate-id"] for r in responses}) == 1
    assert len({r.content for r in responses}) == 1  # the same PDF every time
    assert await count("SELECT count(*) FROM certificate_issuance") == 1
    assert await count("SELECT count(*) FROM audit_event WHERE action = 'certificate.issue'") == 1
