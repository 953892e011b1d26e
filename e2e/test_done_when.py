"""Issue 14's "Done when", in Chromium: a municipality run from an empty database.

Only the operator's commands run outside the browser (``vrs migrate``, ``vrs
create-user`` for the first national admin, ``vrs keys init``); everything else
is done in Chromium, by the people who would do it:

1. the national admin replaces the password ``vrs create-user`` generated (a temporary
   one) at the first sign-in, registers 千代田区 and creates its admin (one-time password);
2. that admin signs in, must replace the password first, then adds a venue, a clerk, a
   venue account, registers a tablet, and sets the certificate contact and kiosk hours;
3. the tablet enrols with the code; the clerk imports residents from a CSV file;
4. the tablet records doses;
5. the clerk edits a resident with a reason and sees the history on the person page;
6. the clerk issues a certificate at the counter: its PDF prints the contact (pdftotext);
7. the admin backs up; a NEW installation (the operator's commands, the national admin's
   pages, the same secrets and keys) restores the archive on its backup page and backs up
   again: per table, the same row counts and checksums (generated ids left out).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from e2e.certificate_pages import CertificateSearchPage
from e2e.pages import (
    AdminPages,
    HomePage,
    NationalMunicipalitiesPage,
    ResidentPage,
    SignInPage,
    sign_in_with_temporary_password,
)
from e2e.venue_pages import enrol_tablet
from e2e.workspace_pages import ImportsPage
from tests.factories import valid_my_number
from tests.fixtures import database_url, recreate_database, server_url
from tests.integration.test_backup import assert_restored_identically, tables_of
from tests.integration.test_cli import vrs
from tests.integration.test_imports import HEADER, row
from tests.realparts import require_executable
from tests.server_process import vrs_server

AREA = "131016"
CONTACT = "千代田区 保健所 予防接種係 03-1234-5678"
NATIONAL_PASSWORD = "fuji-kaede-2026-kuni-kanri"  # noqa: S105 - test accounts only
ADMIN_PASSWORD = "sakura-tsubaki-2026-kanri"  # noqa: S105 - test accounts only
CLERK_PASSWORD = "hinoki-kusunoki-2026-madoguchi"  # noqa: S105 - test accounts only
VENUE_PASSWORD = "momiji-ichou-2026-kaijou"  # noqa: S105 - test accounts only


@dataclass
class Installation:
    """One installation as an operator makes it: a database, a data directory, a server."""

    url: str
    data_dir: Path
    base: str
    national_login: str
    national_password: str

    def vrs(self, *args: str) -> subprocess.CompletedProcess[str]:
        return vrs(*args, env={"DATABASE_URL": self.url, "VRS_DATA_DIR": str(self.data_dir)})


@contextlib.contextmanager
def installation(
    url: str, data_dir: Path, *, keys_from: Path | None = None
) -> Iterator[Installation]:
    """An EMPTY database made ready with the operator's commands only, then ``vrs serve``.

    ``keys_from``: a previous installation's data directory whose keys are carried over
    (README "Keys and their backup"); the secrets (``VRS_SECRET_KEY``, ``VRS_MY_NUMBER_KEY``,
    ``VRS_BACKUP_KEY``, ``VRS_KEY_PASSPHRASE``) are this test process's environment, the same
    for both installations.
    """
    env = {"DATABASE_URL": url, "VRS_DATA_DIR": str(data_dir)}
    if keys_from is not None:
        shutil.copytree(keys_from / "keys", data_dir / "keys")
    vrs("migrate", env=env)
    vrs("keys", "init", env=env)
    created = vrs("create-user", "--login", "kuni-admin", "--role", "national_admin",
                  "--generate-password", env=env)  # fmt: skip
    password = re.search(r"password (\S+)", created.stdout).group(1)
    with vrs_server(url, log_path=data_dir / "server.log", extra_env=env) as base:
        yield Installation(url, data_dir, base, "kuni-admin", password)


@pytest.fixture
async def empty_databases(test_database_name: str) -> AsyncIterator[tuple[str, str]]:
    """Two empty databases (no migrations, no reference data): the first and the new one."""
    names = [f"{test_database_name}_done", f"{test_database_name}_done_new"]
    urls = [await recreate_database(server_url(), name) for name in names]
    yield urls[0], urls[1]
    admin = await asyncpg.connect(database_url(server_url(), "postgres"))
    try:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def new_page(chromium, base: str):
    context = await chromium.new_context(base_url=base, locale="ja-JP", accept_downloads=True)
    context.set_default_timeout(10000)
    return await context.new_page()


async def create_area(chromium, site: Installation, login: str) -> object:
    """The national admin registers 千代田区 and its admin; the admin sets a password.

    Returns the admin's page, signed in.
    """
    national = await new_page(chromium, site.base)
    changed = await sign_in_with_temporary_password(
        national, site.national_login, site.national_password, NATIONAL_PASSWORD
    )
    assert "パスワードを変更しました" in changed, changed
    await national.goto("/")
    assert "千代田区" not in await HomePage(national).title()
    municipalities = await NationalMunicipalitiesPage(national).open()
    assert await national.get_by_test_id("municipality-none").is_visible()
    notice = await municipalities.register(AREA, "13", "千代田区", "Chiyoda City", "千代田区長")
    assert AREA in notice
    assert "千代田区" in await national.get_by_test_id(f"municipality-{AREA}").inner_text()
    temporary = await municipalities.create_admin(AREA, login, "千代田区 管理者")
    assert len(temporary) >= 12
    assert await national.get_by_test_id(f"admin-{login}").get_attribute("data-state") == ("active")
    await national.context.close()

    admin = await new_page(chromium, site.base)
    changed = await sign_in_with_temporary_password(admin, login, temporary, ADMIN_PASSWORD)
    assert "パスワードを変更しました" in changed, changed
    await admin.goto("/")
    assert "千代田区" in await HomePage(admin).area()
    return admin


def pdf_text(pdf: Path) -> str:
    """The PDF's text as poppler's pdftotext reads it."""
    tool = require_executable("pdftotext")
    return subprocess.run([tool, "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout  # fmt: skip


def residents_csv(path: Path) -> Path:
    """The resident register's export: three residents with tickets (cp932, as exported)."""
    lines = [HEADER] + [
        row(n, name=name, name_kana=kana, ticket_number=f"{n:010d}", birth_date="1950-04-01",
            my_number=valid_my_number(700 + n))
        for n, name, kana in [(1, "山田 太郎", "ヤマダ タロウ"), (2, "鈴木 花子", "スズキ ハナコ"),
                              (3, "佐藤 次郎", "サトウ ジロウ")]
    ]  # fmt: skip
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


