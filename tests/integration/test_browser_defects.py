"""Defects a browser showed (issue 14): each test failed on the code before its fix.

- ``POST /inquiries/single`` and ``/inquiries/bulk`` answered their HTML result pages
  as ``application/json``, so the browser showed the page's source;
- CSV downloads said ``charset=utf-8`` twice (Litestar appends it to ``text/csv``);
- the import job page's 取込結果 link pointed to the page itself.
"""

from __future__ import annotations

import re

from tests.integration.test_imports import HEADER, row, upload
from tests.integration.test_inquiries import moved, token  # noqa: F401 (fixture)


async def test_inquiry_result_pages_are_html(client, moved) -> None:  # noqa: F811
    before, _ = moved
    csrf = await token(client)
    form = {"my_number": before["my_number"], "consent": "1", "consent_basis": "written",
            "consent_reference": "同意書 2026-01", "_csrf_token": csrf}  # fmt: skip
    single = await client.post("/inquiries/single", data=form)
    assert single.status_code == 200
    assert single.headers["content-type"].startswith("text/html")
    body = (
        f"マイナンバー,同意,同意の根拠,同意の記録\r\n{before['my_number']},1,written,同意書 7\r\n"
    )
    bulk = await client.post(
        "/inquiries/bulk",
        files={"file": ("bulk.csv", body.encode("utf-8"), "text/csv")},
        data={"_csrf_token": csrf},
    )
    assert bulk.status_code == 200
    assert bulk.headers["content-type"].startswith("text/html")
    as_csv = await client.post("/inquiries/single", data={**form, "format": "csv"})
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"


async def test_csv_downloads_name_their_charset_once(clerk_client) -> None:
    template = await clerk_client.get("/imports/template.csv")
    assert template.headers["content-type"] == "text/csv; charset=utf-8"
    job = await upload(clerk_client, (HEADER + "\n" + row(1, birth_date="bad") + "\n").encode())
    rejections = await clerk_client.get(f"{job}/rejections.csv")
    assert rejections.headers["content-type"] == "text/csv; charset=utf-8"


async def test_the_import_job_page_has_no_report_link_to_itself(clerk_client) -> None:
    job = await upload(clerk_client, (HEADER + "\n" + row(1) + "\n").encode())
    page = (await clerk_client.get(job)).text
    assert not re.search(rf'href="{job}"', page)
