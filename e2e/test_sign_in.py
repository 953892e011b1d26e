"""In Chromium: the demo clerk signs in, sees the Japanese home page, switches to English."""

from __future__ import annotations

from db.accounts.roles import Role
from db.demo import DEMO_PASSWORD
from e2e.conftest import screenshot
from e2e.pages import SignInPage
from tests.factories import create_account, create_municipality


async def test_demo_clerk_signs_in_sees_japanese_home_and_switches_to_english(page) -> None:
    await create_municipality("131016")
    await create_account("chiyoda-clerk", Role.CLERK, "131016", password=DEMO_PASSWORD)

    sign_in = await SignInPage(page).open()
    assert await page.get_attribute("html", "lang") == "ja"
    await screenshot(page, "sign-in-ja")
    home = await sign_in.sign_in("chiyoda-clerk", DEMO_PASSWORD)

    assert await home.title() == "ホーム"
    assert await home.area() == "千代田区（131016）"
    await screenshot(page, "home-ja")

    await home.switch_to_english()
    assert await home.title() == "Home"
    assert await home.area() == "Chiyoda City (131016)"
    await screenshot(page, "home-en")

    signed_out = await home.sign_out()
    assert await page.get_by_test_id("sign-in-submit").inner_text() == "Sign in"
    assert signed_out is not None


async def test_a_wrong_password_is_shown_on_the_page(page) -> None:
    await create_municipality("131016")
    await create_account("chiyoda-clerk", Role.CLERK, "131016", password=DEMO_PASSWORD)
    await (await SignInPage(page).open()).page.get_by_test_id("field-login").fill("chiyoda-clerk")
    await page.get_by_test_id("field-password").fill("not-the-password")
    await page.get_by_test_id("sign-in-submit").click()
    alert = page.get_by_test_id("alert-error")
    assert "パスワードが違います" in await alert.inner_text()


async def test_no_request_of_a_page_answers_404_not_even_the_icon(page) -> None:
    """Browsers ask for an icon on every page: ours is linked, so none of them is a 404."""
    await create_municipality("131016")
    await create_account("chiyoda-clerk", Role.CLERK, "131016", password=DEMO_PASSWORD)
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    home = await (await SignInPage(page).open()).sign_in("chiyoda-clerk", DEMO_PASSWORD)
    await page.wait_for_load_state("networkidle")
    assert await home.title() == "ホーム"
    assert missing == []
