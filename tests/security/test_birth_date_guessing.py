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
import json
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


async def _api_save(tablet: httpx.AsyncClient, person, birth: dt.date,
                    vaccinated_on: str = "2099-01-01") -> httpx.Response:  # fmt: skip
    """One save through the API, with a fresh Idempotency-Key."""
    return await tablet.post(
        "/api/v1/vaccinations", json=_dose(person, birth, vaccinated_on),
        headers={"x-csrftoken": tablet.cookies.get("vrs_csrf"), "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip


async def test_guessing_a_birth_date_through_the_save_api_is_limited(app, settings) -> None:
    await create_municipality("131016")
    person = await create_resident("131016", birth_date=BIRTH)
    login = await create_account("guessing-venue", Role.VENUE_OPERATOR, "131016")
    async with _tablet(_limited(settings, 3), login) as tablet:
        await csrf_token(tablet, "/venue")

        async def guess(birth: dt.date) -> httpx.Response:
            return await _api_save(tablet, person, birth)

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
        await csrf_token(tablet, "/venue")
        for person in people:
            saved = await _api_save(tablet, person, BIRTH, "2021-06-22")
            assert saved.status_code == 201, saved.text
    assert await _stored() == 4


# --- The CSV upload (F3/F8): its rows that match no holder spend the same budget -------

HEADER = "ticket,municipality_code,birth_date,dose_number,vaccinated_on,product,lot_number,volume_ml,doctor_name"


def _csv_row(person, birth: dt.date, day: int, **extra: str) -> str:
    """One dose row; ``day`` (of June 2021) makes each row a save of its own (its own key)."""
    cells = [person["ticket_number"], "131016", birth.isoformat(), "1", f"2021-06-{day:02d}",
             "pfizer-comirnaty", "EY0779", "0.3", "医師 一郎", *extra.values()]  # fmt: skip
    return ",".join(cells)


async def _upload(tablet: httpx.AsyncClient, rows: list[str], header: str = HEADER,
                  language: str = "ja") -> httpx.Response:  # fmt: skip
    token = await csrf_token(tablet, "/venue/upload")
    return await tablet.post(
        "/venue/upload", params={"lang": language}, data={"_csrf_token": token},
        files={"file": ("doses.csv", "\r\n".join([header, *rows]).encode(), "text/csv")},
    )  # fmt: skip


async def _chiyoda_venue_and_person(login: str) -> tuple[str, dict]:
    """千代田区, a venue account of it, and one resident born on BIRTH."""
    await create_municipality("131016")
    person = await create_resident("131016", birth_date=BIRTH)
    return await create_account(login, Role.VENUE_OPERATOR, "131016"), person


async def _doses() -> list[dict]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT vaccinated_on, resident IS NOT NULL AS matched, quality FROM vaccination"
            " ORDER BY vaccinated_on"
        )
    return [dict(r) for r in rows]


async def _limit_events() -> list[dict]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT municipality_code, object_id, details FROM audit_event"
            " WHERE action = 'venue.identify_limit' ORDER BY occurred_at"
        )
    return [{**dict(r), "details": json.loads(r["details"])} for r in rows]


async def test_guessing_a_birth_date_row_by_row_in_a_csv_upload_is_limited(app, settings) -> None:
    """Each wrong birth date spends the budget; once spent, the rest of the file is refused
    unread, the right guess included (its answer would tell the birth date), and audited."""
    login, person = await _chiyoda_venue_and_person("guessing-csv")
    async with _tablet(_limited(settings, 3), login) as tablet:
        guesses = [_csv_row(person, BIRTH + dt.timedelta(days=n), day=n) for n in range(1, 7)]
        right = _csv_row(person, BIRTH, day=22)
        answer = await _upload(tablet, [*guesses, right])
        assert answer.status_code == 200, answer.text
        # Lines 2-4: the budget's three guesses, kept unmatched (要修正) as before.
        assert answer.text.count("生年月日が接種券の方と一致しないため") == 3
        # Lines 5-8 (the right birth date on line 8): refused with the limit's message.
        refused = "上限 3 件に達したため、この行から後は受け付けません"
        for line in (5, 6, 7, 8):
            assert f"{line}行目（ticket）：登録していません（照合もしていません）" in answer.text
        assert answer.text.count(refused) == 4
        assert "7行中 0件を登録、0件は登録済み、4件を登録できませんでした" in answer.text
        assert [d["matched"] for d in await _doses()] == [False, False, False]  # 06-01..03

        # The budget stays spent: the next file is refused whole, in English too.
        again = await _upload(tablet, [right], language="en")
        assert "has reached its limit of 3 rows an hour that match no ticket holder" in again.text
        assert "Upload them again from this row in about" in again.text
    assert len(await _doses()) == 3  # nothing stored for a refused row, the right one included
    events = await _limit_events()
    assert [e["details"]["channel"] for e in events] == ["csv", "csv"]
    assert events[0]["municipality_code"] == "131016"
    assert {k: events[0]["details"][k] for k in ("first_line", "rows_refused", "limit", "ticket")} \
        == {"first_line": 5, "rows_refused": 4, "limit": 3, "ticket": person["ticket_number"]}  # fmt: skip


