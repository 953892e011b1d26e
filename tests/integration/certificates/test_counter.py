"""Counter issuance (窓口): find, preview, issue, download; the PDF verifies; bad input is specific."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.factories import create_resident, create_vaccination, csrf_token
from tests.integration.signing.tools import (
    nss_trusting,
    pdfsig,
    pyhanko,
    scan_qr_codes,
    structure_tree,
    write_pem,
)

#: The clerk issues certificates: the server's keys and card trust in place.
pytestmark = pytest.mark.usefixtures("signing_ready")

PASSPORT = {
    "kind": "overseas",
    "passport_number": "TK1234567",
    "nationality": "JPN",
    "family_name_roman": "Yamada",
    "given_name_roman": "Taro",
}


async def _person_with_doses() -> dict:
    person = await create_resident("131016")
    await create_vaccination(person, dose_number=1)
    await create_vaccination(
        person, dose_number=2, vaccinated_on=__import__("datetime").date(2021, 6, 22)
    )
    return person


async def _issue(client, person, form) -> str:
    path = f"/certificates/person/{person['id']}"
    token = await csrf_token(client, path)
    preview = await client.post(f"{path}/preview", data={**form, "_csrf_token": token})
    assert preview.status_code == 200, preview.text
    assert 'data-testid="certificate-preview-panel"' in preview.text
    issued = await client.post(f"{path}/issue", data={**form, "_csrf_token": token})
    assert issued.status_code == 303
    page = await client.get(issued.headers["location"])
    match = re.search(
        r'href="/certificates/([A-Z0-9]{12})/pdf" data-testid="certificate-download"', page.text
    )
    assert match, page.text
    return match.group(1)


async def test_clerk_finds_the_person_by_ticket_and_issues_an_overseas_certificate(
    clerk_client, tmp_path: Path, settings
) -> None:
    person = await _person_with_doses()
    await clerk_client.get("/certificates")  # checked on arrival (tests.pages)
    found = await clerk_client.get("/certificates", params={"q": person["ticket_number"]})
    assert f"/certificates/person/{person['id']}" in found.text
    nothing = await clerk_client.get("/certificates", params={"q": "0000000000"})
    assert 'data-testid="certificate-no-results"' in nothing.text

    certificate_id = await _issue(clerk_client, person, PASSPORT)
    pdf = await clerk_client.get(f"/certificates/{certificate_id}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf.content)

    # The round trip: rendered page → zbarimg → both codes verify through the verify page.
    codes = scan_qr_codes(path)
    assert any(c.startswith("shc:/") for c in codes) and any(c.startswith("{") for c in codes)
    token = await csrf_token(clerk_client, "/verify")
    for code in codes:
        answer = await clerk_client.post("/verify", data={"text": code, "_csrf_token": token})
        assert 'data-verdict="valid"' in answer.text, code[:40]
    assert "TK1234567" in answer.text or any("TK1234567" in c for c in codes)

    # The passport data is in the history and prefills the next overseas issuance.
    page = await clerk_client.get(f"/certificates/person/{person['id']}")
    assert page.text.count('data-testid="certificate-history-row"') == 1
    assert 'value="TK1234567"' in page.text

    # Independent validators on the counter-issued PDF.
    from signing.keys import KeyStore
    from web.signing_context import key_directory

    keys = KeyStore.load(key_directory(settings), settings.key_passphrase)
    root = write_pem(keys.pdf_root, tmp_path / "root.pem")
    report = pdfsig(path, nss_trusting([root], tmp_path / "nss"))
    assert "Signature is Valid." in report and "Certificate is Trusted." in report
    validated = pyhanko(
        # Soft: the signer's CRL address is the /pki/ route of a server this test does not
        # run (tests/integration/signing/test_long_term_validity.py serves and checks it).
        "sign", "validate", "--pretty-print", "--soft-revocation-check",
        "--trust", str(root), "--trust-replace", str(path),
    )  # fmt: skip
    assert validated.returncode == 0, validated.stdout + validated.stderr

    # Issued through the one issuance service, the signed PDF is tagged: the holder's name
    # in Japanese and one row per dose read back from its structure tree by poppler.
    (document,) = structure_tree(path).kids
    cells = [cell.all_text() for cell in document.find("TD")]
    assert "山田 太郎" in cells
    (body,) = document.find("TBody")
    assert [row.kids[1].all_text() for row in body.find("TR")] == ["2021-06-01", "2021-06-22"]

    # One changed byte inside the signed range is rejected.
    tampered = bytearray(pdf.content)
    position = tampered.index(b"/Producer (") + len(b"/Producer (")
    tampered[position] ^= 0x20
    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(bytes(tampered))
    assert "Signature is Valid." not in pdfsig(bad, nss_trusting([root], tmp_path / "nss2"))


async def test_the_pdf_upload_verifies_on_the_verify_page(clerk_client) -> None:
    person = await _person_with_doses()
    certificate_id = await _issue(clerk_client, person, {"kind": "domestic"})
    pdf = await clerk_client.get(f"/certificates/{certificate_id}/pdf")
    token = await csrf_token(clerk_client, "/verify")
    answer = await clerk_client.post(
        "/verify",
        data={"_csrf_token": token},
        files={"file": ("certificate.pdf", pdf.content, "application/pdf")},
    )
    assert answer.status_code == 200
    assert answer.text.count('data-verdict="valid"') == 2  # domestic: the SHC code, the PDF


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"passport_number": "123"}, "英字2文字"),
        ({"nationality": "J1"}, "英字3文字"),
        ({"family_name_roman": "山田"}, "ローマ字"),
        ({"kind": "elsewhere"}, "国内用"),
    ],
)
async def test_bad_passport_data_is_refused_specifically(clerk_client, change, message) -> None:
    person = await _person_with_doses()
    path = f"/certificates/person/{person['id']}"
    token = await csrf_token(clerk_client, path)
    for action in ("preview", "issue"):
        response = await clerk_client.post(
            f"{path}/{action}", data={**PASSPORT, **change, "_csrf_token": token}
        )
        assert response.status_code == 422
        assert message in response.text
    page = await clerk_client.get(path)
    assert 'data-testid="certificate-history-row"' not in page.text


async def test_a_person_without_doses_gets_a_clear_refusal(clerk_client) -> None:
    person = await create_resident("131016")
    path = f"/certificates/person/{person['id']}"
    token = await csrf_token(clerk_client, path)
    response = await clerk_client.post(
        f"{path}/issue", data={"kind": "domestic", "_csrf_token": token}
    )
    assert response.status_code == 422
    assert "証明できる接種記録がありません" in response.text


async def test_another_municipalitys_resident_is_not_found(clerk_client) -> None:
    from tests.factories import create_municipality

    await create_municipality("011002")
    elsewhere = await create_resident("011002")
    await create_vaccination(elsewhere, "011002")
    response = await clerk_client.get(f"/certificates/person/{elsewhere['id']}")
    assert response.status_code == 404
    assert (await clerk_client.get("/certificates/NOTANID/pdf")).status_code == 404


def test_pdftoppm_is_there() -> None:
    from tests.realparts import require_executable

    answer = subprocess.run(
        [require_executable("pdftoppm"), "-v"], capture_output=True, text=True, check=False
    )
    assert "pdftoppm version" in answer.stdout + answer.stderr, answer
