"""The verify page: issuer-bound keys, exp/nbf, other issuers' CRLs, CSCAs, the PDF's own
signature, product names, and hostile uploads decoded off the event loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from joserfc.jwk import ECKey

from signing import shc
from signing.examples import example_content
from signing.keys import ShcIssuerKey
from tests.factories import csrf_token
from tests.unit.signing.fixtures import VECTORS

PARTNER = "https://partner.example/issuer"


def _partner_key() -> ShcIssuerKey:
    key = ECKey.generate_key("P-256")
    public = {**key.as_dict(private=False), "kid": key.thumbprint(), "use": "sig", "alg": "ES256"}
    return ShcIssuerKey(key.thumbprint(), public, key)


def _trust_partner(settings, key: ShcIssuerKey, tmp_path: Path, revoked: list[str] | None = None):
    """Trust the partner issuer; with ``revoked``, its key has a CRL listing those rids."""
    from web.issuer_directory import add_issuer

    jwk: dict[str, Any] = dict(key.public_jwk)
    crls = {}
    if revoked is not None:
        jwk["crlVersion"] = 1
        crl = tmp_path / "partner-crl.json"
        crl.write_text(json.dumps({"kid": key.kid, "method": "rid", "ctr": 1, "rids": revoked}))
        crls[key.kid] = str(crl)
    jwks = tmp_path / "partner-jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}))
    add_issuer(settings.data_dir, PARTNER, name="Partner", jwks_source=str(jwks), crl_sources=crls)


def _card(key: ShcIssuerKey, iss: str, *, nbf: dt.datetime | None = None, **claims: Any) -> str:
    issued = nbf or dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    body = shc.card_claims(example_content(2, "domestic"), iss, issued, rid=claims.pop("rid", None))
    return shc.to_qr_text(shc.sign_card({**body, **claims}, key))


async def _verdicts(client, text: str) -> list[str]:
    token = await csrf_token(client, "/verify")
    page = await client.post("/verify", data={"text": text, "_csrf_token": token})
    assert page.status_code == 200, page.text
    return _found_verdicts(page.text)


def _found_verdicts(page: str) -> list[str]:
    import re

    return re.findall(r'data-verdict="([a-z_]+)"', page)


def _our_key(settings) -> ShcIssuerKey:
    from web.signing_context import load_signing_context

    return load_signing_context(settings).keys.shc_signing_key


async def test_a_card_signed_with_another_trusted_issuers_key_claiming_our_iss_is_refused(
    client, signing_ready, settings, tmp_path
) -> None:
    partner = _partner_key()
    _trust_partner(settings, partner, tmp_path)
    assert await _verdicts(client, _card(partner, PARTNER)) == ["valid"]
    # Before: keys were merged by kid, so this showed 有効です under our name.
    forged = _card(partner, settings.shc_issuer)
    assert await _verdicts(client, forged) == ["unknown_key"]
    # And our key does not vouch for a card naming the partner either.
    assert await _verdicts(client, _card(_our_key(settings), PARTNER)) == ["unknown_key"]
    assert await _verdicts(client, _card(partner, "https://stranger.example")) == ["unknown_key"]


async def test_exp_and_nbf_are_checked(client, signing_ready, settings) -> None:
    ours = _our_key(settings)
    now = dt.datetime.now(dt.UTC)
    ahead = _card(ours, settings.shc_issuer, nbf=now + dt.timedelta(days=365))
    assert await _verdicts(client, ahead) == ["not_yet_valid"]
    expired = _card(ours, settings.shc_issuer, exp=int((now - dt.timedelta(days=1)).timestamp()))
    assert await _verdicts(client, expired) == ["expired"]
    later = _card(ours, settings.shc_issuer, exp=int((now + dt.timedelta(days=30)).timestamp()))
    assert await _verdicts(client, later) == ["valid"]


async def test_another_issuers_crl_applies_to_its_rids(
    client, signing_ready, settings, tmp_path
) -> None:
    partner = _partner_key()
    _trust_partner(settings, partner, tmp_path, revoked=["R1ab", "R2cd.9999999999"])
    assert await _verdicts(client, _card(partner, PARTNER, rid="R1ab")) == ["revoked"]
    assert await _verdicts(client, _card(partner, PARTNER, rid="R2cd")) == ["revoked"]
    assert await _verdicts(client, _card(partner, PARTNER, rid="R3ef")) == ["valid"]


def test_a_key_with_crl_version_is_not_trusted_without_its_crl(settings, tmp_path) -> None:
    from web.issuer_directory import add_issuer

    partner = _partner_key()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**partner.public_jwk, "crlVersion": 2}]}))
    with pytest.raises(ValueError, match="crl"):
        add_issuer(settings.data_dir, "https://nocrl.example", jwks_source=str(jwks))


async def test_the_trust_command_adds_issuers_and_cscas(settings, tmp_path, capsys) -> None:
    from cli.main import main

    partner = _partner_key()
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [partner.public_jwk]}))
    main(["trust", "add-issuer", "https://cli.example", "--jwks", str(jwks), "--name", "CLI"])
    csca = next((VECTORS / "icao" / "japan-csca").glob("*.der"))
    main(["trust", "add-csca", "japan-test", str(csca)])
    main(["trust", "list"])
    listed = capsys.readouterr().out
    assert "issuer https://cli.example (CLI)" in listed and "CSCA japan-test" in listed
    main(["trust", "refresh"])
    assert "https://cli.example: 1 keys" in capsys.readouterr().out


async def test_the_japanese_vds_nc_verifies_against_the_configured_csca(
    client, signing_ready
) -> None:
    japan = json.loads((VECTORS / "icao" / "jpn-triple-vaccine.json").read_text())[0]
    assert await _verdicts(client, json.dumps(japan)) == ["valid"]


async def test_doses_show_product_names_not_cvx_codes(client, signing_ready, settings) -> None:
    token = await csrf_token(client, "/verify")
    card = _card(_our_key(settings), settings.shc_issuer)
    page = await client.post("/verify", data={"text": card, "_csrf_token": token})
    assert _found_verdicts(page.text) == ["valid"]
    assert "CVX 208" not in page.text
    assert "コミナティ筋注" in page.text


async def test_an_uploaded_pdfs_own_signature_is_verified(clerk_client, signing_ready) -> None:
    from tests.integration.certificates.test_counter import _issue, _person_with_doses

    person = await _person_with_doses()
    certificate_id = await _issue(clerk_client, person, {"kind": "domestic"})
    pdf = (await clerk_client.get(f"/certificates/{certificate_id}/pdf")).content
    token = await csrf_token(clerk_client, "/verify")

    async def upload(data: bytes) -> list[str]:
        answer = await clerk_client.post(
            "/verify",
            data={"_csrf_token": token},
            files={"file": ("certificate.pdf", data, "application/pdf")},
        )
        assert answer.status_code == 200, answer.text
        return _found_verdicts(answer.text)

    assert await upload(pdf) == ["valid", "valid"]  # the SHC code, then the PDF signature
    # A byte changed in the signed range (the binary comment after the header, harmless to
    # a renderer) breaks the PDF's signature while the QR code still verifies.
    changed = bytearray(pdf)
    position = pdf.index(b"\n") + 2
    changed[position] ^= 0x01
    assert await upload(bytes(changed)) == ["valid", "tampered"]


def nested_forms_pdf(depth: int = 16) -> bytes:
    """A few KB PDF whose forms each draw the next four times: 4**depth draws to render."""
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R"
        " /Resources << /XObject << /X 5 0 R >> >> >>",
        "<< /Length 5 >>\nstream\n/X Do\nendstream",
    ]
    for level in range(depth):
        number = 5 + level
        if level == depth - 1:
            body, resources = "0 0 1 1 re f", ""
        else:
            body = "/X Do /X Do /X Do /X Do"
            resources = f"/Resources << /XObject << /X {number + 1} 0 R >> >>"
        objects.append(
            f"<< /Type /XObject /Subtype /Form /BBox [0 0 200 200] {resources}"
            f" /Length {len(body)} >>\nstream\n{body}\nendstream"
        )
    out = b"%PDF-1.4\n"
    offsets = []
    for index, text in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{index} 0 obj\n{text}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
    ).encode()
    return out


async def test_a_hostile_pdf_does_not_hold_the_server_and_times_out_specifically(
    client, signing_ready, monkeypatch
) -> None:
    import web.verify_decoding

    monkeypatch.setattr(web.verify_decoding, "DECODE_TIMEOUT_SECONDS", 3.0)
    hostile = nested_forms_pdf()
    assert len(hostile) < 4096
    token = await csrf_token(client, "/verify")
    upload = asyncio.create_task(
        client.post(
            "/verify",
            data={"_csrf_token": token},
            files={"file": ("x.pdf", hostile, "application/pdf")},
        )
    )
    await asyncio.sleep(0.3)  # let the upload reach its decoder
    # Before: the decoder ran on the event loop, so /healthz answered only after it.
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert not upload.done()
    answer = await upload
    assert answer.status_code == 422
    assert "ファイルの読み取りに時間がかかりすぎました" in answer.text


def _partner_csca(tmp_path: Path, revoke_signer: bool) -> tuple[Path, Path, str]:
    """Another country's CSCA, its barcode signer, a seal, and the CSCA's CRL."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from signing import certs, vdsnc
    from signing.keys import CertifiedKey

    now = dt.datetime.now(dt.UTC)
    csca_key = ec.generate_private_key(ec.SECP256R1())
    csca = certs.make_self_signed_ca(csca_key, "Partner CSCA", "Partner State", "UT", now)
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = certs.make_barcode_signer(
        signer_key, csca, csca_key, "Partner barcode signer", "Partner State", "UT", now
    )
    document = vdsnc.issue_seal(
        example_content(2, "overseas"), CertifiedKey(signer, signer_key), "UTO"
    )
    crl = certs.make_empty_crl(csca, csca_key, now)
    if revoke_signer:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(csca.subject)
            .last_update(now - dt.timedelta(minutes=1))
            .next_update(now + dt.timedelta(days=7))
            .add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(signer.serial_number)
                .revocation_date(now - dt.timedelta(minutes=1))
                .build()
            )
        )
        crl = builder.sign(csca_key, hashes.SHA256())
    certificate_path = tmp_path / "partner-csca.der"
    certificate_path.write_bytes(csca.public_bytes(serialization.Encoding.DER))
    crl_path = tmp_path / "partner-csca.crl"
    crl_path.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    return certificate_path, crl_path, document


async def test_a_seal_whose_signer_the_cscas_crl_revokes_is_revoked(
    client, signing_ready, settings, tmp_path
) -> None:
    from web.issuer_directory import add_csca

    # The server reads the trust directory at start: add both, then verify.
    certificate, crl, good = _partner_csca(tmp_path / "a", revoke_signer=False)
    add_csca(settings.data_dir, "partner-a", str(certificate), str(crl))
    certificate, crl, revoked = _partner_csca(tmp_path / "b", revoke_signer=True)
    add_csca(settings.data_dir, "partner-b", str(certificate), str(crl))
    assert await _verdicts(client, good) == ["valid"]
    assert await _verdicts(client, revoked) == ["revoked"]
    # A CRL signed by anyone but the CSCA is refused when it is added.
    other, _, _ = _partner_csca(tmp_path / "c", revoke_signer=False)
    with pytest.raises(ValueError, match="CRL"):
        add_csca(settings.data_dir, "partner-c", str(other), str(crl))
