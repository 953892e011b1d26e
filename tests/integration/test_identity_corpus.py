"""An adversarial corpus: kinds of mistake × paths (tablet, API, CSV); none may be stored silently.

"Caught" means refused (nothing stored) or stored for a clerk (要修正/要確認, or
unmatched on nobody). "Stored silently" means a new record with quality ok, or
any record on a person the dose was not confirmed for. Every case asserts it
was caught; the closing note of issue 13 counts them. Twins sharing a birth date
are not in the corpus: the birth date cannot tell them apart (the panel's name
is the second look, and the UI says so).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

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

PATHS = ("tablet", "api", "csv")
BORN = "1960-04-01"
CSV_HEADER = "ticket,municipality_code,birth_date,dose_number,vaccinated_on,product,lot_number,volume_ml,doctor_name"


@pytest.fixture
def today() -> dt.date:
    return dt.date(2022, 9, 1)


@dataclass
class World:
    client: object
    csrf: str
    people: dict[str, dict]


#: ticket → (name, birth date); pairs one misread digit apart (1↔4, 7↔1, 3↔8).
PEOPLE = {
    "0000000001": ("本人 一", dt.date(1960, 4, 1)), "0000000004": ("他人 四", dt.date(1971, 2, 3)),
    "0000000070": ("本人 七", dt.date(1960, 4, 1)), "0000000010": ("他人 一", dt.date(1988, 12, 30)),
    "0000000003": ("本人 三", dt.date(1960, 4, 1)), "0000000008": ("他人 八", dt.date(1955, 7, 7)),
}  # fmt: skip


async def world(client, *, municipality: str = "131016") -> World:
    people = {}
    for ticket, (name, born) in PEOPLE.items():
        person = await create_resident("131016", name=name, ticket_number=ticket, birth_date=born)
        await create_vaccination(person, "131016", dose_number=1, vaccinated_on=dt.date(2021, 6, 1),
                                 lot_number="EY0779")  # fmt: skip
        people[ticket] = person
    operator = await create_account(None, Role.VENUE_OPERATOR, municipality)
    await sign_in(client, operator)
    await enrol_device(operator, client)
    return World(client, await csrf_token(client, "/venue"), people)


def dose(ticket: str, **changes: str) -> dict[str, str]:
    base = {"ticket": ticket, "municipality_code": "131016", "birth_date": BORN, "dose_number": "2",
            "vaccinated_on": "2021-06-22", "product": "pfizer-comirnaty", "lot_number": "EY0779",
            "volume_ml": "0.3", "doctor_name": "医師"}  # fmt: skip
    return {**base, **changes}


async def send(w: World, path: str, fields: dict[str, str], key: str | None = None) -> str:
    """One save through a path; returns what the operator saw."""
    key = key or uuid.uuid4().hex
    if path == "tablet":
        panel = await w.client.post(
            "/venue/lookup", data={**fields, "_csrf_token": w.csrf}, headers={"HX-Request": "true"}
        )
        saved = await w.client.post(
            "/venue/doses",
            data={**fields, "idempotency_key": key, "_csrf_token": w.csrf},
            headers={"HX-Request": "true"},
        )
        return panel.text + saved.text
    if path == "api":
        response = await w.client.post(
            "/api/v1/vaccinations",
            json=fields,
            headers={"x-csrftoken": w.csrf, "Idempotency-Key": key},
        )
        return f"{response.status_code} {response.text}"
    row = ",".join(fields.get(c, "") for c in CSV_HEADER.split(","))
    response = await w.client.post(
        "/venue/upload",
        data={"_csrf_token": w.csrf},
        files={"file": ("d.csv", f"{CSV_HEADER}\r\n{row}\r\n".encode(), "text/csv")},
    )
    return response.text


async def new_rows(since: dt.datetime) -> list[dict]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT municipality_code, resident, ticket_number, quality, lot_number FROM vaccination"
            " WHERE recorded_at > $1",
            since,
        )
    return [dict(r) for r in rows]


async def now() -> dt.datetime:
    async with owner_transaction():
        return await current_connection().fetchval("SELECT clock_timestamp()")


Case = Callable[[World, str], Awaitable[tuple[str, dt.datetime]]]


def misread(intended: str, read: str) -> Case:
    async def case(w: World, path: str) -> tuple[str, dt.datetime]:
        start = await now()
        return await send(w, path, dose(read)), start  # the intended person's birth date

    case.wrong_person = read  # type: ignore[attr-defined]  # a case function carries its wrong person
    return case


async def wrong_birth_date(w: World, path: str) -> tuple[str, dt.datetime]:
    start = await now()
    return await send(w, path, dose("0000000001", birth_date="1960-04-10")), start


async def no_birth_date(w: World, path: str) -> tuple[str, dt.datetime]:
    start = await now()
    return await send(w, path, dose("0000000001", birth_date="")), start


async def key_reused_with_another_body(w: World, path: str) -> tuple[str, dt.datetime]:
    key = "corpus-" + uuid.uuid4().hex
    await send(w, path, dose("0000000001"), key)
    start = await now()
    seen = await send(w, path, dose("0000000001", lot_number="FA5765"), key)
    return seen, start


async def dose_3_before_boosters_began(w: World, path: str) -> tuple[str, dt.datetime]:
    await send(w, path, dose("0000000001"))
    start = await now()
    return await send(
        w, path, dose("0000000001", dose_number="3", vaccinated_on="2021-11-25")
    ), start


async def second_dose_a_year_late(w: World, path: str) -> tuple[str, dt.datetime]:
    start = await now()
    return await send(
        w, path, dose("0000000001", vaccinated_on="2022-06-22", lot_number="FK0108")
    ), start


#: The second dose under a used key was answered "already recorded" and lost: it must be refused.
key_reused_with_another_body.must_say = (  # type: ignore[attr-defined]  # a case function carries what it must say
    "idempotency_key_reused", "別の内容の登録に使われています", "異なる内容",
)  # fmt: skip

CASES: dict[str, Case] = {
    "misread 1↔4 onto another person": misread("0000000001", "0000000004"),
    "misread 7↔1 onto another person": misread("0000000070", "0000000010"),
    "misread 3↔8 onto another person": misread("0000000003", "0000000008"),
    "wrong birth date": wrong_birth_date,
    "no birth date": no_birth_date,
    "idempotency key / CSV row reused with another body": key_reused_with_another_body,
    "dose 3 before 2021-12-01": dose_3_before_boosters_began,
    "second dose typed a year late": second_dose_a_year_late,
}


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", list(CASES))
async def test_no_mistake_of_the_corpus_is_stored_silently(
    client, app, kind: str, path: str
) -> None:
    await create_municipality("131016")
    w = await world(client)
    seen, since = await CASES[kind](w, path)
    rows = await new_rows(since)
    silent = [r for r in rows if r["quality"] == "ok"]
    assert silent == [], f"{kind} via {path}: stored silently {silent}\n{seen[:500]}"
    said = getattr(CASES[kind], "must_say", ())
    assert not said or any(text in seen for text in said), (
        f"{kind} via {path}: not refused\n{seen[:500]}"
    )
    wrong = getattr(CASES[kind], "wrong_person", None)
    if wrong is not None:
        assert all(r["resident"] != w.people[wrong]["id"] for r in rows), (
            f"{kind} via {path}: on the wrong person"
        )
        assert w.people[wrong]["name"] not in seen, f"{kind} via {path}: showed the other person"


# --- F8: another municipality's resident, through a Sapporo venue --------------------------


async def f8_world(client) -> World:
    await create_municipality("011002")
    return await world(client, municipality="011002")


async def f8_misread(w: World, path: str) -> tuple[str, dt.datetime]:
    start = await now()
    return await send(w, path, dose("0000000004")), start


async def f8_deceased(w: World, path: str) -> tuple[str, dt.datetime]:
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE resident SET deceased_on = '2021-06-10' WHERE name = '本人 一'"
        )
    start = await now()
    return await send(w, path, dose("0000000001")), start


async def f8_moved_out(w: World, path: str) -> tuple[str, dt.datetime]:
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE resident SET moved_out_on = '2021-06-10' WHERE name = '本人 一'"
        )
    start = await now()
    return await send(w, path, dose("0000000001")), start


F8_CASES: dict[str, Case] = {
    "F8 misread 1↔4 onto another person": f8_misread,
    "F8 deceased resident": f8_deceased,
    "F8 moved-out resident": f8_moved_out,
}
f8_misread.wrong_person = "0000000004"  # type: ignore[attr-defined]  # a case function carries its wrong person


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", list(F8_CASES))
async def test_no_f8_mistake_is_stored_silently(client, app, kind: str, path: str) -> None:
    await create_municipality("131016")
    w = await f8_world(client)
    seen, since = await F8_CASES[kind](w, path)
    rows = await new_rows(since)
    assert [r for r in rows if r["quality"] == "ok"] == [], f"{kind} via {path}\n{seen[:500]}"
    assert "2021-06-10" not in seen  # the venue is not told the home area's dates
    wrong = getattr(F8_CASES[kind], "wrong_person", None)
    if wrong is not None:
        assert all(r["resident"] != w.people[wrong]["id"] for r in rows)
        assert w.people[wrong]["name"] not in seen
