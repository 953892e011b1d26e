"""Shared fixtures: a real PostgreSQL database per test process, the app, a client.

PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres) when it answers,
else the embedded server; each test process (xdist worker) gets a fresh
database built by running the migrations, and tables are emptied between
tests (no transaction-rollback fixtures: piccolo #780), back to the migrated
shape: see :func:`empty_database`.
"""

from __future__ import annotations

import base64
import os
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

# Test secrets: fixed, never used outside tests.
os.environ.setdefault("VRS_SECRET_KEY", "test-secret-key-" + "x" * 32)
os.environ.setdefault("VRS_MY_NUMBER_KEY", base64.b64encode(b"k" * 32).decode())
os.environ.setdefault("VRS_BACKUP_KEY", base64.b64encode(b"b" * 32).decode())
# A data directory (keys, secrets) per test process: xdist workers inherit the
# controller's environment, and two workers creating signing keys in one folder race.
if os.environ.get("PYTEST_XDIST_WORKER") or "VRS_DATA_DIR" not in os.environ:
    os.environ["VRS_DATA_DIR"] = tempfile.mkdtemp(prefix="vrs-test-data-")
os.environ.setdefault("VRS_LOG_LEVEL", "WARNING")
os.environ.setdefault("VRS_KEY_PASSPHRASE", "test-key-passphrase")

#: The SMART Health Cards spec's example issuer and the kid of its CRL (tests/vectors/shc).
SPEC_ISSUER = "https://spec.smarthealth.cards/examples/issuer"
SPEC_CRL_KID = "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"

#: Reference data kept between tests (loaded once by the migrations and seeding).
REFERENCE_TABLES = {
    "migration", "prefecture", "maker", "vaccine_product", "product_name",
    "vaccine_lot", "vaccine_rule",
}  # fmt: skip


def server_url() -> str:
    """The PostgreSQL server tests use: the machine's on 127.0.0.1:5432, else embedded."""
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return "postgresql://postgres@127.0.0.1:5432"
    except OSError:
        from db.embedded import start_embedded

        url = start_embedded(Path(tempfile.gettempdir()) / "vrs-test-embedded")
        return url.rsplit("/", 1)[0] if "?" not in url else url


def database_url(server: str, name: str) -> str:
    """URL of database ``name`` on ``server`` (TCP or embedded socket URL)."""
    if "?" in server:  # embedded: postgresql://postgres:@/vrs?host=/socket/dir
        base, query = server.split("?", 1)
        return f"{base.rsplit('/', 1)[0]}/{name}?{query}"
    return f"{server}/{name}"


