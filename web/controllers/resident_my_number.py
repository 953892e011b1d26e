"""Recording a resident's My Number (``POST /api/v1/residents/{id}/my-number``).

The minimal way for a clerk to put a newcomer's My Number on their resident
record before an inquiry (F7 asks only about the area's own residents). The
service audits it; the person page's editing form can call the same service.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from common.identifiers import IdentifierError, mask_my_number, parse_my_number
from common.settings import Settings
from db.accounts.roles import Role
from db.engine import tenant_transaction
from db.residents.my_number import MyNumberVault
from db.residents.my_number_record import MyNumberRefused, record_my_number
from web.auth import requires
from web.bodies import MyNumberBody
from web.errors import BadInput, Conflict, NotFound


class ResidentMyNumberController(Controller):
    """Record a My Number on a resident of the caller's municipality."""

    path = "/api/v1/residents"
    guards = [requires(Role.CLERK, Role.MUNICIPAL_ADMIN)]
    tags = ["residents"]

    @post(
        "/{resident_id:uuid}/my-number",
        name="api_resident_my_number",
        summary="Record a resident's My Number (audited)",
        status_code=200,
    )
    async def record(
        self,
        request: Request[Any, Any, Any],
        resident_id: FromPath[UUID],
        data: JSONBody[MyNumberBody],
        settings: NamedDependency[Settings],
    ) -> dict[str, str]:
        """Body: ``my_number``. Answers the resident id and the masked number."""
        body = data.to_dict()
        try:
            number = parse_my_number(str(body.get("my_number", "")))
        except IdentifierError as exc:
            raise BadInput(exc.key, field="my_number", **exc.params) from None
        vault = MyNumberVault(settings.my_number_key)
        try:
            async with tenant_transaction(request.user.tenant):
                found = await record_my_number(resident_id, number, vault, request.user)
        except MyNumberRefused as exc:
            raise Conflict(exc.key, field="my_number") from None
        if not found:
            raise NotFound("error.not_found")
        return {"resident_id": str(resident_id), "my_number": mask_my_number(number)}


ROUTES = [ResidentMyNumberController]
