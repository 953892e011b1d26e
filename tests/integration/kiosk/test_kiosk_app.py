"""The kiosk app against the real server app, the card in the real PC/SC stack.

pyscard → our pcscd → vpcd → the emulator, the kiosk's screens posted like the touch
screen does, the server app in this process on the test database.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from common.clock import JAPAN, now_in_japan
from kiosk.app import create_kiosk_app
from kiosk.devices import SimulatedPayment, SpoolPrinter
from kiosk.settings import KioskSettings
from tests.integration.kiosk.pcsc_stack import PcscStack
from tests.integration.kiosk.test_kiosk_server_channel import (
    KioskBrowser,
    clean,
    kiosk_server_settings,  # noqa: F401  (fixture "settings": this worker's data dir)
    register_card_holders,
    screen_name,
)
from tests.integration.signing.tools import nss_trusting, pdfsig, pyhanko, write_pem

pytestmark = [pytest.mark.pcsc, pytest.mark.xdist_group("pcsc")]


@dataclass
class Kiosk:
    browser: KioskBrowser
    payment: SimulatedPayment
    printer: SpoolPrinter
    spool: Path
    data: Path


def _kiosk_app(app, pcsc: PcscStack, token: str, tmp_path: Path, clock=now_in_japan, **extra):
    settings = KioskSettings(
        server_url="http://vrs.test",
        token=token,
        store_id="store-1",
        terminal_id="7",
        spool_dir=clean(tmp_path / "spool"),
        data_dir=clean(tmp_path / "kiosk-data"),
        hours_start=dt.time(0),
        hours_end=dt.time.max,
        **extra,
    )
    payment = SimulatedPayment()
    printer = SpoolPrinter(settings.spool_dir)
    server_http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://vrs.test"
    )
    kiosk_app = create_kiosk_app(
        settings,
        reader=pcsc.reader(),
        payment=payment,
        printer=printer,
        http=server_http,
        clock=clock,
    )
    return kiosk_app, payment, printer, settings, server_http


@pytest.fixture
async def kiosk(app, pcsc: PcscStack, kiosk_token: str, tmp_path: Path) -> AsyncIterator[Kiosk]:
    kiosk_app, payment, printer, settings, server_http = _kiosk_app(
        app, pcsc, kiosk_token, tmp_path
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=kiosk_app), base_url="http://127.0.0.1:8100"
    ) as http:
        yield Kiosk(KioskBrowser(http), payment, printer, settings.spool_dir, settings.data_dir)
    await kiosk_app.state.flow.reset()
    kiosk_app.state.flow.reader.close()
    await server_http.aclose()


async def _to_pin(kiosk: Kiosk, pcsc: PcscStack, card: Any) -> str:
    assert screen_name(await kiosk.browser.screen()) == "start"
    assert screen_name(await kiosk.browser.press("/start")) == "place_card"
    pcsc.insert(card.emulator())
    page = await kiosk.browser.press("/card")
    assert screen_name(page) == "pin" and 'data-tries="3"' in page
    return page


async def _to_fee(kiosk: Kiosk, pcsc: PcscStack, card: Any) -> None:
    await _to_pin(kiosk, pcsc, card)
    assert screen_name(await kiosk.browser.press("/pin", pin=card.pin)) == "choose_type"
    assert screen_name(await kiosk.browser.press("/type", kind="domestic")) == "fee"


async def test_domestic_success_prints_a_signed_pdf_and_a_120_yen_receipt(
    kiosk: Kiosk, pcsc: PcscStack, cards: list[Any], settings, tmp_path: Path
) -> None:
    card = cards[1]  # registered in 千代田区 only
    await _to_pin(kiosk, pcsc, card)
    page = await kiosk.browser.press("/pin", pin=card.pin)
    assert screen_name(page) == "choose_type", page
    page = await kiosk.browser.press("/type", kind="domestic")
    assert screen_name(page) == "fee"
    assert (
        'data-testid="fee-total" data-yen="120"' in page
        and page.count('data-testid="fee-line"') == 1
    )
    page = await kiosk.browser.press("/pay")
    assert screen_name(page) == "done", page
    assert 'data-testid="reminder"' in page
    assert kiosk.payment.net_yen == 120

    pdfs = list(kiosk.spool.glob("*.pdf"))
    assert len(pdfs) == 1 and pdfs[0].name.endswith("-131016.pdf")
    receipt = next(kiosk.spool.glob("*-receipt.txt")).read_text()
    assert "合計 / Total: 120円" in receipt and card.resident.basic4.name not in receipt

    from signing.keys import KeyStore
    from web.signing_context import key_directory

    keys = KeyStore.load(key_directory(settings), settings.key_passphrase)
    root = write_pem(keys.pdf_root, tmp_path / "root.pem")
    report = pdfsig(pdfs[0], nss_trusting([root], tmp_path / "nss"))
    assert "Signature is Valid." in report and "Certificate is Trusted." in report
    validated = pyhanko(
        # Soft: the signer's CRL address is the /pki/ route of a server this test does not
        # run (tests/integration/signing/test_long_term_validity.py serves and checks it).
        "sign", "validate", "--pretty-print", "--soft-revocation-check",
        "--trust", str(root), "--trust-replace", str(pdfs[0]),
    )  # fmt: skip
    assert validated.returncode == 0, validated.stdout + validated.stderr

    # The server recorded a kiosk issuance; the kiosk logged date/time without personal data.
    from db.engine import current_connection, owner_transaction

    async with owner_transaction():
        rows = await current_connection().fetch("SELECT channel, kind FROM certificate_issuance")
    assert [(r["channel"], r["kind"]) for r in rows] == [("kiosk", "domestic")]
    (line,) = (kiosk.data / "issuances.jsonl").read_text().splitlines()
    entry = json.loads(line)
    assert entry["certificates"] == 1 and entry["fee_yen"] == 120 and entry["store_id"] == "store-1"
    assert card.my_number not in line and card.resident.basic4.name not in line
    assert screen_name(await kiosk.browser.press("/reset")) == "start"


async def test_two_municipalities_two_certificates_240_yen(
    kiosk: Kiosk, pcsc: PcscStack, cards: list[Any]
) -> None:
    card = cards[0]  # registered in 千代田区 and 新宿区
    await _to_pin(kiosk, pcsc, card)
    await kiosk.browser.press("/pin", pin=card.pin)
    page = await kiosk.browser.press("/type", kind="domestic")
    assert 'data-yen="240"' in page and page.count('data-testid="fee-line"') == 2
    assert screen_name(await kiosk.browser.press("/pay")) == "done"
    assert sorted(p.name[-10:] for p in kiosk.spool.glob("*.pdf")) == ["131016.pdf", "131041.pdf"]
    assert kiosk.payment.net_yen == 240


async def test_overseas_without_passport_data_is_refused_with_the_reason(
    kiosk: Kiosk, pcsc: PcscStack, cards: list[Any]
) -> None:
    card = cards[1]
    await _to_pin(kiosk, pcsc, card)
    await kiosk.browser.press("/pin", pin=card.pin)
    page = await kiosk.browser.press("/type", kind="overseas")
    assert screen_name(page) == "overseas_refused"
    assert 'data-reason="card_proof.no_passport_data"' in page
    assert kiosk.payment.charged == {}


async def test_wrong_pin_three_times_locks_the_card(
    kiosk: Kiosk, pcsc: PcscStack, cards: list[Any]
) -> None:
    card = cards[1]
    wrong = "0000" if card.pin != "0000" else "1111"
    await _to_pin(kiosk, pcsc, card)
    page = await kiosk.browser.press("/pin", pin=wrong)
    assert 'data-tries="2"' in page and 'data-reason="kiosk.pin_wrong"' in page
    page = await kiosk.browser.press("/pin", pin=wrong)
    assert 'data-tries="1"' in page
    page = await kiosk.browser.press("/pin", pin=wrong)
    assert screen_name(page) == "locked"
    assert "市区町村の窓口" in page


async def test_card_pulled_mid_flow_aborts_and_charges_nothing(
    kiosk: Kiosk, pcsc: PcscStack, cards: list[Any]
) -> None:
    card = cards[1]
    await _to_fee(kiosk, pcsc, card)
    pcsc.remove()
    response = await kiosk.browser.http.get("/card-check", params={"screen": "fee"})
    assert response.headers.get("HX-Redirect") == "/"
    assert screen_name(await kiosk.browser.screen()) == "aborted"
    assert kiosk.payment.charged == {}


async def test_printer_failure_after_payment_refunds(
    kiosk: Kiosk, pcsc: PcscStack, cards: list[Any]
) -> None:
    card = cards[1]
    await _to_fee(kiosk, pcsc, card)
    kiosk.printer.fail_next = 1
    page = await kiosk.browser.press("/pay")
    assert screen_name(page) == "print_failed" and 'data-reason="printer.failed"' in page
    assert kiosk.payment.net_yen == 120
    page = await kiosk.browser.press("/refund")
    assert screen_name(page) == "refunded"
    assert kiosk.payment.net_yen == 0
    assert list(kiosk.spool.iterdir()) == []


async def test_outside_service_hours_says_unavailable(
    app, pcsc: PcscStack, kiosk_token: str, tmp_path: Path
) -> None:
    late = dt.datetime(2026, 12, 1, 23, 30, tzinfo=JAPAN)
    kiosk_app, payment, _, settings, server_http = _kiosk_app(
        app, pcsc, kiosk_token, tmp_path, clock=lambda: late
    )
    kiosk_app.state.flow.settings = settings.__class__(
        **{**settings.__dict__, "hours_start": dt.time(6, 30), "hours_end": dt.time(23, 0)}
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=kiosk_app), base_url="http://127.0.0.1:8100"
        ) as http:
            page = await KioskBrowser(http).screen()
            assert screen_name(page) == "unavailable"
            assert 'data-reason="kiosk.outside_hours"' in page and "06:30" in page
            assert 'data-testid="start-button"' not in page
    finally:
        kiosk_app.state.flow.reader.close()
        await server_http.aclose()


async def test_municipality_outside_its_own_kiosk_hours_is_not_offered(
    app, pcsc: PcscStack, cards: list[Any], tmp_path: Path
) -> None:
    token = await register_card_holders(
        cards, kiosk_hours_start=dt.time(0), kiosk_hours_end=dt.time(0, 0, 1)
    )
    kiosk_app, payment, _, _, server_http = _kiosk_app(app, pcsc, token, tmp_path)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=kiosk_app), base_url="http://127.0.0.1:8100"
        ) as http:
            browser = KioskBrowser(http)
            await browser.press("/start")
            pcsc.insert(cards[1].emulator())
            await browser.press("/card")
            page = await browser.press("/pin", pin=cards[1].pin)
            # Nothing to sell: the screen says which municipality is not offered and why.
            assert screen_name(page) == "not_offered"
            assert 'data-testid="not-offered-line"' in page
            assert 'data-reason="outside_hours"' in page
            assert payment.charged == {}
    finally:
        await kiosk_app.state.flow.reset()
        kiosk_app.state.flow.reader.close()
        await server_http.aclose()
