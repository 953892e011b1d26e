"""The certificate page and its PAdES B-B signature, checked in-process with pyHanko.

The independent validators (poppler's pdfsig, the pyhanko CLI) and the QR scan
of the rendered page are in tests/integration/signing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature, validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from reportlab.lib.units import mm

from signing import pdf as page
from signing import shc, vdsnc
from signing.examples import example_content
from signing.issue import async_issue_certificate, issue_certificate
from signing.keys import KeyStore
from signing.pades import PdfSigner
from signing.qr import byte_symbol, shc_symbol

from .fixtures import ISSUER_URL


def _validate(signed: bytes, root) -> object:
    reader = PdfFileReader(io.BytesIO(signed))
    (signature,) = reader.embedded_signatures
    trust = asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))
    return validate_pdf_signature(signature, ValidationContext(trust_roots=[trust]))


@pytest.mark.parametrize("kind", ["domestic", "overseas"])
def test_issued_certificate_outputs_agree_and_verify(
    key_store: KeyStore, pdf_signer: PdfSigner, now: dt.datetime, kind: str
) -> None:
    content = example_content(6, kind)  # type: ignore[arg-type]  # parametrized str for the Literal kind
    issued = issue_certificate(
        content, key_store, issuer_url=ISSUER_URL, pdf_signer=pdf_signer, issued_at=now
    )
    card = shc.verify_card(
        issued.shc_qr_text, shc.load_jwks(key_store.jwks()), expected_issuer=ISSUER_URL
    )
    assert card.jws == issued.shc_jws and card.rid == issued.shc_rid
    assert card.rid == key_store.shc_rid(content.certificate_id) != content.certificate_id
    if kind == "overseas":
        assert issued.vdsnc_json is not None
        csca = vdsnc.load_cscas([key_store.vdsnc_csca.public_bytes(serialization.Encoding.DER)])
        assert vdsnc.verify_seal(issued.vdsnc_json, csca).uvci == content.certificate_id
    else:
        assert issued.vdsnc_json is None
    status = _validate(issued.pdf, key_store.pdf_root)
    assert status.bottom_line, status.pretty_print_details()
    assert b'"verifiableCredential"' in issued.smart_health_card_file


def test_signature_is_pades_ecdsa_by_the_document_signer(
    key_store: KeyStore, pdf_signer: PdfSigner
) -> None:
    content = example_content(7)
    issued = issue_certificate(content, key_store, issuer_url=ISSUER_URL, pdf_signer=pdf_signer)
    status = _validate(issued.pdf, key_store.pdf_root)
    assert status.intact and status.valid and status.trusted
    assert status.md_algorithm == "sha256"
    assert status.pkcs7_signature_mechanism in ("ecdsa", "sha256_ecdsa")
    assert "Document Signer" in status.signing_cert.subject.human_friendly
    assert b"/SubFilter /ETSI.CAdES.detached" in issued.pdf


def test_a_signature_from_an_untrusted_root_is_not_trusted(
    tmp_path, key_store: KeyStore, pdf_signer: PdfSigner
) -> None:
    other = KeyStore.init(tmp_path / "other", "pass")
    issued = issue_certificate(
        example_content(8), key_store, issuer_url=ISSUER_URL, pdf_signer=pdf_signer
    )
    status = _validate(issued.pdf, other.pdf_root)
    assert status.intact and not status.trusted and not status.bottom_line


def test_a_changed_byte_breaks_the_signature(key_store: KeyStore, pdf_signer: PdfSigner) -> None:
    issued = issue_certificate(
        example_content(9), key_store, issuer_url=ISSUER_URL, pdf_signer=pdf_signer
    )
    signed = bytearray(issued.pdf)
    position = signed.index(b"/Title")  # inside the signed byte range
    signed[position + 2] ^= 0x01
    status = _validate(bytes(signed), key_store.pdf_root)
    assert not status.intact and not status.bottom_line


def test_timestamped_levels_need_a_tsa(pdf_signer: PdfSigner) -> None:
    assert pdf_signer.default_level == "B-B"
    with pytest.raises(ValueError, match="timestamp"):
        pdf_signer.sign(b"%PDF-1.4", "B-T")


def test_page_embeds_the_japanese_font_and_names_the_certificate(
    key_store: KeyStore, now: dt.datetime
) -> None:
    content = example_content(10, "overseas")
    card = shc.to_qr_text(shc.issue_card(content, key_store.shc_signing_key, ISSUER_URL, now))
    rendered = page.render_certificate(content, page.PageCodes(shc_symbol(card), byte_symbol("{}")))
    assert rendered.startswith(b"%PDF")
    assert b"/FontFile2" in rendered  # TrueType program embedded (subset)
    assert re.search(rb"/BaseFont /[A-Z]{6}\+IPAexGothic", rendered)
    reader = PdfFileReader(io.BytesIO(rendered))
    assert reader.trailer["/Info"]["/Subject"] == content.certificate_id
    assert len(reader.root["/Pages"]["/Kids"]) == 1


def test_qr_codes_are_at_least_40_mm_with_modules_of_the_chosen_least_size() -> None:
    small, large = byte_symbol("x"), byte_symbol("x" * 1400)
    for least in (page.QR_MIN_MODULE_SHC, page.QR_MIN_MODULE_SEAL):
        assert page._qr_size(small, least) == pytest.approx(40 * mm)
        assert page._qr_size(large, least) / large.modules >= least - 1e-9
        assert page._qr_size(large, least) > 40 * mm
    assert page.QR_MIN_MODULE_SHC >= 0.45 * mm and page.QR_MIN_MODULE_SEAL >= 0.5 * mm


def test_content_that_cannot_fit_the_page_is_refused(key_store: KeyStore, now: dt.datetime) -> None:
    content = example_content(11)
    many = tuple(dataclasses.replace(content.doses[0], dose_number=n) for n in range(1, 30))
    crowded = dataclasses.replace(content, doses=many)
    symbol = byte_symbol("x")
    with pytest.raises(ValueError, match="does not fit"):
        page.render_certificate(crowded, page.PageCodes(symbol))


async def test_async_issue_gives_a_valid_certificate_inside_an_event_loop(
    key_store: KeyStore, pdf_signer: PdfSigner
) -> None:
    content = example_content(15, "overseas")
    issued = await async_issue_certificate(
        content, key_store, issuer_url=ISSUER_URL, pdf_signer=pdf_signer
    )
    (signature,) = PdfFileReader(io.BytesIO(issued.pdf)).embedded_signatures
    trust = asn1_x509.Certificate.load(key_store.pdf_root.public_bytes(serialization.Encoding.DER))
    status = await async_validate_pdf_signature(signature, ValidationContext(trust_roots=[trust]))
    assert status.bottom_line
    assert issued.vdsnc_json is not None and content.certificate_id in issued.vdsnc_json


def test_a_timestamped_default_level_needs_a_tsa(key_store: KeyStore) -> None:
    with pytest.raises(ValueError, match="timestamp authority"):
        PdfSigner.from_key_store(key_store, level="B-LT")
    assert PdfSigner.from_key_store(key_store).default_level == "B-B"


def _signing_certificate_hash(signed: bytes) -> bytes:
    reader = PdfFileReader(io.BytesIO(signed))
    (signature,) = reader.embedded_signatures
    attributes = {a["type"].native: a["values"][0] for a in signature.signer_info["signed_attrs"]}
    (cert_id,) = attributes["signing_certificate_v2"]["certs"]
    return cert_id["cert_hash"].native


def test_kept_signed_attributes_name_each_signers_own_certificate(
    key_store: KeyStore, pdf_signer: PdfSigner, tmp_path
) -> None:
    # The signing-certificate-v2 value is built once per signer and kept parsed
    # (signing.signed_attributes); every signature must still name its own certificate.
    import hashlib

    unsigned = page.render_certificate(
        example_content(3), page.PageCodes(health_card=shc_symbol("shc:/" + "0" * 40))
    )
    other_store = KeyStore.init(tmp_path / "other", "another passphrase")
    other = PdfSigner.from_key_store(other_store)
    for signer, store in ((pdf_signer, key_store), (other, other_store), (pdf_signer, key_store)):
        signed = signer.sign(unsigned)
        expected = hashlib.sha256(store.pdf_signer_certificate.public_bytes(
            serialization.Encoding.DER
        )).digest()  # fmt: skip
        assert _signing_certificate_hash(signed) == expected
        status = _validate(signed, store.pdf_root)
        assert status.intact and status.valid and status.trusted
