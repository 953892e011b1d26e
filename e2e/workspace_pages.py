"""Page objects of the municipal workspace: imports and the dashboard."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class ImportsPage:
    """住民・接種券の取込."""

    page: object

    async def open(self) -> ImportsPage:
        await self.page.goto("/imports")
        return self

    async def upload(self, path: Path) -> ImportsPage:
        await self.page.get_by_test_id("field-file").set_input_files(str(path))
        await self.page.get_by_test_id("import-submit").click()
        await self.page.get_by_test_id("import-progress").wait_for()
        return self

    async def wait_until_finished(self, timeout_ms: int = 30000) -> str:
        job = self.page.get_by_test_id("import-job")
        await self.page.wait_for_function(
            "() => ['done', 'failed'].includes(document.querySelector('[data-testid=import-job]')"
            "?.dataset.status)",
            timeout=timeout_ms,
        )
        return await job.get_attribute("data-status")

    async def progress(self) -> str:
        return await self.page.get_by_test_id("import-progress").get_attribute("value")

    async def count(self, name: str) -> str:
        return await self.page.get_by_test_id(f"count-{name}").inner_text()


@dataclass
class DashboardPage:
    """ダッシュボード."""

    page: object

    async def open(self) -> DashboardPage:
        await self.page.goto("/dashboard")
        await self.page.get_by_test_id("dashboard-figures").wait_for()
        return self

    async def total(self) -> str:
        return await self.page.get_by_test_id("total-doses").inner_text()

    async def bars(self, chart: str) -> int:
        return await self.page.locator(f"[data-testid=chart-{chart}] rect.bar").count()
