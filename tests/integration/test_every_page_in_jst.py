"""Every page shows times and dates in JST, with the server's process in UTC (issue 14).

Municipality A of the security suite (a resident with a dose, a ticket, an
import job, an inquiry, a certificate, a venue and a tablet) has every recorded
moment moved to 2021-06-10 08:30 JST, which is 2021-06-09 23:30 UTC: a page
that prints a time in UTC shows ``23:30`` or the date ``2021-06-09``. Each of
A's accounts (and the prefecture and national accounts) then opens every page
the router has, as :mod:`tests.security.test_cross_tenant` enumerates them,
with the process time zone set to UTC. Every HTML answer also goes through the
client's page checks (:mod:`tests.pages`), names-not-codes included, with A's
real doses and certificates on the page.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import create_account, enrol_device, sign_in
from tests.security.conftest import A, area_a
from tests.security.routes import route_keys
from tests.security.test_cross_tenant import PROBES, Probe, csrf_header, request_for

#: 08:30 in Japan on 10 June is still 9 June in UTC.
MOMENT = dt.datetime(2021, 6, 9, 23, 30, tzinfo=dt.UTC)
JST_SHOWN = "2021-06-10 08:30"
#: What a page printing the moment in UTC would show.
UTC_SHOWN = re.compile(r"2021-06-09|2021/06/09|2021年0?6月0?9日|\b23:30\b")
#: Columns that are deadlines rather than moments something happened (moving them to
#: 2021 would end sessions and tokens, not test what pages print).
NOT_MOMENTS = re.compile(r"expire|until|deadline|valid_to|not_after|ends")
#: GET routes that are not pages: the language switch, files, JSON and the sign-out.
NOT_PAGES = ("GET /language/", "GET /api/", "GET /pki/", "GET /issuer/", "GET /static/")

ROLES = {
    "a-admin": (Role.MUNICIPAL_ADMIN, A, {}),
    "a-clerk-secret": None,  # A's clerk, made by area_a
    "a-venue-secret": None,  # A's venue account, made by area_a
    "pref-13": (Role.PREFECTURE_VIEWER, None, {"prefecture_code": "13"}),
    "nat-viewer": (Role.NATIONAL_VIEWER, None, {}),
    "nat-admin": (Role.NATIONAL_ADMIN, None, {}),
}


@pytest.fixture
def process_in_utc() -> Iterator[None]:
    """The process clock in UTC (as on most servers), restored afterwards."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        assert time.strftime("%z") == "+0000"
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


async def move_every_moment_of(code: str, moment: dt.datetime) -> list[str]:
    """Set every recorded moment (timestamptz) of an area's rows to ``moment``; what moved."""
    moved = []
    async with owner_transaction():
        connection = current_connection()
        columns = await connection.fetch(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c"
            " JOIN pg_tables t ON t.tablename = c.table_name AND t.schemaname = 'public'"
            " WHERE c.table_schema = 'public' AND c.data_type = 'timestamp with time zone'"
            " AND c.table_name IN (SELECT table_name FROM information_schema.columns"
            "  WHERE table_schema = 'public' AND column_name = 'municipality_code')"
            " ORDER BY 1, 2"
        )
        for row in columns:
            table, column = row["table_name"], row["column_name"]
            if NOT_MOMENTS.search(column) or "session" in table or "token" in table:
                continue
            try:
                async with connection.transaction():
                    await connection.execute(
                        f'UPDATE "{table}" SET "{column}" = $1'
                        f' WHERE municipality_code = $2 AND "{column}" IS NOT NULL',
                        moment,
                        code,
                    )
            except asyncpg.PostgresError:  # an append-only table refuses: rows keep their time
                continue
            moved.append(f"{table}.{column}")
    return moved


async def signed_in_clients(make_client: Any) -> dict[str, Any]:
    clients = {}
    for login, made in ROLES.items():
        if made is not None:
            role, code, extra = made
            await create_account(login, role, code, **extra)
        http = await make_client()
        assert (await sign_in(http, login)).status_code == 303, login
        if login == "a-venue-secret":
            await enrol_device(login, http, label="jst-tablet")
        clients[login] = http
    return clients


def pages() -> list[str]:
    return [
        key
        for key in PROBES
        if key.startswith("GET ")
        and isinstance(PROBES[key], Probe)
        and not key.startswith(NOT_PAGES)
    ]


async def test_every_page_shows_jst_with_the_process_in_utc(
    app, make_client, settings, process_in_utc
) -> None:
    from cli.commands.keys import ensure_keys

    ensure_keys(settings)
    area = await area_a(default_terms=True)
    moved = await move_every_moment_of(A, MOMENT)
    for needed in (
        "import_job.created_at",
        "inquiry.made_at",
        "certificate_issuance.issued_at",
    ):
        assert needed in moved, (needed, moved)
    clients = await signed_in_clients(make_client)
    assert set(pages()) <= {key for key in route_keys(app)}

    in_utc, seen_jst, html_pages = [], set(), 0
    for key in pages():
        for login, client in clients.items():
            arguments = request_for(key, PROBES[key], area.secrets)
            arguments.pop("sent")
            response = await client.request(**arguments, headers=csrf_header(client))
            assert response.status_code < 500, f"{login} {key}: {response.status_code}"
            if "text/html" not in response.headers.get("content-type", ""):
                continue
            html_pages += 1
            text = response.text
            for match in UTC_SHOWN.finditer(text):
                near = text[max(0, match.start() - 80) : match.end() + 40].replace("\n", " ")
                in_utc.append(f"{login} {key}: {match.group(0)!r} in …{near}…")
            if JST_SHOWN in text:
                seen_jst.add(key)
    assert not in_utc, "times shown in UTC:\n" + "\n".join(in_utc)
    assert html_pages > 30, html_pages
    # The walk saw A's moments, in JST, where clerks read them.
    for page in (
        "GET /imports",
        "GET /inquiries",
        "GET /residents/{resident_id:uuid}",
        "GET /certificates/person/{resident_id:uuid}",
    ):
        assert page in seen_jst, (page, sorted(seen_jst))
    # ...and names where the codes were: the product, the certificate's kind and channel.
    person = await clients["a-clerk-secret"].get(f"/residents/{area.secrets['resident_id']}")
    for name in ("コミナティ筋注", "国内用", "窓口", "有効"):
        assert name in person.text, name


def test_the_utc_pattern_sees_a_utc_time() -> None:
    """The detector itself: the moment printed in UTC is seen, printed in JST it is not."""
    assert UTC_SHOWN.search(MOMENT.strftime("%Y-%m-%d %H:%M"))
    assert UTC_SHOWN.search(MOMENT.strftime("%Y-%m-%d"))
    from web.templating import japan_time

    assert japan_time(MOMENT) == JST_SHOWN
    assert not UTC_SHOWN.search(japan_time(MOMENT))
