"""A registered 氏名 from the database to the printed page and the SMART Health Card.

The seed records one 氏名: it splits at the first space (full- or half-width);
without one it is the family name alone, printed once, and the card has
``family`` only. 𠮷 is printed from the fallback font (U+20BB7 extracts back).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from signing import shc
from tests.realparts import require_executable

from .test_api_and_revocation import _bearer

KICHI = "\U00020bb7"


def _text(pdf: bytes, directory: Path) -> str:
    path = directory / "certificate.pdf"
    path.write_bytes(pdf)
    tool = require_executable("pdftotext")
    return subprocess.run([tool, str(path), "-"], capture_output=True, text=True).stdout


async def _issued(client, name: str, directory: Path) -> tuple[str, dict]:
    from tests.factories import create_resident, create_vaccination

    person = await create_resident("131016", name=name)
    await create_vaccination(person)
    headers = await _bearer()
    response = await client.post(
        "/api/v1/certificates",
        json={"resident_id": str(person["id"]), "kind": "domestic"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    text = _text(response.content, directory)
    payloads = await client.get(
        f"/api/v1/certificates/{response.headers['x-certificate-id']}", headers=headers
    )
    card = shc.verify_card(payloads.json()["shc_qr"], _our_keys())
    patient = card.bundle["entry"][0]["resource"]
    return text, patient


def _our_keys() -> dict:
    from common.settings import load_settings
    from web.signing_context import load_signing_context

    return load_signing_context(load_settings()).our_jwks_keys()


@pytest.mark.parametrize(
    ("registered", "printed", "name"),
    [
        ("山田太郎", "山田太郎", {"family": "山田太郎"}),
        ("山田\u3000太郎", "山田 太郎", {"family": "山田", "given": ["太郎"]}),
        (f"{KICHI}田 太郎", f"{KICHI}田 太郎", {"family": f"{KICHI}田", "given": ["太郎"]}),
    ],
)
async def test_the_registered_name_is_printed_once_and_carried_as_recorded(
    client, signing_ready, tmp_path: Path, registered: str, printed: str, name: dict
) -> None:
    text, patient = await _issued(client, registered, tmp_path)
    assert text.count(printed) == 1, text
    assert f"{printed} {printed}" not in text
    assert patient["name"] == [name]
