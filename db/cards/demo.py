"""Demo data for card authentication: which demo residents hold demo My Number cards.

The bulk demo (:mod:`db.demo`) is left as it is (10,000 residents); demo cards
are issued to a few of its residents — first those registered in several
municipalities, so the app gets one certificate per municipality — and linked
to their My Numbers as J-LIS would. ``db`` does not import the kiosk: the
caller issues the cards and passes their fingerprints back.
"""

from __future__ import annotations

from typing import Any

from db.cards.queries import link_certificate
from db.engine import current_connection
from db.residents.my_number import MyNumberVault


async def demo_card_holders(vault: MyNumberVault, count: int = 3) -> list[dict[str, Any]]:
    """Residents of 千代田区 to give demo cards: name, birth date, sex and My Number."""
    rows = await current_connection().fetch(
        """
        SELECT r.municipality_code, r.resident_number, r.my_number_ciphertext, r.name,
               r.birth_date, r.sex,
               (SELECT count(*) FROM resident o WHERE o.my_number_hmac = r.my_number_hmac) AS areas
        FROM resident r
        WHERE r.municipality_code = '131016' AND r.my_number_ciphertext IS NOT NULL
          AND EXISTS (SELECT 1 FROM vaccination v WHERE v.resident = r.id AND v.status = 'active')
        ORDER BY areas DESC, r.resident_number
        LIMIT $1
        """,
        count,
    )
    return [
        {
            "resident_number": row["resident_number"],
            "my_number": vault.open(bytes(row["my_number_ciphertext"]), row["municipality_code"]),
            "name": row["name"],
            "birth_date": row["birth_date"],
            "sex": row["sex"] if row["sex"] in ("1", "2", "9") else "9",
            "areas": row["areas"],
        }
        for row in rows
    ]


async def link_demo_cards(vault: MyNumberVault, cards: list[tuple[str, str]]) -> int:
    """Link (certificate fingerprint, My Number) pairs; returns how many."""
    for fingerprint, my_number in cards:
        await link_certificate(fingerprint, vault.lookup_hash(my_number))
    return len(cards)
