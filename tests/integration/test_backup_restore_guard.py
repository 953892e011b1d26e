"""Restore accepts only what this server sealed for the area, within limits, and logs no content.

Played as the issue's attacker: the municipal admin of a new, empty
municipality (default settings, the real web route and the ``vrs restore``
command) uploads crafted archives. Archives "sealed with the server key"
stand for the worst case (a leaked key or a bug in the export): the
allow-list and the row checks must refuse them on their own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from db.accounts.roles import Role
from db.backup.archive import export_area
from db.backup.reader import Limits
from db.backup.restore import FORMAT
from db.backup.seal import seal
from db.engine import current_connection, owner_transaction, tenant_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    csrf_token,
    sign_in,
)
from tests.integration.test_backup import wait_backup
from tests.integration.test_cli import vrs
from web.i18n import translate

AREA = "011002"  # the attacker's new, empty municipality
OTHER = "131016"
NAME = "漏洩 太郎"
MY_NUMBER = "123456789018"
OTHER_KEY = b"o" * 32


def build(
    path: Path,
    tables: dict[str, list[Any]],
    *,
    code: str = AREA,
    key: bytes | None,
    raw_tables: dict[str, bytes] | None = None,
    extra: dict[str, bytes] | None = None,
    created_at: str = "2030-01-01T00:00:00+00:00",
) -> Path:
    """An archive as the export writes it, sealed with ``key`` (None: unsigned)."""
    data = {t: b"".join(json.dumps(r).encode() + b"\n" for r in rows) for t, rows in tables.items()}
    data.update(raw_tables or {})
    manifest = {
        "format": FORMAT,
        "municipality_code": code,
        "created_at": created_at,
        "tables": {
            t: {"rows": body.count(b"\n"), "sha256": hashlib.sha256(body).hexdigest()}
            for t, body in data.items()
        },
    }
    raw = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("municipality.json", json.dumps({"code": code}))
        for table, body in data.items():
            archive.writestr(f"tables/{table}.jsonl", body)
        for name, body in (extra or {}).items():
            archive.writestr(name, body)
        if key is not None:
            archive.writestr("manifest.sig", seal(raw, key))
        archive.writestr("manifest.json", raw)
    return path


def account_row(role: str, **values: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "login": f"evil-{role}",
        "display_name": "x",
        "role": role,
        "municipality_code": AREA,
        "prefecture_code": None,
        "venue_id": None,
        "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        "failed_attempts": 0,
        "locked_until": None,
        "active": True,
        "created_at": "2026-01-01T00:00:00+00:00",
        "created_by": None,
        **values,
    }


def resident_row(**values: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "municipality_code": AREA,
        "resident_number": "1",
        "my_number_ciphertext": None,
        "my_number_hmac": None,
        "name": NAME,
        "name_kana": "ロウエイ タロウ",
        "former_name": "",
        "birth_date": "1960-04-01",
        "sex": "1",
        "moved_out_on": None,
        "deceased_on": None,
        "priority_group": "",
        "needs_care": False,
        "version": 1,
        "status": "active",
        "created_at": "2026-01-01T00:00:00+00:00",
        "updated_at": "2026-01-01T00:00:00+00:00",
        **values,
    }


def audit_row(**values: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "municipality_code": AREA,
        "occurred_at": "2020-01-01T00:00:00+00:00",
        "actor": str(uuid.uuid4()),
        "actor_role": "national_admin",
        "action": "account.create",
        "object_type": "account",
        "object_id": "",
        "details": {},
        **values,
    }


@pytest.fixture
async def attacker(client, app, settings):
    """The signed-in admin of a new, empty municipality; another area with data."""
    await create_municipality(OTHER)
    await create_municipality(AREA)
    person = await create_resident(OTHER, name="本物 花子")
    await create_vaccination(person, OTHER)
    await sign_in(client, await create_account("new-admin", Role.MUNICIPAL_ADMIN, AREA))
    return client


async def post_archive(client, archive: bytes, **headers: str):
    """Send an archive to restore as the backup page's form does; the answer."""
    token = await csrf_token(client, "/admin/backup")
    return await client.post(
        "/admin/backup/restore",
        files={"file": ("b.zip", archive, "application/zip")},
        headers={"x-csrftoken": token, **headers},
    )


async def upload(client, path: Path):
    """Upload an archive to restore, wait for its restore job to end; the job's page."""
    started = await post_archive(client, path.read_bytes())
    assert started.status_code == 303, started.text[:500]
    job = started.headers["location"]
    await wait_backup(client, job)
    return await client.get(job)


