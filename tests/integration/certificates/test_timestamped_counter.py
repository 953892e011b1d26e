"""B-LTA at the counter and the API with ``VRS_TSA_URL`` set; a TSA that is down stops issuance.

The TSA is certomancer's, served over real HTTP on a free port by this test
process (RFC 3161 timestamps, and the OCSP/CRL its chain names).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from db.engine import current_connection, owner_transaction
from signing.pades import signature_level
from tests.factories import csrf_token
from tests.integration.signing.local_tsa import LocalTsa
from tests.integration.signing.tools import nss_trusting, pdfsig, pyhanko, write_pem

from .test_api_and_revocation import OVERSEAS, _bearer
from .test_counter import PASSPORT, _issue, _person_with_doses


@pytest.fixture
def settings(database: str, tsa: tuple[LocalTsa, object]):
    """The server's settings with the local TSA configured (its root trusted for B-LT)."""
    from common.settings import load_settings

    authority, _stop = tsa
    return dataclasses.replace(
        load_settings(), tsa_url=authority.url, tsa_trust_roots=str(authority.root_pem)
    )


def _trust(settings, authority: LocalTsa, directory: Path) -> list[str]:
    from signing.keys import KeyStore
    from web.signing_context import key_directory

    keys = KeyStore.load(key_directory(settings), settings.key_passphrase)
    root = write_pem(keys.pdf_root, directory / "root.pem")
    return ["--trust", str(root), "--trust", str(authority.root_pem), "--trust-replace"]


async def _issued_rows() -> tuple[int, int]:
    async with owner_transaction():
        connection = current_connection()
        issuances = await connection.fetchval("SELECT count(*) FROM certificate_issuance")
        audits = await connection.fetchval(
            "SELECT count(*) FROM audit_event WHERE action = 'certificate.issue'"
        )
    return issuances, audits


async def test_the_counter_issues_b_lt_that_validates_with_the_tsa_gone(
    clerk_client, tsa, settings, tmp_path: Path
) -> None:
    authority, stop = tsa
    person = await _person_with_doses()
    certificate_id = await _issue(clerk_client, person, PASSPORT)
    pdf = await clerk_client.get(f"/certificates/{certificate_id}/pdf")
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf.content)
    trust = _trust(settings, authority, tmp_path)
    assert b"/DSS" in pdf.content  # the validation data (B-LT)
    assert signature_level(pdf.content) == "B-LTA"  # and a document timestamp over it

    # ETSI validation: the signer certificate names the system's /pki/ CRL address, which
    # no server answers here; the CRL embedded in the document security store is used.
    online = pyhanko("sign", "adesverify", "--pretty-print", *trust, str(path))
    assert online.returncode == 0, online.stdout + online.stderr
    assert "Signature timestamp token:" in online.stdout
    assert "The TSA certificate is trusted." in online.stdout
    assert "The signature is judged VALID." in online.stdout

    stop()  # B-LT: the embedded data is enough once the TSA and its OCSP are gone
    offline = pyhanko("sign", "adesverify", "--pretty-print", *trust, str(path))
    assert offline.returncode == 0, offline.stdout + offline.stderr
    assert "The signature is judged VALID." in offline.stdout

    database = nss_trusting([tmp_path / "root.pem", authority.root_pem], tmp_path / "nss")
    report = pdfsig(path, database)
    assert "Signature is Valid." in report, report
    assert "Certificate is Trusted." in report, report
    # poppler names the signer's claimed time, not the timestamp token; the DSS is an
    # incremental update after the signature, so the signed range no longer ends the file.
    assert "Signing Time:" in report and "Not total document signed" in report, report


async def test_the_api_issues_b_lt_too(client, signing_ready, tsa, settings, tmp_path) -> None:
    from tests.factories import create_resident, create_vaccination

    authority, _stop = tsa
    headers = await _bearer()
    person = await create_resident("131016")
    await create_vaccination(person)
    response = await client.post(
        "/api/v1/certificates", json={"resident_id": str(person["id"]), **OVERSEAS}, headers=headers
    )
    assert response.status_code == 201, response.text
    path = tmp_path / "api.pdf"
    path.write_bytes(response.content)
    result = pyhanko(
        "sign", "adesverify", "--pretty-print", *_trust(settings, authority, tmp_path), str(path)
    )
    assert "Signature timestamp token:" in result.stdout and b"/DSS" in response.content
    assert "The signature is judged VALID." in result.stdout, result.stdout


async def test_a_tsa_that_is_down_stops_issuance_clearly_and_records_nothing(
    clerk_client, client, tsa
) -> None:
    _authority, stop = tsa
    stop()
    person = await _person_with_doses()
    path = f"/certificates/person/{person['id']}"
    token = await csrf_token(clerk_client, path)
    preview = await clerk_client.post(f"{path}/preview", data={**PASSPORT, "_csrf_token": token})
    assert preview.status_code == 200  # the preview signs nothing

    refused = await clerk_client.post(f"{path}/issue", data={**PASSPORT, "_csrf_token": token})
    assert refused.status_code == 503
    assert "タイムスタンプ局（TSA）に接続できない" in refused.text
    assert "何も交付・記録されていません" in refused.text
    page = await clerk_client.get(path)
    assert 'data-testid="certificate-history-row"' not in page.text

    headers = await _bearer()
    api = await client.post(
        "/api/v1/certificates",
        json={"resident_id": str(person["id"]), **OVERSEAS},
        headers=headers,
        params={"lang": "en"},
    )
    assert api.status_code == 503, api.text
    assert api.json()["code"] == "certificate.timestamp_unavailable"
    assert "timestamp authority" in api.text
    assert await _issued_rows() == (0, 0)


async def test_the_app_channel_signs_b_lt_and_a_down_tsa_issues_nothing(
    client,
    app_headers,
    signing_ready,
    tsa,
    settings,
    tmp_path,
) -> None:
    import base64

    from .test_card_sessions import _challenge, _proof

    authority, stop = tsa
    card = signing_ready[0]  # two municipalities: two PDFs, both B-LT
    session, challenge = await _challenge(client, app_headers)
    answer = await client.post(
        f"/api/v1/card-sessions/{session}/proof",
        json=_proof(card, challenge),
        headers=app_headers,
    )
    assert answer.status_code == 200, answer.text
    trust = _trust(settings, authority, tmp_path)
    for index, certificate in enumerate(answer.json()["certificates"]):
        path = tmp_path / f"app-{index}.pdf"
        path.write_bytes(base64.b64decode(certificate["pdf_base64"]))
        result = pyhanko("sign", "adesverify", "--pretty-print", *trust, str(path))
        assert "Signature timestamp token:" in result.stdout, result.stdout
        assert "The signature is judged VALID." in result.stdout, result.stdout
    before = await _issued_rows()

    stop()
    session, challenge = await _challenge(client, app_headers)
    refused = await client.post(
        f"/api/v1/card-sessions/{session}/proof",
        json=_proof(card, challenge),
        headers=app_headers,
    )
    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "certificate.timestamp_unavailable"
    assert await _issued_rows() == before  # neither municipality's certificate was stored
