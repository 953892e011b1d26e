"""Long-term validity: CRLs the system publishes, PAdES B-LTA, and re-timestamping.

A key store made with a CRL address names it in its signer certificates; a
local HTTP server plays the system's ``/pki/`` route and a local RFC 3161
authority (certomancer) the TSA. PDFs are signed while both run, then judged
by pyHanko's ETSI validation (``pyhanko sign adesverify``) at a validation time
after the signer certificate's expiry, with every service stopped: B-LTA is
still VALID, B-B is not. Today's validity is also checked with poppler's
pdfsig and ``adesverify`` while the CRLs are served.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from signing.examples import example_content
from signing.issue import issue_certificate
from signing.keys import KeyStore
from signing.pades import PdfSigner, last_timestamp_expiry, signature_level
from tests.unit.signing.fixtures import ISSUER_URL, PASSPHRASE

from .local_tsa import local_tsa
from .tools import nss_trusting, pdfsig, pyhanko, write_pem

# One worker builds the module's archive (18 s): its tests run together.
pytestmark = pytest.mark.xdist_group("long_term_validity")


class _CrlServer:
    """Serves a key store's published CRLs as the system's ``/pki/`` route does."""

    def __init__(self) -> None:
        self.store: KeyStore | None = None
        served = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                assert served.store is not None
                der = served.store.published_crl(self.path.rsplit("/", 1)[-1])
                if der is None or not self.path.startswith("/pki/"):
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(der)))
                self.end_headers()
                self.wfile.write(der)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_port}/pki"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _adesverify(files: dict, pdf: Path, at: dt.datetime | None = None) -> str:
    when = ["--validation-time", at.strftime("%Y-%m-%dT%H:%M:%S")] if at else []
    trust = ["--trust", str(files["root"]), "--trust", str(files["tsa-root"]), "--trust-replace"]
    result = pyhanko("sign", "adesverify", "--pretty-print", *trust, *when, str(pdf))
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """B-B and B-LTA PDFs (and a re-timestamped B-LTA), judged today and after the signer's expiry."""
    directory = tmp_path_factory.mktemp("lta")
    crls = _CrlServer()
    store = KeyStore.init(directory / "keys", PASSPHRASE, crl_base_url=crls.base_url)
    crls.store = store
    files: dict = {"store": store, "crl_base_url": crls.base_url, "dir": directory}
    files["root"] = write_pem(store.pdf_root, directory / "root.pem")
    content = example_content(31, "overseas")
    with local_tsa(directory / "tsa", archival=True) as (tsa, stop_tsa):
        files["tsa-root"] = tsa.root_pem
        signer = PdfSigner.from_key_store(
            store, timestamp_url=tsa.url, ltv_trust_roots=[tsa.root], level="B-LTA"
        )
        signed = {
            "B-LTA": issue_certificate(content, store, issuer_url=ISSUER_URL, pdf_signer=signer),
            "B-B": issue_certificate(
                content, store, issuer_url=ISSUER_URL, pdf_signer=PdfSigner.from_key_store(store)
            ),
        }
        for level, issued in signed.items():
            files[level] = directory / f"{level}.pdf"
            files[level].write_bytes(issued.pdf)
        extended = asyncio.run(signer.async_extend(signed["B-LTA"].pdf))
        files["re-timestamped"] = directory / "re-timestamped.pdf"
        files["re-timestamped"].write_bytes(extended)
        with pytest.raises(ValueError, match="B-B"):
            asyncio.run(signer.async_extend(signed["B-B"].pdf))
        stop_tsa()
    # Today, with the CRLs served (as /pki/ is) but the TSA gone.
    database = nss_trusting([files["root"], files["tsa-root"]], directory / "nss")
    for name in ("B-LTA", "B-B"):
        files[f"{name} pdfsig"] = pdfsig(files[name], database)
        files[f"{name} today"] = _adesverify(files, files[name])
    crls.stop()
    # Thirty days after the signer certificate expired, every service gone.
    later = store.pdf_signer_certificate.not_valid_after_utc + dt.timedelta(days=30)
    files["later"] = later
    for name in ("B-LTA", "re-timestamped", "B-B"):
        files[f"{name} later"] = _adesverify(files, files[name], later)
    yield files


