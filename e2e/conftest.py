"""End-to-end fixtures: the real server (``vrs serve``) and a real Chromium.

The server runs as its own process on 127.0.0.1 against this test process's
database; Chromium is Debian's, launched by Playwright with
``executable_path`` (``playwright install`` cannot download browsers here).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.realparts import missing_part
from tests.server_process import vrs_server

CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
ARTIFACTS = Path(
    os.environ.get("VRS_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts")
)


@pytest.fixture(scope="session")
def server(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``vrs serve`` on a free port; yields its base URL once /readyz answers."""
    with vrs_server(database, log_path=tmp_path_factory.mktemp("server") / "server.log") as base:
        yield base


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator:
    """Debian's Chromium under Playwright (fails in CI when missing)."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        missing_part("Debian's chromium (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(chromium, server: str, db: str) -> AsyncIterator:
    """A fresh browser context and page on the server, with short timeouts."""
    context = await chromium.new_context(base_url=server, locale="ja-JP")
    context.set_default_timeout(5000)
    page = await context.new_page()
    yield page
    await context.close()


async def screenshot(page, name: str) -> Path:
    """Save a screenshot as a test artifact (CI keeps the folder)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
