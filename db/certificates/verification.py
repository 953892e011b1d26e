"""What the public verify page reads: our revocations and the vaccine names by CVX code.

One short tenantless transaction through public data only: revoked certificate
ids and keys (``vrs_revoked_certificates``) and the vaccine master (product
names, public by nature), so the page can show 「コミナティ筋注」 rather than
"CVX 208".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from db.certificates import queries
from db.engine import current_connection, tenant_transaction


@dataclass(frozen=True)
class VerificationData:
    """Our revoked certificates and the product names by CVX code."""

    revoked: list[dict[str, Any]]
    products: dict[str, list[dict[str, Any]]]
    """CVX code → the names (ja, en) with the dates they were in force."""

    def product_name(self, cvx: str, on: dt.date | None, language: str = "ja") -> str | None:
        """The product's name in force on ``on`` (else its latest), or ``None`` if unknown."""
        names = self.products.get(cvx) or []
        if not names:
            return None
        chosen = names[-1]
        if on is not None:
            for name in names:
                if name["valid_from"] <= on and (
                    name["valid_to"] is None or on <= name["valid_to"]
                ):
                    chosen = name
                    break
        return str(chosen["name_en" if language == "en" else "name"])


async def verification_data() -> VerificationData:
    """Read both in one short transaction."""
    async with tenant_transaction(None):
        revoked = await queries.revoked_certificates()
        rows = await current_connection().fetch(
            "SELECT p.cvx, n.name, n.name_en, n.valid_from, n.valid_to FROM vaccine_product p"
            " JOIN product_name n ON n.product = p.code WHERE p.cvx <> ''"
            " ORDER BY p.cvx, n.valid_from, p.code"
        )
    products: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        products.setdefault(row["cvx"], []).append(dict(row))
    return VerificationData(revoked, products)
