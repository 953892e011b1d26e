"""Print-and-scan round trip: issue → PDF → pdftoppm at 300 dpi → zbarimg → decode → verify."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from signing import shc, vdsnc
from signing.examples import example_content
from signing.issue import issue_certificate
from signing.keys import KeyStore
from signing.pades import PdfSigner
from signing.qr import byte_symbol
from tests.unit.signing.fixtures import ISSUER_URL

from .tools import scan_png, scan_qr_codes


@pytest.mark.parametrize(
    ("kind", "doses"),
    [("domestic", 3), ("overseas", 3), ("overseas", 7)],  # seven: Japan's most, the largest codes
)
def test_scanned_codes_decode_and_verify(
    tmp_path: Path,
    key_store: KeyStore,
    pdf_signer: PdfSigner,
    now: dt.datetime,
    kind: str,
    doses: int,
) -> None:
    content = example_content(12, kind, doses)  # type: ignore[arg-type]  # parametrized str for the Literal kind
    issued = issue_certificate(
        content, key_store, issuer_url=ISSUER_URL, pdf_signer=pdf_signer, issued_at=now
    )
    pdf = tmp_path / "certificate.pdf"
    pdf.write_bytes(issued.pdf)

    scanned = scan_qr_codes(pdf)

    health_cards = [text for text in scanned if text.startswith("shc:/")]
    assert health_cards == [issued.shc_qr_text]
    card = shc.verify_card(
        health_cards[0], shc.load_jwks(key_store.jwks()), expected_issuer=ISSUER_URL
    )
    assert card.rid == key_store.shc_rid(content.certificate_id)
    seals = [text for text in scanned if not text.startswith("shc:/")]
    if kind == "domestic":
        assert seals == []
        return
    assert seals == [issued.vdsnc_json]
    cscas = vdsnc.load_cscas([key_store.vdsnc_csca.public_bytes(serialization.Encoding.DER)])
    seal = vdsnc.verify_seal(seals[0], cscas)
    assert seal.trusted and seal.data["msg"]["pid"]["n"] == content.holder.name_roman


def test_non_ascii_text_scans_back_as_utf8(tmp_path: Path) -> None:
    # Without the ECI designator zbar reads UTF-8 bytes as Shift_JIS and garbles them.
    text = '{"maker":"ファイザー"}'  # without ECI zbar returns {"maker":"繝輔ぃ繧､繧ｶ繝ｼ"}
    png = tmp_path / "code.png"
    png.write_bytes(byte_symbol(text).png(scale=6))
    assert scan_png(png) == [text]
