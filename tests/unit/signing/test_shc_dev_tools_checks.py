"""Our own copies of the checks the SMART Health Cards dev tools make, and the PDF's details.

The dev tools (github.com/smart-on-fhir/health-cards-dev-tools) check a card's
JWS header, its minified and raw-deflated payload, the FHIR bundle's shape,
the ``.smart-health-card`` file and the issuer's JWKS. These tests make the
same checks on what we issue, so a regression shows here without the tools.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import subprocess
import zlib
from pathlib import Path

import pytest
from joserfc.jwk import ECKey
from pyhanko.pdf_utils.reader import PdfFileReader

from signing import pdf as page
from signing.b64 import b64url_decode
from signing.examples import example_content
from signing.issue import IssuedCertificate, issue_certificate
from signing.keys import KeyStore
from signing.pades import PdfSigner
from tests.realparts import require_executable

from .fixtures import ISSUER_URL

_B64URL = re.compile(r"[A-Za-z0-9_-]+")


@pytest.fixture(scope="module", params=["domestic", "overseas"])
def issued(request, key_store: KeyStore, pdf_signer: PdfSigner) -> IssuedCertificate:
    content = example_content(21, request.param)
    when = dt.datetime(2024, 3, 1, 9, 30, tzinfo=dt.UTC)
    return issue_certificate(
        content, key_store, issuer_url=ISSUER_URL, pdf_signer=pdf_signer, issued_at=when
    )


def _parts(issued: IssuedCertificate) -> tuple[dict, bytes, dict]:
    header, payload, _signature = issued.shc_jws.split(".")
    raw = b64url_decode(payload)
    return json.loads(b64url_decode(header)), raw, json.loads(zlib.decompress(raw, -15))


def test_jws_header_is_es256_def_with_the_key_thumbprint(
    issued: IssuedCertificate, key_store: KeyStore
) -> None:
    header, _, _ = _parts(issued)
    assert set(header) == {"alg", "zip", "kid"}
    assert header["alg"] == "ES256" and header["zip"] == "DEF"
    (jwk,) = [k for k in key_store.jwks()["keys"] if k["kid"] == header["kid"]]
    public = {name: jwk[name] for name in ("kty", "crv", "x", "y")}
    assert ECKey.import_key(public).thumbprint() == header["kid"]  # RFC 7638


def test_payload_is_minified_json_compressed_with_raw_deflate(issued: IssuedCertificate) -> None:
    _, raw, claims = _parts(issued)
    with pytest.raises(zlib.error):
        zlib.decompress(raw)  # no zlib header: raw DEFLATE (wbits -15) only
    inflated = zlib.decompress(raw, -15)
    minified = json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    assert inflated == minified
    assert claims["iss"] == ISSUER_URL and isinstance(claims["nbf"], int)
    assert claims["vc"]["type"] == ["https://smarthealth.cards#health-card"]
    assert claims["vc"]["credentialSubject"]["fhirVersion"] == "4.0.1"


def test_fhir_bundle_has_the_compact_shape_with_resource_n_references(
    issued: IssuedCertificate,
) -> None:
    _, _, claims = _parts(issued)
    bundle = claims["vc"]["credentialSubject"]["fhirBundle"]
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "collection"
    entries = bundle["entry"]
    assert [e["fullUrl"] for e in entries] == [f"resource:{n}" for n in range(len(entries))]
    assert entries[0]["resource"]["resourceType"] == "Patient"
    for entry in entries:
        resource = entry["resource"]
        # Health Cards are compact: no id, meta, text or Coding.display.
        assert not {"id", "meta", "text"} & set(resource), resource
        assert "display" not in json.dumps(resource.get("vaccineCode", {}))
    for entry in entries[1:]:
        resource = entry["resource"]
        assert resource["resourceType"] == "Immunization" and resource["status"] == "completed"
        assert resource["patient"] == {"reference": "resource:0"}
        (coding,) = resource["vaccineCode"]["coding"]
        assert coding["system"] == "http://hl7.org/fhir/sid/cvx" and coding["code"]


def test_revocation_id_is_a_one_way_value_not_the_printed_id(
    issued: IssuedCertificate, key_store: KeyStore, tmp_path: Path
) -> None:
    _, _, claims = _parts(issued)
    rid = claims["vc"]["rid"]
    assert rid == issued.shc_rid == key_store.shc_rid(issued.certificate_id)
    assert rid != issued.certificate_id and issued.certificate_id not in rid
    assert len(rid) <= 24 and _B64URL.fullmatch(rid)
    other = KeyStore.init(tmp_path / "other", "another passphrase")
    assert other.shc_rid(issued.certificate_id) != rid  # keyed by the store's own secret


def test_file_has_no_surrounding_whitespace(issued: IssuedCertificate) -> None:
    body = issued.smart_health_card_file
    assert body == body.strip() and not body.endswith(b"\n")
    assert json.loads(body) == {"verifiableCredential": [issued.shc_jws]}


def test_jwks_keys_are_p256_signing_keys_with_crl_version(key_store: KeyStore) -> None:
    for key in key_store.jwks()["keys"]:
        assert key["kty"] == "EC" and key["crv"] == "P-256"
        assert key["use"] == "sig" and key["alg"] == "ES256"
        assert "d" not in key
        assert key["crlVersion"] >= 1  # present before the first revocation
        public = {name: key[name] for name in ("kty", "crv", "x", "y")}
        assert ECKey.import_key(public).thumbprint() == key["kid"]


# --- the PDF -------------------------------------------------------------------------


def test_pdf_names_its_creator_producer_and_language(issued: IssuedCertificate) -> None:
    info = PdfFileReader(io.BytesIO(issued.pdf)).trailer["/Info"]
    root = PdfFileReader(io.BytesIO(issued.pdf)).root
    assert str(info["/Creator"]) == page.CREATOR
    assert "anonymous" not in str(info.get("/Author", "")).lower()
    assert "VRS" in str(info["/Producer"])
    assert str(root["/Lang"]) == "ja"


def _layout_text(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    tool = require_executable("pdftotext")
    result = subprocess.run([tool, "-layout", str(path), "-"], capture_output=True, text=True)
    return result.stdout.splitlines()


def test_every_issuer_row_has_its_label_and_japan_is_named_in_english(
    issued: IssuedCertificate, tmp_path: Path
) -> None:
    lines = _layout_text(issued.pdf, tmp_path)
    content = example_content(21, "overseas" if issued.vdsnc_json else "domestic")
    if not content.overseas:
        assert not any("Mayor" in line for line in lines)
        return
    (head,) = [line for line in lines if "Mayor of Chiyoda City" in line]
    assert "Issuer" in head  # the English head shares the labelled row: no empty label cell
    assert any("Japan" in line and "Chiyoda City" in line for line in lines)
    for line in lines:
        if content.issuer.contact_en and content.issuer.contact_en in line:
            assert "Enquiries" in line
