"""The ``vrs`` command on real databases: migrations, demo data, tools, embedded server."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from common.identifiers import parse_my_number
from db.residents.my_number import MyNumberVault
from tests.fixtures import recreate_database, server_url

ROOT = Path(__file__).resolve().parents[2]


def vrs(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``vrs`` as a user would, in its own process."""
    result = subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"vrs {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture
async def fresh_database(test_database_name: str):
    """An empty database of its own (not the migrated test database)."""
    name = f"{test_database_name}_cli"
    url = await recreate_database(server_url(), name)
    yield url
    admin = await asyncpg.connect(url.replace(f"/{name}", "/postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_migrations_run_forward_on_an_empty_database_and_again(fresh_database: str) -> None:
    first = vrs("migrate", env={"DATABASE_URL": fresh_database})
    assert "up to date" in first.stdout
    again = vrs("migrate", env={"DATABASE_URL": fresh_database})
    assert "up to date" in again.stdout
    connection = await asyncpg.connect(fresh_database)
    try:
        tables = {
            r["tablename"]
            for r in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        }
        products = await connection.fetchval("SELECT count(*) FROM vaccine_product")
        prefectures = await connection.fetchval("SELECT count(*) FROM prefecture")
    finally:
        await connection.close()
    assert {"resident", "ticket", "vaccination", "vaccination_version", "certificate_issuance",
            "audit_event", "account", "session", "api_token", "venue", "municipality",
            "municipality_setting", "vaccine_lot", "vaccine_rule"} <= tables  # fmt: skip
    assert products >= 8 and prefectures == 47


async def test_demo_data_is_deterministic_valid_and_loaded_once(
    fresh_database: str, settings
) -> None:
    env = {"DATABASE_URL": fresh_database}
    first = vrs("demo", env=env)
    assert "demo data loaded" in first.stdout
    assert "chiyoda-clerk" in first.stdout and "http://127.0.0.1:8000/" in first.stdout
    again = vrs("demo", env=env)
    assert "already present" in again.stdout
    connection = await asyncpg.connect(fresh_database)
    try:
        residents = await connection.fetchval("SELECT count(*) FROM resident")
        per_area = await connection.fetch(
            "SELECT municipality_code, count(*) FROM resident GROUP BY 1 ORDER BY 1"
        )
        roles = {r["role"] for r in await connection.fetch("SELECT DISTINCT role FROM account")}
        sample = await connection.fetch(
            "SELECT municipality_code, my_number_ciphertext FROM resident ORDER BY resident_number LIMIT 200"
        )
        moved = await connection.fetch(
            "SELECT n, count(*) FROM (SELECT count(*) AS n FROM resident GROUP BY my_number_hmac"
            " HAVING count(*) > 1) m GROUP BY n"
        )
        doses = await connection.fetchval("SELECT count(*) FROM vaccination")
    finally:
        await connection.close()
    assert residents == 10_000
    assert [r["municipality_code"] for r in per_area] == ["011002", "131016", "131041"]
    assert roles == {
        "national_admin",
        "national_viewer",
        "prefecture_viewer",
        "municipal_admin",
        "clerk",
        "venue_operator",
    }
    vault = MyNumberVault(settings.my_number_key)
    for row in sample:
        parse_my_number(vault.open(row["my_number_ciphertext"], row["municipality_code"]))
    # 50 people moved Chiyoda → Shinjuku → Sapporo: registered in all three.
    assert [tuple(r) for r in moved] == [(3, 50)]
    assert doses > 10_000


async def test_tools_create_municipality_user_and_token(fresh_database: str) -> None:
    env = {"DATABASE_URL": fresh_database}
    vrs("migrate", env=env)
    bad = vrs("create-municipality", "131017", "千代田区", "Chiyoda City", env=env, check=False)
    assert bad.returncode != 0 and "municipality_check_digit" in bad.stderr
    vrs(
        "create-municipality", "131016", "千代田区", "Chiyoda City", "--head", "千代田区長", env=env
    )
    created = vrs("create-user", "--login", "ops", "--role", "clerk", "--municipality", "131016",
                  "--machine", env=env)  # fmt: skip
    assert "vrs create-token --login ops" in created.stdout  # an account for tokens only
    token = vrs("create-token", "--login", "ops", "--label", "batch", env=env).stdout.strip()
    assert token.startswith("vrs_")
    unknown = vrs("create-token", "--login", "nobody", env=env, check=False)
    assert unknown.returncode != 0 and "no account nobody" in unknown.stderr
    connection = await asyncpg.connect(fresh_database)
    try:
        stored = await connection.fetchval("SELECT token_hash FROM api_token")
    finally:
        await connection.close()
    assert token not in stored
    # App and kiosk clients: made, listed and revoked by the same services as /national/clients.
    assert vrs("app-client", "--label", "store-9", "--kind", "kiosk", env=env).stdout.startswith(
        "vrsapp_"
    )
    assert "store-9\tkiosk" in vrs("app-client-list", env=env).stdout
    vrs("app-client-revoke", "store-9", env=env)
    assert "\trevoked " in vrs("app-client-list", env=env).stdout
    again = vrs("app-client-revoke", "store-9", env=env, check=False)
    assert again.returncode != 0 and "no live app or kiosk client store-9" in again.stderr


def test_without_database_url_the_embedded_server_is_used(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["VRS_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "cli", "migrate"],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "embedded PostgreSQL" in result.stderr and "up to date" in result.stdout
    assert (tmp_path / "pgdata" / "PG_VERSION").read_text().strip() == "18"
    again = subprocess.run(
        [sys.executable, "-m", "cli", "migrate"],
        cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr  # the data survived the stop and restart


def _self_signed(directory: Path) -> tuple[Path, Path]:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_serve_speaks_https_when_given_a_certificate(database: str, tmp_path: Path) -> None:
    import time

    import httpx

    from tests.server_process import free_port

    cert, key = _self_signed(tmp_path)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "serve",
            "--port",
            str(port),
            "--tls-cert",
            str(cert),
            "--tls-key",
            str(key),
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(
                    f"https://127.0.0.1:{port}/sign-in",
                    verify=ssl.create_default_context(cafile=str(cert)),
                    timeout=1,
                )
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.headers["strict-transport-security"].startswith("max-age=")
    finally:
        process.terminate()
        process.wait(10)


def test_serve_on_the_embedded_server_stops_it_on_sigterm(tmp_path: Path) -> None:
    import signal
    import time

    import httpx

    from tests.server_process import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env={**env, "VRS_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    postmaster = tmp_path / "pgdata" / "postmaster.pid"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "server did not start"
            time.sleep(0.3)
        assert postmaster.exists()
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        deadline = time.monotonic() + 15
        while postmaster.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not postmaster.exists()  # the embedded PostgreSQL stopped with the server
    finally:
        if process.poll() is None:
            process.kill()
