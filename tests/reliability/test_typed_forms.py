"""Every HTML form is a typed Struct (web/forms.py), and nothing reads past it.

msgspec ignores the fields a Struct does not declare, so a field a handler (or a parser
it hands the form to) reads but the Struct lacks would always be empty, without a word.
These tests fail when that happens: on the handlers' ``data.<field>`` reads, on the
names the shared parsers read from the mapping :meth:`FormBody.values` gives them, and
(with the page checks of ``tests/pages.py``, which compare every POST form the test
client receives with its route's Struct) on a template that posts an undeclared field.

A refused form field (sent twice, a NUL character, an id that is not one) is a 422
naming the field by its label, in Japanese and in English, as a page or as the htmx
alert; never a 500 and never a bare 400. A form the handler refuses comes back as typed.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from db.accounts.roles import Role
from db.tenancy.settings import parse_settings
from db.vaccinations.dose_input import parse_birth_field, parse_dose
from db.vaccines.rule_shapes import read_params
from tests.factories import create_account, create_municipality, csrf_token, sign_in
from tests.pages import check_html, form_fields_of
from web import forms
from web.controllers import accounts, certificates, inquiries, records, residents, venue
from web.forms import FormBody, FormValues, UndeclaredField
from web.i18n import catalog, translate

ROOT = Path(__file__).resolve().parents[2]
FORM_TYPES = [
    value
    for value in vars(forms).values()
    if isinstance(value, type) and issubclass(value, FormBody) and value is not FormBody
]


# --- what the code reads --------------------------------------------------------------------


def _function(target: Any) -> Callable[..., Any]:
    """The function behind a route handler (``Controller.method`` is a handler object)."""
    return getattr(target, "fn", target)


def _loop_values(function: Callable[..., Any], tree: ast.AST, name: str) -> Iterator[str]:
    """The strings a loop variable ``name`` takes, when the loop runs over literals or a
    module constant (a tuple of names, a dict's keys, a tuple of (name, ...) pairs)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.For | ast.comprehension):
            continue
        target = node.target
        names = [target] if isinstance(target, ast.Name) else list(getattr(target, "elts", []))
        position = next((i for i, n in enumerate(names) if getattr(n, "id", None) == name), None)
        if position is None:
            continue
        iterable: ast.expr = node.iter
        if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute):
            iterable = iterable.func.value  # CONSTANT.items() / CONSTANT.keys()
        if isinstance(iterable, ast.Name):
            values: list[Any] = list(function.__globals__[iterable.id])
        elif isinstance(iterable, ast.Tuple | ast.List):
            values = []
            for element in iterable.elts:
                if isinstance(element, ast.Starred) and isinstance(element.value, ast.Name):
                    values += list(function.__globals__[element.value.id])  # (*NAMES, ...)
                    continue
                if isinstance(element, ast.Tuple):
                    element = element.elts[position]
                values.append(element.value if isinstance(element, ast.Constant) else None)
        else:
            raise AssertionError(f"{function.__name__}: cannot tell what {name} runs over")
        for value in values:
            if isinstance(value, tuple | list) and len(names) > 1:
                value = value[position]
            if isinstance(value, str):
                yield value


def _key(function: Callable[..., Any], tree: ast.AST, node: ast.expr, line: int) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Name):
        found = set(_loop_values(function, tree, node.id))
        assert found, f"{function.__name__}:{line}: cannot tell which field {node.id} names"
        return found
    raise AssertionError(f"{function.__name__}:{line}: reads a field named by {ast.unparse(node)}")


def mapping_reads(target: Any, variable: str) -> set[str]:
    """The field names a function reads from the mapping ``variable``: ``variable["x"]``,
    ``variable.get("x")``, ``helper(variable, "x")``, and names that loops supply."""
    function = _function(target)
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    read: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == variable
            and isinstance(node.ctx, ast.Load)
        ):
            read |= _key(function, tree, node.slice, node.lineno)
        elif isinstance(node, ast.Call):
            call = node.func
            if (
                isinstance(call, ast.Attribute)
                and call.attr == "get"
                and isinstance(call.value, ast.Name)
                and call.value.id == variable
            ):
                read |= _key(function, tree, node.args[0], node.lineno)
            elif (
                len(node.args) >= 2
                and isinstance(node.args[0], ast.Name)
                and node.args[0].id == variable
                and isinstance(node.args[1], ast.Constant)
            ):
                read.add(node.args[1].value)
    return read


