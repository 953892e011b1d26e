"""The national admin's vaccine master data page (ワクチンマスタ): lots, rules, names."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from litestar import Controller, MediaType, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from db.accounts.roles import Role
from db.audit.queries import record as audit
from db.engine import tenant_transaction
from db.vaccines.editing import RULE_KINDS, MasterDataError, add_lot, add_rule, overview, rename
from web.auth import requires
from web.forms import Form, MasterDataForm
from web.i18n import language_of, translate

#: The keys each kind of rule takes, and their types (see db.vaccines.tables.VaccineRule).
RULE_PARAMS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "age": {"min_months": (int, type(None)), "max_months": (int, type(None))},
    "volume": {
        "ml": list,
        "doses": list,
        "min_age_months": (int, type(None)),
        "max_age_months": (int, type(None)),
    },
    "interval": {"after_dose": int, "min_days": int},
    "doses": {"min_dose": int},
}


def _date(value: Any) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise MasterDataError("dose.date_invalid") from None


def _params(kind: str, raw: str) -> dict[str, Any]:
    try:
        params = json.loads(raw)
    except json.JSONDecodeError:
        raise MasterDataError("master.params_json") from None
    allowed = RULE_PARAMS.get(kind, {})
    if not isinstance(params, dict) or any(
        k not in allowed or not isinstance(v, allowed[k]) for k, v in params.items()
    ):
        raise MasterDataError("master.params_shape", keys=", ".join(allowed))
    return params


class MasterDataController(Controller):
    """Read and edit the vaccine master."""

    path = "/national/vaccines"
    include_in_schema = False
    guards = [requires(Role.NATIONAL_ADMIN)]

    @get("/", name="national_vaccines")
    async def index(
        self, request: Request[Any, Any, Any], done: FromQuery[str | None] = None
    ) -> Template:
        """Every product with its names, rules (with their periods) and lots."""
        return await self._page(request, done=done)

    async def _page(self, request: Request[Any, Any, Any], *, done: str | None = None, error: str | None = None,
                    status_code: int = 200) -> Template:  # fmt: skip
        async with tenant_transaction(None):
            products = await overview()
        return Template(
            "national/vaccines.html",
            context={
                "products": products,
                "kinds": RULE_KINDS,
                "done": done,
                "error": error,
                "shapes": RULE_PARAMS,
            },
            status_code=status_code,
        )

    @post("/{action:str}", name="national_vaccines_edit", media_type=MediaType.HTML)
    async def edit(
        self, request: Request[Any, Any, Any], action: FromPath[str], data: Form[MasterDataForm]
    ) -> Any:
        """Add a lot, start a rule, or rename a product from a date."""
        product = data.product.strip()
        try:
            async with tenant_transaction(None):
                if action == "lots":
                    await add_lot(
                        product, data.lot_number, _date(data.expires_on), request.user.account_id
                    )
                elif action == "rules":
                    await add_rule(product, data.kind, _params(data.kind, data.params), _date(data.valid_from),
                                   data.note[:256], request.user.account_id)  # fmt: skip
                elif action == "names":
                    await rename(product, data.name, data.name_en, _date(data.valid_from),
                                 request.user.account_id)  # fmt: skip
                else:
                    raise MasterDataError("master.action_unknown")
                await audit(f"master.{action}", actor=request.user, municipality_code=None,
                            object_type="vaccine_product", object_id=product)  # fmt: skip
        except MasterDataError as exc:
            message = translate(exc.key, language_of(request), **exc.params)
            return await self._page(request, error=message, status_code=422)
        return Redirect(f"/national/vaccines?done={action}", status_code=HTTP_303_SEE_OTHER)


ROUTES = [MasterDataController]
