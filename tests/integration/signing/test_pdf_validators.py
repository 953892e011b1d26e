"""The signed PDF judged by independent validators: poppler's pdfsig (NSS) and the pyhanko CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from signing.examples import example_content
from signing.issue import issue_certificate
from signing.keys import KeyStore
from signing.pades import PdfSigner
from tests.unit.signing.fixtures import ISSUER_URL

from .tools import nss_trusting, pdfsig, pyhanko, write_pem


@pytest.fixture(scope="module")
def signed_pdfs(
    tmp_path_factory: pytest.TempPathFactory, key_store: KeyStore, pdf_signer: PdfSigner
) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("signed")
    issued = issue_certificate(
        example_content(13, "overseas"), key_store, issuer_url=ISSUER_URL, pdf_signer=pdf_signer
    )
    good = directory / "good.pdf"
    good.write_bytes(issued.pdf)
    # One changed byte inside the signed range: a digit of the page content length would
    # break parsing; a letter of the /Producer string is data the signature covers.
    tampered = bytearray(issued.pdf)
    position = tampered.index(b"/Producer (") + len(b"/Producer (")
    tampered[position] ^= 0x20
    bad = directory / "tampered.pdf"
    bad.write_bytes(bytes(tampered))
    root = write_pem(key_store.pdf_root, directory / "root.pem")
    return {"good": good, "tampered": bad, "root": root, "dir": directory}


def test_pdfsig_reports_valid_and_trusted(signed_pdfs: dict[str, Path]) -> None:
    database = nss_trusting([signed_pdfs["root"]], signed_pdfs["dir"] / "nss")
    report = pdfsig(signed_pdfs["good"], database)
    assert "Signature is Valid." in report, report
    assert "Certificate is Trusted." in report, report
    assert "Total document signed" in report


def test_pdfsig_without_our_root_does_not_trust_it(
    signed_pdfs: dict[str, Path], tmp_path: Path
) -> None:
    report = pdfsig(signed_pdfs["good"], nss_trusting([], tmp_path / "nss"))
    assert "Signature is Valid." in report
    assert "Certificate is Trusted." not in report


def test_pdfsig_rejects_a_changed_byte(signed_pdfs: dict[str, Path]) -> None:
    database = nss_trusting([signed_pdfs["root"]], signed_pdfs["dir"] / "nss-tampered")
    report = pdfsig(signed_pdfs["tampered"], database)
    assert "Signature #1" in report, report
    assert "Signature is Valid." not in report, report


def test_pyhanko_cli_judges_it_valid(signed_pdfs: dict[str, Path]) -> None:
    result = pyhanko(
        "sign",
        "validate",
        "--pretty-print",
        "--trust",
        str(signed_pdfs["root"]),
        "--trust-replace",
        str(signed_pdfs["good"]),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "The signature is judged VALID." in result.stdout


def test_pyhanko_cli_rejects_a_changed_byte(signed_pdfs: dict[str, Path]) -> None:
    result = pyhanko(
        "sign",
        "validate",
        "--pretty-print",
        "--trust",
        str(signed_pdfs["root"]),
        "--trust-replace",
        str(signed_pdfs["tampered"]),
    )
    assert result.returncode != 0
    assert "The signature is judged VALID." not in result.stdout