#: (what reads a form as a mapping, the mapping's name there, the Struct it is given)
PARSERS: list[tuple[Any, str, type[FormBody]]] = [
    (parse_dose, "values", forms.VenueDoseForm),
    (parse_birth_field, "values", forms.LookupForm),
    (parse_birth_field, "values", forms.VenueDoseForm),
    (venue.VenueController.lookup, "form", forms.LookupForm),
    (venue._form_again, "form", forms.VenueDoseForm),
    (parse_settings, "form", forms.SettingsForm),
    (residents._edit, "form", forms.ResidentEditForm),
    (residents._query, "form", forms.MyNumberSearchForm),
    (inquiries._check_single, "form", forms.InquiryForm),
    (records._changes, "values", forms.CorrectionForm),
    (records.QualityController.correct_record, "typed", forms.CorrectionForm),
    (certificates.CounterCertificatesController._read_form, "values", forms.CertificateForm),
    (accounts.AccountsController.create, "typed", forms.AccountForm),
    (read_params, "values", forms.MasterDataForm),
]


@pytest.mark.parametrize(
    ("reader", "variable", "form"),
    PARSERS,
    ids=[f"{_function(r).__name__}-{f.__name__}" for r, _, f in PARSERS],
)
def test_the_parsers_read_only_fields_their_form_declares(reader, variable, form) -> None:
    read = mapping_reads(reader, variable)
    assert read, f"{_function(reader).__name__} reads nothing from {variable}: wrong table entry"
    missing = read - set(form.__struct_fields__)
    assert not missing, (
        f"{_function(reader).__name__} reads {sorted(missing)}, which {form.__name__} does "
        "not declare (web/forms.py): the form's value would never reach it"
    )