async def area_state() -> dict[str, Any]:
    """What a refused restore must have left untouched."""
    async with owner_transaction():
        c = current_connection()
        return {
            "accounts": await c.fetchval("SELECT count(*) FROM account"),
            "privileged": await c.fetchval(
                "SELECT count(*) FROM account WHERE role NOT IN"
                " ('municipal_admin', 'clerk', 'venue_operator') OR municipality_code IS NULL"
            ),
            "municipalities": await c.fetchval("SELECT count(*) FROM municipality"),
            "residents": await c.fetchval("SELECT count(*) FROM resident"),
            "audit": await c.fetchval(
                "SELECT count(*) FROM audit_event WHERE action NOT LIKE 'auth.%'"
                " AND action NOT LIKE 'backup.%'"
            ),
        }


async def refused(client, path: Path, key: str, **params: Any) -> str:
    """The restore job ends ``failed`` with the message of ``key``, and changed nothing."""
    before = await area_state()
    answer = await upload(client, path)
    assert 'data-kind="restore" data-status="failed"' in answer.text, answer.text[:500]
    expected = translate(key, "ja", **params)
    assert expected in answer.text.replace("&#34;", '"').replace("&quot;", '"'), (
        key,
        re.findall(r'role="alert"[^>]*>([^<]*)', answer.text),
    )
    assert await area_state() == before  # all or nothing
    return answer.text


# --- the seal: only this server's archives, only for this municipality -----------------------


async def test_an_unsigned_archive_is_refused(attacker, tmp_path) -> None:
    forged = build(
        tmp_path / "u.zip",
        {"account": [account_row("national_admin", municipality_code=None)]},
        key=None,
    )
    await refused(attacker, forged, "backup.unsigned")


async def test_an_archive_sealed_by_another_server_is_refused(attacker, tmp_path) -> None:
    foreign = build(tmp_path / "f.zip", {"resident": [resident_row()]}, key=OTHER_KEY)
    await refused(attacker, foreign, "backup.seal_broken")


async def test_another_municipalitys_genuine_archive_is_refused(
    attacker, settings, tmp_path
) -> None:
    genuine = tmp_path / "other.zip"
    async with tenant_transaction(OTHER):
        await export_area(OTHER, genuine, key=settings.backup_key)
    await refused(attacker, genuine, "backup.other_municipality", code=OTHER, target=AREA)


async def test_one_changed_byte_in_a_table_file_is_refused(attacker, settings, tmp_path) -> None:
    own = tmp_path / "own.zip"
    async with tenant_transaction(AREA):
        await export_area(AREA, own, key=settings.backup_key)
    tampered = tmp_path / "tampered.zip"
    with zipfile.ZipFile(own) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            body = source.read(info)
            if info.filename == "tables/account.jsonl":
                body = body.replace(b'"clerk"', b'"clerx"', 1).replace(
                    b'"municipal_admin"', b'"municipal_admim"', 1
                )
                assert body != source.read(info)
            target.writestr(info, body)
    await refused(attacker, tampered, "backup.table_altered", table="account")
    # The manifest changed instead (to match the new bytes): its seal no longer holds.
    with zipfile.ZipFile(tampered) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        body = archive.read("tables/account.jsonl")
    manifest["tables"]["account"]["sha256"] = hashlib.sha256(body).hexdigest()
    resealed = tmp_path / "resealed.zip"
    with zipfile.ZipFile(tampered) as source, zipfile.ZipFile(resealed, "w") as target:
        for info in source.infolist():
            raw = source.read(info)
            target.writestr(
                info, json.dumps(manifest).encode() if "manifest.json" in info.filename else raw
            )
    await refused(attacker, resealed, "backup.seal_broken")


# --- sealed, yet outside what a restore may write ---------------------------------------------


async def test_a_national_admin_account_is_never_restored(attacker, settings, tmp_path) -> None:
    key = settings.backup_key
    for role in ("national_admin", "national_viewer"):
        archive = build(tmp_path / f"{role}.zip", {"account": [account_row(role)]}, key=key)
        await refused(attacker, archive, "backup.row_role", table="account", row=1, column="role")
        unsigned = build(tmp_path / f"{role}-u.zip", {"account": [account_row(role)]}, key=None)
        await refused(attacker, unsigned, "backup.unsigned")
    without_area = build(
        tmp_path / "na.zip",
        {"account": [account_row("national_admin", municipality_code=None)]},
        key=key,
    )
    await refused(
        attacker, without_area, "backup.row_other_municipality",
        table="account", row=1, column="municipality_code",
    )  # fmt: skip


