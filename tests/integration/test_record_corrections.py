"""Correcting a record from the clerk's pages: 要修正 records, kept edits, revoked certificates.

A record saved with an override (a short interval on the doctor's decision)
can be corrected: the form offers the override reason again, filled with the
one it was saved with. A refused correction (a rule, a missing reason) comes
back on the record page with the clerk's edits in the form, never a bare
error page. A correction names the certificates it revoked, and the record
and person pages link a dose to its record and certificates.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_resident,
    create_vaccination,
    csrf_token,
)

OVERRIDE = "医師の判断で早めに接種"


@pytest.fixture
def today() -> dt.date:
    return dt.date(2021, 8, 1)


async def must_fix_dose() -> tuple[dict, object]:
    """Dose 2 nine days after dose 1, saved with an override: 要修正."""
    person = await create_resident("131016", name="訂正 花子")
    await create_vaccination(person, dose_number=1, vaccinated_on=dt.date(2021, 6, 1))
    second = await create_vaccination(person, dose_number=2, vaccinated_on=dt.date(2021, 6, 10))
    reasons = [{"rule": "minimum_interval", "effect": "must_fix", "key": "rule.interval_too_short",
                "params": {}, "override_reason": OVERRIDE}]  # fmt: skip
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE vaccination SET quality = 'must_fix', quality_reasons = $2::jsonb WHERE id = $1",
            second,
            json.dumps(reasons, ensure_ascii=False),
        )
    return person, second


def form_of(dose, **over: str) -> dict[str, str]:
    values = {"dose_number": "2", "vaccinated_on": "2021-06-10", "product": "pfizer-comirnaty",
              "lot_number": "FA4597", "volume_ml": "0.30", "doctor_name": "医師 一郎",
              "override_reason": OVERRIDE, "reason": ""}  # fmt: skip
    return {**values, **over}


async def stored(dose) -> dict:
    async with owner_transaction():
        return dict(
            await current_connection().fetchrow("SELECT * FROM vaccination WHERE id = $1", dose)
        )


async def test_a_must_fix_record_is_corrected_with_its_override_offered_again(clerk_client) -> None:
    _, dose = await must_fix_dose()
    page = await clerk_client.get(f"/records/{dose}")
    assert f'name="override_reason" type="text" value="{OVERRIDE}"' in page.text
    token = await csrf_token(clerk_client, f"/records/{dose}")
    saved = await clerk_client.post(
        f"/records/{dose}/correct",
        data={**form_of(dose, doctor_name="医師 二郎", reason="予診票で医師名を確認"),
              "_csrf_token": token},
    )  # fmt: skip
    assert saved.status_code == 303, saved.text[:600]
    now = await stored(dose)
    assert (now["doctor_name"], now["quality"], now["version"]) == ("医師 二郎", "must_fix", 2)
    assert json.loads(now["quality_reasons"])[0]["override_reason"] == OVERRIDE


async def test_a_refused_correction_keeps_the_edits_and_asks_for_the_override(clerk_client) -> None:
    _, dose = await must_fix_dose()
    token = await csrf_token(clerk_client, f"/records/{dose}")
    refused = await clerk_client.post(
        f"/records/{dose}/correct",
        data={**form_of(dose, doctor_name="医師 三郎", override_reason="  ", reason="医師名"),
              "_csrf_token": token},
    )  # fmt: skip
    assert refused.status_code == 422
    assert 'data-testid="correct-form"' in refused.text  # the record page, not an error page
    assert 'value="医師 三郎"' in refused.text and 'value="医師名"' in refused.text
    assert 'data-testid="error-override_reason"' in refused.text
    assert (await stored(dose))["version"] == 1


async def test_a_reason_of_spaces_is_refused_on_the_record_page_with_the_edits(
    clerk_client,
) -> None:
    person = await create_resident("131016")
    dose = await create_vaccination(person)
    token = await csrf_token(clerk_client, f"/records/{dose}")
    refused = await clerk_client.post(
        f"/records/{dose}/correct",
        data={**form_of(dose, dose_number="1", vaccinated_on="2021-06-01", lot_number="ER7449",
                        override_reason="", reason=" \u3000 "), "_csrf_token": token},
    )  # fmt: skip
    assert refused.status_code == 422
    assert 'data-testid="correct-form"' in refused.text and 'value="ER7449"' in refused.text
    assert 'data-testid="error-reason"' in refused.text and "理由を入力" in refused.text
    assert (await stored(dose))["lot_number"] == "FA4597"


async def test_a_correction_names_the_certificates_it_revoked(clerk_client) -> None:
    person = await create_resident("131016")
    dose = await create_vaccination(person)
    async with owner_transaction():
        await current_connection().execute(
            "INSERT INTO certificate_issuance (id, municipality_code, resident, certificate_id,"
            " kind, channel, source_data, issued_at) VALUES (gen_random_uuid(), '131016', $1,"
            " 'RC0000000001', 'domestic', 'counter', $2::jsonb, now())",
            person["id"],
            json.dumps({"vaccination_ids": [str(dose)]}),
        )
    shown = await clerk_client.get(f"/residents/{person['id']}")
    assert f'href="/records/{dose}"' in shown.text
    assert 'href="#cert-RC0000000001" data-testid="dose-certificate-link"' in shown.text
    token = await csrf_token(clerk_client, f"/records/{dose}")
    saved = await clerk_client.post(
        f"/records/{dose}/correct",
        data={**form_of(dose, dose_number="1", vaccinated_on="2021-06-01", lot_number="ER7449",
                        override_reason="", reason="ロット番号の誤り"), "_csrf_token": token},
    )  # fmt: skip
    assert saved.status_code == 303, saved.text[:600]
    page = await clerk_client.get(saved.headers["location"])
    notice = page.text.split('data-testid="corrected"')[1].split("</div>")[0]
    assert "RC0000000001" in notice and "1件" in notice
    # An id in the address that this record's certificates do not hold is not shown.
    forged = await clerk_client.get(f"/records/{dose}?corrected=1&revoked=ZZ0000000009")
    notice = forged.text.split('data-testid="corrected"')[1].split("</div>")[0]
    assert "ZZ0000000009" not in notice and 'data-testid="revoked-now"' not in notice
