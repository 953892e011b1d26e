"""``vrs keys`` and ``vrs demo``: keys created idempotently, rotation keeps old keys published."""

from __future__ import annotations

import json

import asyncpg
import pytest

from signing.keys import KeyStore
from tests.integration.test_cli import fresh_database, vrs  # noqa: F401 - the fixture is reused


def test_keys_init_is_idempotent_and_rotation_keeps_the_old_key(tmp_path) -> None:
    env = {"VRS_DATA_DIR": str(tmp_path), "VRS_KEY_PASSPHRASE": "a passphrase"}
    first = vrs("keys", "init", env=env)
    assert "created keys" in first.stdout and "SHC key" in first.stdout
    assert "kept existing" in vrs("keys", "init", env=env).stdout
    vrs("keys", "rotate", "shc", env=env)
    store = KeyStore.load(tmp_path / "keys", "a passphrase")
    assert len(store.jwks()["keys"]) == 2 and store.shc_keys[0].signing_key is None
    wrong = vrs("keys", "show", env={**env, "VRS_KEY_PASSPHRASE": "wrong"}, check=False)
    assert wrong.returncode != 0 and "passphrase" in wrong.stderr
    missing = vrs("keys", "init", env={**env, "VRS_KEY_PASSPHRASE": ""}, check=False)
    assert missing.returncode != 0 and "VRS_KEY_PASSPHRASE" in missing.stderr
    assert json.loads((tmp_path / "keys" / "store.json").read_text())["format"] == 1


@pytest.mark.xdist_group("demo")
async def test_demo_ends_with_keys_card_trust_and_linked_cards(fresh_database, tmp_path) -> None:  # noqa: F811
    env = {
        "DATABASE_URL": fresh_database,
        "VRS_DATA_DIR": str(tmp_path),
        "VRS_KEY_PASSPHRASE": "demo pass",
    }
    out = vrs("demo", env=env).stdout
    assert "certificate keys created" in out and "demo My Number cards" in out
    assert "certificate keys present" in vrs("demo", env=env).stdout
    KeyStore.load(tmp_path / "keys", "demo pass")
    assert (tmp_path / "card-trust" / "jlis-test-ca.crt.pem").is_file()
    connection = await asyncpg.connect(fresh_database)
    try:
        links = await connection.fetchval("SELECT count(*) FROM card_link")
        residents = await connection.fetchval("SELECT count(*) FROM resident")
    finally:
        await connection.close()
    assert links == 3 and residents == 10_000