async def test_a_prefecture_viewer_is_never_restored(attacker, settings, tmp_path) -> None:
    viewer = account_row("prefecture_viewer", prefecture_code="01")
    archive = build(tmp_path / "p.zip", {"account": [viewer]}, key=settings.backup_key)
    await refused(attacker, archive, "backup.row_role", table="account", row=1, column="role")
    # A municipal role cannot smuggle a prefecture scope either.
    clerk = account_row("clerk", prefecture_code="01")
    archive = build(tmp_path / "c.zip", {"account": [clerk]}, key=settings.backup_key)
    await refused(
        attacker, archive, "backup.row_role", table="account", row=1, column="prefecture_code"
    )


async def test_a_fake_municipality_is_never_restored(attacker, settings, tmp_path) -> None:
    fake = {"code": "999999", "prefecture": "01", "name": "偽市", "name_en": "Fake",
            "head_title": "偽市長", "created_at": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    for table in ("municipality", "prefecture", "vaccine_product", "app_client"):
        archive = build(tmp_path / f"{table}.zip", {table: [fake]}, key=settings.backup_key)
        await refused(attacker, archive, "backup.table_not_allowed", table=table)
    # The reference row the export writes for readers is never inserted.
    archive = build(
        tmp_path / "ref.zip", {}, key=settings.backup_key,
        extra={"municipality.json": json.dumps(fake).encode()},
    )  # fmt: skip
    async with owner_transaction():
        assert not await current_connection().fetchval(
            "SELECT EXISTS (SELECT 1 FROM municipality WHERE code = '999999')"
        )


async def test_audit_events_with_a_forged_date_or_actor_are_refused(
    attacker, settings, tmp_path
) -> None:
    made = "2026-01-01T00:00:00+00:00"
    later = audit_row(occurred_at="2026-06-01T00:00:00+00:00")
    archive = build(
        tmp_path / "a.zip", {"audit_event": [later]}, key=settings.backup_key, created_at=made
    )
    await refused(
        attacker, archive, "backup.row_after_archive",
        table="audit_event", row=1, column="occurred_at",
    )  # fmt: skip
    # Any actor and date, unsigned (the only way without the server's key): refused.
    unsigned = build(tmp_path / "a-u.zip", {"audit_event": [audit_row()]}, key=None)
    await refused(attacker, unsigned, "backup.unsigned")
    malformed = build(
        tmp_path / "a-m.zip", {"audit_event": [audit_row(actor="not-a-uuid")]},
        key=settings.backup_key,
    )  # fmt: skip
    await refused(
        attacker, malformed, "backup.row_bad_value", table="audit_event", row=1, column="actor"
    )


async def test_rows_of_another_municipality_are_refused(attacker, settings, tmp_path) -> None:
    rows = [resident_row(resident_number="1"), resident_row(resident_number="2",
            municipality_code=OTHER)]  # fmt: skip
    archive = build(tmp_path / "o.zip", {"resident": rows}, key=settings.backup_key)
    await refused(
        attacker, archive, "backup.row_other_municipality",
        table="resident", row=2, column="municipality_code",
    )  # fmt: skip
    # A ticket of this area pointing at another area's resident: since the references are
    # composite (resident, municipality_code), the foreign key itself refuses it (issue 16).
    async with owner_transaction():
        theirs = await current_connection().fetchval(
            "SELECT id::text FROM resident WHERE municipality_code = $1", OTHER
        )
    ticket = {"id": str(uuid.uuid4()), "municipality_code": AREA, "ticket_number": "0000000001",
              "resident": theirs, "ticket_type": "", "dose_number": None, "issued_on": None,
              "status": "valid", "created_at": "2026-01-01T00:00:00+00:00",
              "updated_at": "2026-01-01T00:00:00+00:00"}  # fmt: skip
    archive = build(tmp_path / "t.zip", {"ticket": [ticket]}, key=settings.backup_key)
    text = await refused(
        attacker, archive, "backup.rows_refused",
        table="ticket", first=1, last=1, constraint="ticket_resident_fkey",
    )  # fmt: skip
    assert "本物" not in text


async def test_bad_values_are_specific_4xx_naming_table_row_and_column(
    attacker, settings, tmp_path
) -> None:
    key = settings.backup_key
    cases = [
        (resident_row(birth_date="1960-13-40"), "birth_date", "backup.row_bad_value"),
        (resident_row(name="x" * 10_000), "name", "backup.row_bad_value"),
        (resident_row(name="a\u0000b"), "name", "backup.row_bad_value"),
        (resident_row(version="1"), "version", "backup.row_bad_value"),
        (resident_row(id=None), "id", "backup.row_missing_value"),
        (resident_row(evil_column=1), "evil_column", "backup.row_unknown_column"),
    ]
    for number, (row, column, message) in enumerate(cases):
        archive = build(tmp_path / f"v{number}.zip", {"resident": [row]}, key=key)
        await refused(attacker, archive, message, table="resident", row=1, column=column)
    # A repeated key: one value for the check, another for the database? Refused outright.
    twice = json.dumps(account_row("clerk")).replace(
        '"role": "clerk"', '"role": "national_admin", "role": "clerk"'
    )
    repeated = build(
        tmp_path / "twice.zip", {}, key=key, raw_tables={"account": twice.encode() + b"\n"}
    )
    await refused(attacker, repeated, "backup.row_unreadable", table="account", row=1)
    not_a_row = build(tmp_path / "list.zip", {"resident": [[1, 2]]}, key=key)
    await refused(attacker, not_a_row, "backup.row_not_object", table="resident", row=1, column="")


# --- limits and logs ----------------------------------------------------------------------------


def _bomb(path: Path, size: int) -> Path:
    """A zip whose one table file inflates ``size`` bytes of newlines from about 1/1000 of it."""
    block = b"\n" * (1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", b"{}")
        with archive.open("tables/resident.jsonl", "w", force_zip64=True) as out:
            for _ in range(size // len(block)):
                out.write(block)
    return path


async def test_a_zip_bomb_is_refused_by_its_ratio_before_inflating(attacker, tmp_path) -> None:
    bomb = _bomb(tmp_path / "bomb.zip", 512 << 20)
    assert bomb.stat().st_size < (1 << 20) + 4096  # a 1 MB upload
    await refused(attacker, bomb, "backup.ratio", table="resident", limit=Limits().ratio)


def test_a_bomb_that_lies_about_its_size_is_cut_off_at_the_declared_size(tmp_path) -> None:
    from db.backup.errors import BackupError
    from db.backup.reader import Archive, Limits

    bomb = _bomb(tmp_path / "bomb.zip", 64 << 20)
    with zipfile.ZipFile(bomb) as source:
        info = source.getinfo("tables/resident.jsonl")
    raw = bytearray(bomb.read_bytes())
    _lie_about_size(raw, info)
    liar = tmp_path / "liar.zip"
    liar.write_bytes(bytes(raw))
    with Archive(liar, Limits()) as archive:
        assert archive.entries["tables/resident.jsonl"].file_size == 1024
        lines = 0
        with pytest.raises(BackupError) as refusal:
            for _ in archive.lines("tables/resident.jsonl"):
                lines += 1
    assert refusal.value.key == "backup.damaged" and lines <= 1024


def _lie_about_size(raw: bytearray, info: zipfile.ZipInfo) -> None:
    """Claim 1 KB uncompressed in the central directory (zip64 extra field included)."""
    central = raw.rfind(b"PK\x01\x02")
    while central >= 0:
        name_length = int.from_bytes(raw[central + 28 : central + 30], "little")
        name = bytes(raw[central + 46 : central + 46 + name_length])
        if name == info.filename.encode():
            raw[central + 24 : central + 28] = (1024).to_bytes(4, "little")
            extra_length = int.from_bytes(raw[central + 30 : central + 32], "little")
            extra = central + 46 + name_length
            end = extra + extra_length
            while extra < end:
                tag = int.from_bytes(raw[extra : extra + 2], "little")
                size = int.from_bytes(raw[extra + 2 : extra + 4], "little")
                if tag == 1:  # zip64: uncompressed size first
                    raw[extra + 4 : extra + 12] = (1024).to_bytes(8, "little")
                extra += 4 + size
            return
        central = raw.rfind(b"PK\x01\x02", 0, central)


async def test_too_many_entries_are_refused(attacker, tmp_path) -> None:
    crowded = tmp_path / "crowded.zip"
    with zipfile.ZipFile(crowded, "w") as archive:
        for number in range(5000):
            archive.writestr(f"tables/t{number}.jsonl", b"")
    await refused(attacker, crowded, "backup.too_many_entries", limit=64)


async def test_no_row_content_reaches_the_log(attacker, settings, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    key = settings.backup_key
    leaky = json.dumps(resident_row(my_number_hmac=MY_NUMBER)).encode()
    # A parse error on a line holding a name and a My Number, sealed and unsigned.
    broken = leaky[:-1] + b', "note": "' + NAME.encode() + b" " + MY_NUMBER.encode()
    for sealed, message in ((key, "backup.row_unreadable"), (None, "backup.unsigned")):
        archive = build(
            tmp_path / f"leak-{sealed is None}.zip", {}, key=sealed,
            raw_tables={"resident": broken + b"\n"},
        )  # fmt: skip
        text = await refused(attacker, archive, message, table="resident", row=1)
        assert NAME not in text and MY_NUMBER not in text
    # A huge bad value: refused naming the column; nothing of it logged.
    huge = build(
        tmp_path / "huge.zip", {"resident": [resident_row(name=NAME + "x" * (8 << 20))]}, key=key
    )
    answer = await upload(attacker, huge)
    assert 'data-status="failed"' in answer.text and len(answer.text) < 100_000
    assert NAME not in caplog.text and MY_NUMBER not in caplog.text
    assert len(caplog.text) < 100_000


async def test_the_vrs_restore_command_refuses_the_same_archives(
    attacker, settings, tmp_path, database
) -> None:
    key = settings.backup_key
    national = build(tmp_path / "n.zip", {"account": [account_row("national_admin")]}, key=key)
    leaky = build(
        tmp_path / "leak.zip", {}, key=key,
        raw_tables={"resident": json.dumps(resident_row()).encode()[:-1] + MY_NUMBER.encode() + b"\n"},
    )  # fmt: skip
    foreign = build(tmp_path / "f.zip", {"resident": [resident_row()]}, key=OTHER_KEY)
    unsigned = build(tmp_path / "u.zip", {"resident": [resident_row()]}, key=None)
    bomb = _bomb(tmp_path / "bomb.zip", 256 << 20)
    cases = [
        (national, translate("backup.row_role", "en", table="account", row=1, column="role")),
        (leaky, translate("backup.row_unreadable", "en", table="resident", row=1)),
        (foreign, translate("backup.seal_broken", "en")),
        (unsigned, translate("backup.unsigned", "en")),
        (bomb, translate("backup.ratio", "en", table="resident", limit=Limits().ratio)),
    ]
    before = await area_state()
    for archive, message in cases:
        result = vrs("restore", str(archive), "--municipality", AREA, check=False)
        assert result.returncode != 0
        assert message in result.stderr, result.stderr
        for text in (result.stdout, result.stderr):
            assert NAME not in text and MY_NUMBER not in text and len(text) < 10_000
    assert await area_state() == before
    missing = vrs(
        "restore", str(national), "--municipality", AREA,
        env={"VRS_BACKUP_KEY": ""}, check=False,
    )  # fmt: skip
    assert missing.returncode != 0 and "VRS_BACKUP_KEY is not set" in missing.stderr


async def test_without_a_backup_key_the_pages_say_so(client, app, settings, tmp_path) -> None:
    from dataclasses import replace

    from web.app import create_app

    await create_municipality(AREA)
    keyless = create_app(replace(settings, backup_key=b""), manage_pool=False)
    import httpx

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=keyless), base_url="http://127.0.0.1:8000"
    ) as http:
        await sign_in(http, await create_account("keyless-admin", Role.MUNICIPAL_ADMIN, AREA))
        token = await csrf_token(http, "/admin/backup")
        started = await http.post("/admin/backup/export", data={"_csrf_token": token})
        assert started.status_code == 422
        assert translate("backup.key_missing", "ja") in started.text
        archive = build(tmp_path / "k.zip", {}, key=b"b" * 32)
        answer = await http.post(
            "/admin/backup/restore",
            files={"file": ("b.zip", archive.read_bytes(), "application/zip")},
            headers={"x-csrftoken": token},
        )
        assert answer.status_code == 422
        assert translate("backup.key_missing", "ja") in answer.text


def test_the_test_key_is_the_settings_key(settings) -> None:
    import os

    assert settings.backup_key == base64.b64decode(os.environ["VRS_BACKUP_KEY"])


async def test_a_refusal_in_the_last_table_leaves_nothing_behind(
    attacker, settings, tmp_path
) -> None:
    # Residents and a clerk are valid and go in first; the audit event (last table) is not.
    archive = build(
        tmp_path / "late.zip",
        {
            "account": [account_row("clerk", login="late-clerk")],
            "resident": [resident_row(resident_number=str(n)) for n in range(1, 4)],
            "audit_event": [audit_row(), audit_row(occurred_at="2031-01-01T00:00:00+00:00")],
        },
        key=settings.backup_key,
    )
    await refused(
        attacker, archive, "backup.row_after_archive",
        table="audit_event", row=2, column="occurred_at",
    )  # fmt: skip
    async with owner_transaction():
        c = current_connection()
        assert (
            await c.fetchval("SELECT count(*) FROM resident WHERE municipality_code = $1", AREA)
            == 0
        )
        assert not await c.fetchval(
            "SELECT EXISTS (SELECT 1 FROM account WHERE login = 'late-clerk')"
        )