def _handlers() -> Iterator[tuple[str, int, str, type[FormBody], str]]:
    """(file, line, handler, its form Struct, attribute) for every ``data.<attribute>``."""
    for path in sorted((ROOT / "web" / "controllers").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for argument in function.args.args + function.args.kwonlyargs:
                found = re.fullmatch(
                    r"(?:Form|MultipartForm)\[(\w+)\]", ast.unparse(argument.annotation or ast.Constant(""))
                )  # fmt: skip
                if not found:
                    continue
                form = getattr(forms, found[1])
                for node in ast.walk(function):
                    if (
                        isinstance(node, ast.Attribute)
                        and isinstance(node.value, ast.Name)
                        and node.value.id == argument.arg
                    ):
                        yield path.name, node.lineno, function.name, form, node.attr


def test_the_handlers_read_only_fields_their_form_declares() -> None:
    seen = list(_handlers())
    assert len({(name, handler) for name, _, handler, _, _ in seen}) >= 20, "handlers not found"
    allowed = {"values"}
    wrong = [
        f"web/controllers/{name}:{line}: {handler} reads data.{attribute}, which "
        f"{form.__name__} does not declare (web/forms.py)"
        for name, line, handler, form, attribute in seen
        if attribute not in form.__struct_fields__ and attribute not in allowed
    ]
    assert not wrong, "\n".join(wrong)


def test_the_checks_fail_on_a_field_the_struct_lacks() -> None:
    """The readers above, the mapping the parsers get and the page check each catch it."""

    def reads_an_undeclared_field(form: dict[str, str]) -> str:
        return form.get("nickname", "") + form["login"]

    assert mapping_reads(reads_an_undeclared_field, "form") == {"nickname", "login"}
    with pytest.raises(UndeclaredField, match="SignInForm does not declare the form field 'nick"):
        reads_an_undeclared_field(forms.SignInForm(login="a").values())
    with pytest.raises(UndeclaredField):
        forms.SignInForm().values()["nickname"]
    page = (
        '<form method="post" action="/sign-in"><input type="hidden" name="_csrf_token" value="t">'
        '<label for="n">N</label><input id="n" name="nickname"></form>'
    )
    check_html(page, form_fields=lambda action: frozenset({"login", "nickname"}))
    with pytest.raises(AssertionError, match=r"sends \['nickname'\], which its route's form"):
        check_html(page, form_fields=lambda action: frozenset({"login", "password"}))


def test_a_form_s_values_are_its_text_fields() -> None:
    values = forms.ResolveForm(reason="checked", id=[uuid.uuid4()]).values()
    assert isinstance(values, FormValues) and values == {"reason": "checked"}
    one = uuid.uuid4()
    assert forms.ticked(one) == [one] and forms.ticked([one, one]) == [one, one]


def test_every_label_and_problem_is_a_message_in_both_languages() -> None:
    for form in FORM_TYPES:
        assert set(form.labels) <= set(form.__struct_fields__), form.__name__
        for key in [*form.labels.values(), *form.problems.values(), *form.failures.values()]:
            for language in ("ja", "en"):
                assert key in catalog(language), (form.__name__, key, language)


def test_every_form_route_names_its_struct(app) -> None:
    """Each page route that posts fields takes a form Struct (a streamed upload names one)."""
    fields = form_fields_of(app)
    for action, names in {
        "/sign-in": {"login", "password", "next"},
        "/venue/doses": {"ticket", "birth_date", "idempotency_key", "volume_ml"},
        "/imports": {"file"},
        "/admin/backup/restore": {"file"},
        f"/records/{uuid.uuid4()}/correct": {"reason", "override_reason", "dose_number"},
        "/quality/resolve": {"id", "reason"},
        "/verify": {"text", "file"},
    }.items():
        assert names <= fields(action), action
    assert fields("/sign-out") == frozenset()


# --- refused fields: specific, in the user's language ---------------------------------------

ANY_ID = "00000000-0000-4000-8000-000000000001"

#: role -> (path, form Struct, field to spoil, multipart?)
ROUTES: dict[Role | None, list[tuple[str, type[FormBody], str, bool]]] = {
    Role.MUNICIPAL_ADMIN: [
        ("/admin/accounts", forms.AccountForm, "login", False),
        ("/admin/devices", forms.DeviceForm, "label", False),
        ("/admin/venues", forms.VenueForm, "name", False),
        ("/admin/settings", forms.SettingsForm, "reason", False),
        (f"/residents/{ANY_ID}/erase", forms.ReasonForm, "reason", False),
        (f"/records/{ANY_ID}/erase", forms.ReasonForm, "reason", False),
        ("/account", forms.PasswordForm, "new", False),
    ],
    Role.CLERK: [
        ("/residents/search", forms.MyNumberSearchForm, "my_number", False),
        (f"/residents/{ANY_ID}/edit", forms.ResidentEditForm, "name_kana", False),
        (f"/residents/{ANY_ID}/reissue", forms.TicketReissueForm, "reason", False),
        (f"/records/{ANY_ID}/correct", forms.CorrectionForm, "lot_number", False),
        (f"/records/{ANY_ID}/delete", forms.ReasonForm, "reason", False),
        ("/quality/resolve", forms.ResolveForm, "reason", False),
        (f"/certificates/person/{ANY_ID}/preview", forms.CertificateForm, "passport_number", False),
        (f"/certificates/person/{ANY_ID}/issue", forms.CertificateForm, "kind", False),
        ("/inquiries/single", forms.InquiryForm, "consent_reference", False),
        ("/inquiries/bulk", forms.BulkInquiryForm, "file", True),
        ("/venue/lookup", forms.LookupForm, "ticket", False),
        ("/venue/doses", forms.VenueDoseForm, "doctor_name", False),
        ("/venue/upload", forms.DoseFileForm, "file", True),
    ],
    Role.NATIONAL_ADMIN: [
        ("/national/vaccines/lots", forms.MasterDataForm, "lot_number", False),
        ("/national/suspensions", forms.SuspensionForm, "notice_ja", False),
        ("/national/municipalities", forms.MunicipalityForm, "name", False),
        ("/national/municipalities/131016/admins", forms.AdminForm, "login", False),
    ],
    Role.VENUE_OPERATOR: [("/venue/enrol", forms.EnrolForm, "code", False)],
    None: [
        ("/sign-in", forms.SignInForm, "login", False),
        ("/verify", forms.VerifyForm, "text", True),
    ],
}
ALL_ROUTES = [route[0] for routes in ROUTES.values() for route in routes]
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def test_the_table_covers_every_form_route(app) -> None:
    """Every route that decodes a form Struct is in ROUTES (a new form gets its probe)."""
    untried = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            data = handler.parsed_fn_signature.parameters.get("data")
            form = data.annotation if data is not None else None
            if isinstance(form, type) and issubclass(form, FormBody):
                pattern = re.sub(r"\\\{.*?\\\}", "[^/]+", re.escape(route.path))
                if not any(re.fullmatch(f"{pattern}/?", path) for path in ALL_ROUTES):
                    untried.append(route.path)
    assert not untried, f"form routes without a probe in ROUTES: {untried}"


async def _signed_in(make_client, role: Role | None) -> tuple[Any, str]:
    """A client signed in with ``role`` (none: anonymous) and its CSRF token."""
    client = await make_client()
    if role is not None:
        await sign_in(client, await create_account(f"forms-{role.value}", role))
    page = {None: "/sign-in", Role.VENUE_OPERATOR: "/venue/enrol"}.get(role, "/account")
    return client, await csrf_token(client, page)


async def _post(client, path: str, token: str, fields: dict[str, Any], multipart: bool,
                **headers: str):  # fmt: skip
    if multipart:
        parts = [(k, (None, v)) for k, values in fields.items()
                 for v in (values if isinstance(values, list) else [values])]  # fmt: skip
        return await client.post(path, files=[*parts, ("_csrf_token", (None, token))],
                                 headers=headers)  # fmt: skip
    return await client.post(path, data={**fields, "_csrf_token": token}, headers=headers)


@pytest.mark.parametrize("role", list(ROUTES), ids=lambda r: r.value if r else "anonymous")
async def test_a_refused_form_field_is_a_specific_422_naming_it(
    app, make_client, request, role
) -> None:
    if role is Role.CLERK:
        request.getfixturevalue("signing_ready")  # the issue route needs its signer first
    await create_municipality("131016")
    client, token = await _signed_in(make_client, role)
    for path, form, field, multipart in ROUTES[role]:
        label_ja = translate(form.labels[field], "ja")
        label_en = translate(form.labels[field], "en")
        spoiled = (
            [("repeated", ["one", "two"], "form.file_invalid")]
            if field == "file"
            else [("nul", "a\x00b", "form.field_nul"), ("repeated", ["a", "b"], "form.field_type")]
        )
        for what, value, code in spoiled:
            where = f"{path} {field} {what}"
            page = await _post(client, path, token, {field: value}, multipart)
            assert page.status_code == 422, (where, page.status_code, page.text[:300])
            assert translate(code, "ja", name=label_ja) in page.text, (where, page.text[-800:])
            english = await _post(client, f"{path}?lang=en", token, {field: value}, multipart)
            assert english.status_code == 422
            message = translate(code, "en", name=label_en)
            assert message in english.text and not _JAPANESE.search(message), where
            alert = await _post(client, path, token, {field: value}, multipart,
                                **{"HX-Request": "true"})  # fmt: skip
            assert alert.status_code == 422 and alert.headers.get("HX-Retarget") == "#alerts"
            assert translate(code, "ja", name=label_ja) in alert.text, where
            assert "Validation failed" not in page.text + alert.text


async def test_a_ticked_id_that_is_not_one_names_the_selection(app, make_client) -> None:
    await create_municipality("131016")
    client, token = await _signed_in(make_client, Role.CLERK)
    answer = await client.post(
        "/quality/resolve", data={"id": ["not-an-id", ANY_ID], "reason": "x", "_csrf_token": token}
    )
    assert answer.status_code == 422
    assert translate("records.selection_invalid", "ja") in answer.text


async def test_a_form_the_handler_refuses_comes_back_as_typed(app, make_client) -> None:
    await create_municipality("131016")
    client, token = await _signed_in(make_client, Role.MUNICIPAL_ADMIN)
    typed = {
        "/admin/accounts": {"login": "typed-login-1", "display_name": "入力した名前",
                            "password": "a long enough password", "role": "no-such-role"},
        "/admin/devices": {"label": "受付タブレット入力", "venue_id": "not-a-venue"},
        "/admin/settings": {"kiosk_hours_start": "05:00", "kiosk_hours_end": "22:00",
                            "certificate_contact": "保健センター 入力", "reason": "入力した理由"},
        "/admin/venues": {"code": "!!", "name": "入力した会場", "kind": "venue",
                          "address": "入力した住所"},
    }  # fmt: skip
    for path, fields in typed.items():
        answer = await client.post(path, data={**fields, "_csrf_token": token})
        assert answer.status_code == 422, (path, answer.text[:300])
        for name, value in fields.items():
            if name not in ("password", "role", "venue_id", "kind"):
                assert f'value="{value}"' in answer.text or f">{value}<" in answer.text, (
                    path,
                    name,
                )
