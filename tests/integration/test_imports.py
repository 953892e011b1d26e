"""F1 import of residents and tickets: bad rows of every kind, CP932, re-runs, the pages."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from db.engine import current_connection, owner_transaction
from tests.factories import create_municipality, valid_my_number

HEADER = (
    "個別宛名番号,マイナンバー,氏名,カナ氏名,生年月日,性別,接種券番号,券種,"
    "転出フラグ,転出日,死亡フラグ,死亡日,先行接種対象者,要配慮者"
)


def row(n: int, **over: str) -> str:
    values = {
        "resident_number": f"{1000 + n}",
        "my_number": valid_my_number(500 + n),
        "name": f"山田 太郎{n}",
        "name_kana": "ヤマダ タロウ",
        "birth_date": "1950-04-01",
        "sex": "1",
        "ticket_number": f"{9000000000 + n}",
        "ticket_type": "1",
        "moved_out": "0",
        "moved_out_on": "",
        "deceased": "0",
        "deceased_on": "",
        "priority_group": "0",
        "needs_care": "0",
        **over,
    }
    return ",".join(values.values())


async def wait_done(client, job_path: str) -> str:
    for _ in range(200):
        text = (await client.get(job_path, headers={"hx-request": "true"})).text
        status = re.search(r'data-status="(\w+)"', text).group(1)
        if status in {"done", "failed"}:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not finish")


async def upload(client, content: bytes, name: str = "residents.csv") -> str:
    page = await client.get("/imports")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    response = await client.post(
        "/imports",
        files={"file": (name, content, "text/csv")},
        headers={"x-csrftoken": token, "hx-request": "true"},
    )
    assert response.status_code == 200, response.text
    job_id = re.search(r'id="job-([0-9a-f-]+)"', response.text).group(1)
    path = f"/imports/{job_id}"
    await wait_done(client, path)
    return path


async def rejections(path: str, client) -> list[tuple[int, str, str]]:
    text = (await client.get(path)).text
    return [
        (int(m[0]), m[1], m[2])
        for m in re.findall(r'data-line="(\d+)" data-column="(\w*)" data-reason="([\w.]+)"', text)
    ]


async def counts() -> dict[str, int]:
    async with owner_transaction():
        c = current_connection()
        return {
            "residents": await c.fetchval("SELECT count(*) FROM resident"),
            "tickets": await c.fetchval("SELECT count(*) FROM ticket"),
            "valid": await c.fetchval("SELECT count(*) FROM ticket WHERE status = 'valid'"),
        }


async def test_the_page_documents_the_columns_and_offers_a_template(clerk_client) -> None:
    page = await clerk_client.get("/imports")
    assert page.status_code == 200
    assert "個別宛名番号" in page.text and "要配慮者" in page.text
    template = await clerk_client.get("/imports/template.csv")
    assert template.status_code == 200
    assert template.content.decode("utf-8-sig").startswith("個別宛名番号,マイナンバー,氏名")


async def test_good_rows_are_imported_and_every_bad_row_is_reported(clerk_client) -> None:
    lines = [
        HEADER,
        row(1),  # line 2: good
        row(2, my_number="123456789012"),  # 3: check digit
        row(3, birth_date="1950-02-30"),  # 4: date
        row(4, sex="3"),  # 5: sex code
        row(5, resident_number="1001", my_number=""),  # 6: duplicate resident of line 2
        row(6, ticket_number=f"{9000000000 + 1}"),  # 7: duplicate ticket of line 2
        row(7, name_kana="yamada"),  # 8: kana
        row(8, moved_out="1"),  # 9: flag without date
        row(9, ticket_number="12345"),  # 10: ticket length
        row(10, birth_date="2999-01-01"),  # 11: future
        row(11),  # 12: good
        row(12, my_number=valid_my_number(501)),  # 13: duplicate My Number of line 2
        "1,2,3",  # 14: too few fields
    ]
    path = await upload(clerk_client, ("\r\n".join(lines) + "\r\n").encode())
    found = await rejections(path, clerk_client)
    assert (3, "my_number", "id.my_number_check_digit") in found
    assert (4, "birth_date", "import.date_invalid") in found
    assert (5, "sex", "import.sex_invalid") in found
    assert (6, "resident_number", "import.duplicate_in_file") in found
    assert (7, "ticket_number", "import.duplicate_in_file") in found
    assert (8, "name_kana", "import.kana_invalid") in found
    assert (9, "moved_out_on", "import.flag_needs_date") in found
    assert (10, "ticket_number", "id.wrong_length") in found
    assert (11, "birth_date", "import.date_future") in found
    assert (13, "my_number", "import.duplicate_in_file") in found
    assert (14, "", "import.too_few_fields") in found
    assert {line for line, _, _ in found} == set(range(3, 12)) | {13, 14}
    assert await counts() == {"residents": 2, "tickets": 2, "valid": 2}
    async with owner_transaction():
        stored = await current_connection().fetchrow(
            "SELECT my_number_ciphertext, my_number_hmac FROM resident WHERE resident_number = '1001'"
        )
    from tests.factories import vault

    assert vault().open(stored["my_number_ciphertext"], "131016") == valid_my_number(501)
    assert stored["my_number_hmac"] == vault().lookup_hash(valid_my_number(501))
    csv_report = await clerk_client.get(f"{path}/rejections.csv")
    assert "検査数字" in csv_report.content.decode("utf-8-sig")


async def test_a_cp932_file_is_read(clerk_client) -> None:
    content = (
        "\r\n".join([HEADER, row(1, name="髙橋 﨑子", name_kana="ﾀｶﾊｼ ｻｷｺ")]) + "\r\n"
    ).encode("cp932")
    path = await upload(clerk_client, content)
    page = (await clerk_client.get(path)).text
    assert "cp932" in page
    async with owner_transaction():
        stored = await current_connection().fetchrow("SELECT name, name_kana FROM resident")
    assert stored["name"] == "髙橋 﨑子"
    assert stored["name_kana"] == "タカハシ サキコ"


async def test_a_rerun_changes_what_changed_and_duplicates_nothing(clerk_client) -> None:
    first = [HEADER, row(1), row(2), row(3)]
    await upload(clerk_client, "\r\n".join(first).encode("utf-8-sig"))
    assert await counts() == {"residents": 3, "tickets": 3, "valid": 3}
    second = [
        HEADER,
        row(1),  # unchanged
        row(2, moved_out="1", moved_out_on="2022-05-01"),  # moved out
        row(3, ticket_number="9100000003"),  # reissued ticket
        row(4),  # new
    ]
    path = await upload(clerk_client, "\r\n".join(second).encode())
    text = (await clerk_client.get(path)).text
    assert re.search(r'data-testid="count-inserted">1<', text)
    assert re.search(r'data-testid="count-updated">1<', text)
    assert re.search(r'data-testid="count-unchanged">2<', text)
    assert re.search(r'data-testid="count-reissued">1<', text)
    assert await counts() == {"residents": 4, "tickets": 5, "valid": 4}
    async with owner_transaction():
        c = current_connection()
        assert (
            await c.fetchval(
                "SELECT moved_out_on::text FROM resident WHERE resident_number = '1002'"
            )
            == "2022-05-01"
        )
        assert (
            await c.fetchval("SELECT status FROM ticket WHERE ticket_number = '9000000003'")
            == "reissued"
        )
        assert await c.fetchval("SELECT residents FROM population_count") == 3
    # The same file again changes nothing.
    path = await upload(clerk_client, "\r\n".join(second).encode())
    text = (await clerk_client.get(path)).text
    assert re.search(r'data-testid="count-unchanged">4<', text)
    assert await counts() == {"residents": 4, "tickets": 5, "valid": 4}


async def test_conflicts_with_existing_records_are_rejected(clerk_client) -> None:
    from tests.factories import create_resident

    existing = await create_resident("131016", resident_number="77", ticket_number="9000000001")
    erased = await create_resident("131016", resident_number="78", ticket_number="9000000078")
    await create_resident("131016", resident_number="79", ticket_number="9000000079")
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE resident SET status = 'erased' WHERE resident_number = '78'"
        )
    lines = [
        HEADER,
        row(1, ticket_number="9000000079"),  # the ticket of resident 79
        row(2, my_number=existing["my_number"]),  # My Number of resident 77
        # Resident 77 with its own ticket (no conflict) and another My Number.
        row(3, resident_number="77", ticket_number="9000000001", my_number=valid_my_number(999)),
        row(4, resident_number="78", ticket_number="9000000078", my_number=erased["my_number"]),
        row(5),  # good
    ]
    path = await upload(clerk_client, "\n".join(lines).encode())
    found = await rejections(path, clerk_client)
    assert found == [
        (2, "ticket_number", "import.ticket_taken"),
        (3, "my_number", "import.my_number_taken"),
        (4, "my_number", "import.my_number_differs"),
        (5, "resident_number", "import.resident_erased"),
    ]
    async with owner_transaction():
        taken = await current_connection().fetchval(
            "SELECT params->>'resident_number' FROM import_rejection"
            " WHERE reason = 'import.ticket_taken'"
        )
    assert taken == "79"


async def test_a_file_without_required_columns_fails_with_a_reason(clerk_client) -> None:
    path = await upload(clerk_client, "氏名,カナ氏名\n山田,ヤマダ\n".encode())
    text = (await clerk_client.get(path)).text
    assert 'data-status="failed"' in text
    assert "個別宛名番号" in text


async def test_bad_uploads_get_a_clear_answer_not_a_500(clerk_client) -> None:
    page = await clerk_client.get("/imports")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    empty = await clerk_client.post(
        "/imports", files={"file": ("x.csv", b"", "text/csv")}, headers={"x-csrftoken": token}
    )
    assert empty.status_code == 422
    not_form = await clerk_client.post(
        "/imports", content=b"abc", headers={"x-csrftoken": token, "content-type": "text/csv"}
    )
    assert not_form.status_code == 422
    broken = await clerk_client.post(
        "/imports",
        content=b'--xx\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc',
        headers={"x-csrftoken": token, "content-type": "multipart/form-data; boundary=xx"},
    )
    assert broken.status_code == 422


async def test_the_shell_command_imports_the_same_file(app, tmp_path: Path) -> None:
    from cli.commands.workspace import import_file

    await create_municipality("131016")
    source = tmp_path / "residents.csv"
    source.write_bytes(("\n".join([HEADER, row(1), row(2, sex="x")]) + "\n").encode("cp932"))
    outcome = await import_file(source, "131016")
    assert outcome["residents_inserted"] == 1 and outcome["rows_rejected"] == 1
    assert source.exists()  # the user's file is kept


async def test_a_field_larger_than_any_column_rejects_its_row_not_the_file(app, tmp_path) -> None:
    from cli.commands.workspace import import_file

    await create_municipality("131016")
    source = tmp_path / "residents.csv"
    huge = "山" * 200_000  # 600 kB in UTF-8: more than Python's csv module reads by default
    source.write_bytes(("\n".join([HEADER, row(1), row(2, name=huge), row(3)]) + "\n").encode())
    outcome = await import_file(source, "131016")
    assert (outcome["status"], outcome["residents_inserted"]) == ("done", 2), outcome
    [(line, column, _)] = [(r["line_number"], r["column_name"], r) for r in outcome["rejections"]]
    assert (line, column) == (3, "name")