def test_signer_certificates_name_the_systems_crl_addresses(archive: dict) -> None:
    store: KeyStore = archive["store"]
    base = archive["crl_base_url"]
    for certificate, name, ca in (
        (store.pdf_signer_certificate, "pdf-root.crl", store.pdf_root),
        (store.vdsnc_signer.certificate, "csca.crl", store.vdsnc_csca),
    ):
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        assert [p.full_name[0].value for p in points] == [f"{base}/{name}"]  # type: ignore[index]  # a distribution point's full name is set here
        crl = x509.load_der_x509_crl(store.published_crl(name) or b"")
        assert crl.issuer == ca.subject and crl.is_signature_valid(_public(ca))
        assert crl.next_update_utc is not None and crl.next_update_utc > dt.datetime.now(dt.UTC)
    assert store.published_crl("other.crl") is None


def _public(ca: x509.Certificate) -> ec.EllipticCurvePublicKey:
    key = ca.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def test_b_lta_is_valid_after_the_signer_expired_with_every_service_gone(archive: dict) -> None:
    assert signature_level(archive["B-LTA"].read_bytes()) == "B-LTA"
    assert archive["later"] > archive["store"].pdf_signer_certificate.not_valid_after_utc
    report = archive["B-LTA later"]
    assert "The signature is judged VALID." in report, report


def test_b_b_is_invalid_after_the_signer_expired(archive: dict) -> None:
    # What the README tells a holder of a B-B certificate: valid only while the signer is.
    report = archive["B-B later"]
    assert "The signature is judged INVALID." in report and "expired" in report, report


def test_re_timestamping_adds_a_document_timestamp_that_keeps_it_valid(archive: dict) -> None:
    before = archive["B-LTA"].read_bytes()
    after = archive["re-timestamped"].read_bytes()
    assert after.startswith(before)  # an incremental update: the signed bytes are untouched
    assert after.count(b"/DocTimeStamp") == before.count(b"/DocTimeStamp") + 1
    assert last_timestamp_expiry(after) == dt.datetime(2060, 1, 1, tzinfo=dt.UTC)  # the TSA's
    assert last_timestamp_expiry(archive["B-B"].read_bytes()) is None
    report = archive["re-timestamped later"]
    assert "The signature is judged VALID." in report, report


@pytest.mark.parametrize("level", ["B-LTA", "B-B"])
def test_today_adesverify_finds_revocation_data_and_pdfsig_trusts_it(
    archive: dict, level: str
) -> None:
    report = archive[f"{level} today"]
    assert "The signature is judged VALID." in report, report
    assert "INVALID" not in report and "INDETERMINATE" not in report, report
    checked = archive[f"{level} pdfsig"]
    assert "Signature is Valid." in checked, checked
    assert "Certificate is Trusted." in checked, checked


def test_renewing_crls_issues_both_with_higher_numbers(tmp_path: Path) -> None:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    store = KeyStore.init(tmp_path / "keys", PASSPHRASE, now=start, crl_base_url="https://x/pki")
    renewed = KeyStore.renew_crl(tmp_path / "keys", PASSPHRASE, now=start + dt.timedelta(days=30))
    assert store.vdsnc_crl is not None and renewed.vdsnc_crl is not None
    for old, new in ((store.pdf_crl, renewed.pdf_crl), (store.vdsnc_crl, renewed.vdsnc_crl)):
        number = x509.CRLNumber
        assert (
            new.extensions.get_extension_for_class(number).value.crl_number
            > old.extensions.get_extension_for_class(number).value.crl_number
        )
        assert new.next_update_utc is not None and old.next_update_utc is not None
        assert new.next_update_utc > old.next_update_utc
    rotated = KeyStore.rotate(tmp_path / "keys", PASSPHRASE, "pdf", now=start)
    points = rotated.pdf_signer_certificate.extensions.get_extension_for_class(
        x509.CRLDistributionPoints
    )
    assert points.value[0].full_name[0].value == "https://x/pki/pdf-root.crl"  # type: ignore[index]  # a distribution point's full name is set here
