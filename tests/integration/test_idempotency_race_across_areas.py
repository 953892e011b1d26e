"""One Idempotency-Key, one record, even for two saves sent at the same instant.

Each area's unique index sees only its own records, so the cross-area check
(``vrs_key_used_elsewhere``, ``_key_taken_in_another_area``) alone let two saves
with one key, for tickets of two areas, both pass it before either committed.
Both save paths now take a transaction-level advisory lock on (caller's area,
key) before they look at the key, and look again once they hold it: the
second save is then refused (``idempotency_key_reused``) exactly as a
sequential retry with another body would be.

The first test sends the pairs together, round after round; the next two hold
one save open at the moment the race needs, so they fail on the unlocked code
every time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from db.accounts.principal import Principal
from db.accounts.queries import create_api_token
from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction, tenant_transaction
from db.vaccinations import recording
from db.vaccinations.dose_input import parse_dose
from tests.factories import create_account, create_municipality, create_resident

BORN = dt.date(1960, 4, 1)
HOME, SAPPORO, HAKODATE = "131016", "011002", "012025"
ROUNDS = 12


@pytest.fixture
async def racing_venue(app) -> dict[str, Any]:
    """A Chiyoda venue operator (principal and bearer token); Sapporo and Hakodate accept it."""
    for code in (HOME, SAPPORO, HAKODATE):
        await create_municipality(code)
    login = await create_account("race-venue", Role.VENUE_OPERATOR, HOME)
    async with owner_transaction():
        row = await current_connection().fetchrow(
            "SELECT id, venue_id FROM account WHERE login = $1", login
        )
        token = await create_api_token(row["id"], "tablet")
    principal = Principal(row["id"], login, login, Role.VENUE_OPERATOR, HOME, None,
                          row["venue_id"])  # fmt: skip
    return {"token": token, "principal": principal}


def _body(area: str, person: dict[str, Any]) -> dict[str, str]:
    return {"ticket": f"11{area}{person['ticket_number']}", "dose_number": "1",
            "vaccinated_on": "2021-06-01", "product": "pfizer-comirnaty", "lot_number": "EY0779",
            "volume_ml": "0.3", "doctor_name": "接種 医師", "birth_date": "19600401"}  # fmt: skip


async def _post(client: Any, venue: dict[str, Any], area: str, person: dict[str, Any],
                key: str) -> Any:  # fmt: skip
    headers = {"Authorization": f"Bearer {venue['token']}", "Idempotency-Key": key}
    return await client.post("/api/v1/vaccinations", json=_body(area, person), headers=headers)


async def _records(key: str) -> list[str]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT municipality_code FROM vaccination WHERE idempotency_key = $1", key
        )
    return sorted(r["municipality_code"] for r in rows)


def _one_stored_one_refused(answers: list[Any]) -> bool:
    codes = sorted(a.status_code for a in answers)
    refused = [a for a in answers if a.status_code == 422]
    return codes == [201, 422] and refused[0].json()["code"] == "idempotency_key_reused"


@pytest.mark.parametrize(
    "areas", [(HOME, SAPPORO), (SAPPORO, HAKODATE)], ids=["own-and-elsewhere", "two-other-areas"]
)
async def test_two_saves_sent_together_with_one_key_make_one_record(
    client, racing_venue, areas: tuple[str, str]
) -> None:
    for _ in range(ROUNDS):
        key = uuid.uuid4().hex
        people = [await create_resident(area, birth_date=BORN) for area in areas]
        answers = await asyncio.gather(
            *(_post(client, racing_venue, a, p, key) for a, p in zip(areas, people, strict=True))
        )
        stored = await _records(key)
        assert len(stored) == 1, (stored, [a.text[:120] for a in answers])
        assert _one_stored_one_refused(answers), [a.text[:200] for a in answers]


async def _waiting(watcher: asyncpg.Connection) -> int:
    """How many backends of this database wait for a lock (each call is its own transaction)."""
    return int(
        await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    )


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(2000):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting until {what}")


async def test_an_elsewhere_save_sent_while_the_usual_save_waits_for_its_person_is_refused(
    client, racing_venue
) -> None:
    """The usual save has read the key as new and waits for its person (another tablet holds
    them); the other area's save comes in then. Without the lock it passed its check too."""
    key = uuid.uuid4().hex
    own = await create_resident(HOME, birth_date=BORN)
    other = await create_resident(SAPPORO, birth_date=BORN)
    url = os.environ["DATABASE_URL"]
    holder, watcher = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        hold = holder.transaction()
        await hold.start()
        await holder.execute("SELECT 1 FROM resident WHERE id = $1 FOR UPDATE", own["id"])
        usual = asyncio.create_task(_post(client, racing_venue, HOME, own, key))

        async def one_waits() -> bool:
            return usual.done() or await _waiting(watcher) >= 1

        await _until(one_waits, "the usual save waits for its person")
        elsewhere = asyncio.create_task(_post(client, racing_venue, SAPPORO, other, key))

        async def settled() -> bool:
            return elsewhere.done() or await _waiting(watcher) >= 2

        await _until(settled, "the second save is done or waits")
        await hold.rollback()
        answers = await asyncio.gather(usual, elsewhere)
    finally:
        await holder.close()
        await watcher.close()
    assert await _records(key) == [HOME], [a.text[:200] for a in answers]
    assert answers[0].status_code == 201
    assert _one_stored_one_refused(answers), [a.text[:200] for a in answers]


