"""The demo kiosk (demo cards on screen, no reader) walked in Chromium against ``vrs serve``,
and the kiosk's maintenance mode, service switch and suspension notice against the server
app (in-process reader: no pcscd needed)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from e2e.conftest import (  # noqa: F401  (chromium: the fixture)
    chromium,
    screenshot,
)
from e2e.kiosk_pages import KioskScreen
from kiosk.app import create_kiosk_app
from kiosk.devices import SimulatedPayment, SpoolPrinter
from kiosk.maintenance import hash_secret
from kiosk.settings import KioskSettings
from tests.factories import create_account, sign_in
from tests.integration.kiosk.test_kiosk_browser import _serve_kiosk, vrs_server  # noqa: F401
from tests.integration.kiosk.test_kiosk_server_channel import (
    KioskBrowser,
    clean,
    kiosk_server_settings,  # noqa: F401  (fixture "settings": this worker's data dir)
    register_card_holders,
    screen_name,
    server_ready,
)
from tests.server_process import free_port

SECRET = "maintenance-secret-1"  # noqa: S105  (a test value)


def _settings(server_url: str, token: str, tmp_path: Path, **extra: Any) -> KioskSettings:
    return KioskSettings(
        server_url=server_url,
        token=token,
        store_id="DEMO-STORE-001",
        terminal_id="9",
        spool_dir=clean(tmp_path / "spool"),
        data_dir=clean(tmp_path / "data"),
        hours_start=dt.time(0),
        hours_end=dt.time.max,
        maintenance_hash=hash_secret(SECRET),
        **extra,
    )


async def test_the_demo_kiosk_walks_the_whole_flow_in_chromium(
    chromium,  # noqa: F811  (the fixture)
    vrs_server: str,  # noqa: F811  (the fixture)
    db: str,
    settings: Any,
    tmp_path: Path,
) -> None:
    cards = server_ready(settings)
    token = await register_card_holders(cards)
    kiosk_settings = _settings(vrs_server, token, tmp_path, heartbeat_seconds=3600)
    payment = SimulatedPayment()
    kiosk_app = create_kiosk_app(
        kiosk_settings,
        payment=payment,
        printer=SpoolPrinter(kiosk_settings.spool_dir),
        demo_cards=cards,
    )
    port = free_port()
    server, thread = _serve_kiosk(kiosk_app, port)
    context = await chromium.new_context(
        base_url=f"http://127.0.0.1:{port}", locale="ja-JP", viewport={"width": 1024, "height": 900}
    )
    context.set_default_timeout(10000)
    page = await context.new_page()
    try:
        kiosk = await KioskScreen(page).open()
        assert "/maintenance" not in await page.content()  # no way there from the customer side
        assert await page.get_by_test_id("demo-cards").is_visible()
        await screenshot(page, "kiosk-demo-start")
        await kiosk.touch("demo-card-1", "pin")  # the start screen's demo card: placed and read
        assert await kiosk.attribute("tries-left", "data-tries") == "3"
        await kiosk.type_pin(cards[1].pin, "choose_type")
        await kiosk.touch("type-domestic", "fee")
        assert await kiosk.attribute("fee-total", "data-yen") == "120"
        await kiosk.touch("pay-button", "done")
        await screenshot(page, "kiosk-demo-done")
        await kiosk.touch("finish-button", "start")
    finally:
        await context.close()
        server.should_exit = True
        thread.join(10)
    assert payment.net_yen == 120
    assert len(list(kiosk_settings.spool_dir.glob("*.pdf"))) == 1
    async with owner_transaction():
        connection = current_connection()
        notices = await connection.fetch("SELECT store_id, terminal_id FROM kiosk_completion")
        status = await connection.fetchrow("SELECT store_id, devices FROM kiosk_status")
    assert [(n["store_id"], n["terminal_id"]) for n in notices] == [("DEMO-STORE-001", "9")]
    assert status is not None and status["store_id"] == "DEMO-STORE-001"  # the start-up heartbeat
    assert not list((kiosk_settings.data_dir / "notices").glob("*.json"))  # nothing owed


@pytest.fixture
async def kiosk_http(app, settings, tmp_path: Path) -> AsyncIterator[tuple[KioskBrowser, Any, Any]]:
    """The kiosk app (demo cards, in-process reader) against the server app in this process."""
    cards = server_ready(settings)
    token = await register_card_holders(cards)
    server_http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://vrs.test"
    )
    kiosk_settings = _settings("http://vrs.test", token, tmp_path)
    kiosk_app = create_kiosk_app(
        kiosk_settings,
        payment=SimulatedPayment(),
        printer=SpoolPrinter(kiosk_settings.spool_dir),
        http=server_http,
        demo_cards=cards,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=kiosk_app), base_url="http://127.0.0.1:8100"
    ) as http:
        yield KioskBrowser(http), kiosk_app, kiosk_settings
    await kiosk_app.state.flow.reset()
    await server_http.aclose()


async def _sign_in_maintenance(browser: KioskBrowser, secret: str) -> httpx.Response:
    page = (await browser.http.get("/maintenance/sign-in")).text
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
    return await browser.http.post(
        "/maintenance/sign-in", data={"_csrf_token": csrf, "secret": secret}
    )


async def _maintenance_post(browser: KioskBrowser, path: str, **fields: str) -> httpx.Response:
    page = (await browser.http.get("/maintenance")).text
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
    return await browser.http.post(path, data={"_csrf_token": csrf, **fields})


async def test_maintenance_needs_its_credential_and_is_apart_from_the_customer_screens(
    kiosk_http,
) -> None:
    browser, kiosk_app, kiosk_settings = kiosk_http
    start = await browser.screen()
    assert "/maintenance" not in start
    redirected = await browser.http.get("/maintenance")
    assert redirected.status_code == 303
    assert redirected.headers["location"] == "/maintenance/sign-in"
    page = (await browser.http.get("/maintenance/sign-in")).text
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
    for path in ("/maintenance/test-print", "/maintenance/service", "/maintenance/sync"):
        refused = await browser.http.post(path, data={"_csrf_token": csrf, "state": "out"})
        assert refused.status_code == 401, path
    assert not kiosk_app.state.flow.ops.out_of_service
    wrong = await _sign_in_maintenance(browser, "not the secret")
    assert wrong.status_code == 401 and "maintenance.wrong_secret" in wrong.text
    assert (await browser.http.get("/maintenance")).status_code == 303

    signed_in = await _sign_in_maintenance(browser, SECRET)
    assert signed_in.status_code == 303
    screen = await browser.http.get("/maintenance")
    assert screen.status_code == 200
    assert 'data-testid="device-printer" data-state="ok"' in screen.text
    assert 'data-testid="pending-notices" data-count="0"' in screen.text

    printed = await _maintenance_post(browser, "/maintenance/test-print")
    assert printed.headers["location"] == "/maintenance?done=test_print_ok"
    assert len(list(kiosk_settings.spool_dir.glob("*-test-print.txt"))) == 1

    kiosk_app.state.flow.printer.fail_next = 1
    failed = await _maintenance_post(browser, "/maintenance/test-print")
    assert failed.headers["location"] == "/maintenance?done=test_print_failed"
    screen = await browser.http.get("/maintenance")
    assert 'data-testid="device-printer" data-state="fault"' in screen.text

    # Out of service: the start screen says so and offers nothing; the server hears it.
    await _maintenance_post(browser, "/maintenance/service", state="out")
    start = await browser.screen()
    assert screen_name(start) == "unavailable" and "保守のため休止中" in start
    assert "start-button" not in start and "demo-card-0" not in start
    async with owner_transaction():
        status = await current_connection().fetchrow(
            "SELECT in_service, last_fault_device FROM kiosk_status"
        )
    assert status["in_service"] == "out_of_service" and status["last_fault_device"] == "printer"
    await _maintenance_post(browser, "/maintenance/service", state="in")
    assert screen_name(await browser.screen()) == "start"

    await _maintenance_post(browser, "/maintenance/sign-out")
    assert (await browser.http.get("/maintenance")).status_code == 303


async def test_a_national_suspension_closes_the_kiosk_start_screen_with_its_notice(
    kiosk_http, make_client
) -> None:
    browser, kiosk_app, _ = kiosk_http
    national = await make_client()
    await sign_in(national, await create_account("nat-kiosk", Role.NATIONAL_ADMIN, None))

    async def change(**form: str) -> None:
        page = (await national.get("/national/suspensions")).text
        csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        response = await national.post("/national/suspensions", data={"_csrf_token": csrf, **form})
        assert response.status_code == 303, response.text

    # The customer is at the PIN when the stop comes: the preview refusal tells the kiosk.
    assert screen_name(await browser.press("/demo/place", card="1")) == "pin"
    await change(function="kiosk_issuance", action="suspend", notice_ja="障害対応のため停止中")
    page = await browser.press("/pin", pin=kiosk_app.state.demo_cards[1].pin)
    assert screen_name(page) == "unavailable" and "障害対応のため停止中" in page
    assert kiosk_app.state.flow.payment.charged == {}
    page = await browser.press("/reset")
    assert screen_name(page) == "unavailable" and "障害対応のため停止中" in page
    assert "start-button" not in page and "demo-card-0" not in page

    await change(function="kiosk_issuance", action="lift")
    await kiosk_app.state.flow.ops.heartbeat()  # the next heartbeat brings the news
    assert screen_name(await browser.screen()) == "start"


async def test_vrs_demo_kiosk_serves_the_demo_card_holders_against_the_server(
    vrs_server: str,  # noqa: F811  (the fixture)
    db: str,
    database: str,
    settings: Any,
    tmp_path: Path,
) -> None:
    import os
    import shutil
    import subprocess
    import sys

    from tests.integration.kiosk.test_kiosk_browser import _wait_ready
    from tests.integration.kiosk.test_kiosk_server_channel import kiosk_server_data_dir

    shutil.rmtree(kiosk_server_data_dir() / "demo-kiosk", ignore_errors=True)
    await register_card_holders(server_ready(settings))  # the card holders `vrs demo` would find
    port = free_port()
    log_path = tmp_path / "demo-kiosk.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: ASYNC220  (started once, stopped by its PID)
            [sys.executable, "-m", "cli", "demo-kiosk", "--server", vrs_server,
             "--port", str(port)],
            env={**os.environ, "DATABASE_URL": database,
                 "VRS_DATA_DIR": str(kiosk_server_data_dir())},
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_ready(f"http://127.0.0.1:{port}/healthz", process, log_path)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            browser = KioskBrowser(http)
            start = await browser.screen()
            assert 'data-testid="demo-card-0"' in start
            assert screen_name(await browser.press("/demo/place", card="0")) == "pin"
            assert screen_name(await browser.press("/pin", pin="1234")) == "choose_type"
            assert screen_name(await browser.press("/type", kind="domestic")) == "fee"
            assert screen_name(await browser.press("/pay")) == "done"
    finally:
        process.terminate()
        process.wait(10)
    output = log_path.read_text()
    assert "maintenance at" in output and "demo cards on screen" in output
    spool = kiosk_server_data_dir() / "demo-kiosk" / "spool"
    assert list(spool.glob("*.pdf"))
    async with owner_transaction():
        connection = current_connection()
        clients = await connection.fetch("SELECT revoked_at FROM app_client WHERE kind = 'kiosk'")
        completed = await connection.fetchval("SELECT count(*) FROM kiosk_completion")
    assert completed >= 1
    assert sum(1 for c in clients if c["revoked_at"] is None) == 2  # the test's and the demo's
