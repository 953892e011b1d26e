"""PAdES B-T and B-LT against a local TSA (certomancer); B-LT still validates once the TSA is gone."""

from __future__ import annotations

import pytest

from signing.examples import example_content
from signing.issue import issue_certificate
from signing.keys import KeyStore
from signing.pades import PdfSigner
from tests.unit.signing.fixtures import ISSUER_URL

from .local_tsa import local_tsa
from .tools import nss_trusting, pdfsig, pyhanko, write_pem


@pytest.fixture(scope="module")
def timestamped(tmp_path_factory: pytest.TempPathFactory, key_store: KeyStore) -> dict:
    """B-T and B-LT PDFs signed while the TSA ran; the TSA is stopped before any test runs.

    The B-T file is also validated while the TSA (and its OCSP responder) still
    answers, since B-T carries no revocation data of its own.
    """
    directory = tmp_path_factory.mktemp("ltv")
    files: dict = {"root": write_pem(key_store.pdf_root, directory / "root.pem"), "dir": directory}
    with local_tsa(directory / "tsa") as (tsa, stop):
        signer = PdfSigner.from_key_store(
            key_store, timestamp_url=tsa.url, ltv_trust_roots=[tsa.root]
        )
        assert signer.default_level == "B-T"
        files["tsa-root"] = tsa.root_pem
        for level in ("B-T", "B-LT"):
            issued = issue_certificate(
                example_content(14),
                key_store,
                issuer_url=ISSUER_URL,
                pdf_signer=signer,
                level=level,
            )
            files[level] = directory / f"{level}.pdf"
            files[level].write_bytes(issued.pdf)
        files["B-T online validation"] = pyhanko(
            "sign", "validate", "--pretty-print", *_trust(files), str(files["B-T"])
        )
        stop()
        assert tsa.stopped.is_set()
    return files


def _trust(files: dict) -> list[str]:
    return ["--trust", str(files["root"]), "--trust", str(files["tsa-root"]), "--trust-replace"]


def test_b_t_carries_a_trusted_signature_timestamp(timestamped: dict) -> None:
    result = timestamped["B-T online validation"]
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Signature timestamp token:" in result.stdout
    assert "The TSA certificate is trusted." in result.stdout
    assert "The signature is judged VALID." in result.stdout


def test_b_lt_embeds_validation_data(timestamped: dict) -> None:
    data = timestamped["B-LT"].read_bytes()
    assert b"/DSS" in data and b"/DSS" not in timestamped["B-T"].read_bytes()
    assert b"/CRLs" in data and b"/OCSPs" in data  # our root's CRL; the TSA's OCSP response


def test_b_lt_validates_ades_style_from_embedded_data_with_the_tsa_gone(timestamped: dict) -> None:
    result = pyhanko(
        "sign", "adesverify", "--pretty-print", *_trust(timestamped), str(timestamped["B-LT"])
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The signer's certificate is trusted." in result.stdout
    assert "The signature is judged VALID." in result.stdout


def test_b_t_is_not_enough_for_ades_validation_offline(timestamped: dict) -> None:
    # Without embedded revocation data and no service to ask, the ETSI validation
    # cannot settle the signer's status: what B-LT adds is what makes it pass.
    result = pyhanko(
        "sign", "adesverify", "--pretty-print", *_trust(timestamped), str(timestamped["B-T"])
    )
    assert "The signature is judged VALID." not in result.stdout


def test_pdfsig_accepts_the_long_term_signature(timestamped: dict) -> None:
    database = nss_trusting(
        [timestamped["root"], timestamped["tsa-root"]], timestamped["dir"] / "nss"
    )
    report = pdfsig(timestamped["B-LT"], database)
    assert "Signature is Valid." in report, report
    assert "Certificate is Trusted." in report, report


def test_a_tsa_that_is_down_or_untrusted_signs_nothing(tmp_path, key_store: KeyStore) -> None:
    from signing.errors import SigningServiceUnavailable

    content = example_content(15)
    with local_tsa(tmp_path / "tsa") as (tsa, stop):
        untrusted = PdfSigner.from_key_store(key_store, timestamp_url=tsa.url, level="B-LT")
        with pytest.raises(SigningServiceUnavailable) as refused:
            issue_certificate(content, key_store, issuer_url=ISSUER_URL, pdf_signer=untrusted)
        assert refused.value.service == "trust"  # the TSA's root is neither named nor public
        signer = PdfSigner.from_key_store(
            key_store, timestamp_url=tsa.url, ltv_trust_roots=[tsa.root], level="B-LT"
        )
        assert signer.default_level == "B-LT"
        stop()
        for level in ("B-T", "B-LT"):
            with pytest.raises(SigningServiceUnavailable) as down:
                issue_certificate(
                    content, key_store, issuer_url=ISSUER_URL, pdf_signer=signer, level=level
                )
            assert down.value.service == "timestamp"
