"""Counter issuance of an overseas certificate in Chromium: the PDF downloads and verifies."""

from __future__ import annotations

import json
import os
from pathlib import Path

from common.settings import load_settings
from db.accounts.roles import Role
from e2e.certificate_pages import CertificateSearchPage
from e2e.conftest import screenshot
from e2e.pages import SignInPage
from signing import shc, vdsnc
from tests.factories import (
    PASSWORD,
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
)
from tests.integration.signing.tools import scan_qr_codes

# The server process inherits this (it starts after collection).
os.environ.setdefault("VRS_KEY_PASSPHRASE", "test-key-passphrase")


async def test_clerk_issues_an_overseas_certificate_that_verifies(page, tmp_path: Path) -> None:
    from cli.commands.keys import ensure_keys
    from web.signing_context import load_signing_context

    settings = load_settings()
    ensure_keys(settings)
    await create_municipality("131016")
    login = await create_account(role=Role.CLERK)
    person = await create_resident("131016", name="鈴木 一郎")
    await create_vaccination(person)

    await SignInPage(page).open()
    await (await SignInPage(page).open()).sign_in(login, PASSWORD)
    search = await CertificateSearchPage(page).open()
    person_page = await search.find(person["ticket_number"])
    await screenshot(page, "certificates-person")
    await person_page.choose_overseas(
        {
            "passport_number": "TZ1234567",
            "nationality": "JPN",
            "family_name_roman": "SUZUKI",
            "given_name_roman": "ICHIRO",
        }
    )
    await person_page.preview()
    assert await page.get_by_test_id("preview-passport").inner_text() == "TZ1234567"
    await screenshot(page, "certificates-preview")
    await person_page.issue()
    await screenshot(page, "certificates-issued")
    download = await person_page.download()
    pdf = tmp_path / "certificate.pdf"
    await download.save_as(str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF")

    context = load_signing_context(settings)
    codes = scan_qr_codes(pdf)
    card = shc.verify_card(next(c for c in codes if c.startswith("shc:/")), context.our_jwks_keys())
    seal = vdsnc.verify_seal(next(c for c in codes if c.startswith("{")), context.cscas())
    assert seal.trusted and seal.data["msg"]["pid"]["i"] == "TZ1234567"
    # The card's revocation id is a one-way value of the certificate id, never the id itself.
    assert card.rid == context.keys.shc_rid(seal.uvci) != seal.uvci
    patient = card.bundle["entry"][0]["resource"]
    assert json.dumps(patient["name"]).count("SUZUKI") == 1