async def recreate_database(server: str, name: str) -> str:
    """Drop and create database ``name``; returns its URL."""
    admin = await asyncpg.connect(database_url(server, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return database_url(server, name)


@pytest.fixture(scope="session")
def test_database_name() -> str:
    """One database per test process, so xdist workers never share tables."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"vrs_test_{worker}_{os.getpid()}"


@pytest.fixture(scope="session")
async def database(test_database_name: str) -> AsyncIterator[str]:
    """A migrated database for this test process; its URL is DATABASE_URL."""
    server = server_url()
    url = await recreate_database(server, test_database_name)
    os.environ["DATABASE_URL"] = url
    from db.engine import owner_transaction
    from db.migrate import migrate
    from db.tenancy.queries import ensure_prefectures
    from db.vaccines.loader import load_master_data

    await migrate()
    async with owner_transaction():
        await ensure_prefectures()
        await load_master_data()
    connection = await asyncpg.connect(url)
    try:
        _MIGRATED_TABLES[url] = await migrated_tables(connection)
    finally:
        await connection.close()
    yield url
    from db.engine import get_engine

    engine = get_engine()
    if engine.pool is not None:
        await engine.close_connection_pool()
    admin = await asyncpg.connect(database_url(server, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{test_database_name}" WITH (FORCE)')
    finally:
        await admin.close()


#: The tables of each migrated test database (``database`` fixture), by URL: what
#: :func:`empty_database` puts a database back to.
_MIGRATED_TABLES: dict[str, frozenset[str]] = {}

_TABLES = """
    SELECT c.relname AS name, parent.relname AS parent FROM pg_class c
    LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
    LEFT JOIN pg_class parent ON parent.oid = i.inhparent
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
"""


async def migrated_tables(connection: asyncpg.Connection) -> frozenset[str]:
    """The public tables of a database just migrated and seeded."""
    return frozenset(r["name"] for r in await connection.fetch(_TABLES))


async def empty_database(connection: asyncpg.Connection, migrated: frozenset[str]) -> None:
    """Every row gone (reference data kept) and the database back to its migrated shape.

    What the clean-up used to be (``TRUNCATE`` of every table ... ``RESTART IDENTITY
    CASCADE``) cost 0.5-0.8 s a test on this machine: a TRUNCATE gives every table and
    index a new file, even an empty one. A DELETE of the few rows a test leaves costs a
    few milliseconds, with the same result for the next test:

    - the tables are locked first, as TRUNCATE locked them: a transaction still running
      from the last test ends before its rows are deleted;
    - ``session_replication_role = replica``: no trigger and no foreign-key action runs
      (the history guard that refuses to delete a resident, the statistics' counters),
      every row of every table goes, reference tables excepted (none refers to the others);
    - the sequences the tables own start again (as RESTART IDENTITY did);
    - a table the migrations did not create is dropped: the partitions a first import into
      an area creates (``resident_<code>``, ``ticket_<code>``, issue 16), so the next
      test's first import is a first import again.
    """
    present = {r["name"]: r["parent"] for r in await connection.fetch(_TABLES)}
    # Deleting from a partitioned parent empties its partitions.
    emptied = sorted(
        n for n, parent in present.items()
        if n in migrated and n not in REFERENCE_TABLES and parent is None
    )  # fmt: skip
    extra = sorted(n for n in present if n not in migrated)
    quoted = ", ".join(f'"{n}"' for n in emptied + extra)
    statements = [
        f"LOCK TABLE {quoted} IN ACCESS EXCLUSIVE MODE",
        "SET LOCAL session_replication_role = replica",
        *(f'DELETE FROM "{n}"' for n in emptied),
        # Detached first: the tickets' foreign key refers to every resident partition.
        *(f'ALTER TABLE "{present[n]}" DETACH PARTITION "{n}"' for n in extra if present[n]),
    ]
    if extra:
        statements.append("DROP TABLE " + ", ".join(f'"{n}"' for n in extra))
    async with connection.transaction():
        await connection.execute(";\n".join(statements))
        await connection.execute(_RESTART_SEQUENCES, emptied)


#: The sequences owned by the given tables' columns that were used, started again.
_RESTART_SEQUENCES = """
    SELECT setval(seq.oid, s.start_value, false)
    FROM pg_depend d
    JOIN pg_class t ON t.oid = d.refobjid AND t.relnamespace = 'public'::regnamespace
    JOIN pg_class seq ON seq.oid = d.objid AND seq.relkind = 'S'
    JOIN pg_sequences s ON s.schemaname = 'public' AND s.sequencename = seq.relname
    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
      AND d.deptype IN ('a', 'i') AND t.relname = ANY($1::text[])
      AND s.last_value IS NOT NULL
"""


@pytest.fixture
async def db(database: str) -> AsyncIterator[str]:
    """An emptied database (reference data kept) for one test: :func:`empty_database`."""
    connection = await asyncpg.connect(database)
    try:
        await empty_database(connection, _MIGRATED_TABLES[database])
    finally:
        await connection.close()
    yield database


@pytest.fixture
def settings(database: str):
    """Settings as the server would read them in this test process."""
    from common.settings import load_settings

    return load_settings()


@pytest.fixture
def today():
    """The date handlers see: Japan's today; a test module may override this fixture."""
    from web.clock import today_in_japan

    return today_in_japan()


@pytest.fixture
async def app(db: str, settings, today) -> AsyncIterator:
    """The real app (real pool as vrs_app, real templates), its pool opened once."""
    from db.engine import close_serving_pool, start_serving_pool
    from web.app import create_app

    await start_serving_pool(4)
    try:
        yield create_app(settings, manage_pool=False, today=lambda: today)
    finally:
        await close_serving_pool()


def _http_client(app):
    """An httpx client calling the ASGI app in this event loop (where the pool lives).

    Litestar's AsyncTestClient runs the app in a portal thread with its own
    loop, which an asyncpg pool opened here cannot serve. Every HTML answer is
    checked on arrival (:func:`tests.pages.check_response`), its POST forms against
    their routes' form Structs: no test opts in.
    """
    import httpx

    from tests.pages import response_checker

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://127.0.0.1:8000",
        event_hooks={"response": [response_checker(app)]},
    )


@pytest.fixture
async def client(app) -> AsyncIterator:
    """An HTTP client driving the app in-process."""
    async with _http_client(app) as http:
        yield http


@pytest.fixture
def signing_ready(settings):
    """Keys (created once per process), the test J-LIS CA trusted, the vectors' issuers trusted
    (the SMART Health Cards spec example issuer with its CRL, Japan's CSCAs).

    Returns the demo cards whose issuer is now trusted.
    """
    from cli.commands.keys import ensure_keys, write_demo_card_trust
    from tests.unit.signing.fixtures import VECTORS
    from web.issuer_directory import add_csca, add_issuer

    ensure_keys(settings)
    cards = write_demo_card_trust(settings)
    add_issuer(
        settings.data_dir,
        SPEC_ISSUER,
        name="SMART Health Cards spec example",
        jwks_source=str(VECTORS / "shc" / "issuer-jwks.json"),
        crl_sources={SPEC_CRL_KID: str(VECTORS / "shc" / f"issuer-crl-{SPEC_CRL_KID}.json")},
    )
    for der in (VECTORS / "icao" / "japan-csca").glob("*.der"):
        add_csca(settings.data_dir, f"japan-{der.stem}", str(der))
    return cards


@pytest.fixture
async def admin(client, app) -> str:
    """The login of a municipal admin of 千代田区, signed in on ``client``."""
    from db.accounts.roles import Role
    from tests.factories import create_account, create_municipality, sign_in

    await create_municipality("131016")
    login = await create_account("admin-a", Role.MUNICIPAL_ADMIN, "131016")
    assert (await sign_in(client, login)).status_code == 303
    return login


@pytest.fixture
async def clerk_client(make_client):
    """A browser signed in as a clerk of 千代田区 (its municipality registered)."""
    from db.accounts.roles import Role
    from tests.factories import create_account, create_municipality, sign_in

    await create_municipality("131016")
    login = await create_account(role=Role.CLERK)
    client = await make_client()
    response = await sign_in(client, login)
    assert response.status_code == 303
    return client


@pytest.fixture
async def make_client(app) -> AsyncIterator:
    """Several independent clients (browsers, each with its own cookies) on one app."""
    opened = []

    async def factory():
        http = _http_client(app)
        opened.append(http)
        return http

    yield factory
    for http in opened:
        await http.aclose()
