"""The server's kiosk channel (preview, then issuance), and the set-up kiosk tests share.

The helpers are used by the kiosk app tests, the Playwright test and the kiosk
benchmark: the server trusts the
test J-LIS CA, the demo card holders are registered and linked in 千代田区 (the first
card also in 新宿区), both take part in kiosk issuance around the clock, and a kiosk
client token is registered.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

os.environ.setdefault("VRS_KEY_PASSPHRASE", "test-key-passphrase")


def kiosk_server_data_dir() -> Path:
    """This worker's own server data dir for the kiosk tests (keys, card trust).

    The test run's ``VRS_DATA_DIR`` is shared by the xdist workers; creating keys
    there from two workers at once races, so the kiosk tests keep their own.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    folder = Path(os.environ["VRS_DATA_DIR"]) / f"kiosk-tests-{worker}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(name="settings")
def kiosk_server_settings(database: str) -> Any:
    """The server's settings with this worker's kiosk data dir (overrides tests.fixtures')."""
    from dataclasses import replace

    from common.settings import load_settings

    return replace(load_settings(), data_dir=kiosk_server_data_dir())


ALL_DAY = {"kiosk_issuance": True, "kiosk_hours_start": dt.time(0), "kiosk_hours_end": dt.time.max}


def server_ready(settings: Any) -> list[Any]:
    """Keys and card trust in the server's data dir; returns the demo cards (test CA)."""
    from cli.commands.keys import ensure_keys, write_demo_card_trust

    ensure_keys(settings)
    return write_demo_card_trust(settings)


async def register_card_holders(cards: list[Any], **terms: Any) -> str:
    """千代田区 and 新宿区 with kiosk terms, the card holders, a kiosk token (returned)."""
    from db.cards.queries import create_app_client
    from db.engine import owner_transaction
    from tests.factories import create_municipality, vault
    from tests.integration.certificates.card_holders import load_card_demo

    terms = {**ALL_DAY, **terms}
    await create_municipality("131016", **terms)
    await create_municipality("131041", **terms)
    async with owner_transaction():
        await load_card_demo(vault(), cards)
        return await create_app_client("kiosk-store-1", kind="kiosk")


@dataclass
class KioskBrowser:
    """An HTTP client on the kiosk app that posts its forms like the touch screen does."""

    http: httpx.AsyncClient

    async def screen(self) -> str:
        """The current screen's HTML."""

        response = await self.http.get("/")
        assert response.status_code == 200, response.text
        return response.text

    async def press(self, path: str, **fields: str) -> str:
        """Post a form of the current screen (with its CSRF token); the next screen."""
        page = await self.screen()
        match = re.search(r'name="_csrf_token" value="([^"]+)"', page)
        assert match, page
        response = await self.http.post(path, data={"_csrf_token": match.group(1), **fields})
        assert response.status_code == 303, response.text
        return await self.screen()


def screen_name(page: str) -> str:
    """Which screen a page shows (its ``data-testid="screen-..."``)."""
    match = re.search(r'data-testid="screen-([a-z_]+)"', page)
    assert match, page
    return match.group(1)


def clean(folder: Path) -> Path:
    """An empty folder."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


# --- the kiosk channel on its own (cards signed in-process, no reader) -----------------


def _signed_proof(card: Any, challenge: dict[str, str]) -> dict[str, Any]:
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    raw = challenge["challenge"]
    data = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    signature = card.auth_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return {
        "auth_certificate": base64.b64encode(card.auth_certificate_der).decode(),
        "signature": base64.b64encode(signature).decode(),
        "my_number": card.my_number,
        "basic4": card.resident.basic4.to_dict(),
    }


async def _prove(client: Any, token: str, card: Any, step: str, **extra: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    opened = await client.post("/api/v1/card-sessions", headers=headers)
    assert opened.status_code == 201, opened.text
    session = opened.json()
    return await client.post(
        f"/api/v1/card-sessions/{session['session_id']}/{step}",
        json={**_signed_proof(card, session), **extra},
        headers=headers,
    )


async def _issuances() -> list[tuple[str, str]]:
    from db.engine import current_connection, owner_transaction

    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT municipality_code, channel FROM certificate_issuance ORDER BY 1"
        )
    return [(r["municipality_code"], r["channel"]) for r in rows]


async def test_preview_names_the_municipalities_and_issues_nothing(client, settings) -> None:
    cards = server_ready(settings)
    token = await register_card_holders(cards)
    response = await _prove(client, token, cards[0], "kiosk-preview")
    assert response.status_code == 200, response.text
    assert [
        (m["municipality_code"], m["passport_data"]) for m in response.json()["municipalities"]
    ] == [("131016", False), ("131041", False)]
    assert await _issuances() == []
    issued = await _prove(client, token, cards[0], "kiosk-issue", kind="domestic")
    assert issued.status_code == 200, issued.text
    assert await _issuances() == [("131016", "kiosk"), ("131041", "kiosk")]


async def test_only_kiosk_clients_and_only_open_municipalities(client, settings) -> None:
    from db.cards.queries import create_app_client
    from db.engine import owner_transaction

    cards = server_ready(settings)
    token = await register_card_holders(cards)
    async with owner_transaction():
        app_token = await create_app_client("phone-app", kind="app")
    refused = await _prove(client, app_token, cards[0], "kiosk-issue", kind="domestic")
    assert refused.status_code == 403 and refused.json()["code"] == "card_session.kiosk_only"

    # 新宿区 stops kiosk issuance: only 千代田区 issues.
    from db.tenancy.queries import TermsAgreed, save_terms

    async with owner_transaction():
        await save_terms("131041", TermsAgreed(kiosk_issuance=False), None)
    issued = await _prove(client, token, cards[0], "kiosk-issue", kind="domestic")
    assert [c["municipality_code"] for c in issued.json()["certificates"]] == ["131016"]


async def test_replayed_and_forged_kiosk_proofs_are_refused(client, settings) -> None:
    import base64

    cards = server_ready(settings)
    token = await register_card_holders(cards)
    headers = {"Authorization": f"Bearer {token}"}
    session = (await client.post("/api/v1/card-sessions", headers=headers)).json()
    proof = _signed_proof(cards[1], session)
    path = f"/api/v1/card-sessions/{session['session_id']}"
    assert (
        await client.post(f"{path}/kiosk-preview", json=proof, headers=headers)
    ).status_code == 200
    replay = await client.post(f"{path}/kiosk-issue", json=proof, headers=headers)
    assert replay.status_code == 403 and replay.json()["code"] == "card_proof.challenge_replayed"
    forged = _signed_proof(
        cards[1], (await client.post("/api/v1/card-sessions", headers=headers)).json()
    )
    forged["signature"] = base64.b64encode(b"\x01" * 256).decode()
    other = (await client.post("/api/v1/card-sessions", headers=headers)).json()
    answer = await client.post(
        f"/api/v1/card-sessions/{other['session_id']}/kiosk-issue", json=forged, headers=headers
    )
    assert answer.status_code == 403 and answer.json()["code"] == "card_proof.bad_signature"
    assert await _issuances() == []
