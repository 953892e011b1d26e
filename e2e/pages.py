"""Page objects: what a user does on each page, by data-testid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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

    async def setup_tasks(self) -> list[str]:
        """What the admin's home lists as still unset (message keys such as setup.contact)."""
        tasks = self.page.get_by_test_id("setup-tasks").locator("li")
        return [await task.get_attribute("data-testid") for task in await tasks.all()]

    async def sign_out(self) -> SignInPage:
        await self.page.get_by_test_id("sign-out").click()
        await self.page.get_by_test_id("sign-in-form").wait_for()
        return SignInPage(self.page)


async def sign_in_with_temporary_password(page, login: str, temporary: str, new: str) -> str:
    """Sign in with a one-time password: only the password page opens; set ``new``.

    Returns the notice the page shows once the password is changed.
    """
    await page.goto("/sign-in")
    await page.get_by_test_id("field-login").fill(login)
    await page.get_by_test_id("field-password").fill(temporary)
    await page.get_by_test_id("sign-in-submit").click()
    await page.get_by_test_id("password-change-required").wait_for()
    return await OwnAccountPage(page).change_password(temporary, new)


@dataclass
class OwnAccountPage:
    """パスワードの変更 (/account)."""

    page: object

    async def change_password(self, current: str, new: str) -> str:
        await self.page.get_by_test_id("field-current").fill(current)
        await self.page.get_by_test_id("field-new").fill(new)
        await self.page.get_by_test_id("field-repeated").fill(new)
        await self.page.get_by_test_id("password-submit").click()
        # The notice, or the error the page shows instead (the caller's assert names it).
        shown = self.page.locator("[data-testid=alert-success], [data-testid=alert-error]")
        return await shown.first.inner_text()


@dataclass
class NationalMunicipalitiesPage:
    """市区町村 (/national/municipalities): register one, open it, create its admin."""

    page: object

    async def open(self) -> NationalMunicipalitiesPage:
        await self.page.goto("/national/municipalities")
        await self.page.get_by_test_id("municipality-form").wait_for()
        return self

    async def register(self, code: str, prefecture: str, name: str, name_en: str,
                       head_title: str) -> str:  # fmt: skip
        """Register a municipality; the success notice shown."""
        await self.page.get_by_test_id("field-code").fill(code)
        await self.page.get_by_test_id("field-prefecture").select_option(prefecture)
        await self.page.get_by_test_id("field-name").fill(name)
        await self.page.get_by_test_id("field-name_en").fill(name_en)
        await self.page.get_by_test_id("field-head_title").fill(head_title)
        await self.page.get_by_test_id("municipality-submit").click()
        return await self.page.get_by_test_id("alert-success").inner_text()

    async def create_admin(self, code: str, login: str, display_name: str) -> str:
        """On the municipality's page, create its admin; the one-time password shown once."""
        await self.page.get_by_test_id(f"open-{code}").click()
        await self.page.get_by_test_id("admin-form").wait_for()
        await self.page.get_by_test_id("field-login").fill(login)
        await self.page.get_by_test_id("field-display_name").fill(display_name)
        await self.page.get_by_test_id("admin-submit").click()
        value = self.page.get_by_test_id("temporary-password-value")
        return (await value.inner_text()).strip()


