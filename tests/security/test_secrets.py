"""Secrets at rest and in logs: no plaintext My Number in a pg_dump or in DEBUG logs."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re

import httpx
import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    PASSWORD,
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    csrf_token,
    sign_in,
    valid_my_number,
)
from tests.realparts import require_executable

os.environ.setdefault("VRS_KEY_PASSPHRASE", "test-key-passphrase")

MY_NUMBERS = [valid_my_number(90_000 + n) for n in range(20)]
HEADER = "個別宛名番号,マイナンバー,氏名,カナ氏名,生年月日,性別,接種券番号\n"


def import_file() -> bytes:
    rows = [f"{700 + n},{number},秘密 太郎{n},ヒミツ タロウ,1950-04-01,1,{8000000000 + n}"
            for n, number in enumerate(MY_NUMBERS)]  # fmt: skip
    return (HEADER + "\n".join(rows) + "\n").encode()


async def realistic_flow(make_client) -> None:
    """Import residents with My Numbers, inquire about one from another town, issue a certificate."""
    await create_municipality("131016")
    await create_municipality("011002")
    clerk, other = await make_client(), await make_client()
    await sign_in(clerk, await create_account("secret-clerk", Role.CLERK, "131016"))
    await sign_in(other, await create_account("secret-sapporo", Role.CLERK, "011002"))
    token = await csrf_token(clerk, "/imports")
    response = await clerk.post("/imports", files={"file": ("r.csv", import_file(), "text/csv")},
                                headers={"x-csrftoken": token, "hx-request": "true"})  # fmt: skip
    assert response.status_code == 200, response.text
    job = re.search(r'id="job-([0-9a-f-]+)"', response.text).group(1)
    for _ in range(400):
        text = (await clerk.get(f"/imports/{job}", headers={"hx-request": "true"})).text
        if re.search(r'data-status="(done|failed)"', text):
            break
        await asyncio.sleep(0.05)
    assert 'data-status="done"' in text
    async with owner_transaction():
        resident = dict(await current_connection().fetchrow(
            "SELECT id, municipality_code, resident_number, name FROM resident"
            " WHERE resident_number = '700'"))  # fmt: skip
        resident["ticket_number"] = "8000000000"
    await create_vaccination(resident, "131016")
    # Search by My Number, reveal it, inquire about it from Sapporo, issue a certificate.
    token = await csrf_token(clerk, "/residents")
    found = await clerk.post(
        "/residents/search", data={"my_number": MY_NUMBERS[0], "_csrf_token": token}
    )
    assert found.status_code in (200, 303)
    await clerk.post(f"/residents/{resident['id']}/reveal", data={"_csrf_token": token})
    await create_resident("011002", my_number=MY_NUMBERS[0])  # moved to Sapporo, recorded there
    token = await csrf_token(other, "/inquiries")
    answered = await other.post("/inquiries/single", data={
        "my_number": MY_NUMBERS[0], "consent": "1", "consent_basis": "written",
        "consent_reference": "本人の同意書 1", "_csrf_token": token})  # fmt: skip
    assert answered.status_code == 200 and "秘密 太郎0" in answered.text
    path = f"/certificates/person/{resident['id']}"
    token = await csrf_token(clerk, path)
    issued = await clerk.post(f"{path}/issue", data={"kind": "domestic", "_csrf_token": token})
    assert issued.status_code == 303, issued.text


@pytest.fixture
async def debug_app(app, settings):
    from cli.commands.keys import ensure_keys
    from web.app import create_app

    ensure_keys(settings)
    return create_app(dataclasses.replace(settings, log_level="DEBUG"), manage_pool=False)


@pytest.fixture
async def debug_clients(debug_app):
    opened = []

    async def factory():
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=debug_app),
                                   base_url="http://127.0.0.1:8000")  # fmt: skip
        opened.append(client)
        return client

    yield factory
    for client in opened:
        await client.aclose()
    logging.getLogger("vrs").setLevel(os.environ.get("VRS_LOG_LEVEL", "WARNING"))


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + repr(record.args) + repr(record.__dict__))


async def test_debug_logs_of_import_inquiry_and_certificate_carry_no_my_number(
    debug_clients, capfd
) -> None:
    collect = Collect()
    names = ["", "vrs", "litestar", "piccolo", "asyncpg", "httpx", "httpcore", "pyhanko", "segno"]
    loggers = [logging.getLogger(n) for n in names]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(collect)
        lg.setLevel(logging.DEBUG)
    try:
        await realistic_flow(debug_clients)
    finally:
        for lg, level in saved:
            lg.removeHandler(collect)
            lg.setLevel(level)
    out, err = capfd.readouterr()
    logged = "\n".join(collect.lines) + out + err
    assert collect.lines, "nothing was logged: the capture is not working"
    for number in MY_NUMBERS:
        assert number not in logged
    assert PASSWORD not in logged


async def test_a_pg_dump_of_a_loaded_database_has_no_plaintext_my_number(
    debug_clients, database
) -> None:
    pg_dump = require_executable("pg_dump")
    await realistic_flow(debug_clients)
    process = await asyncio.create_subprocess_exec(
        pg_dump, "--no-owner", database, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0
    dump = output.decode("utf-8", "replace")
    assert "秘密 太郎0" in dump  # the dump has the data: the check below can fail
    for number in MY_NUMBERS:
        assert number not in dump
        assert f"{number[:4]} {number[4:8]} {number[8:]}" not in dump
    assert PASSWORD not in dump  # passwords are argon2 hashes
    columns = re.findall(r"^\s+(\w*(?:pin|password)\w*) (\w+)", dump, flags=re.MULTILINE)
    # No column holds a PIN or a password: the hash, and a reset's flag (a boolean).
    allowed = {("password_hash", "character"), ("must_change_password", "boolean")}
    assert set(columns) <= allowed, columns
