"""In Chromium: the venue tablet by typed/wedged input, by camera, and offline."""

from __future__ import annotations

import datetime as dt
import io
import shutil
from pathlib import Path

import pytest
import segno
from PIL import Image

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from e2e.conftest import CHROMIUM_ARGS, screenshot
from e2e.venue_pages import VenuePage, focused
from tests.factories import (
    PASSWORD,
    create_account,
    create_municipality,
    create_resident,
    enrol_device,
)
from tests.realparts import missing_part
from web.access import DEVICE_COOKIE

TODAY = dt.date.today().isoformat()


async def records(municipality: str = "131016") -> list[dict]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT dose_number, lot_number, doctor_name FROM vaccination WHERE municipality_code = $1 ORDER BY recorded_at",
            municipality,
        )
    return [dict(r) for r in rows]


@pytest.fixture
async def venue_setup(db):
    await create_municipality("131016")
    operator = await create_account("venue-e2e", Role.VENUE_OPERATOR, "131016")
    first = await create_resident("131016", name="山田 太郎", name_kana="ヤマダ タロウ", ticket_number="0000000001",
                                  birth_date=dt.date(1950, 1, 1))  # fmt: skip
    second = await create_resident("131016", name="鈴木 花子", name_kana="スズキ ハナコ", ticket_number="0000000002",
                                   birth_date=dt.date(1955, 5, 5))  # fmt: skip
    return operator, first, second


async def signed_in_venue(page, login: str) -> VenuePage:
    """Sign in on a tablet that is a registered device of the account's venue."""
    await page.goto("/sign-in")
    credential = await enrol_device(login)
    await page.context.add_cookies([{"name": DEVICE_COOKIE, "value": credential, "url": page.url}])
    await page.get_by_test_id("field-login").fill(login)
    await page.get_by_test_id("field-password").fill(PASSWORD)
    await page.get_by_test_id("sign-in-submit").click()
    await page.get_by_test_id("ticket-input").wait_for()  # a venue account lands on /venue
    await page.wait_for_load_state("load")
    return VenuePage(page)


async def test_record_two_people_in_a_row_by_typed_input(page, venue_setup) -> None:
    operator, first, second = venue_setup
    venue = await signed_in_venue(page, operator)
    await venue.scan("111310160000000001", "19500101")
    assert await venue.person_name() == "山田 太郎"
    await venue.fill_dose(
        product="pfizer-comirnaty", lot="GE0123", volume="0.3", doctor="会場 医師"
    )
    await screenshot(page, "venue-person")
    await venue.save()
    assert "登録しました" in await venue.saved_message()
    await screenshot(page, "venue-saved")
    # The scan field is ready for the next person, and the panel shows only them.
    assert await page.evaluate("document.activeElement.dataset.testid") == "ticket-input"
    await venue.scan("111310160000000002", "19550505")
    assert await venue.person_name() == "鈴木 花子"
    assert await page.get_by_text("山田 太郎").count() == 0
    # The session's lot and doctor carried over.
    assert await page.get_by_test_id("field-lot").input_value() == "GE0123"
    await venue.save()
    assert "鈴木 花子" in await venue.saved_message()
    assert [r["lot_number"] for r in await records()] == ["GE0123", "GE0123"]


async def test_a_refused_dose_explains_itself_on_the_tablet(page, venue_setup) -> None:
    operator, _, _ = venue_setup
    venue = await signed_in_venue(page, operator)
    await venue.scan("111310160000000001", "19500101")
    await venue.fill_dose(
        product="pfizer-comirnaty", lot="NOLOT1", volume="0.3", doctor="会場 医師"
    )
    await venue.save()
    findings = page.get_by_test_id("findings")
    assert "マスタにありません" in await findings.inner_text()
    assert await records() == []


async def test_saves_queue_offline_survive_a_reload_and_sync_once(
    page, server, venue_setup
) -> None:
    operator, _, _ = venue_setup
    venue = await signed_in_venue(page, operator)
    await venue.scan("111310160000000001", "19500101")
    await venue.fill_dose(
        product="pfizer-comirnaty", lot="GE0123", volume="0.3", doctor="会場 医師"
    )
    await page.context.set_offline(True)
    await venue.save()
    await page.get_by_test_id("queue").wait_for()
    assert await venue.queue_count() == 1
    assert await page.get_by_test_id("offline-note").is_visible()
    await screenshot(page, "venue-offline-queue")
    # The server is unreachable for the API even once online: the queue waits.
    await page.route("**/api/v1/vaccinations", lambda route: route.abort())
    await page.context.set_offline(False)
    await page.reload()
    await page.get_by_test_id("queue").wait_for()
    assert await venue.queue_count() == 1
    assert await records() == []
    await page.unroute("**/api/v1/vaccinations")
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.get_by_test_id("queue").wait_for(state="hidden")
    assert len(await records()) == 1
    await page.evaluate("window.dispatchEvent(new Event('online'))")  # a second sync sends nothing
    await page.wait_for_timeout(300)
    assert len(await records()) == 1


def ticket_video(path: Path, digits: str) -> Path:
    """An MJPEG 'camera' showing the ticket's QR code (Chromium's fake capture file)."""
    qr = segno.make_qr(digits, error="m")  # model 2, as printed on tickets (not Micro QR)
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=10, border=4)
    code = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    frame = Image.new("RGB", (640, 480), "white")
    frame.paste(code, ((640 - code.width) // 2, (480 - code.height) // 2))
    jpeg = io.BytesIO()
    frame.save(jpeg, format="JPEG", quality=95, subsampling=0)
    path.write_bytes(jpeg.getvalue() * 30)
    return path


async def test_the_camera_reads_the_tickets_qr_code(server, db, venue_setup, tmp_path) -> None:
    operator, _, _ = venue_setup
    executable = shutil.which("chromium")
    if executable is None:
        missing_part("Debian's chromium")
    from playwright.async_api import async_playwright

    video = ticket_video(tmp_path / "ticket.mjpeg", "111310160000000001")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable,
            args=[*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                  f"--use-file-for-fake-video-capture={video}"],
        )  # fmt: skip
        context = await browser.new_context(base_url=server, permissions=["camera"])
        context.set_default_timeout(10000)
        page = await context.new_page()
        venue = await signed_in_venue(page, operator)
        await page.get_by_test_id("camera-toggle").click()
        assert await focused(
            page, "birth-input", seconds=10
        )  # the camera read the ticket; the date comes next
        await venue.type_birth("19500101")  # the camera read the ticket; the person states the date
        assert await venue.person_name() == "山田 太郎"
        assert await page.get_by_test_id("ticket-input").input_value() == "111310160000000001"
        await screenshot(page, "venue-camera")
        await browser.close()
