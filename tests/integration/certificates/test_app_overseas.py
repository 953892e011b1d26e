"""A successful overseas issuance through the app channel (FORMATS §5 card proof).

The passport data comes from the issuance history: a clerk issues an overseas
certificate at the counter first, then the app (with the holder's card) gets
an overseas certificate whose PDF is signed, whose VDS-NC verifies against our
CSCA and whose SMART Health Card decodes — read back from the printed page too.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from db.engine import current_connection, owner_transaction
from signing import shc, vdsnc
from tests.factories import vault
from tests.integration.signing.tools import pyhanko, scan_qr_codes, write_pem

from .test_card_sessions import _challenge, _proof
from .test_counter import _issue

PASSPORT = {
    "kind": "overseas",
    "passport_number": "TZ7654321",
    "nationality": "JPN",
    "family_name_roman": "Demo",
    "given_name_roman": "Card Holder",
}


async def _resident_of(card) -> dict:
    async with owner_transaction():
        row = await current_connection().fetchrow(
            "SELECT r.id, t.ticket_number FROM resident r JOIN ticket t ON t.resident = r.id"
            " WHERE r.municipality_code = '131016' AND r.my_number_hmac = $1",
            vault().lookup_hash(card.my_number),
        )
    return {"id": row["id"], "ticket_number": row["ticket_number"]}


async def test_the_app_gets_an_overseas_certificate_with_the_counters_passport_data(
    client,
    clerk_client,
    app_headers,
    signing_ready,
    settings,
    tmp_path: Path,
) -> None:
    card = signing_ready[1]  # registered in 千代田区 only
    person = await _resident_of(card)
    counter_id = await _issue(clerk_client, person, PASSPORT)  # passport data into the history

    session, challenge = await _challenge(client, app_headers)
    response = await client.post(
        f"/api/v1/card-sessions/{session}/proof",
        json={**_proof(card, challenge), "kind": "overseas"},
        headers=app_headers,
    )
    assert response.status_code == 200, response.text
    (certificate,) = response.json()["certificates"]
    assert certificate["kind"] == "overseas" and certificate["municipality_code"] == "131016"
    assert certificate["certificate_id"] != counter_id

    from web.signing_context import load_signing_context

    context = load_signing_context(settings)
    cscas = vdsnc.load_cscas([context.keys.vdsnc_csca.public_bytes(serialization.Encoding.DER)])
    seal = vdsnc.verify_seal(certificate["vdsnc"], cscas)
    assert seal.trusted
    holder = seal.data["msg"]["pid"]
    assert holder["i"] == "TZ7654321" and holder["n"] == "DEMO CARD HOLDER"
    assert seal.data["msg"]["uvci"] == certificate["certificate_id"]

    card_jws = certificate["shc_jws"]
    verified = shc.verify_card(card_jws, context.our_jwks_keys())
    assert verified.rid == context.keys.shc_rid(certificate["certificate_id"])
    assert json.loads(certificate["smart_health_card"]) == {"verifiableCredential": [card_jws]}

    # The PDF: signed by our document signer, and its two codes are the same SHC and VDS-NC.
    pdf = base64.b64decode(certificate["pdf_base64"])
    path = tmp_path / "app.pdf"
    path.write_bytes(pdf)
    root = write_pem(context.keys.pdf_root, tmp_path / "root.pem")
    validated = pyhanko(
        # Soft: the signer's CRL address is the /pki/ route of a server this test does not
        # run (tests/integration/signing/test_long_term_validity.py serves and checks it).
        "sign", "validate", "--pretty-print", "--soft-revocation-check",
        "--trust", str(root), "--trust-replace", str(path),
    )  # fmt: skip
    assert "The signature is judged VALID." in validated.stdout, validated.stdout
    codes = scan_qr_codes(path)
    (health_card,) = [c for c in codes if c.startswith("shc:/")]
    assert shc.verify_card(health_card, context.our_jwks_keys()).rid == verified.rid
    (printed_seal,) = [c for c in codes if not c.startswith("shc:/")]
    assert json.loads(printed_seal) == certificate["vdsnc"]
    assert vdsnc.verify_seal(printed_seal, cscas).trusted

    async with owner_transaction():
        stored = await current_connection().fetchrow(
            "SELECT channel, kind, passport_number FROM certificate_issuance"
            " WHERE certificate_id = $1",
            certificate["certificate_id"],
        )
    assert dict(stored) == {"channel": "app", "kind": "overseas", "passport_number": "TZ7654321"}
