"""Once an account's look-up budget is spent, no save tells a right birth date from a wrong one.

``VRS_RATE_IDENTIFY_PER_HOUR`` counts the saves that are not the usual one (a wrong birth
date, an unknown ticket, a refused dose), and once it is spent they answer 429. The usual
save (our resident, the right birth date, a dose the rules accept) was stored (201) without
looking at the budget, so beyond it a guesser still told the right birth date (201) from a
wrong one (429), at an unlimited rate. Now the save's read (``vrs_save_contexts``, security
migration 2026-12-07 16:30) says whether the budget is spent, and a spent one sends the save
to the locked path, which refuses it exactly as it refuses a wrong guess: 429, the same
message, the same ``venue.identify_limit`` event, nothing stored. The usual save is still
not counted, another account is not affected, and a new window stores the right guess.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from db.security.piccolo_migrations import security_2026_12_07t16_30_00_000000 as spent_migration
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    csrf_token,
    enrol_device,
    sign_in,
)

BIRTH = dt.date(1958, 9, 14)
WRONG = [BIRTH + dt.timedelta(days=n) for n in range(1, 6)]


def _dose_fields(person: dict[str, Any], birth: dt.date) -> dict[str, str]:
    """A dose the rules accept (a past date, the first dose)."""
    return {"ticket": person["ticket_number"], "municipality_code": "131016",
            "birth_date": birth.isoformat(), "dose_number": "1", "vaccinated_on": "2021-06-22",
            "product": "pfizer-comirnaty", "lot_number": "EY0779", "volume_ml": "0.3",
            "doctor_name": "医師 一郎"}  # fmt: skip


def _app_with_budget(settings: Any, per_hour: int) -> Any:
    from web.app import create_app

    return create_app(dataclasses.replace(settings, rate_identify_per_hour=per_hour),
                      manage_pool=False)  # fmt: skip


@contextlib.asynccontextmanager
async def _signed_in_tablet(app: Any, login: str, host: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(host, 40000)),
        base_url="http://127.0.0.1:8000",
    ) as tablet:
        await sign_in(tablet, login)
        await enrol_device(login, tablet)
        await csrf_token(tablet, "/venue")
        yield tablet


async def _api(tablet: httpx.AsyncClient, person: dict[str, Any], birth: dt.date) -> httpx.Response:
    return await tablet.post(
        "/api/v1/vaccinations", json=_dose_fields(person, birth),
        headers={"x-csrftoken": tablet.cookies.get("vrs_csrf"), "Idempotency-Key": uuid.uuid4().hex},
    )  # fmt: skip


async def _form(
    tablet: httpx.AsyncClient, person: dict[str, Any], birth: dt.date
) -> httpx.Response:
    token = tablet.cookies.get("vrs_csrf")
    return await tablet.post(
        "/venue/doses",
        data={**_dose_fields(person, birth), "idempotency_key": uuid.uuid4().hex,
              "identity_reason": "", "override_reason": "", "_csrf_token": token},
        headers={"HX-Request": "true"},
    )  # fmt: skip


async def _lookup(
    tablet: httpx.AsyncClient, person: dict[str, Any], birth: dt.date
) -> httpx.Response:
    return await tablet.post(
        "/venue/lookup",
        data={"ticket": person["ticket_number"], "municipality_code": "131016",
              "birth_date": birth.isoformat(), "_csrf_token": tablet.cookies.get("vrs_csrf")},
        headers={"HX-Request": "true"},
    )  # fmt: skip


def _answer(response: httpx.Response) -> tuple[int, str, str | None]:
    """What a client sees, the seconds to wait left out (they tick between two requests)."""
    return (response.status_code, re.sub(r"\d+", "N", response.text),
            response.headers.get("content-type"))  # fmt: skip


async def _doses() -> list[dict[str, Any]]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT resident IS NOT NULL AS matched, recorded_by FROM vaccination"
        )
    return [dict(r) for r in rows]


async def _identify_limit_events() -> list[dict[str, Any]]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT municipality_code, object_id, details FROM audit_event"
            " WHERE action = 'venue.identify_limit' ORDER BY occurred_at, id"
        )
    return [{**dict(r), "details": json.loads(r["details"])} for r in rows]


async def _identify_hits() -> dict[str, tuple[int, bool]]:
    """The identify counters: key -> (hits, window still running)."""
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT key, hits, expires_at > now() AS running FROM rate_limit_entry"
            " WHERE key LIKE 'rate:identify:%'"
        )
    return {r["key"]: (r["hits"], r["running"]) for r in rows}


async def _account_id(login: str) -> str:
    async with owner_transaction():
        return str(
            await current_connection().fetchval("SELECT id FROM account WHERE login = $1", login)
        )


async def test_a_right_guess_beyond_the_budget_is_refused_as_a_wrong_one(app, settings) -> None:
    await create_municipality("131016")
    person = await create_resident("131016", birth_date=BIRTH)
    guesser = await create_account("spent-guesser", Role.VENUE_OPERATOR, "131016")
    neighbour = await create_account("spent-neighbour", Role.VENUE_OPERATOR, "131016")
    limited = _app_with_budget(settings, 2)
    async with _signed_in_tablet(limited, guesser, "192.0.2.31") as tablet:
        # The budget: two wrong guesses, answered as such.
        for birth in WRONG[:2]:
            answer = await _api(tablet, person, birth)
            assert answer.status_code == 422 and answer.json()["code"] == "identity_mismatch"
        assert await _doses() == []

        # Beyond it, each route answers a right guess as it answers a wrong one.
        wrong_api = await _api(tablet, person, WRONG[2])
        right_api = await _api(tablet, person, BIRTH)
        assert wrong_api.status_code == 429 and wrong_api.json()["code"] == "rate_limit.exceeded"
        assert _answer(right_api) == _answer(wrong_api), right_api.text
        assert right_api.headers.get("retry-after") is not None

        wrong_form = await _form(tablet, person, WRONG[3])
        right_form = await _form(tablet, person, BIRTH)
        assert wrong_form.status_code == 429
        assert _answer(right_form) == _answer(wrong_form), right_form.text

        wrong_look = await _lookup(tablet, person, WRONG[4])
        right_look = await _lookup(tablet, person, BIRTH)
        assert wrong_look.status_code == 429
        assert _answer(right_look) == _answer(wrong_look), right_look.text
    assert await _doses() == []  # nothing stored, the right guesses included

    # Audited alike: the save routes' refusals, right or wrong, as venue.identify_limit.
    events = await _identify_limit_events()
    assert [e["details"]["channel"] for e in events] == ["api", "api", "tablet", "tablet"]
    assert all(e == events[0] for e in events[:2]) and all(e == events[2] for e in events[2:])
    assert events[0]["object_id"] == await _account_id(guesser)
    assert events[0]["details"]["ticket"] == person["ticket_number"]

    # Another account of the same area has its own budget: its usual save is stored.
    async with _signed_in_tablet(limited, neighbour, "192.0.2.32") as other:
        saved = await _api(other, person, BIRTH)
        assert saved.status_code == 201, saved.text
    assert [d["recorded_by"] for d in await _doses()] == [uuid.UUID(await _account_id(neighbour))]

    # The window runs out: the guesser's counter is an expired row, and the budget is whole.
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE rate_limit_entry SET expires_at = now() - interval '1 second'"
            " WHERE key LIKE 'rate:identify:%'"
        )
    second = await create_resident("131016", birth_date=BIRTH)
    async with _signed_in_tablet(limited, guesser, "192.0.2.31") as tablet:
        saved = await _api(tablet, second, BIRTH)
        assert saved.status_code == 201, saved.text
    assert len(await _doses()) == 2
    # ... and that usual save did not spend it (its counter was not touched).
    assert all(not running for _, running in (await _identify_hits()).values())


async def test_the_spent_budget_migration_goes_back_and_forth(app) -> None:
    """The backward step puts migration 12:00's read back; the forward step this one's."""

    async def result_columns() -> str:
        return str(
            await current_connection().fetchval(
                "SELECT pg_get_function_result(oid) FROM pg_proc WHERE proname = $1",
                "vrs_save_contexts",
            )
        )

    class _Undo(Exception):
        pass

    with contextlib.suppress(_Undo):
        async with owner_transaction():
            assert "identify_spent" in await result_columns()
            await current_connection().execute(spent_migration.backward_sql())
            assert "identify_spent" not in await result_columns()
            assert "key_used boolean" in await result_columns()
            await current_connection().execute(spent_migration.forward_sql())
            assert (await result_columns()).endswith("key_used boolean, identify_spent boolean)")
            raise _Undo


async def test_each_item_of_one_read_has_its_own_budget(app) -> None:
    """One ``vrs_save_contexts`` call: spent, one short, an expired window, no budget at all."""
    from db.engine import tenantless_statement

    await create_municipality("131016")
    person = await create_resident("131016", birth_date=BIRTH)
    async with owner_transaction():
        await current_connection().executemany(
            "INSERT INTO rate_limit_entry (key, hits, expires_at)"
            " VALUES ($1, $2, now() + make_interval(secs => $3))",
            [("rate:identify:account:spent", 3, 3600.0), ("rate:identify:account:short", 2, 3600.0),
             ("rate:identify:account:expired", 9, -1.0)],
        )  # fmt: skip
    items = [
        {"municipality": "131016", "venue": None, "ticket": person["ticket_number"],
         "key": uuid.uuid4().hex, "budget_key": budget_key, "budget_allowed": 3}
        for budget_key in ("rate:identify:account:spent", "rate:identify:account:short",
                           "rate:identify:account:expired", None)
    ]  # fmt: skip
    async with tenantless_statement() as connection:
        rows = await connection.fetch(
            "SELECT item, identify_spent, birth_date FROM vrs_save_contexts($1::jsonb)",
            json.dumps(items),
        )
    assert [(r["item"], r["identify_spent"]) for r in rows] == [
        (0, True), (1, False), (2, False), (3, False)
    ]  # fmt: skip
    assert {r["birth_date"] for r in rows} == {BIRTH}  # the person is read for every item
