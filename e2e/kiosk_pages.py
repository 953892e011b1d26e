"""Page objects of the kiosk touch screens (コンビニ交付), by data-testid."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class KioskScreen:
    """Whatever screen the kiosk shows; each method is one touch."""

    page: object

    async def open(self) -> KioskScreen:
        await self.page.goto("/")
        await self.page.get_by_test_id("screen-start").wait_for()
        return self

    async def expect(self, screen: str) -> None:
        await self.page.get_by_test_id(f"screen-{screen}").wait_for()

    async def touch(self, testid: str, then: str) -> None:
        await self.page.get_by_test_id(testid).click()
        await self.expect(then)

    async def type_pin(self, pin: str, then: str) -> None:
        for digit in pin:
            await self.page.get_by_test_id(f"pin-key-{digit}").click()
        assert await self.page.get_by_test_id("pin-dots").inner_text() == "●●●●"
        await self.touch("pin-ok", then)

    async def text(self, testid: str) -> str:
        return await self.page.get_by_test_id(testid).inner_text()

    async def attribute(self, testid: str, name: str) -> str | None:
        return await self.page.get_by_test_id(testid).get_attribute(name)
