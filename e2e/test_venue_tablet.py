"""The tablet as a nurse runs it, in Chromium at the three tablet sizes (issue 13 §3).

Per person: one scan, the stated birth date (8 keys or fewer), one tap on
登録する. Counted with listeners on the page, not assumed; the time per person
is printed for the closing note (never asserted: speed belongs in bench/).
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from e2e.conftest import ARTIFACTS, screenshot
from e2e.venue_pages import focused, sign_in_to_venue
from tests.factories import (
    PASSWORD,
    create_account,
    create_municipality,
    create_resident,
    enrol_device,
)
from web.access import DEVICE_COOKIE

VIEWPORTS = [(1024, 768), (768, 1024), (1180, 820)]
PEOPLE = [("0000000001", "山田 太郎", dt.date(1950, 1, 1)), ("0000000002", "鈴木 花子", dt.date(1985, 4, 1)),
          ("0000000003", "佐藤 次郎", dt.date(1972, 11, 23))]  # fmt: skip

#: Installed through the DevTools protocol (the page's CSP rightly refuses inline scripts).
COUNTERS = """() => {
  window.__input = {keys: 0, taps: 0};
  document.addEventListener("keydown", () => { window.__input.keys += 1; }, true);
  document.addEventListener("pointerdown", () => { window.__input.taps += 1; }, true);
}"""


@pytest.fixture
async def tablet_setup(db):
    await create_municipality("131016")
    await create_municipality("011002")
    operator = await create_account("tablet-e2e", Role.VENUE_OPERATOR, "131016")
    for ticket, name, born in PEOPLE:
        await create_resident("131016", name=name, ticket_number=ticket, birth_date=born)
    await create_resident(
        "011002", name="札幌 三郎", ticket_number="0000000009", birth_date=dt.date(1940, 2, 2)
    )
    return operator


async def open_tablet(chromium, server: str, operator: str, size: tuple[int, int]):
    context = await chromium.new_context(
        base_url=server,
        locale="ja-JP",
        viewport={"width": size[0], "height": size[1]},
        has_touch=True,
    )
    context.set_default_timeout(5000)
    page = await context.new_page()
    await page.goto("/sign-in")
    credential = await enrol_device(operator)
    await page.context.add_cookies([{"name": DEVICE_COOKIE, "value": credential, "url": page.url}])
    venue = await sign_in_to_venue(page, operator, PASSWORD)  # lands on /venue after sign-in
    assert page.url.endswith("/venue")
    # The first person's lot and doctor are typed once per session.
    return context, page, venue


async def active(page) -> str:
    return await page.evaluate("document.activeElement && document.activeElement.dataset.testid")


async def in_view(page, test_id: str) -> bool:
    box = await page.get_by_test_id(test_id).bounding_box()
    size = page.viewport_size
    return (
        box is not None
        and box["y"] >= 0
        and box["y"] + box["height"] <= size["height"]
        and box["x"] >= 0
    )


async def doses() -> list[dict]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT ticket_number, municipality_code, quality FROM vaccination ORDER BY recorded_at"
        )
    return [dict(r) for r in rows]


@pytest.mark.parametrize("size", VIEWPORTS, ids=[f"{w}x{h}" for w, h in VIEWPORTS])
async def test_one_scan_the_birth_date_and_one_tap_per_person(
    chromium, server, tablet_setup, size
) -> None:
    context, page, venue = await open_tablet(chromium, server, tablet_setup, size)
    try:
        # Session start: the first person's vaccine, lot and doctor, then the count starts.
        await venue.scan("11131016" + PEOPLE[0][0], PEOPLE[0][2].strftime("%Y%m%d"))
        assert await in_view(page, "save"), "登録する is below the fold"
        assert await focused(page, "save")
        await venue.fill_dose(product="pfizer-comirnaty", lot="GE0123", doctor="会場 医師")
        assert (
            await page.get_by_test_id("field-volume").input_value() == "0.3"
        )  # from product, dose, age
        await venue.save()
        await page.get_by_test_id("saved").wait_for()
        await page.evaluate(COUNTERS)
        timings = []
        for ticket, name, born in PEOPLE[1:]:
            started = time.monotonic()
            await page.evaluate("window.__input = {keys: 0, taps: 0}")
            assert await focused(page, "ticket-input")
            await page.keyboard.type("11131016" + ticket)  # the wedge scanner: one scan
            await page.keyboard.press("Enter")
            assert await focused(page, "birth-input")
            scan_keys = await page.evaluate("window.__input.keys")
            await venue.type_birth(born.strftime("%Y%m%d"))
            panel = await page.get_by_test_id("panel").inner_text()
            assert name in panel, panel
            assert await in_view(page, "save"), f"登録する is below the fold at {size}"
            assert await focused(page, "save")
            await page.get_by_test_id("save").tap()
            await page.get_by_test_id("saved").wait_for()
            counted = await page.evaluate("window.__input")
            timings.append(time.monotonic() - started)
            assert scan_keys == 19  # 18 digits and Enter from the reader
            assert counted["keys"] - scan_keys <= 8, counted
            assert counted["taps"] == 1, counted
            assert await focused(page, "ticket-input")
        # この会場の最近の記録 follows each save without a reload.
        await page.get_by_test_id("recent-list").get_by_text("0000000003").wait_for()
        assert "コミナティ" in await page.get_by_test_id("recent-list").inner_text()
        await screenshot(page, f"venue-tablet-{size[0]}x{size[1]}")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)  # the figures for the closing note
        with (ARTIFACTS / "venue-tablet-timings.txt").open("a", encoding="utf-8") as out:
            out.write(f"{size[0]}x{size[1]}: 19 scan keys + 8 birth keys + 1 tap per person; seconds "
                      + ", ".join(f"{t:.2f}" for t in timings) + "\n")  # fmt: skip
        assert [d["ticket_number"] for d in await doses()] == [p[0] for p in PEOPLE]
    finally:
        await context.close()


async def test_errors_leave_focus_for_the_next_action_and_a_scan_replaces_the_ticket(
    chromium, server, tablet_setup
) -> None:
    context, page, venue = await open_tablet(chromium, server, tablet_setup, (1024, 768))
    try:
        # A wrong birth date: refused, nothing of the person shown, focus back on the ticket.
        await venue.scan("111310160000000001", "19500102")
        error = page.get_by_test_id("panel-error")
        assert "一致しません" in await error.inner_text()
        assert "山田" not in await page.get_by_test_id("panel").inner_text()
        assert await focused(page, "ticket-input")
        # The rescan replaces the field's content (it is selected), the birth date stays typed.
        await page.keyboard.type("111310160000000002")
        assert await page.get_by_test_id("ticket-input").input_value() == "111310160000000002"
        await page.keyboard.press("Enter")
        await page.get_by_test_id("panel-error").wait_for()  # 花子 was born 1985, not 1950-01-02
        # A scan while focus is on a button (after a look-up) still goes to the ticket field.
        await page.get_by_test_id("birth-input").fill("")
        await page.get_by_test_id("ticket-input").focus()
        await venue.scan("111310160000000002", "19850401")
        assert await focused(page, "save")
        await page.keyboard.type("111310160000000003")
        assert await page.get_by_test_id("ticket-input").input_value() == "111310160000000003"
        assert await page.get_by_test_id("panel").inner_text() == ""
        # A scan typed into the birth field (the reader types where the focus is) moves over.
        await page.keyboard.press("Enter")
        assert await focused(page, "birth-input")
        await page.keyboard.type("111310160000000001")
        assert await page.get_by_test_id("ticket-input").input_value() == "111310160000000001"
        assert await page.get_by_test_id("birth-input").input_value() == ""
        assert await focused(page, "ticket-input")
        await screenshot(page, "venue-tablet-errors")
    finally:
        await context.close()


async def test_the_municipality_is_chosen_per_person_and_named_not_coded(
    chromium, server, tablet_setup
) -> None:
    context, page, venue = await open_tablet(chromium, server, tablet_setup, (768, 1024))
    try:
        select = page.get_by_test_id("municipality-select")
        options = await select.locator("option").all_inner_texts()
        assert "千代田区" in options[0] and not any(o.strip().isdigit() for o in options)
        for test_id in ("municipality-select", "switch-to-en"):
            box = await page.get_by_test_id(test_id).bounding_box()
            assert box["width"] >= 44 and box["height"] >= 44, (test_id, box)
        await select.select_option("011002")
        await page.get_by_test_id("ticket-input").focus()
        await venue.scan("0000000009", "19400202")
        assert await venue.person_name() == "札幌 三郎"
        panel = await page.get_by_test_id("panel").inner_text()
        assert "011002" not in panel and await page.get_by_test_id("elsewhere").count() == 1
        await venue.fill_dose(product="pfizer-comirnaty", lot="GE0123", doctor="会場 医師")
        assert await page.get_by_test_id("field-dose").input_value() == ""  # never from A's history
        assert await page.get_by_test_id("field-volume").input_value() == "0.3"
        await page.get_by_test_id("field-dose").fill("1")
        await venue.save()
        await page.get_by_test_id("saved").wait_for()
        assert await select.input_value() == ""  # the next person starts from the venue's own
    finally:
        await context.close()
