"""Page objects: what a user does on each page, by data-testid."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SignInPage:
    """サインイン."""

    page: object

    async def open(self) -> SignInPage:
        await self.page.goto("/sign-in")
        return self

    async def sign_in(self, login: str, password: str) -> HomePage:
        await self.page.get_by_test_id("field-login").fill(login)
        await self.page.get_by_test_id("field-password").fill(password)
        await self.page.get_by_test_id("sign-in-submit").click()
        await self.page.get_by_test_id("home-title").wait_for()
        return HomePage(self.page)


@dataclass
class HomePage:
    """ホーム."""

    page: object

    async def title(self) -> str:
        return await self.page.get_by_test_id("home-title").inner_text()

    async def area(self) -> str:
        return (await self.page.get_by_test_id("home-area").inner_text()).strip()

    async def switch_to_english(self) -> HomePage:
        await self.page.get_by_test_id("switch-to-en").click()
        await self.page.wait_for_function("document.documentElement.lang === 'en'")
        return self

    async def sign_out(self) -> SignInPage:
        await self.page.get_by_test_id("sign-out").click()
        await self.page.get_by_test_id("sign-in-form").wait_for()
        return SignInPage(self.page)