@dataclass
class AdminPages:
    """The municipal admin's pages: venues, accounts, devices, settings, backup."""

    page: object

    async def add_venue(self, code: str, name: str, kind: str = "venue") -> str:
        """接種会場: add one; the state of its row in the list."""
        await self.page.goto("/admin/venues")
        await self.page.get_by_test_id("field-code").fill(code)
        await self.page.get_by_test_id("field-name").fill(name)
        await self.page.get_by_test_id("field-kind").select_option(kind)
        await self.page.get_by_test_id("venue-submit").click()
        row = self.page.get_by_test_id(f"venue-{code}")
        await row.wait_for()
        return await row.get_attribute("data-state")

    async def add_account(self, login: str, display_name: str, password: str, role: str,
                          venue: str | None = None) -> str:  # fmt: skip
        """アカウント管理: create one (a venue account names its venue); its row's state."""
        await self.page.goto("/admin/accounts")
        await self.page.get_by_test_id("field-login").fill(login)
        await self.page.get_by_test_id("field-display_name").fill(display_name)
        await self.page.get_by_test_id("field-password").fill(password)
        await self.page.get_by_test_id("field-role").select_option(role)
        if venue is not None:
            await self.page.get_by_test_id("field-venue").select_option(label=venue)
        await self.page.get_by_test_id("account-submit").click()
        row = self.page.get_by_test_id(f"account-{login}")
        await row.wait_for()
        return await row.get_attribute("data-state")

    async def register_device(self, label: str, venue: str) -> str:
        """会場端末の登録: a tablet for a venue; the one-time enrolment code shown."""
        await self.page.goto("/admin/devices")
        await self.page.get_by_test_id("field-label").fill(label)
        await self.page.get_by_test_id("field-venue").select_option(label=venue)
        await self.page.get_by_test_id("device-submit").click()
        return (await self.page.get_by_test_id("enrolment-code").inner_text()).strip()

    async def save_settings(self, *, contact: str, kiosk_issuance: bool, kiosk_start: str,
                            kiosk_end: str, reason: str) -> str:  # fmt: skip
        """自治体の設定: save with a reason; the notice shown."""
        await self.page.goto("/admin/settings")
        await self.page.get_by_test_id("field-certificate_contact").fill(contact)
        await self.page.get_by_test_id("field-kiosk_issuance").set_checked(kiosk_issuance)
        await self.page.get_by_test_id("field-kiosk_hours_start").fill(kiosk_start)
        await self.page.get_by_test_id("field-kiosk_hours_end").fill(kiosk_end)
        await self.page.get_by_test_id("field-reason").fill(reason)
        await self.page.get_by_test_id("settings-submit").click()
        return await self.page.get_by_test_id("alert-success").inner_text()

    async def settings_history(self) -> list[str]:
        rows = self.page.get_by_test_id("settings-history").locator("tbody tr")
        return [await r.inner_text() for r in await rows.all()]

    async def back_up(self) -> bytes:
        """バックアップ: start a job, wait until it is done, download the archive."""
        await self.page.goto("/admin/backup")
        await self.page.get_by_test_id("backup-export").click()
        job = self.page.locator('[data-testid=backup-job][data-status="done"]')
        await job.wait_for(timeout=60000)
        async with self.page.expect_download() as download_info:
            await self.page.get_by_test_id("backup-download").click()
        download = await download_info.value
        return Path(await download.path()).read_bytes()

    async def restore(self, archive: Path) -> str:
        """バックアップ: restore an archive (a job: its progress polls in place until it ends);
        the restored notice (tables and rows)."""
        await self.page.goto("/admin/backup")
        await self.page.get_by_test_id("field-archive").set_input_files(str(archive))
        await self.page.get_by_test_id("backup-restore").click()
        # The restored notice, or the error the page shows instead (the caller's assert names it):
        # the upload refused at once, or the job's outcome.
        shown = self.page.locator(
            "[data-testid=backup-restored], [data-testid=backup-error],"
            " [data-testid=backup-interrupted], [data-testid=alert-error]"
        )
        await shown.first.wait_for(timeout=60000)
        return await shown.first.inner_text()


@dataclass
class ResidentPage:
    """住民の詳細 (/residents/{id}): edit items with a reason, see the history."""

    page: object

    async def open_by_ticket(self, ticket_number: str) -> ResidentPage:
        await self.page.goto(f"/residents?ticket_number={ticket_number}")
        await self.page.get_by_test_id("person-row").locator("a").first.click()
        await self.page.get_by_test_id("person-details").wait_for()
        return self

    async def name(self) -> str:
        return await self.page.get_by_test_id("person-name").inner_text()

    async def edit(self, reason: str, **items: str) -> str:
        """Change items (by field name) with a reason; the saved notice."""
        await self.page.get_by_test_id("resident-edit").locator("summary").click()
        for name, value in items.items():
            await self.page.locator(f"#edit-{name}").fill(value)
        await self.page.locator("#edit-reason").fill(reason)
        await self.page.get_by_test_id("resident-edit-save").click()
        return await self.page.get_by_test_id("resident-saved").inner_text()

    async def history(self) -> list[str]:
        return [
            await line.inner_text()
            for line in await self.page.get_by_test_id("resident-version").all()
        ]
