"""Page object of the venue tablet, by data-testid."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class VenuePage:
    """接種記録の登録."""

    page: object

    async def open(self) -> VenuePage:
        await self.page.goto("/venue")
        await self.page.get_by_test_id("ticket-input").wait_for()
        await self.page.wait_for_load_state("load")  # htmx and venue.js (deferred) are running
        return self

    async def scan(self, digits: str, birth: str | None = None) -> None:
        """Wedge the ticket's digits and Enter, as a barcode reader does; then the stated birth date.

        The ticket field keeps the focus after a look-up, save or error, and a
        scan replaces what it holds: the reader types into whatever has focus.
        """
        await self.page.keyboard.type(digits)
        await self.page.keyboard.press("Enter")
        if birth is not None:
            await self.type_birth(birth)

    async def type_birth(self, birth: str) -> None:
        """The birth date the person states, key by key (8 digits look up by themselves)."""
        await self.page.keyboard.type(birth)
        if len(birth) != 8 or not birth.isdigit():
            await self.page.keyboard.press("Enter")
        await self.page.locator(
            '[data-testid="person"], [data-testid="panel-error"]'
        ).first.wait_for()

    async def person_name(self) -> str:
        return await self.page.get_by_test_id("person-name").inner_text()

    async def fill_dose(self, *, product: str | None = None, lot: str | None = None,
                        volume: str | None = None, doctor: str | None = None, date: str | None = None) -> None:  # fmt: skip
        if date is not None:
            await self.page.get_by_test_id("field-date").fill(date)
        if product is not None:
            await self.page.get_by_test_id("field-product").select_option(product)
        if lot is not None:
            await self.page.get_by_test_id("field-lot").fill(lot)
        if volume is not None:
            await self.page.get_by_test_id("field-volume").fill(volume)
        if doctor is not None:
            await self.page.get_by_test_id("field-doctor").fill(doctor)

    async def save(self) -> None:
        await self.page.get_by_test_id("save").click()

    async def saved_message(self) -> str:
        return await self.page.get_by_test_id("saved-message").inner_text()

    async def queue_count(self) -> int:
        box = self.page.get_by_test_id("queue")
        if await box.is_hidden():
            return 0
        return int(await box.get_attribute("data-count") or 0)


async def sign_in_to_venue(page, login: str, password: str) -> VenuePage:
    """Sign a venue account in: it lands on the venue page, not the home page."""
    await page.goto("/sign-in")
    await page.get_by_test_id("field-login").fill(login)
    await page.get_by_test_id("field-password").fill(password)
    await page.get_by_test_id("sign-in-submit").click()
    await page.get_by_test_id("ticket-input").wait_for()
    await page.wait_for_load_state("load")  # htmx and venue.js (deferred) are running
    return VenuePage(page)


async def focused(page, test_id: str, seconds: float = 1.0) -> bool:
    """Whether the element with this test id gets the focus (within ``seconds``)."""
    for _ in range(int(seconds * 20)):
        if (
            await page.evaluate(
                "() => document.activeElement && document.activeElement.dataset.testid"
            )
            == test_id
        ):
            return True
        await page.wait_for_timeout(50)
    return False


async def enrol_tablet(page, login: str, password: str, code: str) -> VenuePage:
    """A new tablet: the venue account signs in, the venue page asks for the admin's code first."""
    await page.goto("/sign-in")
    await page.get_by_test_id("field-login").fill(login)
    await page.get_by_test_id("field-password").fill(password)
    await page.get_by_test_id("sign-in-submit").click()
    await page.get_by_test_id("enrol-form").wait_for()
    await page.get_by_test_id("field-code").fill(code)
    await page.get_by_test_id("enrol-submit").click()
    await page.get_by_test_id("ticket-input").wait_for()
    await page.wait_for_load_state("load")  # htmx and venue.js (deferred) are running
    return VenuePage(page)
