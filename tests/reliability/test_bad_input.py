"""Oversized uploads, wrong encodings and HTML/script in names: a clear message, nothing changed.

- an upload above its limit answers 413 with a message in the user's language;
- a venue CSV in CP932 declared UTF-8 is read right (the parser detects the
  encoding), one in neither encoding gets the encoding message and saves nothing;
- a resident named ``<script>…`` or ``"><img onerror>`` is shown escaped on
  every page that shows names (person, search results, certificates preview,
  record page, venue panel, dashboard).
"""

from __future__ import annotations

import datetime as dt

import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    csrf_token,
    enrol_device,
    sign_in,
)
from web.controllers.venue_upload import MAX_UPLOAD_BYTES

NAMES = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
HEADER = "ticket,municipality_code,birth_date,dose_number,vaccinated_on,product,lot_number,volume_ml,doctor_name"


@pytest.fixture
def today() -> dt.date:
    return dt.date(2021, 7, 1)


async def count_doses() -> int:
    async with owner_transaction():
        return await current_connection().fetchval("SELECT count(*) FROM vaccination")


@pytest.fixture
async def venue_tablet(client):
    await create_municipality("131016")
    operator = await create_account("bad-input-op", Role.VENUE_OPERATOR, "131016")
    await enrol_device(operator, client)
    await sign_in(client, operator)
    return client, await csrf_token(client, "/venue/upload")


async def upload(client, csrf: str, content: bytes, content_type: str = "text/csv; charset=utf-8"):
    return await client.post(
        "/venue/upload",
        data={"_csrf_token": csrf},
        files={"file": ("doses.csv", content, content_type)},
    )


async def test_an_upload_above_the_limit_gets_a_413_with_a_message_and_saves_nothing(
    venue_tablet,
) -> None:
    client, csrf = venue_tablet
    content = (HEADER + "\r\n").encode() + b"x" * (MAX_UPLOAD_BYTES + 1)
    response = await upload(client, csrf, content)
    assert response.status_code == 413
    assert "大きすぎます" in response.text
    english = await client.post(
        "/venue/upload?lang=en", data={"_csrf_token": csrf},
        files={"file": ("doses.csv", content, "text/csv")},
    )  # fmt: skip
    assert english.status_code == 413 and "too large" in english.text.lower()
    assert await count_doses() == 0


async def test_a_cp932_file_declared_utf8_is_read_right(venue_tablet) -> None:
    client, csrf = venue_tablet
    person = await create_resident("131016", ticket_number="0000000001")
    row = f"11131016{person['ticket_number']},,1960-04-01,1,2021-06-22,pfizer-comirnaty,EY0779,0.3,接種 医師"
    response = await upload(client, csrf, f"{HEADER}\r\n{row}\r\n".encode("cp932"))
    assert response.status_code == 200, response.text
    async with owner_transaction():
        doctor = await current_connection().fetchval("SELECT doctor_name FROM vaccination")
    assert doctor == "接種 医師"


@pytest.mark.parametrize("encoding", ["utf-16", "euc_jp"])
async def test_a_file_in_neither_encoding_gets_the_encoding_message_and_saves_nothing(
    venue_tablet, encoding: str
) -> None:
    client, csrf = venue_tablet
    person = await create_resident("131016", ticket_number="0000000001")
    row = f"11131016{person['ticket_number']},,1960-04-01,1,2021-06-22,pfizer-comirnaty,EY0779,0.3,接種 医師"
    response = await upload(
        client, csrf, f"{HEADER}\r\n{row}\r\n".encode(encoding), "text/csv; charset=cp932"
    )
    assert response.status_code == 422
    assert "文字コードを判別できません" in response.text
    assert await count_doses() == 0


async def test_a_malformed_csv_line_gets_its_line_number_and_saves_nothing(venue_tablet) -> None:
    client, csrf = venue_tablet
    person = await create_resident("131016", ticket_number="0000000001")
    row = f"11131016{person['ticket_number']},,1960-04-01,1,2021-06-22,pfizer-comirnaty,EY0779,0.3,医師"
    response = await upload(client, csrf, f"{HEADER}\r\n{row}\r\nbro\rken,line\r\n".encode())
    assert response.status_code == 422
    assert "行目がCSVとして読めません" in response.text and "何も保存していません" in response.text
    assert await count_doses() == 0


@pytest.mark.parametrize("hostile", NAMES)
async def test_html_in_a_name_renders_escaped_on_every_page_that_shows_names(
    make_client, hostile: str
) -> None:
    await create_municipality("131016")
    person = await create_resident("131016", name=hostile, name_kana="ヤマダ タロウ",
                                   ticket_number="0000000001")  # fmt: skip
    vaccination = await create_vaccination(person, doctor_name=hostile)
    clerk = await create_account("xss-clerk", Role.CLERK, "131016")
    browser = await make_client()
    await sign_in(browser, clerk)
    pages = {
        "person": await browser.get(f"/residents/{person['id']}"),
        "search": await browser.get("/residents/", params={"name": hostile}),
        "search by ticket": await browser.get(
            "/residents/", params={"ticket_number": "0000000001"}
        ),
        "certificate preview": await browser.get(f"/certificates/person/{person['id']}"),
        "record": await browser.get(f"/records/{vaccination}"),
        "dashboard": await browser.get("/dashboard/"),
    }
    operator = await create_account("xss-op", Role.VENUE_OPERATOR, "131016")
    tablet = await make_client()
    await enrol_device(operator, tablet)
    await sign_in(tablet, operator)
    csrf = await csrf_token(tablet, "/venue")
    pages["venue panel"] = await tablet.post(
        "/venue/lookup", data={"ticket": "11131016" + person["ticket_number"], "birth_date": "19600401", "_csrf_token": csrf},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    escaped = hostile.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for page, response in pages.items():
        assert response.status_code == 200, f"{page}: {response.status_code}"
        assert hostile not in response.text, f"{page} shows the name unescaped"
        assert (
            "<script>alert" not in response.text
            and "onerror=alert(1)>" not in response.text.replace("&gt;", "")
        )
        if page != "dashboard":  # the dashboard shows figures, never names
            assert escaped in response.text.replace("&#34;", '"').replace("&quot;", '"'), (
                f"{page} lost the name"
            )
