"""An area built through every flow, backed up, restored into a NEW database, backed up again.

The area (千代田区) gets: venue accounts, a venue and an enrolled tablet; doses
saved from the tablet and from a CSV upload; a resident import with a rejected
line; an inquiry; certificates at the counter, through the app and at a
kiosk with its completion notice and a failed kiosk sale (the restore used to
fail on them: "permission denied for table kiosk_completion"); a settings revision; a correction; a
resident edit; a dose erasure and a resident erasure; its own backup job. The new database is made as an operator would
(``vrs migrate``, ``vrs create-municipality``, ``vrs create-user``, the same
keys: ``VRS_MY_NUMBER_KEY``, ``VRS_BACKUP_KEY``), the archive restored with
``vrs restore`` and backed up again with ``vrs backup``: per table, the row
counts and checksums equal the first archive's plus what the operator made
(generated numbers such as audit event ids left out), and the derived counts
are rebuilt.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

import asyncpg

from db.accounts.roles import Role
from db.backup.catalog import RESTORED
from db.engine import current_connection, owner_transaction
from db.tenancy.queries import TermsAgreed, save_terms
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    csrf_token,
    enrol_device,
    sign_in,
    valid_my_number,
)
from tests.fixtures import database_url, recreate_database, server_url
from tests.integration.certificates.test_card_sessions import _challenge, _proof
from tests.integration.certificates.test_counter import _issue
from tests.integration.kiosk.test_kiosk_server_channel import (
    ALL_DAY,
    _prove,
    kiosk_server_settings,  # noqa: F401  (fixture "settings": this worker's data dir)
    register_card_holders,
    server_ready,
)
from tests.integration.test_backup import (
    assert_restored_identically,
    start_backup,
    tables_of,
    wait_backup,
)
from tests.integration.test_cli import vrs
from tests.integration.test_dose_channels import HEADER as CSV_HEADER
from tests.integration.test_imports import HEADER, row
from tests.integration.test_venue import dose_fields

AREA = "131016"
DERIVED = ("dose_count", "dose_rollup", "population_count")


async def build_area(client, make_client, settings) -> dict:
    """Every flow that writes into the area; what a check needs afterwards."""
    cards = server_ready(settings)
    kiosk_token = await register_card_holders(cards)
    admin = await create_account("rt-admin", Role.MUNICIPAL_ADMIN, AREA)
    clerk = await create_account("rt-clerk", Role.CLERK, AREA)
    operator = await create_account("rt-venue", Role.VENUE_OPERATOR, AREA)

    # Tablet: an enrolled device saves dose 2 of a resident.
    person = await create_resident(AREA, name="往復 花子", ticket_number="0000000001")
    await create_vaccination(person, AREA, dose_number=1, vaccinated_on=dt.date(2021, 6, 1))
    tablet = await make_client()
    await sign_in(tablet, operator)
    await enrol_device(operator, tablet)
    csrf = await csrf_token(tablet, "/venue")
    saved = await tablet.post(
        "/venue/doses",
        data={**dose_fields(f"12{AREA}0000000001"), "idempotency_key": uuid.uuid4().hex,
              "_csrf_token": csrf},
        headers={"HX-Request": "true"},
    )  # fmt: skip
    assert "登録しました" in saved.text, saved.text[:400]
    # CSV upload at the venue: one good row, one for an unknown ticket (kept to fix).
    other = await create_resident(AREA, ticket_number="0000000002")
    csrf = await csrf_token(tablet, "/venue/upload")
    values = {"ticket": "0000000002", "municipality_code": AREA, "birth_date": "19600401",
              "dose_number": "1", "vaccinated_on": "2021-07-01", "product": "pfizer-comirnaty",
              "lot_number": "EY0779", "volume_ml": "0.3", "doctor_name": "職域 医師"}  # fmt: skip
    unknown = {**values, "ticket": f"11{AREA}9999999999", "municipality_code": ""}
    columns = CSV_HEADER.split(",")
    content = "\r\n".join(
        [CSV_HEADER] + [",".join(line.get(c, "") for c in columns) for line in (values, unknown)]
    ).encode("cp932")
    uploaded = await tablet.post(
        "/venue/upload", data={"_csrf_token": csrf}, files={"file": ("d.csv", content, "text/csv")}
    )
    assert uploaded.status_code == 200

    # Resident import through the shell command's code, with one rejected line.
    from cli.commands.workspace import import_file

    source = settings.data_dir / "rt-residents.csv"
    source.write_bytes(("\n".join([HEADER, row(1), row(2, sex="x")]) + "\n").encode("cp932"))
    outcome = await import_file(source, AREA)
    assert outcome["residents_inserted"] == 1 and outcome["rows_rejected"] == 1

    office = await make_client()
    await sign_in(office, clerk)
    # Inquiry about a person who moved in from 札幌市.
    await create_municipality("011002")
    moved = await create_resident("011002", name="転入 太郎", my_number=valid_my_number(4242))
    await create_vaccination(moved, "011002", dose_number=1, vaccinated_on=dt.date(2021, 6, 1))
    await create_resident(AREA, name="転入 太郎", my_number=moved["my_number"])
    page = await office.get("/inquiries")
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    asked = await office.post(
        "/inquiries/single",
        data={"my_number": moved["my_number"], "consent": "1", "consent_basis": "written",
              "consent_reference": "同意書 RT-1", "_csrf_token": csrf},
    )  # fmt: skip
    assert asked.status_code == 200, asked.text[:400]

    # Certificates: at the counter, through the app, at a kiosk (and its completion notice).
    counter_id = await _issue(office, person, {"kind": "domestic"})
    from db.cards.queries import create_app_client

    async with owner_transaction():
        app_token = await create_app_client("rt-app")
    app_headers = {"Authorization": f"Bearer {app_token}"}
    session, challenge = await _challenge(client, app_headers)
    by_app = await client.post(
        f"/api/v1/card-sessions/{session}/proof",
        json={**_proof(cards[1], challenge), "kind": "domestic"},
        headers=app_headers,
    )
    assert by_app.status_code == 200, by_app.text
    at_kiosk = await _prove(client, kiosk_token, cards[1], "kiosk-issue", kind="domestic")
    assert at_kiosk.status_code == 200, at_kiosk.text
    (printed,) = at_kiosk.json()["certificates"]
    notice = await client.post(
        "/api/v1/kiosk/completions",
        json={"notice_id": "rt-1", "store_id": "S-0001", "terminal_id": "T-1",
              "completed_at": "2026-12-01T21:00:05+09:00",
              "certificate_ids": [printed["certificate_id"]]},
        headers={"Authorization": f"Bearer {kiosk_token}"},
    )  # fmt: skip
    assert notice.status_code == 200, notice.text
    # A second kiosk sale fails (printer): its certificate is voided and the result kept.
    failed_sale = await _prove(client, kiosk_token, cards[1], "kiosk-issue", kind="domestic")
    assert failed_sale.status_code == 200, failed_sale.text
    failure = await client.post(
        "/api/v1/kiosk/failures",
        json={"notice_id": "rt-2", "store_id": "S-0001", "terminal_id": "T-1",
              "failed_at": "2026-12-01T21:05:00+09:00", "reason": "print_failed",
              "certificate_ids": [c["certificate_id"] for c in failed_sale.json()["certificates"]]},
        headers={"Authorization": f"Bearer {kiosk_token}"},
    )  # fmt: skip
    assert failure.status_code == 200, failure.text

    # A settings revision (kiosk hours changed).
    async with owner_transaction():
        await save_terms(
            AREA,
            TermsAgreed(
                **{**ALL_DAY, "kiosk_hours_start": dt.time(7), "kiosk_hours_end": dt.time(22)}
            ),
            changed_by=None,
        )
    # A correction of the tablet's dose (revoking the counter certificate), then an erasure.
    async with owner_transaction():
        tablet_dose = await current_connection().fetchval(
            "SELECT id FROM vaccination WHERE source = 'tablet' AND municipality_code = $1", AREA
        )
        csv_dose = await current_connection().fetchval(
            "SELECT id FROM vaccination WHERE resident = $1", other["id"]
        )
    assert tablet_dose is not None and csv_dose is not None  # both channels recorded
    csrf = await csrf_token(office, f"/records/{tablet_dose}")
    corrected = await office.post(
        f"/records/{tablet_dose}/correct",
        data={"_csrf_token": csrf, "lot_number": "ER7449", "reason": "ロットの入力誤り"},
    )
    assert corrected.status_code in (200, 303), corrected.text[:400]
    # A resident's items edited with a reason (the old values go to resident_version).
    csrf = await csrf_token(office, f"/residents/{person['id']}")
    edited = await office.post(
        f"/residents/{person['id']}/edit",
        data={"_csrf_token": csrf, "name": "往復 花江", "name_kana": "オウフク ハナエ",
              "priority_group": "", "reason": "住民票の記載に合わせる"},
    )  # fmt: skip
    assert edited.status_code == 303, edited.text[:400]
    boss = await make_client()
    await sign_in(boss, admin)
    csrf = await csrf_token(boss, f"/records/{csv_dose}")
    erased = await boss.post(
        f"/records/{csv_dose}/erase", data={"_csrf_token": csrf, "reason": "消去請求"}
    )
    assert erased.status_code in (200, 303), erased.text[:400]
    # A resident erased by the admin (personal items and history snapshots blanked).
    leaving = await create_resident(AREA, name="消去 一郎", ticket_number="0000000003")
    await create_vaccination(leaving, AREA, dose_number=1, vaccinated_on=dt.date(2021, 6, 3))
    csrf = await csrf_token(boss, f"/residents/{leaving['id']}")
    gone = await boss.post(
        f"/residents/{leaving['id']}/erase", data={"_csrf_token": csrf, "reason": "消去請求"}
    )
    assert gone.status_code == 303, gone.text[:400]

    # The admin's backup job (the web flow): its archive is the first backup.
    page = await boss.get("/admin/backup")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    job = await start_backup(boss, token)
    assert await wait_backup(boss, job) == "done"
    archive = await boss.get(f"{job}/download")
    assert archive.status_code == 200
    return {"archive": archive.content, "counter_id": counter_id, "printed": printed}


async def derived_counts(url: str) -> dict[str, list]:
    """The counts the triggers keep, generated ids and emptied (zero) counts left out."""
    connection = await asyncpg.connect(url)
    try:
        counts = {}
        for table in DERIVED:
            amount = "residents" if table == "population_count" else "doses"
            rows = await connection.fetch(
                f"SELECT * FROM {table} WHERE municipality_code = $1 AND {amount} <> 0", AREA
            )
            counts[table] = sorted(
                json.dumps({k: str(v) for k, v in dict(r).items() if k != "id"}, sort_keys=True)
                for r in rows
            )
        return counts
    finally:
        await connection.close()


async def settings_in_force(url: str) -> dict:
    """The area's settings in force (the latest revision), its number left out."""
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            "SELECT * FROM current_municipality_setting WHERE municipality_code = $1", AREA
        )
    finally:
        await connection.close()
    return {k: v for k, v in dict(row).items() if k != "revision"}


