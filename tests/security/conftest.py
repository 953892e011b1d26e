"""Two municipalities for the security suite: A holds the data, B's accounts attack it.

A (千代田区, Tokyo) has a resident with a My Number, a ticket, a dose, an import
job with a rejection, an inquiry, a certificate, a venue with an enrolled
device, and its own accounts. A has declined both crossings that would show its
people to others by design (inquiry answers, 住所地外接種 identification), so
*nothing* of A may reach B. B (札幌市, Hokkaido) has one signed-in client per role
(its venue tablet enrolled), plus Hokkaido's prefecture viewer and the national
accounts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

# Certificate routes need the signing keys to get as far as looking the resident up.
os.environ.setdefault("VRS_KEY_PASSPHRASE", "test-key-passphrase")

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    enrol_device,
    sign_in,
)

A, B = "131016", "011002"


@dataclass
class AreaA:
    """What A holds, and the strings that must never reach B."""

    resident: dict[str, Any]
    vaccination_id: uuid.UUID
    venue_id: uuid.UUID
    device_id: uuid.UUID
    job_id: uuid.UUID
    inquiry_id: uuid.UUID
    certificate_id: str
    clerk_login: str
    secrets: dict[str, str] = field(default_factory=dict)


async def area_a(default_terms: bool = False) -> AreaA:
    """A's data; A declines both crossings unless ``default_terms`` (the defaults, the demo's)."""
    if default_terms:
        await create_municipality(A)  # answers inquiries, accepts other venues' records
    else:
        await create_municipality(A, provides_records_to_inquiries=False,
                                  accepts_records_from_other_venues=False)  # fmt: skip
    resident = await create_resident(
        A, name="越境 花子", name_kana="エッキョウ ハナコ", resident_number="987654321012",
        ticket_number="7777700001", birth_date=dt.date(1951, 3, 4), sex="2",
    )  # fmt: skip
    vaccination_id = await create_vaccination(
        resident, A, venue_name="千代田秘密会場", doctor_name="越境 医師"
    )
    clerk = await create_account("a-clerk-secret", Role.CLERK, A, display_name="千代田 職員甲")
    operator = await create_account("a-venue-secret", Role.VENUE_OPERATOR, A)
    await enrol_device(operator, label="千代田タブレット秘密")
    job_id, inquiry_id = uuid.uuid4(), uuid.uuid4()
    from signing.content import new_certificate_id

    certificate_id = new_certificate_id()
    async with owner_transaction():
        connection = current_connection()
        venue_id, device_id = await connection.fetchrow(
            "SELECT venue, id FROM venue_device WHERE municipality_code = $1", A
        )
        clerk_id = await connection.fetchval("SELECT id FROM account WHERE login = $1", clerk)
        await connection.execute(
            "INSERT INTO import_job (id, municipality_code, filename, status, phase, rows_read,"
            " rows_rejected, started_by, created_at, finished_at) VALUES ($1, $2,"
            " 'chiyoda-secret.csv', 'done', 'done', 2, 1, $3, now(), now())",
            job_id, A, clerk_id,
        )  # fmt: skip
        await connection.execute(
            "INSERT INTO import_rejection (id, municipality_code, job, line_number, column_name,"
            " reason, params) VALUES ($1, $2, $3, 3, 'my_number', 'id.my_number_check_digit', $4)",
            uuid.uuid4(), A, job_id, json.dumps({"value": resident["my_number"]}),
        )  # fmt: skip
        await connection.execute(
            "INSERT INTO inquiry (id, municipality_code, kind, actor, actor_login, consent_basis,"
            " subjects, subject_count, answered_count, answering_municipalities, made_at)"
            " VALUES ($1, $2, 'single', $3, $4, '本人同意 秘密', $5, 1, 0, '[]', now())",
            inquiry_id, A, clerk_id, clerk,
            json.dumps([{"my_number_hmac": "x", "name": resident["name"]}]),
        )  # fmt: skip
        await connection.execute(
            "INSERT INTO certificate_issuance (id, municipality_code, resident, certificate_id,"
            " kind, channel, source_data, issued_by, issued_at, pdf) VALUES ($1, $2, $3, $4,"
            " 'domestic', 'counter', $5, $6, now(), $7)",
            uuid.uuid4(), A, resident["id"], certificate_id,
            json.dumps({"name": resident["name"]}), clerk_id, b"%PDF-1.7 " + resident["name"].encode(),
        )  # fmt: skip
    area = AreaA(resident, vaccination_id, venue_id, device_id, job_id, inquiry_id,
                 certificate_id, clerk)  # fmt: skip
    area.secrets = {
        "name": resident["name"], "kana": resident["name_kana"], "my_number": resident["my_number"],
        "ticket": resident["ticket_number"], "resident_number": resident["resident_number"],
        "resident_id": str(resident["id"]), "vaccination_id": str(vaccination_id),
        "venue_id": str(venue_id), "device_id": str(device_id), "job_id": str(job_id),
        "inquiry_id": str(inquiry_id), "certificate_id": certificate_id,
        "venue_name": "千代田秘密会場", "doctor": "越境 医師", "clerk_login": clerk,
        "clerk_id": str(clerk_id),
        "clerk_name": "千代田 職員甲", "operator_login": operator, "device_label": "千代田タブレット秘密",
        "job_file": "chiyoda-secret.csv", "consent": "本人同意 秘密",
    }  # fmt: skip
    return area


#: B's accounts, one per role that can hold a session.
B_ROLES = {
    "b_admin": (Role.MUNICIPAL_ADMIN, B),
    "b_clerk": (Role.CLERK, B),
    "b_venue": (Role.VENUE_OPERATOR, B),
    "b_prefecture": (Role.PREFECTURE_VIEWER, None),
    "national_viewer": (Role.NATIONAL_VIEWER, None),
    "national_admin": (Role.NATIONAL_ADMIN, None),
}


async def b_clients(make_client) -> dict[str, Any]:
    """One signed-in client per B role (the venue's tablet enrolled)."""
    await create_municipality(B)
    clients = {}
    for login, (role, code) in B_ROLES.items():
        extra = {"prefecture_code": "01"} if role is Role.PREFECTURE_VIEWER else {}
        await create_account(login, role, code, **extra)
        http = await make_client()
        assert (await sign_in(http, login)).status_code == 303
        if role is Role.VENUE_OPERATOR:
            await enrol_device(login, http)
        clients[login] = http
    return clients


@pytest.fixture
async def two_areas(app, make_client, settings):
    """(A's data, B's clients by login), with the certificate signing keys in place."""
    from cli.commands.keys import ensure_keys

    ensure_keys(settings)
    area = await area_a()
    return area, await b_clients(make_client)


@pytest.fixture
async def two_areas_at_default_terms(app, make_client, settings):
    """As :func:`two_areas`, but A keeps the default terms: both crossings switched on."""
    from cli.commands.keys import ensure_keys

    ensure_keys(settings)
    area = await area_a(default_terms=True)
    return area, await b_clients(make_client)
