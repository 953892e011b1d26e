"""The demo data is coherent like real data: one person is the same person everywhere, with
one dose history that keeps every rule (issue 13: a demo card printed three people's names;
65 adult doses were given to children under 12)."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

from db.cards.demo import demo_card_holders
from db.demo import MOVERS, load_demo
from db.engine import current_connection, owner_transaction
from db.vaccinations.rules import DoseInput, Person, PreviousDose, judge
from db.vaccines.loader import DEFAULT_FILE
from db.vaccines.model import master_from_document
from tests.factories import vault


async def _load() -> tuple[list[dict], list[dict]]:
    async with owner_transaction():
        assert await load_demo(vault())
        connection = current_connection()
        residents = [
            dict(r)
            for r in await connection.fetch(
                "SELECT id, municipality_code, my_number_hmac, name, name_kana, birth_date, sex,"
                " moved_out_on FROM resident"
            )
        ]
        doses = [
            dict(r)
            for r in await connection.fetch(
                "SELECT resident, municipality_code, dose_number, vaccinated_on, product,"
                " lot_number, volume_ml, vaccinated_by_municipality_code FROM vaccination"
                " WHERE status = 'active'"
            )
        ]
    return residents, doses


async def test_every_demo_dose_keeps_the_rules_and_moved_people_are_one_person(db) -> None:
    residents, doses = await _load()
    by_id = {r["id"]: r for r in residents}
    people: dict[str, list[dict]] = defaultdict(list)
    for resident in residents:
        people[resident["my_number_hmac"]].append(resident)

    moved = [records for records in people.values() if len(records) > 1]
    assert len(moved) == MOVERS
    for records in moved:
        assert sorted(r["municipality_code"] for r in records) == ["011002", "131016", "131041"]
        identities = {(r["name"], r["name_kana"], r["birth_date"], r["sex"]) for r in records}
        assert len(identities) == 1, identities  # before: three different people

    # One history per person, across the municipalities, judged dose by dose in date order.
    master = master_from_document(json.loads(DEFAULT_FILE.read_text(encoding="utf-8")))
    history: dict[str, list[dict]] = defaultdict(list)
    for dose in doses:
        history[by_id[dose["resident"]]["my_number_hmac"]].append(dose)
    judged = 0
    for hmac, given in history.items():
        given.sort(key=lambda d: (d["vaccinated_on"], d["dose_number"]))
        assert [d["dose_number"] for d in given] == list(range(1, len(given) + 1)), given
        earlier: list[PreviousDose] = []
        for dose in given:
            record = by_id[dose["resident"]]
            # Given where the person lived then: the holding municipality, before moving out.
            assert dose["vaccinated_by_municipality_code"] == record["municipality_code"]
            person = Person(record["birth_date"], record["moved_out_on"], None, tuple(earlier))
            verdict = judge(
                DoseInput(
                    dose["dose_number"], dose["vaccinated_on"], dose["product"],
                    dose["lot_number"], dose["volume_ml"],
                ),
                person,
                master,
                dt.date.today(),
            )  # fmt: skip
            assert not verdict.findings, (hmac[:8], dose, verdict.findings)
            earlier.append(
                PreviousDose(dose["dose_number"], dose["vaccinated_on"], dose["product"])
            )
            judged += 1
    assert judged == len(doses) > 10_000
    assert {d["municipality_code"] for d in doses} == {"011002", "131016", "131041"}

    # The demo cards' holders: every municipality holds them under the card's name.
    async with owner_transaction():
        holders = await demo_card_holders(vault())
    for holder in holders:
        records = people[vault().lookup_hash(holder["my_number"])]
        assert {r["name"] for r in records} == {holder["name"]}
        assert {r["birth_date"] for r in records} == {holder["birth_date"]}
    assert any(holder["areas"] == 3 for holder in holders)