async def test_a_whole_area_restores_into_a_new_database_and_backs_up_identically(
    client, make_client, settings, database, test_database_name, tmp_path
) -> None:
    built = await build_area(client, make_client, settings)
    first = tmp_path / "first.zip"
    first.write_bytes(built["archive"])
    tables = tables_of(first)
    # Every restored table holds rows: a table added to the allow-list needs its flow here.
    empty = [t for t in RESTORED if not tables.get(t)]
    assert empty == [], f"no flow of this test writes into {empty}: add one to build_area"
    assert len(tables["municipality_setting"]) >= 2 and len(tables["account"]) >= 3
    assert {r["channel"] for r in tables["certificate_issuance"]} == {"counter", "app", "kiosk"}
    assert any(r["status"] == "erased" for r in tables["vaccination"])
    assert "backup_job" not in tables and "dose_count" not in tables

    # A new database, made as the operator would, with the same keys.
    name = f"{test_database_name}_restored"
    url = await recreate_database(server_url(), name)
    try:
        env = {"DATABASE_URL": url, "VRS_ADMIN_PASSWORD": "restore-admin-password-1"}
        vrs("migrate", env=env)
        vrs(
            "create-municipality", AREA, "千代田区", "Chiyoda City", "--head", "千代田区長", env=env
        )
        vrs("create-user", "--login", "new-chiyoda-admin", "--role", "municipal_admin",
            "--municipality", AREA, "--password-env", "VRS_ADMIN_PASSWORD", env=env)  # fmt: skip
        before = tmp_path / "before.zip"
        vrs("backup", "--municipality", AREA, "--output", str(before), env=env)
        restored = vrs("restore", str(first), "--municipality", AREA, env=env)
        assert "kiosk_completion" in restored.stdout
        second = tmp_path / "second.zip"
        vrs("backup", "--municipality", AREA, "--output", str(second), env=env)

        events = [r for r in tables_of(second)["audit_event"] if r["action"] == "backup.restore"]
        assert len(events) == 1
        after = {"audit_event": [{k: v for k, v in events[0].items() if k != "id"}]}
        assert_restored_identically(first, second, before, after)
        assert await derived_counts(url) == await derived_counts(database)
        # The archived revisions follow the one the operator's creation wrote: the last stays
        # in force.
        assert await settings_in_force(url) == await settings_in_force(database)
        # Restored accounts sign in with their passwords (hashes carried over).
        connection = await asyncpg.connect(url)
        try:
            logins = {r["login"] for r in await connection.fetch("SELECT login FROM account")}
        finally:
            await connection.close()
        assert {"rt-admin", "rt-clerk", "rt-venue", "new-chiyoda-admin"} <= logins
    finally:
        admin = await asyncpg.connect(database_url(server_url(), "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
