"""Clerk pages show times in JST whatever the server's zone (issue 14).

The imports list, certificate history, inquiry log, person page version lines
and backup jobs printed the database's UTC timestamps with ``strftime``. The
static check fails on any template that formats a ``*_at`` timestamp without
the ``jst`` filter; the rendered check reads the imports list.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from db.engine import current_connection, owner_transaction
from tests.integration.test_imports import HEADER, row, upload

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def test_no_template_formats_a_timestamp_outside_jst() -> None:
    found = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0)}"
        for path in TEMPLATES.rglob("*.html")
        for match in re.finditer(r"\b\w+_at\.strftime\(", path.read_text(encoding="utf-8"))
    ]
    assert not found, found


async def test_the_imports_list_shows_the_upload_time_in_jst(clerk_client) -> None:
    await upload(clerk_client, (HEADER + "\n" + row(1) + "\n").encode())
    async with owner_transaction():
        created = await current_connection().fetchval("SELECT max(created_at) FROM import_job")
    shown = created.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M")
    utc = created.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
    page = (await clerk_client.get("/imports")).text
    assert shown in page and utc not in page


async def test_a_prefecture_viewers_home_names_the_prefecture_not_its_code(client, app) -> None:
    from db.accounts.roles import Role
    from tests.factories import create_account, create_municipality, sign_in

    await create_municipality("131016")
    viewer = await create_account("pref-13", Role.PREFECTURE_VIEWER, None, prefecture_code="13")
    await sign_in(client, viewer)
    home = (await client.get("/")).text
    assert "東京都の統計" in home and "都道府県コード" not in home
