"""One table of cases through all three channels: venue page, JSON API and CSV (F2, F3).

Each channel must refuse (or flag) the same input with the same message.
"""

from __future__ import annotations

import datetime as dt
import uuid

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
from web.i18n import translate

TICKET = "0000000001"
HEADER = "ticket,municipality_code,birth_date,dose_number,vaccinated_on,product,lot_number,volume_ml,doctor_name"


@pytest.fixture
def today() -> dt.date:
    return dt.date(2021, 7, 1)


@pytest.fixture
async def channel_setup(app):
    await create_municipality("131016")
    operator = await create_account("channel-op", Role.VENUE_OPERATOR)
    resident = await create_resident("131016", ticket_number=TICKET, birth_date=dt.date(1960, 4, 1))
    await create_vaccination(
        resident, dose_number=1, vaccinated_on=dt.date(2021, 6, 1), lot_number="EY0779"
    )
    return operator


GOOD = {"ticket": f"12131016{TICKET}", "dose_number": "2", "vaccinated_on": "2021-06-22",
        "product": "pfizer-comirnaty", "lot_number": "EY0779", "volume_ml": "0.3", "doctor_name": "医師",
        "birth_date": "19600401"}  # fmt: skip

CASES = [
    ("future date", {"vaccinated_on": "2021-07-02"}, "rule.date_future", {"date": "2021-07-02"}),
    ("second dose before the first", {"vaccinated_on": "2021-05-31"}, "rule.dose_before_previous",
     {"dose": 2, "previous": 1, "previous_date": "2021-06-01"}),
    ("interval too short", {"vaccinated_on": "2021-06-10"}, "rule.interval_too_short",
     {"days": 9, "min_days": 18, "previous": 1, "previous_date": "2021-06-01"}),
    ("wrong maker's lot", {"lot_number": "3002330"}, "rule.lot_unknown", {"lot": "3002330"}),
    ("Moderna's volume for Pfizer", {"volume_ml": "0.5"}, "rule.volume_not_allowed", {"volume": "0.50", "allowed": "0.3 mL"}),
    ("same dose number again", {"dose_number": "1", "vaccinated_on": "2021-06-03"}, "rule.same_dose_number",
     {"dose": 1, "date": "2021-06-01"}),
]  # fmt: skip


@pytest.mark.parametrize(("mistake", "change", "key", "params"), CASES, ids=[c[0] for c in CASES])
async def test_every_channel_refuses_alike(
    client, channel_setup, mistake, change, key, params
) -> None:
    fields = {**GOOD, **change}
    message = translate(key, "ja", **params)
    await sign_in(client, channel_setup)
    await enrol_device(channel_setup, client)
    csrf = await csrf_token(client, "/venue")

    page = await client.post(
        "/venue/doses", data={**fields, "idempotency_key": uuid.uuid4().hex, "_csrf_token": csrf},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert message in page.text, mistake

    api = await client.post(
        "/api/v1/vaccinations",
        json=fields,
        headers={"x-csrftoken": csrf, "Idempotency-Key": uuid.uuid4().hex},
    )
    assert api.status_code == 422 and api.json()["code"] == key and api.json()["detail"] == message

    body = f"{HEADER}\n" + ",".join([fields["ticket"], "", fields["birth_date"], fields["dose_number"], fields["vaccinated_on"],
                                      fields["product"], fields["lot_number"], fields["volume_ml"], fields["doctor_name"]])  # fmt: skip
    upload = await client.post(
        "/venue/upload",
        data={"_csrf_token": csrf},
        files={"file": ("doses.csv", body.encode(), "text/csv")},
    )
    assert upload.status_code == 200
    assert "2行目" in upload.text and message in upload.text

    async with owner_transaction():
        assert await current_connection().fetchval("SELECT count(*) FROM vaccination") == 1


async def test_a_cp932_file_with_good_bad_and_unmatched_rows_and_a_harmless_rerun(
    client, channel_setup
) -> None:
    await sign_in(client, channel_setup)
    await enrol_device(channel_setup, client)
    csrf = await csrf_token(client, "/venue/upload")
    lines = [
        HEADER,
        f"{TICKET},131016,1960-04-01,2,2021-06-22,pfizer-comirnaty,EY0779,0.3,職域 医師",  # good (10-digit + code)
        f"12131016{TICKET},,1960-04-01,x,2021-06-22,pfizer-comirnaty,EY0779,0.3,職域 医師",  # bad dose number
        "1113101677777777777,,1960-04-01,1,2021-06-22,pfizer-comirnaty,EY0779,0.3,職域 医師",  # 19 digits
        "11131016777777777,,1960-04-01,1,2021-06-22,pfizer-comirnaty,EY0779,0.3,職域 医師",  # 17 digits
        "111310169999999999,,1960-04-01,1,2021-06-22,pfizer-comirnaty,EY0779,0.3,職域 医師",  # unmatched ticket
    ]
    content = "\r\n".join(lines).encode("cp932")
    first = await client.post(
        "/venue/upload", data={"_csrf_token": csrf}, files={"file": ("d.csv", content, "text/csv")}
    )
    assert "5行中 1件を登録、0件は登録済み、3件を登録できませんでした" in first.text
    assert "3行目" in first.text and "接種回数は1～9" in first.text
    assert "1件は接種券が未登録" in first.text
    again = await client.post(
        "/venue/upload", data={"_csrf_token": csrf}, files={"file": ("d.csv", content, "text/csv")}
    )
    assert "0件を登録、2件は登録済み" in again.text  # the unmatched row too: nothing new
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT ticket_number, resident IS NULL AS unmatched, quality, source FROM vaccination WHERE source = 'csv' ORDER BY ticket_number"
        )
    assert [tuple(r) for r in rows] == [
        (TICKET, False, "ok", "csv"),
        ("9999999999", True, "must_fix", "csv"),
    ]


async def test_an_unreadable_upload_says_why(client, channel_setup) -> None:
    await sign_in(client, channel_setup)
    await enrol_device(channel_setup, client)
    csrf = await csrf_token(client, "/venue/upload")
    missing = await client.post(
        "/venue/upload",
        data={"_csrf_token": csrf},
        files={"file": ("d.csv", b"ticket,dose\n1,2\n", "text/csv")},
    )
    assert missing.status_code == 422 and "必要な列がありません" in missing.text
    binary = await client.post(
        "/venue/upload",
        data={"_csrf_token": csrf},
        files={"file": ("d.csv", b"\xff\xfe\x00\x81\x00", "text/csv")},
    )
    assert binary.status_code == 422
