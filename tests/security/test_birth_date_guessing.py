"""Saving a dose is no way around the look-up's limit to guess a person's birth date.

Found by the outside probe: ``POST /venue/lookup`` counts against
``VRS_RATE_IDENTIFY_PER_HOUR``, but the save routes (``/venue/doses``, ``/api/v1/vaccinations``)
compare the stated birth date too, and answered without any limit: ``identity_mismatch``
for a wrong guess, and for the right one the rules' refusal of a dose dated in the future
(nothing stored). A venue account could so test every birth date of a ticket's holder in
minutes. Now every save the usual case did not store counts as a look-up; the usual save
(our resident, the right birth date, a dose the rules accept) is not counted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import uuid
from collections.abc import AsyncIterator

import httpx

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    csrf_token,
    enrol_device,
    sign_in,
)

BIRTH = dt.date(1960, 4, 1)


def _dose(person, birth: dt.date, vaccinated_on: str = "2099-01-01") -> dict[str, str]:
    return {"ticket": person["ticket_number"], "municipality_code": "131016",
            "birth_date": birth.isoformat(), "dose_number": "1", "vaccinated_on": vaccinated_on,
            "product": "pfizer-comirnaty", "lot_number": "EY0779", "volume_ml": "0.3",
            "doctor_name": "医師 一郎"}  # fmt: skip


async def _stored() -> int:
    async with owner_transaction():
        return int(await current_connection().fetchval("SELECT count(*) FROM vaccination"))


@contextlib.asynccontextmanager
async def _tablet(app, login: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("192.0.2.20", 40000)),
        base_url="http://127.0.0.1:8000",
    ) as tablet:
        await sign_in(tablet, login)
        await enrol_device(login, tablet)
        yield tablet


def _limited(settings, per_hour: int):
    from web.app import create_app

    return create_app(dataclasses.replace(settings, rate_identify_per_hour=per_hour),
                      manage_pool=False)  # fmt: skip


async def test_guessing_a_birth_date_through_the_save_api_is_limited(app, settings) -> None:
    await create_municipality("131016")
    person = await create_resident("131016", birth_date=BIRTH)
    login = await create_account("guessing-venue", Role.VENUE_OPERATOR, "131016")
    async with _tablet(_limited(settings, 3), login) as tablet:
        token = await csrf_token(tablet, "/venue")

        async def guess(birth: dt.date) -> httpx.Response:
            return await tablet.post(
                "/api/v1/vaccinations", json=_dose(person, birth),
                headers={"x-csrftoken": token, "Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip

        answers = [await guess(BIRTH + dt.timedelta(days=day)) for day in range(1, 6)]
        assert [a.status_code for a in answers[:3]] == [422, 422, 422]
        assert answers[0].json()["code"] == "identity_mismatch"
        assert [a.status_code for a in answers[3:]] == [429, 429]
        right = await guess(BIRTH)
        assert right.status_code == 429  # the right guess tells nothing either
        assert right.json()["code"] == "rate_limit.exceeded"
    assert await _stored() == 0


async def test_guessing_through_the_tablet_form_is_limited_too(app, settings) -> None:
    await create_municipality("131016")
    person = await create_resident("131016", birth_date=BIRTH)
    login = await create_account("guessing-form", Role.VENUE_OPERATOR, "131016")
    async with _tablet(_limited(settings, 2), login) as tablet:
        token = await csrf_token(tablet, "/venue")
        codes = []
        for birth in (BIRTH + dt.timedelta(days=1), BIRTH + dt.timedelta(days=2), BIRTH):
            answer = await tablet.post(
                "/venue/doses",
                data={**_dose(person, birth), "idempotency_key": uuid.uuid4().hex,
                      "identity_reason": "", "override_reason": "", "_csrf_token": token},
                headers={"HX-Request": "true"},
            )  # fmt: skip
            codes.append(answer.status_code)
        assert codes[2] == 429, codes
    assert await _stored() == 0


async def test_the_usual_save_is_not_counted(app, settings) -> None:
    """A busy tablet's saves (our residents, the right birth date) never meet the limit."""
    await create_municipality("131016")
    people = [await create_resident("131016", birth_date=BIRTH) for _ in range(4)]
    login = await create_account("busy-venue", Role.VENUE_OPERATOR, "131016")
    async with _tablet(_limited(settings, 1), login) as tablet:
        token = await csrf_token(tablet, "/venue")
        for person in people:
            saved = await tablet.post(
                "/api/v1/vaccinations", json=_dose(person, BIRTH, "2021-06-22"),
                headers={"x-csrftoken": token, "Idempotency-Key": uuid.uuid4().hex},
            )  # fmt: skip
            assert saved.status_code == 201, saved.text
    assert await _stored() == 4
