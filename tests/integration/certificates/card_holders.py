"""Test data for card authentication: the demo cards' residents, doses and J-LIS links.

The demo cards (``kiosk.card.demo_cards``) belong to fictional residents whose
My Numbers the bulk demo does not contain; this registers them (idempotently)
in 千代田区 — the first also in 新宿区, so the app gets one certificate per
municipality — with two doses each, and links each card's certificate to its
My Number as J-LIS would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from uuid import uuid4

from db.cards.queries import link_certificate
from db.engine import current_connection
from db.residents.my_number import MyNumberVault

#: (municipality, resident number prefix) each demo card holder is registered in.
_AREAS = ("131016", "131041")


async def load_card_demo(vault: MyNumberVault, cards: Sequence[object]) -> int:
    """Register the demo card holders and link their cards; returns links written.

    ``cards`` are :class:`kiosk.card.demo_cards.DemoCard` objects (typed loosely:
    ``db`` does not import the kiosk).
    """
    connection = current_connection()
    registered = {row["code"] for row in await connection.fetch("SELECT code FROM municipality")}
    for index, card in enumerate(cards):
        my_number = card.my_number  # type: ignore[attr-defined]  # the emulated card has it; the Card protocol does not
        basic4 = card.resident.basic4  # type: ignore[attr-defined]  # the emulated card has it; the Card protocol does not
        lookup = vault.lookup_hash(my_number)
        areas = _AREAS if index == 0 else _AREAS[:1]
        for code in areas:
            if code not in registered:
                continue
            exists = await connection.fetchval(
                "SELECT id FROM resident WHERE municipality_code = $1 AND my_number_hmac = $2",
                code,
                lookup,
            )
            if exists:
                continue
            resident_id = uuid4()
            number = f"9{index:02d}{code}"
            await connection.execute(
                "INSERT INTO resident (id, municipality_code, resident_number,"
                " my_number_ciphertext, my_number_hmac, name, name_kana, birth_date, sex,"
                " created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9, now(), now())",
                resident_id, code, number, vault.seal(my_number, code), lookup,
                basic4.name, "デモ カード", basic4.birth_date, basic4.sex,
            )  # fmt: skip
            ticket = f"9{index:03d}{code}"
            await connection.execute(
                "INSERT INTO ticket (id, municipality_code, ticket_number, resident, created_at,"
                " updated_at) VALUES ($1, $2, $3, $4, now(), now())",
                uuid4(), code, ticket, resident_id,
            )  # fmt: skip
            first = dt.date(2021, 7, 1) if code == "131016" else dt.date(2022, 3, 1)
            for dose, day in ((1, first), (2, first + dt.timedelta(days=21))):
                number_of_dose = dose if code == "131016" else dose + 2
                await connection.execute(
                    "INSERT INTO vaccination (id, municipality_code, resident, ticket_number,"
                    " dose_number, vaccinated_on, vaccinated_by_municipality_code, venue_name,"
                    " doctor_name, product, lot_number, volume_ml, source, recorded_at,"
                    " updated_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,'import',"
                    " now(), now())",
                    uuid4(), code, resident_id, ticket, number_of_dose, day, code,
                    f"{code} 集団接種会場", "接種 医師", "pfizer-comirnaty", "FA4597",
                    Decimal("0.3"),
                )  # fmt: skip
    for card in cards:
        await link_certificate(
            card.certificate_fingerprint,  # type: ignore[attr-defined]  # the emulated card has it; the Card protocol does not
            vault.lookup_hash(card.my_number),  # type: ignore[attr-defined]  # the emulated card has it; the Card protocol does not
        )
    return len(cards)
