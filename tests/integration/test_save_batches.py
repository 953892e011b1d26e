"""Saves in flight at the same moment share the save's statements (db/batches.py).

One statement looks up their bearer tokens (``vrs_principals_for_tokens``),
one reads for all of them (``vrs_save_contexts``), one writes and commits for
all of them (``vrs_save_doses``); each item is still judged and
written on its own, in its own area, and anything unusual still goes to the
locked path: a second dose of one person in the same statement is stale, a
statement that PostgreSQL refuses writes nothing and sends every item to
the slow path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import pytest

from db import batches
from db.accounts.principal import Principal
from db.accounts.queries import create_api_token, principal_for_bearer, revoke_api_token
from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from db.vaccinations import recording
from db.vaccinations.dose_input import parse_dose
from db.vaccines.master import master_data
from tests.factories import create_account, create_municipality, create_resident

PEOPLE = 20
BORN = dt.date(1960, 4, 1)


async def _count(sql: str) -> int:
    async with owner_transaction():
        return int(await current_connection().fetchval(sql))


async def _operator(municipality: str = "131016") -> Principal:
    login = await create_account(role=Role.VENUE_OPERATOR, municipality_code=municipality)
    async with owner_transaction():
        row = await current_connection().fetchrow(
            "SELECT id, venue_id FROM account WHERE login = $1", login
        )
    return Principal(row["id"], login, login, Role.VENUE_OPERATOR, municipality, None,
                     row["venue_id"])  # fmt: skip


def _dose(person: dict[str, Any], *, dose: int = 1, day: str = "2021-06-01") -> Any:
    return parse_dose(
        {"ticket": f"11131016{person['ticket_number']}", "dose_number": str(dose),
         "vaccinated_on": day, "product": "pfizer-comirnaty", "lot_number": "EY0779",
         "volume_ml": "0.3", "doctor_name": "接種 医師", "birth_date": BORN.strftime("%Y%m%d")},
        default_municipality="131016", idempotency_key=uuid.uuid4().hex, source="api",
    )  # fmt: skip


@pytest.fixture
async def statement_sizes(monkeypatch) -> dict[str, list[int]]:
    """How many items each shared statement carried, by function."""
    sizes: dict[str, list[int]] = {}
    run = batches.SharedStatement._run

    async def counted(self: batches.SharedStatement, items: list[dict[str, Any]]) -> Any:
        sizes.setdefault(self.sql.split()[3].split("(")[0], []).append(len(items))
        return await run(self, items)

    monkeypatch.setattr(batches.SharedStatement, "_run", counted)
    async with owner_transaction():
        await master_data(current_connection())  # fresh: judging needs no connection of its own
    return sizes


async def test_saves_in_flight_together_are_read_and_written_by_one_statement_each(
    app, statement_sizes
) -> None:
    await create_municipality("131016")
    operator = await _operator()
    people = [await create_resident("131016", birth_date=BORN) for _ in range(PEOPLE)]
    saved = await asyncio.gather(
        *(
            recording.save_in_two_statements(_dose(p), actor=operator, today=dt.date(2021, 7, 1))
            for p in people
        )  # fmt: skip
    )
    assert all(outcome is not None and outcome[0].created for outcome in saved)
    assert statement_sizes == {"vrs_save_contexts": [PEOPLE], "vrs_save_doses": [PEOPLE]}
    # Each save is whole: its record on its own person, its audit event, its venue-log line.
    assert await _count("SELECT count(DISTINCT resident) FROM vaccination") == PEOPLE
    assert (
        await _count("SELECT count(*) FROM audit_event WHERE action = 'vaccination.create'")
        == PEOPLE
    )
    assert await _count("SELECT count(*) FROM venue_log") == PEOPLE


async def test_a_second_dose_of_one_person_in_the_same_statement_goes_to_the_locked_path(
    app, statement_sizes
) -> None:
    await create_municipality("131016")
    operator = await _operator()
    person = await create_resident("131016", birth_date=BORN)
    today = dt.date(2021, 7, 1)
    first, second = await asyncio.gather(
        recording.save_in_two_statements(_dose(person), actor=operator, today=today),
        recording.save_in_two_statements(_dose(person), actor=operator, today=today),
    )
    assert statement_sizes["vrs_save_doses"] == [2]
    # Both were judged on no doses; the second, written after the first in the same
    # transaction, found a dose it had not judged: stale, nothing written for it.
    assert first is not None and first[0].created and second is None
    assert await _count("SELECT count(*) FROM vaccination") == 1
    assert await _count("SELECT count(*) FROM venue_log") == 1


async def test_the_shared_read_answers_each_item_from_the_area_it_names(app) -> None:
    await create_municipality("131016")
    await create_municipality("011002")
    sapporo = await create_resident("011002")
    read = batches.SharedStatement("vrs_save_contexts")
    ticket = sapporo["ticket_number"]
    in_chiyoda, in_sapporo = await asyncio.gather(
        read({"municipality": "131016", "venue": None, "ticket": ticket, "key": "k1"}),
        read({"municipality": "011002", "venue": None, "ticket": ticket, "key": "k2"}),
    )
    assert in_chiyoda["resident_id"] is None and in_chiyoda["name"] is None
    assert in_sapporo["resident_id"] == sapporo["id"]


async def test_a_shared_write_refused_writes_nothing_and_every_item_takes_the_slow_path(
    app,
) -> None:
    await create_municipality("131016")
    people = [await create_resident("131016") for _ in range(2)]
    write = batches.SharedStatement("vrs_save_doses")

    def item(person: dict[str, Any], volume: str) -> dict[str, Any]:
        return {"municipality": "131016", "resident": str(person["id"]), "judged": [],
                "ticket": person["ticket_number"], "ticket_type": "1", "dose_number": 1,
                "vaccinated_on": "2021-06-01", "venue_name": "会場", "venue": None,
                "doctor": "医師", "product": "pfizer-comirnaty", "lot": "EY0779",
                "volume": volume, "quality": "ok", "reasons": [], "source": "api",
                "key": uuid.uuid4().hex, "actor": None, "actor_role": "venue_operator",
                "fingerprint": "f"}  # fmt: skip

    good, bad = await asyncio.gather(
        write(item(people[0], "0.3")), write(item(people[1], "x")), return_exceptions=True
    )
    assert isinstance(good, batches.SharedStatementRefused)
    assert isinstance(bad, batches.SharedStatementRefused)
    assert await _count("SELECT count(*) FROM vaccination") == 0
    assert await _count("SELECT count(*) FROM audit_event WHERE action = 'vaccination.create'") == 0


async def test_many_tablets_saving_at_once_through_the_api_each_get_their_record(
    client, app
) -> None:
    await create_municipality("131016")
    login = await create_account(role=Role.VENUE_OPERATOR)
    async with owner_transaction():
        account = await current_connection().fetchval(
            "SELECT id FROM account WHERE login = $1", login
        )
        token = await create_api_token(account, "batches")
    people = [await create_resident("131016", birth_date=BORN) for _ in range(PEOPLE)]

    async def save(person: dict[str, Any]) -> Any:
        body = {"ticket": f"12131016{person['ticket_number']}", "dose_number": "1",
                "vaccinated_on": "2021-06-01", "product": "pfizer-comirnaty",
                "lot_number": "EY0779", "volume_ml": "0.3", "doctor_name": "接種 医師",
                "birth_date": "19600401"}  # fmt: skip
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
        return await client.post("/api/v1/vaccinations", json=body, headers=headers)

    # Each person twice at once (two tablets, two keys): one record each, the other refused.
    answers = await asyncio.gather(*(save(p) for p in people * 2))
    created = [a for a in answers if a.status_code == 201]
    assert len(created) == PEOPLE, [a.text[:200] for a in answers if a.status_code != 201][:3]
    assert all(a.status_code == 422 for a in answers if a.status_code != 201)
    assert {a.json()["vaccination_id"] for a in created} == set(str(i) for i in await _ids())
    assert await _count("SELECT count(DISTINCT resident) FROM vaccination") == PEOPLE


async def test_bearer_look_ups_arriving_together_each_find_their_own_account(
    app, statement_sizes
) -> None:
    await create_municipality("131016")
    tokens, logins = [], []
    for n in range(3):
        login = await create_account(f"bearer-{n}", Role.VENUE_OPERATOR)
        async with owner_transaction():
            account = await current_connection().fetchval(
                "SELECT id FROM account WHERE login = $1", login
            )
            tokens.append(await create_api_token(account, "tablet"))
            if n == 2:
                assert await revoke_api_token(account, "tablet")
        logins.append(login)
    found = await asyncio.gather(
        *(principal_for_bearer(token) for token in [*tokens, "vrs_" + "x" * 43])
    )
    assert statement_sizes["vrs_principals_for_tokens"] == [4]
    assert [p.login if p else None for p in found] == [logins[0], logins[1], None, None]


async def _ids() -> list[Any]:
    async with owner_transaction():
        return [r["id"] for r in await current_connection().fetch("SELECT id FROM vaccination")]
