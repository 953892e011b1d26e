"""F7 inquiry answers only its purpose (issue 12), under the default terms.

The defaults switch on answering inquiries, so these run with every
municipality providing records. The asking municipality must hold the My
Number on one of its own resident records; the consent basis is a listed one
with a reference; a day has a cap; the answering area logs whose record it gave.
"""

from __future__ import annotations

import dataclasses
import json

import asyncpg
import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction, tenant_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    sign_in,
    valid_my_number,
    vault,
)

CONSENT = {"consent": True, "consent_basis": "written", "consent_reference": "同意書 2026-7"}


@pytest.fixture
async def stranger(app):
    """A Chiyoda resident with two doses who never had anything to do with Sapporo."""
    await create_municipality("131016")  # default terms: answers inquiries
    await create_municipality("011002")
    person = await create_resident("131016", name="無関係 花子")
    await create_vaccination(person, "131016")
    return person


async def sapporo_clerk(client, login: str = "sapporo-asker") -> dict[str, str]:
    await sign_in(client, await create_account(login, Role.CLERK, "011002"))
    return {"x-csrftoken": client.cookies.get("vrs_csrf")}


async def answered_events() -> list[dict]:
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT municipality_code, details FROM audit_event WHERE action = 'inquiry.answered'"
        )
    return [{**dict(r), "details": json.loads(r["details"])} for r in rows]


async def test_a_municipality_cannot_inquire_about_someone_it_never_recorded(
    client, stranger
) -> None:
    headers = await sapporo_clerk(client)
    answer = await client.post(
        "/api/v1/inquiries", json={"my_number": stranger["my_number"], **CONSENT}, headers=headers
    )
    assert answer.status_code == 422 and answer.json()["code"] == "inquiry.not_own_resident"
    assert "無関係" not in answer.text
    bulk = await client.post(
        "/inquiries/bulk",
        files={"file": ("b.csv", f"マイナンバー,同意,同意の根拠,同意の記録\n{stranger['my_number']},1,書面による同意,同意書 1\n".encode(), "text/csv")},
        data={"format": "csv"},
        headers=headers,
    )  # fmt: skip
    assert bulk.status_code in {200, 201} and "無関係" not in bulk.content.decode("utf-8-sig")
    assert await answered_events() == []


async def test_the_crossing_itself_refuses_a_number_the_caller_does_not_hold(stranger) -> None:
    hashed = vault().lookup_hash(stranger["my_number"])
    with pytest.raises(asyncpg.RaiseError, match="resident of the asking municipality"):
        async with tenant_transaction("011002"):
            await current_connection().fetch(
                "SELECT * FROM vrs_inquire_records($1, NULL, '書面による同意: 同意書 1')", hashed
            )
    async with tenant_transaction("011002"):
        rows = await current_connection().fetch(
            "SELECT * FROM vrs_inquire_records_bulk($1, $2, NULL)",
            [hashed],
            ["書面による同意: 同意書 1"],
        )
    assert rows == []
    with pytest.raises(asyncpg.RaiseError, match="consent"):
        async with tenant_transaction("011002"):
            await current_connection().fetch(
                "SELECT * FROM vrs_inquire_records($1, NULL, 'x')", hashed
            )


async def test_recording_the_my_number_first_is_audited_and_then_the_inquiry_answers(
    client, make_client, stranger
) -> None:
    headers = await sapporo_clerk(client)
    newcomer = await create_resident("011002", name="無関係 花子", my_number=None)
    recorded = await client.post(
        f"/api/v1/residents/{newcomer['id']}/my-number",
        json={"my_number": stranger["my_number"]},
        headers=headers,
    )
    assert recorded.status_code == 200
    assert stranger["my_number"] not in recorded.text
    async with owner_transaction():
        audit = await current_connection().fetchrow(
            "SELECT municipality_code, object_id, details FROM audit_event"
            " WHERE action = 'resident.my_number_recorded'"
        )
    assert audit["municipality_code"] == "011002" and audit["object_id"] == str(newcomer["id"])
    assert stranger["my_number"] not in audit["details"]
    answer = await client.post(
        "/api/v1/inquiries", json={"my_number": stranger["my_number"], **CONSENT}, headers=headers
    )
    assert answer.status_code == 201 and len(answer.json()["answers"]) == 1
    # Both sides: the asker's log names its resident; the answering area names whose record.
    (event,) = await answered_events()
    assert event["municipality_code"] == "131016"
    assert event["details"]["residents"] == [str(stranger["id"])]
    assert event["details"]["consent_basis"] == "書面による同意: 同意書 2026-7"
    async with owner_transaction():
        subjects = await current_connection().fetchval(
            "SELECT subjects FROM inquiry WHERE municipality_code = '011002'"
        )
    assert json.loads(subjects)[0]["resident"] == str(newcomer["id"])
    # Another municipality's clerk cannot write a number on Sapporo's resident.
    other = await make_client()
    await sign_in(other, await create_account("chiyoda-writer", Role.CLERK, "131016"))
    refused = await other.post(
        f"/api/v1/residents/{newcomer['id']}/my-number",
        json={"my_number": valid_my_number()},
        headers={"x-csrftoken": other.cookies.get("vrs_csrf")},
    )
    assert refused.status_code == 404


async def test_an_erased_resident_record_does_not_count_as_holding_the_number(
    client, stranger
) -> None:
    headers = await sapporo_clerk(client)
    await create_resident("011002", my_number=stranger["my_number"])
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE resident SET status = 'erased' WHERE municipality_code = '011002'"
        )
    answer = await client.post(
        "/api/v1/inquiries", json={"my_number": stranger["my_number"], **CONSENT}, headers=headers
    )
    assert answer.status_code == 422 and answer.json()["code"] == "inquiry.not_own_resident"


async def test_free_text_consent_no_longer_passes(client, stranger) -> None:
    headers = await sapporo_clerk(client)
    await create_resident("011002", my_number=stranger["my_number"])
    for consent in ({"consent_basis": "x"}, {"consent_basis": "x", "consent_reference": "x"},
                    {"consent_basis": "written", "consent_reference": "x"}):  # fmt: skip
        answer = await client.post(
            "/api/v1/inquiries",
            json={"my_number": stranger["my_number"], "consent": True, **consent},
            headers=headers,
        )
        assert answer.status_code == 422 and answer.json()["code"] == "inquiry.consent_listed"
    assert await answered_events() == []


async def test_inquiries_are_capped_per_day(app, stranger, settings) -> None:
    import httpx

    from web.app import create_app

    capped = create_app(dataclasses.replace(settings, inquiry_daily_max_persons=3),
                        manage_pool=False)  # fmt: skip
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=capped), base_url="http://127.0.0.1:8000"
    ) as http:
        headers = await sapporo_clerk(http)
        await create_resident("011002", my_number=stranger["my_number"])
        codes = []
        for _ in range(4):
            answer = await http.post(
                "/api/v1/inquiries",
                json={"my_number": stranger["my_number"], **CONSENT},
                headers=headers,
            )
            codes.append(answer.status_code)
        assert codes == [201, 201, 201, 422]
        assert answer.json()["code"] == "inquiry.daily_limit"
        lines = "".join(f"{valid_my_number()},1,written,同意書 1\n" for _ in range(2))
        bulk = await http.post(
            "/inquiries/bulk",
            files={"file": ("b.csv", ("マイナンバー,同意,同意の根拠,同意の記録\n" + lines).encode(), "text/csv")},
            headers=headers,
        )  # fmt: skip
        assert bulk.status_code == 422
