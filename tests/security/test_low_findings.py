"""Low findings of issue 12: the enrolment link, import line numbers, the schema page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from db.accounts.roles import Role
from db.imports.format import first_undecodable_line, template_csv
from db.imports.rows import ImportFailed, RowReader, detect_encoding
from tests.factories import create_account, create_municipality, csrf_token, sign_in, vault


async def test_the_enrolment_link_is_built_from_the_base_url_not_the_host_header(
    app, client, settings
) -> None:
    await create_municipality("131016")
    venue_login = await create_account("enrol-op", Role.VENUE_OPERATOR)
    await sign_in(client, await create_account("enrol-admin", Role.MUNICIPAL_ADMIN))
    token = await csrf_token(client, "/admin/devices")
    from tests.security.test_devices import venue_of

    page = await client.post(
        "/admin/devices",
        data={"label": "受付1", "venue_id": str(await venue_of(venue_login)), "_csrf_token": token},
        headers={"host": "evil.example"},
    )
    assert page.status_code == 201
    assert "evil.example" not in page.text
    assert re.search(re.escape(settings.base_url) + r"/venue/enrol\?code=", page.text)


def bad_byte_file(tmp_path: Path, line: int) -> Path:
    header = template_csv().splitlines()[0]
    width = header.count(",") + 1
    rows = [",".join(["1"] * width) for _ in range(line - 2)]
    path = tmp_path / "residents.csv"
    body = ("\r\n".join([header, *rows]) + "\r\n").encode("cp932")  # as Windows writes it
    path.write_bytes(body + b"1,\x85\x40,x\r\n")  # 0x85 0x40: no character in cp932
    return path


def test_a_bad_byte_is_reported_on_its_own_line(tmp_path: Path) -> None:
    path = bad_byte_file(tmp_path, 1001)
    encoding = detect_encoding(path)
    assert first_undecodable_line(path, encoding) == 1001
    reader = RowReader(path, encoding, vault(), "131016")
    try:
        reader.header()
        with pytest.raises(ImportFailed) as failed:
            while reader.records():
                pass
    finally:
        reader.close()
    assert failed.value.key == "import.encoding_unreadable"
    assert failed.value.params["line"] == 1001  # was 947: the decoder reads ahead of the reader


async def test_the_schema_page_loads_nothing_from_a_cdn(app, client) -> None:
    """/schema/swagger pulled scripts from a CDN the CSP blocks: the page is gone."""
    swagger = await client.get("/schema/swagger")
    assert swagger.status_code == 404
    for path in ("/schema", "/schema/openapi.json"):
        answer = await client.get(path)
        assert "cdn.jsdelivr.net" not in answer.text and "unpkg.com" not in answer.text
    assert (await client.get("/schema/openapi.json")).status_code == 200
