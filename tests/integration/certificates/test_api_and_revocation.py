"""The certificates API, the public issuer endpoints, the vectors, and revocation after a correction."""

from __future__ import annotations

import datetime as dt
import json

from db.accounts.queries import create_api_token
from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction, tenant_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    csrf_token,
)
from tests.unit.signing.fixtures import VECTORS

OVERSEAS = {
    "kind": "overseas",
    "passport_number": "TK7654321",
    "nationality": "JPN",
    "family_name_roman": "SATO",
    "given_name_roman": "HANAKO",
}


async def _bearer() -> dict[str, str]:
    await create_municipality("131016")
    login = await create_account(role=Role.CLERK)
    async with owner_transaction():
        account = await current_connection().fetchval(
            "SELECT id FROM account WHERE login = $1", login
        )
        token = await create_api_token(account, "batch")
    return {"Authorization": f"Bearer {token}"}


async def test_api_issues_a_pdf_and_a_retry_gets_the_same_certificate(
    client, signing_ready
) -> None:
    headers = await _bearer()
    person = await create_resident("131016")
    await create_vaccination(person)
    body = {"resident_id": str(person["id"]), **OVERSEAS}
    first = await client.post(
        "/api/v1/certificates", json=body, headers={**headers, "Idempotency-Key": "batch-0001"}
    )
    assert first.status_code == 201, first.text
    assert first.content.startswith(b"%PDF")
    certificate_id = first.headers["x-certificate-id"]
    again = await client.post(
        "/api/v1/certificates", json=body, headers={**headers, "Idempotency-Key": "batch-0001"}
    )
    assert again.status_code == 201 and again.headers["x-certificate-id"] == certificate_id
    assert again.content == first.content
    async with owner_transaction():
        count = await current_connection().fetchval("SELECT count(*) FROM certificate_issuance")
    assert count == 1

    payloads = (await client.get(f"/api/v1/certificates/{certificate_id}", headers=headers)).json()
    assert (
        payloads["shc_jws"].count(".") == 2
        and payloads["vdsnc"]["data"]["msg"]["uvci"] == certificate_id
    )
    file = await client.get(
        f"/api/v1/certificates/{certificate_id}/smart-health-card", headers=headers
    )
    assert file.headers["content-type"].startswith("application/smart-health-card")
    assert json.loads(file.content)["verifiableCredential"] == [payloads["shc_jws"]]

    schema = (await client.get("/schema/openapi.json")).json()
    assert "/api/v1/certificates" in schema["paths"]
    assert "/api/v1/card-sessions/{session_id}/proof" in schema["paths"]


async def test_api_bad_input_is_a_specific_problem_never_500(client, signing_ready) -> None:
    headers = await _bearer()
    person = await create_resident("131016")
    cases = [
        (b"not json", "proof.not_json"),
        (b"[1]", "proof.wrong_type"),
        (
            json.dumps({"resident_id": "x", "kind": "domestic"}).encode(),
            "certificate.resident_id_invalid",
        ),
        (
            json.dumps({"resident_id": str(person["id"]), "kind": "x"}).encode(),
            "certificate.kind_invalid",
        ),
        (
            json.dumps(
                {"resident_id": str(person["id"]), **OVERSEAS, "passport_number": "1"}
            ).encode(),
            "id.passport_japanese",
        ),
        (
            json.dumps({"resident_id": str(person["id"]), "kind": "domestic"}).encode(),
            "certificate.no_records",
        ),
    ]
    for raw, code in cases:
        response = await client.post(
            "/api/v1/certificates",
            content=raw,
            headers={**headers, "content-type": "application/json"},
        )
        assert 400 <= response.status_code < 500, (code, response.text)
        assert response.json()["code"] == code
    assert (await client.get("/api/v1/certificates/ZZZ", headers=headers)).status_code == 404
    assert (await client.post("/api/v1/certificates", json={})).status_code in (401, 403)


async def test_jwks_and_crl_are_public_with_cors(client, signing_ready, settings) -> None:
    jwks = await client.get("/issuer/.well-known/jwks.json")
    assert jwks.headers["access-control-allow-origin"] == "*"
    key = jwks.json()["keys"][0]
    assert key["alg"] == "ES256" and key["crv"] == "P-256" and "d" not in key
    crl = await client.get(f"/issuer/.well-known/crl/{key['kid']}.json")
    assert crl.headers["access-control-allow-origin"] == "*"
    # The SHC spec: crlVersion from the start, and a CRL's ctr counts from 1.
    assert key["crlVersion"] == 1
    assert crl.json() == {"kid": key["kid"], "method": "rid", "ctr": 1, "rids": []}
    assert (await client.get("/issuer/.well-known/crl/unknown.json")).status_code == 404
    uvcis = await client.get("/issuer/.well-known/vdsnc/revoked.json")
    assert uvcis.headers["access-control-allow-origin"] == "*" and uvcis.json()["uvcis"] == []
    assert settings.shc_issuer.endswith("/issuer")