async def test_api_saves_and_csv_rows_spend_one_budget(app, settings) -> None:
    login, person = await _chiyoda_venue_and_person("sharing-budget")
    async with _tablet(_limited(settings, 3), login) as tablet:
        await csrf_token(tablet, "/venue")
        first = await _api_save(tablet, person, BIRTH + dt.timedelta(days=1), "2021-06-22")
        assert first.status_code == 422  # 1 spent
        answer = await _upload(tablet, [_csv_row(person, BIRTH + dt.timedelta(days=n), day=n)
                                        for n in (2, 3, 4)])  # fmt: skip
        assert answer.text.count("生年月日が接種券の方と一致しないため") == 2  # 2 and 3 spent
        assert "4行目（ticket）：登録していません" in answer.text
        over = await _api_save(tablet, person, BIRTH + dt.timedelta(days=5), "2021-06-22")
        assert over.status_code == 429 and over.json()["code"] == "rate_limit.exceeded"
    assert len(await _doses()) == 2
    # The API's refusal is audited like the upload's.
    assert [e["details"]["channel"] for e in await _limit_events()] == ["csv", "api"]


async def test_matching_csv_rows_never_spend_the_budget(app, settings) -> None:
    """An honest clinic's file: its matching rows are not counted, a typo is (one unit)."""
    await create_municipality("131016")
    people = [await create_resident("131016", birth_date=BIRTH) for _ in range(6)]
    login = await create_account("honest-clinic", Role.VENUE_OPERATOR, "131016")
    async with _tablet(_limited(settings, 2), login) as tablet:
        answer = await _upload(tablet, [_csv_row(p, BIRTH, day=22) for p in people[:4]])
        assert "4行中 4件を登録" in answer.text, answer.text
        typo = _csv_row(people[4], BIRTH + dt.timedelta(days=1), day=22)
        answer = await _upload(tablet, [typo, _csv_row(people[5], BIRTH, day=22)])
        assert "2行中 1件を登録" in answer.text and "上限" not in answer.text, answer.text
        # One unit of two is left: the API's next non-usual save is answered, not refused.
        await csrf_token(tablet, "/venue")
        guess = await _api_save(tablet, people[0], BIRTH + dt.timedelta(days=1))
        assert guess.status_code == 422 and guess.json()["code"] == "identity_mismatch"
    assert sorted(d["matched"] for d in await _doses()) == [False] + [True] * 5
    assert await _limit_events() == []


async def test_an_identity_reason_column_does_not_put_a_row_on_the_holder(app, settings) -> None:
    """The tablet's override (the registry's birth date is wrong) is no CSV column: a row that
    does not match stays unmatched, and spends the budget, whatever column the file adds."""
    login, person = await _chiyoda_venue_and_person("override-csv")
    async with _tablet(_limited(settings, 1), login) as tablet:
        wrong = _csv_row(person, BIRTH + dt.timedelta(days=1), day=1, reason="住民票の誤記")
        answer = await _upload(tablet, [wrong, wrong.replace("2021-06-01", "2021-06-02")],
                               header=HEADER + ",identity_reason")  # fmt: skip
        assert "生年月日が接種券の方と一致しないため" in answer.text
        assert "3行目（ticket）：登録していません" in answer.text
    assert [d["matched"] for d in await _doses()] == [False]


async def test_every_kind_of_row_that_matches_no_holder_spends_the_budget(app, settings) -> None:
    """Our own area: a ticket nobody holds (kept unmatched), a wrong birth date whose dose is
    refused anyway (a date in the future), a wrong birth date (kept unmatched); then the limit."""
    login, person = await _chiyoda_venue_and_person("every-kind")
    async with _tablet(_limited(settings, 3), login) as tablet:
        unknown = {**person, "ticket_number": "9999999999"}
        future = _csv_row(person, BIRTH + dt.timedelta(days=2), day=2).replace("2021-", "2099-")
        answer = await _upload(tablet, [
            _csv_row(unknown, BIRTH, day=1), future, _csv_row(person, BIRTH + dt.timedelta(days=3), day=3),
            _csv_row(person, BIRTH, day=22)])  # fmt: skip
        assert "5行目（ticket）：登録していません（照合もしていません）" in answer.text, answer.text
        assert answer.text.count("登録していません（照合もしていません）") == 1  # line 5 only
    assert [d["matched"] for d in await _doses()] == [False, False]  # 06-01 unknown, 06-03


async def test_another_areas_rows_that_match_no_holder_spend_the_budget(app, settings) -> None:
    """F8 from a Sapporo venue: a Chiyoda ticket nobody holds (refused), a Chiyoda resident's
    wrong birth date (kept unmatched in Chiyoda); then the limit, for the right one too."""
    await create_municipality("131016")
    await create_municipality("011002")
    person = await create_resident("131016", birth_date=BIRTH)
    login = await create_account("sapporo-csv", Role.VENUE_OPERATOR, "011002")
    async with _tablet(_limited(settings, 2), login) as tablet:
        unknown = {**person, "ticket_number": "9999999999"}
        answer = await _upload(tablet, [
            _csv_row(unknown, BIRTH, day=1), _csv_row(person, BIRTH + dt.timedelta(days=2), day=2),
            _csv_row(person, BIRTH, day=22)])  # fmt: skip
        assert (
            "2行目（ticket）：接種券（131016 の券番号 9999999999）と生年月日で確認できません"
            in answer.text
        )
        assert "4行目（ticket）：登録していません（照合もしていません）" in answer.text, answer.text
    assert [d["matched"] for d in await _doses()] == [False]
