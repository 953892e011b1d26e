"""The kiosk in Chromium with the card in the real PC/SC stack (Playwright).

``vrs serve`` on the test database (its own data dir: keys, card trust), the kiosk
app served by uvicorn in a thread of this process and talking to it over HTTP, its
reader pcscd's vpcd reader with our emulator connected. It lives beside the other
PC/SC tests so that it shares their one pcscd (session fixture ``pcsc``).
"""

from __future__ import annotations

import datetime as dt
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from e2e.conftest import (  # noqa: F401  (chromium: the fixture)
    chromium,
    screenshot,
)
from e2e.kiosk_pages import KioskScreen
from tests import server_process
from tests.integration.kiosk.pcsc_stack import PcscStack
from tests.integration.kiosk.test_kiosk_server_channel import (
    clean,
    kiosk_server_data_dir,
    kiosk_server_settings,  # noqa: F401  (fixture "settings": this worker's data dir)
    register_card_holders,
    server_ready,
)
from tests.server_process import free_port

pytestmark = [pytest.mark.pcsc, pytest.mark.xdist_group("pcsc")]


@pytest.fixture(scope="module")
def vrs_server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``vrs serve`` with this worker's kiosk data dir; its keys and card trust made first."""
    from dataclasses import replace

    from common.settings import load_settings

    server_ready(replace(load_settings(), data_dir=kiosk_server_data_dir()))
    with server_process.vrs_server(
        database,
        log_path=tmp_path_factory.mktemp("kiosk-vrs") / "server.log",
        extra_env={"VRS_DATA_DIR": str(kiosk_server_data_dir())},
    ) as base:
        yield base


