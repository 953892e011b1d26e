"""Page objects of the counter certificate pages (窓口での接種証明書交付), by data-testid."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class CertificateSearchPage:
    """接種証明書の交付: find the person."""

    page: object

    async def open(self) -> CertificateSearchPage:
        await self.page.goto("/certificates")
        await self.page.get_by_test_id("certificates-title").wait_for()
        return self

    async def find(self, number: str) -> CertificatePersonPage:
        await self.page.get_by_test_id("field-q").fill(number)
        await self.page.get_by_test_id("certificate-search-submit").click()
        await self.page.get_by_test_id("certificate-person-link").first.click()
        await self.page.get_by_test_id("certificate-form").wait_for()
        return CertificatePersonPage(self.page)


@dataclass
class CertificatePersonPage:
    """The person: doses, the issuance form, the history."""

    page: object

    async def choose_overseas(self, passport: dict[str, str]) -> CertificatePersonPage:
        await self.page.get_by_test_id("kind-overseas").check()
        for name, value in passport.items():
            await self.page.get_by_test_id(f"field-{name}").fill(value)
        return self

    async def preview(self) -> CertificatePersonPage:
        await self.page.get_by_test_id("certificate-preview").click()
        await self.page.get_by_test_id("certificate-preview-panel").wait_for()
        return self

    async def issue(self) -> CertificatePersonPage:
        await self.page.get_by_test_id("certificate-issue").click()
        await self.page.get_by_test_id("certificate-issued").wait_for()
        return self

    async def download(self):
        async with self.page.expect_download() as download_info:
            await self.page.get_by_test_id("certificate-download").click()
        return await download_info.value
