"""In Chromium: a clerk uploads a residents file and watches the progress bar finish;
the dashboard draws its charts and picks up a new dose by itself."""

from __future__ import annotations

from db.accounts.roles import Role
from db.demo import DEMO_PASSWORD
from e2e.conftest import screenshot
from e2e.pages import SignInPage
from e2e.workspace_pages import DashboardPage, ImportsPage
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    valid_my_number,
)

HEADER = "個別宛名番号,マイナンバー,氏名,カナ氏名,生年月日,性別,接種券番号,転出フラグ,転出日"


async def _clerk(page) -> None:
    await create_municipality("131016")
    await create_account("e2e-clerk", Role.CLERK, "131016", password=DEMO_PASSWORD)
    await (await SignInPage(page).open()).sign_in("e2e-clerk", DEMO_PASSWORD)


async def test_upload_a_file_and_watch_the_progress_bar_finish(page, tmp_path) -> None:
    await _clerk(page)
    lines = [HEADER]
    for n in range(20000):
        lines.append(
            f"{100000 + n},{valid_my_number(700000 + n)},試験 {n},シケン タロウ,1970-01-01,1,"
            f"{8000000000 + n:010d},0,"
        )
    lines.append("bad,123,x,abc,1970-13-01,7,1,2,")
    source = tmp_path / "residents.csv"
    source.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    imports = await (await ImportsPage(page).open()).upload(source)
    await screenshot(page, "import-progress")
    assert await imports.wait_until_finished() == "done"
    assert await imports.progress() == "100"
    assert await imports.count("inserted") == "20000"
    assert await imports.count("rejected") == "1"
    await screenshot(page, "import-done")
    await page.get_by_test_id("import-report-link").click()
    await page.get_by_test_id("rejections").wait_for()
    assert await page.get_by_test_id("rejection").count() >= 5


async def test_the_dashboard_renders_its_charts_and_refreshes_itself(page) -> None:
    await _clerk(page)
    import datetime as dt

    people = [
        await create_resident("131016", birth_date=dt.date(1930 + 9 * i, 1, 1)) for i in range(8)
    ]
    for i, person in enumerate(people):
        await create_vaccination(person, vaccinated_on=dt.date(2021, 6, 1 + i))
    dashboard = await DashboardPage(page).open()
    assert await dashboard.total() == "8"
    assert await dashboard.bars("day") == 8
    assert await dashboard.bars("age") >= 6
    assert await dashboard.bars("product") == 1
    box = await page.get_by_test_id("chart-day").bounding_box()
    assert box and box["width"] > 200 and box["height"] > 50
    await screenshot(page, "dashboard")
    await create_vaccination(people[0], dose_number=2, vaccinated_on=dt.date(2021, 7, 1))
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=total-doses]').textContent === '9'",
        timeout=10000,
    )
    await screenshot(page, "dashboard-refreshed")


async def test_a_backup_runs_as_a_job_and_its_archive_downloads(page, tmp_path) -> None:
    await create_municipality("131016")
    await create_resident("131016")
    await create_account("e2e-admin", Role.MUNICIPAL_ADMIN, "131016", password=DEMO_PASSWORD)
    await (await SignInPage(page).open()).sign_in("e2e-admin", DEMO_PASSWORD)
    await page.goto("/admin/backup")
    await page.get_by_test_id("backup-export").click()
    await page.wait_for_url("**/admin/backup/jobs/*")
    job = page.get_by_test_id("backup-job")
    await page.locator('[data-testid="backup-job"][data-status="done"]').wait_for(timeout=60_000)
    assert await job.get_attribute("data-status") == "done"
    await screenshot(page, "backup-done")
    async with page.expect_download() as info:
        await page.get_by_test_id("backup-download").click()
    saved = tmp_path / "backup.zip"
    await (await info.value).save_as(saved)
    assert saved.read_bytes()[:2] == b"PK"
    await page.goto("/admin/backup")
    assert await page.locator('[data-testid="backup-job-row"][data-status="done"]').count() == 1
