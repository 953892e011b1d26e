"""schemathesis against the app's own OpenAPI schema (``/schema/openapi.json``) on the real server.

Every operation is called with generated data, authenticated as a clerk of
千代田区 by bearer token (so requests reach the handlers): no answer is a 5xx,
and every error of an ``/api/`` route is a JSON problem (RFC 9457) with the
fields our error handler documents. Examples per operation are bounded so the
run stays well under two minutes.
"""

from __future__ import annotations

import asyncio
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from db.accounts.queries import create_api_token
from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import create_account, create_municipality, create_resident, create_vaccination
from tests.server_process import vrs_server

os.environ.setdefault("VRS_KEY_PASSPHRASE", "test-key-passphrase")

EXAMPLES_PER_OPERATION = 12
PROBLEM_FIELDS = {"type", "title", "status", "detail", "code"}

pytestmark = pytest.mark.xdist_group("soak")


async def clerk_token() -> str:
    await create_municipality("131016")
    login = await create_account(role=Role.CLERK)
    person = await create_resident("131016")
    await create_vaccination(person)
    async with owner_transaction():
        account = await current_connection().fetchval(
            "SELECT id FROM account WHERE login = $1", login
        )
        return await create_api_token(account, "schemathesis")


def problems_of(base: str, token: str) -> list[str]:
    """Run every operation; returns what went wrong (empty when all is well)."""
    schema = schemathesis.openapi.from_url(f"{base}/schema/openapi.json")
    found: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the schema lists no operations"
    for operation in operations:
        check(operation, base, token, found)
    return found


def check(operation, base: str, token: str, found: list[str]) -> None:
    """Generated cases of one operation."""

    @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(data=st.data())
    def call(data) -> None:
        case = data.draw(operation.as_strategy())
        response = case.call(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        where = f"{case.method} {case.path} -> {response.status_code} ({case.formatted_path[:80]})"
        if response.status_code >= 500:
            found.append(f"{where}: {response.text[:300]}")
        elif response.status_code >= 400 and case.path.startswith("/api/"):
            kind = response.headers.get("content-type", "")
            kind = kind[0] if isinstance(kind, list) else kind  # schemathesis keeps every value
            try:
                body = response.json()
            except ValueError:
                body = None
            if not kind.startswith("application/problem+json") or not isinstance(body, dict):
                found.append(f"{where}: not a JSON problem ({kind}) {response.text[:200]}")
            elif not PROBLEM_FIELDS <= set(body) or body["status"] != response.status_code:
                found.append(f"{where}: problem lacks {PROBLEM_FIELDS - set(body)}")

    call()


async def test_no_generated_request_gets_a_5xx_and_every_api_error_is_a_json_problem(
    db: str, signing_ready, tmp_path
) -> None:
    token = await clerk_token()
    with vrs_server(db, workers=1, pool=4, log_path=tmp_path / "server.log") as base:
        found = await asyncio.to_thread(problems_of, base, token)
    by_operation = {f.split(" (")[0]: f for f in found}
    assert by_operation == {}, "\n".join(sorted(by_operation.values()))
