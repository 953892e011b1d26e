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
        return self

    async def scan(self, digits: str) -> None:
        """Type (or wedge) the ticket's digits and press Enter, as a barcode reader does."""
        field = self.page.get_by_test_id("ticket-input")
        await field.fill(digits)
        await field.press("Enter")

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