def _wait_ready(url: str, process: subprocess.Popen[bytes] | None, log: Path | None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited early:\n{log.read_text() if log else ''}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready in 30 s")


def _serve_kiosk(app, port: int):
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait_ready(f"http://127.0.0.1:{port}/healthz", None, None)
    return server, thread


@dataclass
class KioskUi:
    screen: KioskScreen
    page: Any
    payment: Any
    spool: Path
    cards: list[Any]
    pcsc: PcscStack


@pytest.fixture
async def kiosk_ui(
    chromium,  # noqa: F811  (the fixture)
    vrs_server: str,
    db: str,
    pcsc: PcscStack,
    settings,
    tmp_path: Path,
) -> AsyncIterator[KioskUi]:
    from kiosk.app import create_kiosk_app
    from kiosk.devices import SimulatedPayment, SpoolPrinter
    from kiosk.settings import KioskSettings

    cards = server_ready(settings)
    token = await register_card_holders(cards)
    kiosk_settings = KioskSettings(
        server_url=vrs_server,
        token=token,
        store_id="store-e2e",
        terminal_id="1",
        spool_dir=clean(tmp_path / "spool"),
        data_dir=clean(tmp_path / "data"),
        hours_start=dt.time(0),
        hours_end=dt.time.max,
    )
    payment = SimulatedPayment()
    reader = pcsc.reader()
    kiosk_app = create_kiosk_app(
        kiosk_settings,
        reader=reader,
        payment=payment,
        printer=SpoolPrinter(kiosk_settings.spool_dir),
    )
    port = free_port()
    uvicorn_server, thread = _serve_kiosk(kiosk_app, port)
    context = await chromium.new_context(
        base_url=f"http://127.0.0.1:{port}", locale="ja-JP", viewport={"width": 1024, "height": 768}
    )
    context.set_default_timeout(10000)
    page = await context.new_page()
    try:
        yield KioskUi(
            await KioskScreen(page).open(),
            page,
            payment,
            kiosk_settings.spool_dir,
            cards,
            pcsc,
        )
    finally:
        await context.close()
        uvicorn_server.should_exit = True
        thread.join(10)
        await kiosk_app.state.flow.reset()
        reader.close()
        pcsc.remove()


async def _to_pin(ui: KioskUi, card: Any) -> None:
    await ui.screen.touch("start-button", "place_card")
    ui.pcsc.insert(card.emulator())
    await ui.screen.touch("card-placed-button", "pin")
    assert await ui.screen.attribute("tries-left", "data-tries") == "3"


async def test_domestic_issuance_through_the_touch_screens(
    kiosk_ui: KioskUi, settings: Any, tmp_path: Path
) -> None:
    kiosk, page, card = kiosk_ui.screen, kiosk_ui.page, kiosk_ui.cards[1]
    assert "06:30" not in await kiosk.text("service-hours")  # this kiosk: around the clock
    await screenshot(page, "kiosk-1-start")
    await kiosk.touch("start-button", "place_card")
    await screenshot(page, "kiosk-2-place-card")
    kiosk_ui.pcsc.insert(card.emulator())
    await kiosk.touch("card-placed-button", "pin")
    assert await kiosk.attribute("tries-left", "data-tries") == "3"
    await screenshot(page, "kiosk-3-pin")
    await kiosk.type_pin(card.pin, "choose_type")
    await screenshot(page, "kiosk-4-choose-type")
    await kiosk.touch("type-domestic", "fee")
    assert await kiosk.attribute("fee-total", "data-yen") == "120"
    assert "120円" in await kiosk.text("fee-total")
    await screenshot(page, "kiosk-5-fee")
    await kiosk.touch("language-switch", "fee")
    assert "120 yen" in await kiosk.text("fee-total")
    await screenshot(page, "kiosk-5-fee-en")
    await kiosk.touch("pay-button", "done")
    assert "card" in (await kiosk.text("reminder")).lower()
    await screenshot(page, "kiosk-6-done")
    await kiosk.touch("finish-button", "start")
    assert await kiosk.text("language-switch") == "English"  # back to Japanese

    (pdf,) = list(kiosk_ui.spool.glob("*.pdf"))
    from signing.keys import KeyStore
    from tests.integration.signing.tools import nss_trusting, pdfsig, write_pem
    from web.signing_context import key_directory

    keys = KeyStore.load(key_directory(settings), settings.key_passphrase)
    root = write_pem(keys.pdf_root, tmp_path / "root.pem")
    report = pdfsig(pdf, nss_trusting([root], tmp_path / "nss"))
    assert "Signature is Valid." in report and "Certificate is Trusted." in report
    assert kiosk_ui.payment.net_yen == 120


async def test_wrong_pin_three_times_locks_the_card(kiosk_ui: KioskUi) -> None:
    kiosk, card = kiosk_ui.screen, kiosk_ui.cards[1]
    wrong = "0000" if card.pin != "0000" else "1111"
    await _to_pin(kiosk_ui, card)
    await kiosk.type_pin(wrong, "pin")
    assert await kiosk.attribute("tries-left", "data-tries") == "2"
    assert await kiosk.attribute("reason", "data-reason") == "kiosk.pin_wrong"
    await screenshot(kiosk_ui.page, "kiosk-pin-wrong")
    await kiosk.type_pin(wrong, "pin")
    await kiosk.type_pin(wrong, "locked")
    assert "市区町村の窓口" in await kiosk.text("locked-text")
    await screenshot(kiosk_ui.page, "kiosk-locked")
    assert kiosk_ui.payment.charged == {}


async def test_card_pulled_on_the_fee_screen_aborts_without_charge(kiosk_ui: KioskUi) -> None:
    kiosk, card = kiosk_ui.screen, kiosk_ui.cards[1]
    await _to_pin(kiosk_ui, card)
    await kiosk.type_pin(card.pin, "choose_type")
    await kiosk.touch("type-domestic", "fee")
    kiosk_ui.pcsc.remove()
    await kiosk.expect("aborted")  # the screen's card poll notices by itself
    await screenshot(kiosk_ui.page, "kiosk-card-pulled")
    assert kiosk_ui.payment.charged == {}
    assert list(kiosk_ui.spool.iterdir()) == []
