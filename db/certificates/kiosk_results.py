"""The result of a kiosk sale that failed: its certificates are voided (revoked "未交付").

Kiosk terms 第7条6 asks for the result of every transaction. A printed sale is
reported by its completion notice (:func:`db.operations.kiosks.record_completion`);
a sale that failed after issuance (printer failure, refund) is reported here,
beside it: each certificate issued to that kiosk and not printed is revoked in
its issuing municipality, so the resident who got the fee back holds nothing
valid, and the failure is kept with the reason (``vrs_record_kiosk_failure``).
"""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from db.certificates.issuance import IssuanceRefused
from db.engine import current_connection, tenant_transaction

#: Why a sale failed, as the kiosk reports it.
FAILURE_REASONS = ("print_failed", "refunded", "card_removed", "aborted")


async def record_failure(
    client: UUID,
    notice_id: str,
    certificate_ids: list[str],
    store_id: str,
    terminal_id: str,
    failed_at: dt.datetime,
    reason: str,
) -> dict[str, list[str]]:
    """Void each certificate; ids by outcome: ``recorded``, ``already``, ``completed``
    (printed, per its completion notice: not voided).

    Raises:
        IssuanceRefused: an id was not issued to this kiosk (nothing recorded).
    """
    outcome: dict[str, list[str]] = {"recorded": [], "already": [], "completed": [], "unknown": []}
    async with tenant_transaction(None):
        for certificate_id in certificate_ids:
            state = await current_connection().fetchval(
                "SELECT vrs_record_kiosk_failure($1, $2, $3, $4, $5, $6, $7)",
                client, notice_id, certificate_id, store_id, terminal_id, failed_at, reason,
            )  # fmt: skip
            outcome.setdefault(state, []).append(certificate_id)
        if outcome["unknown"] or outcome.get("not_kiosk"):
            raise IssuanceRefused(
                "kiosk_report.certificate_unknown",
                field="certificate_ids",
                ids=", ".join(outcome["unknown"]),
            )
    del outcome["unknown"]
    return outcome
