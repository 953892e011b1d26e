"""The system's CRLs at /pki/, and ``vrs keys retimestamp`` on stored B-LTA PDFs.

The CRL route answers at the address the signer certificates name; the
re-timestamping runs on what the API stored, against a local TSA (certomancer).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from cryptography import x509

from db.engine import current_connection, owner_transaction
from signing.pades import last_timestamp_expiry, signature_level
from tests.integration.signing.local_tsa import LocalTsa

from .test_api_and_revocation import OVERSEAS, _bearer


@pytest.fixture
def settings(database: str, tsa: tuple[LocalTsa, object]):
    """The server's settings with the local TSA configured (B-LTA)."""
    from common.settings import load_settings

    authority, _stop = tsa
    return dataclasses.replace(
        load_settings(), tsa_url=authority.url, tsa_trust_roots=str(authority.root_pem)
    )


async def test_the_crls_are_served_where_the_signer_certificates_say(
    client, signing_ready, settings
) -> None:
    from web.signing_context import crl_base_url, load_signing_context

    keys = load_signing_context(settings).keys
    for name, ca, signer in (
        ("pdf-root.crl", keys.pdf_root, keys.pdf_signer_certificate),
        ("csca.crl", keys.vdsnc_csca, keys.vdsnc_signer.certificate),
    ):
        points = signer.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        url = points[0].full_name[0].value  # type: ignore[index]  # a distribution point's full name is set here
        assert url == f"{crl_base_url(settings)}/{name}"
        response = await client.get(f"/pki/{name}")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/pkix-crl")
        assert response.headers["access-control-allow-origin"] == "*"
        crl = x509.load_der_x509_crl(response.content)
        assert crl.issuer == ca.subject and len(list(crl)) == 0
    missing = await client.get("/pki/unknown.crl")
    assert missing.status_code == 404
    assert "失効リスト" in missing.text or "revocation list" in missing.text


async def _stored_pdf(certificate_id: str) -> bytes:
    async with owner_transaction():
        return bytes(
            await current_connection().fetchval(
                "SELECT pdf FROM certificate_issuance WHERE certificate_id = $1", certificate_id
            )
        )


async def test_retimestamp_extends_stored_pdfs_before_their_timestamp_expires(
    client, signing_ready, settings
) -> None:
    from cli.commands.keys import retimestamp_stored_pdfs
    from tests.factories import create_resident, create_vaccination
    from web.signing_context import load_signing_context

    person = await create_resident("131016")
    await create_vaccination(person)
    response = await client.post(
        "/api/v1/certificates",
        json={"resident_id": str(person["id"]), **OVERSEAS},
        headers=await _bearer(),
    )
    assert response.status_code == 201, response.text
    certificate_id = response.headers["x-certificate-id"]
    before = await _stored_pdf(certificate_id)
    assert signature_level(before) == "B-LTA"
    expiry = last_timestamp_expiry(before)
    assert expiry is not None
    signer = load_signing_context(settings).pdf_signer

    # Years before the TSA certificate expires: nothing is due.
    early = await retimestamp_stored_pdfs(signer, dt.timedelta(days=365))
    assert early["extended"] == 0 and early["fresh"] >= 1
    assert await _stored_pdf(certificate_id) == before

    # Within the margin of its expiry: the next document timestamp is added and stored.
    due = await retimestamp_stored_pdfs(signer, dt.timedelta(days=365), now=expiry)
    assert due["extended"] >= 1 and due["failed"] == 0
    after = await _stored_pdf(certificate_id)
    assert after.startswith(before)
    assert after.count(b"/DocTimeStamp") == before.count(b"/DocTimeStamp") + 1
    async with owner_transaction():
        audited = await current_connection().fetchval(
            "SELECT count(*) FROM audit_event WHERE action = 'certificate.retimestamp'"
            " AND object_id = $1",
            certificate_id,
        )
    assert audited == 1
