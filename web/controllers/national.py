"""The national admin's vaccine master data page (ワクチンマスタ): lots, rules, names.

Each rule kind has its own form, drawn from the one definition of the kinds and their
numbers (``db.vaccines.rule_shapes``). A refused edit draws the page again with what was
typed kept and the message inside the form that was posted, on the field at fault.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from litestar import Controller, MediaType, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from db.accounts.roles import Role
from db.audit.queries import record as audit
from db.engine import tenant_transaction
from db.vaccines.editing import MasterDataError, add_lot, add_rule, overview, rename
from db.vaccines.rule_shapes import RULE_KINDS, SHAPES, read_params
from web.auth import requires
from web.forms import Form, MasterDataForm
from web.i18n import language_of, translate

#: Parameters of a refusal that name a message (a field's label), translated for the page.
_LABELS = ("label", "other")


def _date(value: str, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise MasterDataError("master.date_invalid", field, label=f"master.{field}") from None


async def _add_lot(data: MasterDataForm, actor: UUID | None) -> None:
    await add_lot(
        data.product.strip(), data.lot_number, _date(data.expires_on, "expires_on"), actor
    )


async def _add_rule(data: MasterDataForm, actor: UUID | None) -> None:
    params = read_params(data.kind, data.values())
    await add_rule(data.product.strip(), data.kind, params, _date(data.valid_from, "valid_from"),
                   data.note[:256], actor)  # fmt: skip


async def _rename(data: MasterDataForm, actor: UUID | None) -> None:
    await rename(data.product.strip(), data.name, data.name_en,
                 _date(data.valid_from, "valid_from"), actor)  # fmt: skip


#: The forms of the page by the action they post to.
EDITS: dict[str, Callable[[MasterDataForm, UUID | None], Awaitable[None]]] = {
    "lots": _add_lot,
    "rules": _add_rule,
    "names": _rename,
}


def _failure(
    action: str, data: MasterDataForm, error: MasterDataError, language: str
) -> dict[str, str]:
    """Which form failed (a rule's form is its kind's), the field at fault and the message."""
    params = {k: translate(v, language) if k in _LABELS else v for k, v in error.params.items()}
    if error.key == "master.rule_kind":
        params["kinds"] = ("、" if language == "ja" else ", ").join(
            translate(f"master.kind.{k}", language) for k in RULE_KINDS
        )
    form = f"rule-{data.kind}" if action == "rules" and data.kind in SHAPES else action
    return {"form": form, "field": error.field, "message": translate(error.key, language, **params)}


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
        return await self._page(done=done)

    async def _page(self, *, done: str | None = None, failed: dict[str, str] | None = None,
                    kept: MasterDataForm | None = None, status_code: int = 200) -> Template:  # fmt: skip
        async with tenant_transaction(None):
            products = await overview()
        return Template(
            "national/vaccines.html",
            context={
                "products": products,
                "shapes": SHAPES,
                "done": done,
                "failed": failed or {},
                "kept": kept or MasterDataForm(),
            },
            status_code=status_code,
        )

    @post("/{action:str}", name="national_vaccines_edit", media_type=MediaType.HTML)
    async def edit(
        self, request: Request[Any, Any, Any], action: FromPath[str], data: Form[MasterDataForm]
    ) -> Any:
        """Add a lot, start a rule, or rename a product from a date."""
        try:
            if action not in EDITS:
                raise MasterDataError("master.action_unknown")
            async with tenant_transaction(None):
                await EDITS[action](data, request.user.account_id)
                await audit(f"master.{action}", actor=request.user, municipality_code=None,
                            object_type="vaccine_product", object_id=data.product.strip())  # fmt: skip
        except MasterDataError as exc:
            failed = _failure(action, data, exc, language_of(request))
            return await self._page(failed=failed, kept=data, status_code=422)
        return Redirect(f"/national/vaccines?done={action}", status_code=HTTP_303_SEE_OTHER)


ROUTES = [MasterDataController]
