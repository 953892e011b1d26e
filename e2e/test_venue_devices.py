"""In Chromium: the admin registers a tablet, the tablet enrols, the admin revokes it."""

from __future__ import annotations

import datetime as dt

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from e2e.pages import SignInPage
from e2e.venue_pages import enrol_tablet, sign_in_to_venue
from tests.factories import (
    PASSWORD,
    create_account,
    create_municipality,
    create_resident,
    enrol_device,
)
from web.access import DEVICE_COOKIE


async def test_an_admin_registers_a_tablet_that_enrols_and_stops_working_once_revoked(
    page, chromium, server, db
) -> None:
    await create_municipality("131016")
    operator = await create_account("tablet-op", Role.VENUE_OPERATOR, "131016")
    admin = await create_account("device-admin", Role.MUNICIPAL_ADMIN, "131016")
    await create_resident("131016", name="山田 太郎", ticket_number="0000000001")

    # The admin registers a tablet for the operator's venue and reads the one-time code.
    await (await SignInPage(page).open()).sign_in(admin, PASSWORD)
    await page.goto("/admin/devices")
    await page.get_by_test_id("field-label").fill("受付1番")
    await page.get_by_test_id("field-venue").select_option(index=1)
    await page.get_by_test_id("device-submit").click()
    code = (await page.get_by_test_id("enrolment-code").inner_text()).strip()
    assert len(code.replace("-", "")) == 12

    # The tablet signs in as the venue account: the venue page asks for the code first.
    tablet_context = await chromium.new_context(base_url=server, locale="ja-JP")
    tablet_context.set_default_timeout(5000)
    tablet = await tablet_context.new_page()
    try:
        # The code as typed by hand: lower case, spaced; the venue page's script must be
        # running before the reader types, or the first digits land outside the field.
        venue = await enrol_tablet(tablet, operator, PASSWORD, code.lower().replace("-", " "))
        cookie = next(c for c in await tablet_context.cookies() if c["name"] == "vrs_device")
        assert cookie["httpOnly"] and cookie["expires"] > 0
        await venue.scan("111310160000000001", "19600401")
        assert await venue.person_name() == "山田 太郎"

        # The admin revokes it; the tablet's next request goes back to enrolment.
        await page.goto("/admin/devices")
        row = page.locator('[data-state="enrolled"]')
        assert await row.count() == 1
        await row.locator("button").click()
        await page.locator('[data-state="revoked"]').wait_for()
        await tablet.goto("/venue")
        await tablet.get_by_test_id("enrol-form").wait_for()
        assert await tablet.get_by_test_id("ticket-input").count() == 0
    finally:
        await tablet_context.close()


async def test_a_save_queued_while_the_device_is_revoked_waits_and_is_sent_once_re_enrolled(
    page, db
) -> None:
    await create_municipality("131016")
    operator = await create_account("queue-op", Role.VENUE_OPERATOR, "131016")
    await create_resident("131016", name="山田 太郎", ticket_number="0000000001",
                          birth_date=dt.date(1950, 1, 1))  # fmt: skip
    await page.goto("/sign-in")
    credential = await enrol_device(operator)
    await page.context.add_cookies([{"name": DEVICE_COOKIE, "value": credential, "url": page.url}])
    venue = await sign_in_to_venue(page, operator, PASSWORD)
    await venue.scan("111310160000000001", "19500101")
    await venue.fill_dose(product="pfizer-comirnaty", lot="GE0123", volume="0.3", doctor="医師")
    await page.context.set_offline(True)
    await venue.save()
    await page.get_by_test_id("queue").wait_for()
    async with owner_transaction():  # the admin revokes the tablet meanwhile
        await current_connection().execute("UPDATE venue_device SET revoked_at = now()")
    await page.context.set_offline(False)
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.wait_for_timeout(500)
    assert await venue.queue_count() == 1  # refused for the device, not dropped nor failed
    assert await page.get_by_test_id("queued-rejected").count() == 0
    assert await doses() == 0
    # Registered again (a new credential), the queue sends the save, once.
    credential = await enrol_device(operator)
    await page.context.add_cookies([{"name": DEVICE_COOKIE, "value": credential, "url": page.url}])
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    await page.get_by_test_id("queue").wait_for(state="hidden")
    assert await doses() == 1


async def doses() -> int:
    async with owner_transaction():
        return await current_connection().fetchval("SELECT count(*) FROM vaccination")
