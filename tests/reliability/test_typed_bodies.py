"""Every JSON body is a typed Struct: OpenAPI shows it, and a refused body is a specific 4xx.

For each JSON route: malformed JSON, 100,000 nested arrays, a raw NUL byte, an escaped
NUL in a text field, a field of the wrong type and a body that is not an object each
answer a problem with our own code, naming the field, in Japanese (and English with
?lang=en) — never a 500 and never a bare "Validation failed".
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from db.accounts.queries import create_api_token
from db.accounts.roles import Role
from db.cards.queries import create_app_client
from db.engine import current_connection, owner_transaction
from db.vaccinations import dose_input
from tests.factories import create_account, create_municipality
from web.bodies import DoseBody

#: A fixed id: test ids must be the same in every xdist worker.
SESSION = "00000000-0000-4000-8000-000000000001"

#: path, who calls it, (field, text with NUL, code), (field, wrong type, code), not-an-object code
ROUTES: list[tuple[str, str, tuple[str, str], tuple[str, Any, str], str]] = [
    ("/api/v1/certificates", "clerk", ("passport_number", "error.field_nul"),
     ("resident_id", 5, "certificate.resident_id_invalid"), "proof.wrong_type"),
    (f"/api/v1/card-sessions/{SESSION}/proof", "app", ("my_number", "error.field_nul"),
     ("my_number", 123, "proof.wrong_type"), "proof.wrong_type"),
    (f"/api/v1/card-sessions/{SESSION}/kiosk-preview", "kiosk", ("signature", "error.field_nul"),
     ("basic4", "name", "proof.wrong_type"), "proof.wrong_type"),
    (f"/api/v1/card-sessions/{SESSION}/kiosk-issue", "kiosk", ("my_number", "error.field_nul"),
     ("municipalities", "131016", "card_proof.municipalities_invalid"), "proof.wrong_type"),
    ("/api/v1/kiosk/heartbeat", "kiosk", ("store_id", "kiosk_report.field_invalid"),
     ("interval_seconds", "often", "kiosk_report.interval_invalid"), "error.body_not_object"),
    ("/api/v1/kiosk/completions", "kiosk", ("notice_id", "kiosk_report.field_invalid"),
     ("certificate_ids", "ABC", "kiosk_report.certificates_invalid"), "error.body_not_object"),
    ("/api/v1/vaccinations", "clerk", ("ticket", "error.field_nul"),
     ("ticket", [1], "error.field_type"), "error.body_not_object"),
    ("/api/v1/inquiries", "clerk", ("my_number", "error.field_nul"),
     ("consent", "yes", "inquiry.consent_required"), "error.body_not_object"),
    ("/api/v1/kiosk/failures", "kiosk", ("reason", "kiosk_report.reason_invalid"),
     ("failed_at", "yesterday", "kiosk_report.time_invalid"), "error.body_not_object"),
    (f"/api/v1/residents/{SESSION}/my-number", "clerk", ("my_number", "error.field_nul"),
     ("my_number", [1], "error.field_type"), "proof.wrong_type"),
]  # fmt: skip
#: Routes that kept the card-proof codes for unreadable JSON (proof.not_json).
PROOF_CODES = ("/api/v1/card-sessions", "/api/v1/certificates", "/api/v1/residents")
JSON_ROUTES = [route[0] for route in ROUTES]


@pytest.fixture
async def tokens(app, signing_ready) -> dict[str, dict[str, str]]:
    """Bearer headers of a clerk, a smartphone app and a kiosk."""
    await create_municipality("131016")
    login = await create_account(role=Role.CLERK)
    async with owner_transaction():
        connection = current_connection()
        account = await connection.fetchval("SELECT id FROM account WHERE login = $1", login)
        found = {
            "clerk": await create_api_token(account, "typed-bodies"),
            "app": await create_app_client("typed-app"),
            "kiosk": await create_app_client("typed-kiosk", kind="kiosk"),
        }
    return {who: {"Authorization": f"Bearer {token}"} for who, token in found.items()}


async def _post(client, path: str, headers: dict[str, str], raw: bytes, lang: str = "ja"):
    return await client.post(
        f"{path}?lang={lang}",
        content=raw,
        headers={**headers, "content-type": "application/json"},
    )


def test_openapi_shows_every_json_body(app) -> None:
    schema = app.openapi_schema.to_schema()
    shown = {}
    for path in JSON_ROUTES:
        template = path.replace(SESSION, "{resident_id}" if "residents" in path else "{session_id}")
        body = schema["paths"][template]["post"].get("requestBody")
        assert body, f"{template}: no request body in OpenAPI"
        shown[template] = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(shown.values()) == {
        "CertificateRequest", "CardProofBody", "HeartbeatBody", "CompletionBody", "DoseBody",
        "InquiryBody", "FailureBody", "MyNumberBody",
    }, shown  # fmt: skip
    assert "resident_id" in schema["components"]["schemas"]["CertificateRequest"]["properties"]


def test_the_dose_body_carries_every_field_the_dose_parser_reads() -> None:
    source = Path(dose_input.__file__).read_text(encoding="utf-8")
    read = set(re.findall(r'_text\(values, "(\w+)"', source))
    assert read and read <= set(DoseBody.__struct_fields__), read - set(DoseBody.__struct_fields__)


@pytest.mark.parametrize(("path", "who", "nul", "typed", "not_object"), ROUTES, ids=JSON_ROUTES)
async def test_bad_json_is_a_specific_problem_naming_the_field(
    client, tokens, path: str, who: str, nul, typed, not_object: str
) -> None:
    headers = tokens[who]

    async def problem(raw: bytes, status: int, code: str | None, field: str | None = None):
        response = await _post(client, path, headers, raw)
        assert response.status_code == status, (raw[:40], response.text)
        body = response.json()
        assert response.headers["content-type"].startswith("application/problem+json")
        if code:
            assert body["code"] == code, (raw[:40], body)
        assert body.get("field") == field, (raw[:40], body)
        assert "Validation failed" not in body["detail"] and body["detail"] != body["code"]
        return body

    generic = "proof.not_json" if path.startswith(PROOF_CODES) else "error.json_malformed"
    await problem(b"{not json", 400, generic)
    await problem(b'{"x": "a\x00b"}', 400, generic)  # a raw NUL byte is not JSON
    await problem(b"[" * 100_000 + b"]" * 100_000, 400, None)
    await problem(b"[1]", 422, not_object)

    field, code = nul
    nul_body = await problem(json.dumps({field: "a\u0000b"}).encode(), 422, code, field)
    field, value, code = typed
    typed_body = await problem(json.dumps({field: value}).encode(), 422, code, field)
    for answer in (nul_body, typed_body):
        if answer["code"].startswith("error.field"):
            assert f"「{answer['field']}」" in answer["detail"]  # the field, named in Japanese

    english = await _post(client, path, headers, json.dumps({field: value}).encode(), "en")
    assert english.json()["code"] == code
    assert not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", english.json()["detail"])


async def test_deep_nesting_has_its_own_message(client, tokens) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    response = await _post(client, "/api/v1/inquiries", tokens["clerk"], deep)
    assert response.status_code == 400
    assert response.json()["code"] == "error.too_deep"
    assert "入れ子が深すぎます" in response.json()["detail"]
