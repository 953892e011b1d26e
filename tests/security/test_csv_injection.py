"""Every CSV a clerk downloads neutralises formula cells (OWASP CSV injection, issue 12)."""

from __future__ import annotations

import csv
import io
import json
import uuid

import pytest

from common.csv_cells import neutralise
from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    sign_in,
)

FORMULAS = ['=HYPERLINK("http://evil.example")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]


@pytest.mark.parametrize("cell", FORMULAS)
def test_a_formula_cell_gets_a_leading_quote(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


def test_plain_text_and_numbers_are_left_alone() -> None:
    assert neutralise("山田 太郎") == "山田 太郎"
    assert neutralise(-3) == -3 and neutralise(2) == 2


def cells(response) -> list[str]:
    text = response.content.decode("utf-8-sig")
    return [c for row in csv.reader(io.StringIO(text)) for c in row]


def assert_inert(values: list[str]) -> None:
    dangerous = [v for v in values if v and v[0] in "=+-@\t\r"]
    assert not dangerous, dangerous


async def test_the_inquiry_csvs_neutralise_names_and_venues(app, client) -> None:
    await create_municipality("131016")
    await create_municipality("011002")
    before = await create_resident("011002", name='=HYPERLINK("http://evil.example","x")')
    await create_resident("131016", my_number=before["my_number"])
    await create_vaccination(before, "011002", venue_name="@SUM(1+1)", lot_number="-FA1")
    await sign_in(client, await create_account("csv-clerk", Role.CLERK, "131016"))
    token = client.cookies.get("vrs_csrf")
    single = await client.post(
        "/inquiries/single",
        data={"my_number": before["my_number"], "consent": "1", "consent_basis": "written",
              "consent_reference": "同意書 1", "format": "csv", "_csrf_token": token},
    )  # fmt: skip
    values = cells(single)
    assert '\'=HYPERLINK("http://evil.example","x")' in values and "'@SUM(1+1)" in values
    assert_inert(values)
    bulk = await client.post(
        "/inquiries/bulk",
        files={"file": ("b.csv", f"マイナンバー,同意,同意の根拠,同意の記録\n{before['my_number']},1,written,同意書 1\n".encode(), "text/csv")},
        data={"format": "csv", "_csrf_token": token},
    )  # fmt: skip
    values = cells(bulk)
    assert "'-FA1" in values
    assert_inert(values)


async def test_the_rejection_report_neutralises_cells(app, client) -> None:
    await create_municipality("131016")
    login = await create_account("csv-clerk-2", Role.CLERK, "131016")
    await sign_in(client, login)
    job_id = uuid.uuid4()
    async with owner_transaction():
        connection = current_connection()
        clerk = await connection.fetchval("SELECT id FROM account WHERE login = $1", login)
        await connection.execute(
            "INSERT INTO import_job (id, municipality_code, filename, status, phase, rows_read,"
            " rows_rejected, started_by, created_at, finished_at) VALUES ($1, '131016', 'x.csv',"
            " 'done', 'done', 2, 1, $2, now(), now())",
            job_id, clerk,
        )  # fmt: skip
        await connection.execute(
            "INSERT INTO import_rejection (id, municipality_code, job, line_number, column_name,"
            " reason, params) VALUES ($1, '131016', $2, 3, '=cmd|/c calc', '+reason', $3)",
            uuid.uuid4(), job_id, json.dumps({}),
        )  # fmt: skip
    report = await client.get(f"/imports/{job_id}/rejections.csv")
    assert report.status_code == 200
    values = cells(report)
    assert "'=cmd|/c calc" in values
    assert_inert(values)