async def test_a_corrected_dose_revokes_its_certificates_everywhere_they_are_checked(
    client, signing_ready, settings
) -> None:
    from db.certificates.queries import revoke_certificates_for_vaccination
    from web.signing_context import load_signing_context

    headers = await _bearer()
    person = await create_resident("131016")
    dose = await create_vaccination(person)
    other = await create_resident("131016")
    await create_vaccination(other)
    issued = []
    for resident in (person, other):
        response = await client.post(
            "/api/v1/certificates",
            json={"resident_id": str(resident["id"]), **OVERSEAS},
            headers=headers,
        )
        issued.append(response.headers["x-certificate-id"])
    payloads = (await client.get(f"/api/v1/certificates/{issued[0]}", headers=headers)).json()

    # The venue corrects the lot of the dose, and calls the revocation in its transaction.
    async with tenant_transaction("131016"):
        await current_connection().execute(
            "UPDATE vaccination SET lot_number = 'EY0779', version = version + 1 WHERE id = $1",
            dose,
        )
        revoked = await revoke_certificates_for_vaccination(dose, "ロット番号の訂正")
    assert revoked == [issued[0]]

    jwks = (await client.get("/issuer/.well-known/jwks.json")).json()
    key = jwks["keys"][0]
    assert key["crlVersion"] == 2  # one update since the empty list at 1
    crl = (await client.get(f"/issuer/.well-known/crl/{key['kid']}.json")).json()
    # The rid is a one-way value of the certificate id, never the printed id itself.
    keys = load_signing_context(settings).keys
    assert crl["ctr"] == 2 and crl["rids"] == [keys.shc_rid(issued[0])] != [issued[0]]
    assert (await client.get("/issuer/.well-known/vdsnc/revoked.json")).json()["uvcis"] == [
        issued[0]
    ]

    token = await csrf_token(client, "/verify")
    for text in (payloads["shc_qr"], json.dumps(payloads["vdsnc"], separators=(",", ":"))):
        page = await client.post("/verify", data={"text": text, "_csrf_token": token})
        assert 'data-verdict="revoked"' in page.text
    still = (await client.get(f"/api/v1/certificates/{issued[1]}", headers=headers)).json()
    page = await client.post("/verify", data={"text": still["shc_qr"], "_csrf_token": token})
    assert 'data-verdict="valid"' in page.text


async def test_one_changed_character_of_the_jws_is_tampered(client, signing_ready) -> None:
    headers = await _bearer()
    person = await create_resident("131016")
    await create_vaccination(person)
    response = await client.post(
        "/api/v1/certificates",
        json={"resident_id": str(person["id"]), "kind": "domestic"},
        headers=headers,
    )
    jws = (
        await client.get(
            f"/api/v1/certificates/{response.headers['x-certificate-id']}", headers=headers
        )
    ).json()["shc_jws"]
    header, payload, signature = jws.split(".")
    middle = len(payload) // 2
    changed = payload[:middle] + ("A" if payload[middle] != "A" else "B") + payload[middle + 1 :]
    token = await csrf_token(client, "/verify")
    page = await client.post(
        "/verify", data={"text": f"{header}.{changed}.{signature}", "_csrf_token": token}
    )
    assert 'data-verdict="tampered"' in page.text or 'data-verdict="unreadable"' in page.text
    assert 'data-verdict="valid"' not in page.text


async def test_the_vectors_verify_through_the_verify_page(client, signing_ready) -> None:
    token = await csrf_token(client, "/verify")
    spec = (VECTORS / "shc" / "example-00-d-jws.txt").read_text().strip()
    page = await client.post("/verify", data={"text": spec, "_csrf_token": token})
    assert 'data-verdict="valid"' in page.text
    japan = json.loads((VECTORS / "icao" / "jpn-triple-vaccine.json").read_text())[0]
    page = await client.post("/verify", data={"text": json.dumps(japan), "_csrf_token": token})
    assert 'data-verdict="valid"' in page.text, page.text[-3000:]
    for junk in ("hello", "shc:/12", "{", "[]", "a.b.c", '{"data": 1}'):
        page = await client.post("/verify", data={"text": junk, "_csrf_token": token})
        assert page.status_code == 200, junk
        assert 'data-verdict="unreadable"' in page.text or 'data-verdict="tampered"' in page.text, (
            junk
        )
    empty = await client.post("/verify", data={"text": " ", "_csrf_token": token})
    assert empty.status_code == 422
    image = await client.post(
        "/verify",
        data={"_csrf_token": token},
        files={"file": ("x.png", b"\x89PNG not really", "image/png")},
    )
    assert image.status_code == 422 and "QRコードを読み取れませんでした" in image.text
    assert dt.date.today()  # the page needs no sign-in