def _dose(area: str, person: dict[str, Any], key: str) -> Any:
    return parse_dose(_body(area, person), default_municipality=HOME, idempotency_key=key,
                      source="api")  # fmt: skip


async def _save_as_the_route_does(principal: Principal, dose: Any, today: dt.date) -> Any:
    """The usual save, else the locked path (``web.controllers.venue._record``, unlimited)."""
    saved = await recording.save_in_two_statements(dose, actor=principal, today=today)
    if saved is not None:
        return saved[0]
    async with tenant_transaction(principal.tenant):
        venue = await recording.venue_of(principal)
        return (await recording.record_dose(dose, venue=venue, actor=principal, today=today))[0]


async def test_the_usual_save_while_another_areas_save_is_not_yet_committed_is_refused(
    racing_venue,
) -> None:
    """The other area's save has checked the key and written, not yet committed; the usual
    save reads the key as new then. Without the lock its write went through as well."""
    key = uuid.uuid4().hex
    own = await create_resident(HOME, birth_date=BORN)
    other = await create_resident(SAPPORO, birth_date=BORN)
    principal: Principal = racing_venue["principal"]
    today = dt.date(2021, 7, 1)
    written, commit = asyncio.Event(), asyncio.Event()

    async def elsewhere() -> Any:
        async with tenant_transaction(principal.tenant):
            venue = await recording.venue_of(principal)
            recorded, _ = await recording.record_dose(
                _dose(SAPPORO, other, key), venue=venue, actor=principal, today=today
            )
            written.set()
            await commit.wait()
        return recorded

    async def usual() -> Any:
        await written.wait()
        return await _save_as_the_route_does(principal, _dose(HOME, own, key), today)

    first, second = asyncio.create_task(elsewhere()), asyncio.create_task(usual())
    watcher = await asyncpg.connect(os.environ["DATABASE_URL"])
    try:

        async def settled() -> bool:
            return first.done() or second.done() or await _waiting(watcher) >= 1

        await _until(settled, "the usual save is done or waits")
    finally:
        await watcher.close()
        commit.set()
    outcomes = await asyncio.gather(first, second, return_exceptions=True)
    assert await _records(key) == [SAPPORO], outcomes
    assert isinstance(outcomes[0], recording.Recorded) and outcomes[0].created
    assert isinstance(outcomes[1], recording.IdempotencyConflict), outcomes[1]