async def test_a_municipality_runs_from_an_empty_database_in_the_browser(
    chromium, empty_databases, tmp_path: Path
) -> None:
    require_executable("pdftotext")
    first_url, new_url = empty_databases
    first_dir, new_dir = tmp_path / "first-installation", tmp_path / "new-installation"
    first_dir.mkdir()
    new_dir.mkdir()
    with installation(first_url, first_dir) as site:
        # 1-2. The national admin makes the area; its admin sets it up.
        admin = await create_area(chromium, site, "chiyoda-admin")
        pages = AdminPages(admin)
        unset = await HomePage(admin).setup_tasks()
        assert {"setup.venues", "setup.contact", "setup.kiosk_decision", "setup.clerks"} <= set(
            unset
        ), unset
        assert await pages.add_venue("V001", "千代田区役所 会場") == "open"
        assert await pages.add_account("chiyoda-clerk", "窓口 職員", CLERK_PASSWORD,
                                       "clerk") == "active"  # fmt: skip
        assert await pages.add_account("chiyoda-venue", "会場 受付", VENUE_PASSWORD,
                                       "venue_operator", venue="千代田区役所 会場") == "active"  # fmt: skip
        code = await pages.register_device("受付1番", "千代田区役所 会場")
        assert len(code.replace("-", "")) == 12
        notice = await pages.save_settings(contact=CONTACT, kiosk_issuance=True,
                                           kiosk_start="07:00", kiosk_end="22:00",
                                           reason="開始にあたり設定")  # fmt: skip
        assert notice
        history = await pages.settings_history()
        assert any("開始にあたり設定" in line for line in history), history
        await admin.goto("/admin/settings")
        assert await admin.get_by_test_id("field-certificate_contact").input_value() == CONTACT
        assert await admin.get_by_test_id("field-kiosk_hours_start").input_value() == "07:00"
        assert await admin.get_by_test_id("field-kiosk_hours_end").input_value() == "22:00"
        assert await admin.get_by_test_id("field-kiosk_issuance").is_checked()
        await admin.goto("/")
        assert await HomePage(admin).setup_tasks() == ["setup.second_admin"]  # one admin only

        # 3. The tablet enrols with the code; the clerk imports the residents.
        tablet_page = await new_page(chromium, site.base)
        venue = await enrol_tablet(tablet_page, "chiyoda-venue", VENUE_PASSWORD,
                                   code.lower().replace("-", " "))  # fmt: skip
        clerk = await new_page(chromium, site.base)
        await (await SignInPage(clerk).open()).sign_in("chiyoda-clerk", CLERK_PASSWORD)
        imports = await (await ImportsPage(clerk).open()).upload(
            residents_csv(tmp_path / "residents.csv")
        )
        assert await imports.wait_until_finished() == "done"
        assert await imports.count("inserted") == "3"
        assert await imports.count("tickets") == "3"
        assert await imports.count("rejected") == "0"

        # 4. The tablet records doses for two of them.
        for ticket, name in [("0000000001", "山田 太郎"), ("0000000002", "鈴木 花子")]:
            await venue.scan(f"11{AREA}{ticket}", "19500401")
            assert await venue.person_name() == name
            await venue.fill_dose(product="pfizer-comirnaty", lot="GE0123", volume="0.3",
                                  doctor="会場 医師")  # fmt: skip
            await venue.save()
            assert "登録しました" in await venue.saved_message()

        # 5. The clerk edits a resident with a reason and sees the history.
        person = await ResidentPage(clerk).open_by_ticket("0000000001")
        assert "山田 太郎" in await person.name()
        assert await clerk.get_by_test_id("dose-row").count() == 1
        saved = await person.edit("住民票の記載に合わせる", name="山田 太朗")
        assert saved
        assert "山田 太朗" in await person.name()
        history = await person.history()
        assert any("住民票の記載に合わせる" in line for line in history), history

        # 6. A counter certificate prints the municipality's contact.
        search = await CertificateSearchPage(clerk).open()
        certificate = await search.find("0000000001")
        await certificate.preview()
        await certificate.issue()
        download = await certificate.download()
        pdf = tmp_path / "certificate.pdf"
        await download.save_as(str(pdf))
        text = pdf_text(pdf)
        assert re.sub(r"\s+", "", CONTACT) in re.sub(r"\s+", "", text), text

        # 7. The admin backs up on the backup page.
        first = tmp_path / "first.zip"
        first.write_bytes(await pages.back_up())
        tables = tables_of(first)
        assert len(tables["resident"]) == 3 and len(tables["vaccination"]) == 2
        assert {r["login"] for r in tables["account"]} >= {"chiyoda-admin", "chiyoda-clerk"}
        for context in {admin.context, clerk.context, tablet_page.context}:
            await context.close()

    # A new installation: the operator's commands, the same secrets, the keys carried over.
    with installation(new_url, new_dir, keys_from=first_dir) as site:
        # The admin who restores has a login the archive does not hold (the restore refuses
        # to overwrite accounts).
        admin = await create_area(chromium, site, "chiyoda-restorer")
        pages = AdminPages(admin)
        before = tmp_path / "before.zip"
        site.vrs("backup", "--municipality", AREA, "--output", str(before))
        restored = await pages.restore(first)
        assert "resident: 3" in restored and "vaccination: 2" in restored, restored
        second = tmp_path / "second.zip"
        second.write_bytes(await pages.back_up())
        # What the restore brought back works: the settings, and the clerk with their password
        # finds the edited resident, their dose and history.
        await admin.goto("/admin/settings")
        assert await admin.get_by_test_id("field-certificate_contact").input_value() == CONTACT
        await admin.context.close()
        clerk = await new_page(chromium, site.base)
        await (await SignInPage(clerk).open()).sign_in("chiyoda-clerk", CLERK_PASSWORD)
        person = await ResidentPage(clerk).open_by_ticket("0000000001")
        assert "山田 太朗" in await person.name()
        assert await clerk.get_by_test_id("dose-row").count() == 1
        assert any("住民票の記載に合わせる" in line for line in await person.history())
        await clerk.context.close()

    # Backed up again: the first archive's rows, what the operator made, and the restore's
    # and the second backup's own audit events: nothing else, nothing lost.
    events = tables_of(second)["audit_event"]
    after = [e for e in events if e["action"] in {"backup.restore", "backup.export"}
             and e not in tables_of(first)["audit_event"]]  # fmt: skip
    assert sorted(e["action"] for e in after) == ["backup.export", "backup.restore"], after
    assert_restored_identically(first, second, before, {"audit_event": after})
