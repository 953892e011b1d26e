"""Every route, as every account of municipality B, aimed at municipality A's objects.

The routes come from the router (:mod:`tests.security.routes`): a route
without an entry in :data:`PROBES` fails :func:`test_every_route_has_a_probe`
naming it. Each probe puts A's identifiers (resident, dose, ticket, My Number,
venue, device, import job, inquiry, certificate) in the path, query and body;
every B role sends it; no response may carry anything of A (names, My Number,
ticket, ids, staff names...) except what that very request sent (an echo of the
caller's own input is not a leak), no response may be a 5xx, and afterwards
every row of A's area is exactly as before. Statistics viewers and national
accounts are among the roles, so their reach to personal fields is probed too.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from db.engine import current_connection, owner_transaction
from tests.security.conftest import A, AreaA, area_a
from tests.security.routes import route_keys


@dataclass(frozen=True)
class Probe:
    """How to aim a route at A: query, form/JSON body, file; ``{secret}`` placeholders."""

    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, Any] | None = None
    json: dict[str, Any] | None = None
    file: tuple[str, str] | None = None  # (field name, content)
    last: bool = False  # ends the session (sign-out): run after the others


@dataclass(frozen=True)
class Exempt:
    """A route that holds nothing of any municipality, and why."""

    reason: str


PUBLIC = "public by design: serves no tenant data"
STATIC = "static files, schema pages: no data"

#: Path parameters by name: which of A's objects each one names.
PATH_VALUES = {
    "resident_id": "{resident_id}", "vaccination_id": "{vaccination_id}", "job_id": "{job_id}",
    "certificate_id": "{certificate_id}", "venue_id": "{venue_id}", "device_id": "{device_id}",
    "session_id": "{inquiry_id}", "name": "prefecture.csv", "action": "lot", "chosen": "ja",
    "filename": "{certificate_id}.crl", "account_id": "{clerk_id}", "token_id": "{device_id}",
    # The national admin's pages: A's own area, a reset (of A's clerk: refused, only
    # municipal admins are the national admin's to manage), an id of A as a client id.
    "code": A, "admin_action": "reset", "client_id": "{device_id}",
}  # fmt: skip

CSV_ROW = "ticket,municipality_code,birth_date,dose_number,vaccinated_on,product,lot_number,volume_ml,doctor_name\n{ticket},131016,1951-03-04,2,2021-06-22,pfizer-comirnaty,FA4597,0.3,医師\n"
# B imports A's resident's My Number under its own numbers (a person may live in both);
# A's own ticket and resident number would come back in B's later searches as B's data.
IMPORT_CSV = "個別宛名番号,マイナンバー,氏名,カナ氏名,生年月日,性別,接種券番号\n5550001,{my_number},上書き 太郎,ウワガキ タロウ,1960-01-01,1,5550000001\n"
INQUIRY_CSV = "マイナンバー,同意,同意の根拠,同意の記録\n{my_number},1,書面による同意,同意書 B-1\n"

PROBES: dict[str, Probe | Exempt] = {
    "GET /": Probe(),
    "GET /admin/accounts": Probe(query={"created": "{clerk_login}"}),
    "POST /admin/accounts": Probe(form={"login": "b-made", "display_name": "x", "password": "long enough password", "role": "venue_operator", "venue_id": "{venue_id}"}),
    "GET /admin/backup": Probe(),
    "POST /admin/backup/export": Probe(form={"municipality_code": A}),
    "POST /admin/backup/restore": Probe(file=("file", "not a zip {resident_id}")),
    # Backup jobs (another helper's new routes): A has none, so A's import job id stands in
    # for "an id of A's area" — the job look-up must not cross areas either way.
    "GET /admin/backup/jobs/{job_id:uuid}": Probe(),
    "GET /admin/backup/jobs/{job_id:uuid}/download": Probe(),
    "GET /admin/devices": Probe(),
    "POST /admin/devices": Probe(form={"label": "b-tablet", "venue_id": "{venue_id}"}),
    "POST /admin/devices/{device_id:uuid}/revoke": Probe(),
    "GET /admin/venues": Probe(query={"done": "added"}),
    "POST /admin/venues": Probe(form={"code": "V001", "name": "b-venue", "kind": "venue", "address": ""}),
    "POST /admin/venues/{venue_id:uuid}/close": Probe(),
    "GET /admin/settings": Probe(query={"done": "saved"}),
    "POST /admin/settings": Probe(form={"certificate_contact": "b-contact", "kiosk_hours_start": "07:00", "kiosk_hours_end": "22:00", "kiosk_issuance": "1", "reason": "b changes"}),
    "POST /admin/accounts/{account_id:uuid}/{action:str}": Probe(),
    "GET /admin/accounts/{account_id:uuid}/tokens": Probe(),
    "POST /admin/accounts/{account_id:uuid}/tokens/{token_id:uuid}/revoke": Probe(),
    "GET /account": Probe(query={"done": "1"}),
    "POST /account": Probe(form={"current": "x", "new": "{clerk_login} long password", "repeated": "{clerk_login} long password"}),
    "GET /api/v1/me": Probe(),
    "POST /api/v1/card-sessions": Probe(json={"municipality_code": A}),
    "POST /api/v1/card-sessions/{session_id:str}/proof": Probe(json={"my_number": "{my_number}"}),
    "POST /api/v1/card-sessions/{session_id:str}/kiosk-issue": Probe(json={"municipality_code": A}),
    "POST /api/v1/card-sessions/{session_id:str}/kiosk-preview": Probe(json={"municipality_code": A}),
    "POST /api/v1/kiosk/completions": Probe(json={"certificate_id": "{certificate_id}"}),
    "POST /api/v1/kiosk/heartbeat": Probe(json={"state": "ok"}),
    "POST /api/v1/kiosk/failures": Probe(json={"certificate_ids": ["{certificate_id}"], "reason": "refunded"}),
    "GET /certificates": Probe(query={"q": "{ticket}"}),
    "GET /certificates/person/{resident_id:uuid}": Probe(query={"issued": "{certificate_id}"}),
    "GET /certificates/{certificate_id:str}/pdf": Probe(),
    "POST /certificates/person/{resident_id:uuid}/issue": Probe(form={"kind": "domestic"}),
    "POST /certificates/person/{resident_id:uuid}/preview": Probe(form={"kind": "domestic"}),
    "GET /api/v1/certificates/{certificate_id:str}": Probe(),
    "GET /api/v1/certificates/{certificate_id:str}/pdf": Probe(),
    "GET /api/v1/certificates/{certificate_id:str}/smart-health-card": Probe(),
    "POST /api/v1/certificates": Probe(json={"resident_id": "{resident_id}", "kind": "domestic"}),
    "GET /api/v1/statistics": Probe(query={"municipality_code": A}),
    "GET /dashboard": Probe(query={"municipality_code": A}),
    "GET /statistics": Probe(query={"municipality_code": A}),
    "GET /statistics/open-data/{name:str}": Probe(),
    "GET /healthz": Exempt(PUBLIC),
    "GET /readyz": Exempt(PUBLIC),
    "GET /language/{chosen:str}": Probe(query={"back": "/residents/{resident_id}"}),
    "GET /imports": Probe(),
    "POST /imports": Probe(file=("file", IMPORT_CSV)),
    "GET /imports/template.csv": Probe(),
    "GET /imports/{job_id:uuid}": Probe(),
    "GET /imports/{job_id:uuid}/rejections.csv": Probe(),
    "POST /imports/{job_id:uuid}/resume": Probe(),
    "GET /inquiries": Probe(),
    "POST /inquiries/single": Probe(form={"my_number": "{my_number}", "consent": "1", "consent_basis": "written", "consent_reference": "同意書 B-1", "register": "1"}),
    "POST /inquiries/bulk": Probe(file=("file", INQUIRY_CSV)),
    "POST /api/v1/inquiries": Probe(json={"my_number": "{my_number}", "consent": True, "consent_basis": "written", "consent_reference": "同意書 B-1"}),
    "GET /issuer/.well-known/crl/{filename:str}": Exempt("public revocation list: certificate ids and dates of revoked certificates only (none here)"),
    "GET /issuer/.well-known/jwks.json": Exempt(PUBLIC),
    "GET /issuer/.well-known/vdsnc/revoked.json": Exempt("public revocation list, as the CRL"),
    "GET /pki/{filename:str}": Exempt("public X.509 CRLs of the system's own CAs: no tenant data"),
    "GET /national/vaccines": Probe(),
    "POST /national/vaccines/{action:str}": Probe(form={"product": "no-such-product-{ticket}", "lot_number": "", "expires_on": ""}),
    "GET /national/kiosks": Probe(query={"municipality_code": A}),
    "GET /national/municipalities": Probe(query={"created": A}),
    "POST /national/municipalities": Probe(form={"code": A, "prefecture": "13", "name": "乗っ取り区", "name_en": "x", "head_title": ""}),
    "GET /national/municipalities/{code:str}": Probe(query={"done": "reset"}),
    "POST /national/municipalities/{code:str}/admins": Probe(form={"login": "{clerk_login}", "display_name": "x"}),
    "POST /national/municipalities/{code:str}/admins/{account_id:uuid}/{admin_action:str}": Probe(),
    "GET /national/clients": Probe(query={"done": "revoked"}),
    "POST /national/clients/{client_id:uuid}/revoke": Probe(),
    "GET /national/suspensions": Probe(),
    "POST /national/suspensions": Probe(form={"function": "no-such-function", "notice": ""}),
    "GET /quality": Probe(query={"quality": "needs_fix"}),
    "POST /quality/match": Probe(),
    "POST /quality/resolve": Probe(form={"id": "{vaccination_id}", "reason": "b resolves a"}),
    "GET /records/{vaccination_id:uuid}": Probe(),
    "POST /records/{vaccination_id:uuid}/correct": Probe(form={"reason": "b edits a", "lot_number": "FA4597", "doctor_name": "改ざん"}),
    "POST /records/{vaccination_id:uuid}/delete": Probe(form={"reason": "b deletes a"}),
    "POST /records/{vaccination_id:uuid}/erase": Probe(form={"reason": "b erases a"}),
    "GET /residents": Probe(query={"ticket_number": "{ticket}", "resident_number": "{resident_number}"}),
    "POST /residents/search": Probe(form={"my_number": "{my_number}"}),
    "GET /residents/{resident_id:uuid}": Probe(),
    "POST /residents/{resident_id:uuid}/reveal": Probe(),
    "POST /residents/{resident_id:uuid}/edit": Probe(form={"name": "改ざん", "name_kana": "カイザン", "former_name": "", "moved_out_on": "", "deceased_on": "", "priority_group": "", "my_number": "", "reason": "b edits a"}),
    "POST /residents/{resident_id:uuid}/erase": Probe(form={"reason": "b erases a"}),
    "POST /residents/{resident_id:uuid}/reissue": Probe(form={"ticket_number": "{ticket}", "reason": "b reissues a's ticket"}),
    "GET /sign-in": Exempt("the sign-in form: no data"),
    "POST /sign-in": Exempt("anyone may try a login (A's lockout counter moving is the lockout working, tested in test_sessions)"),
    "POST /sign-out": Probe(last=True),
    "GET /api/v1/residents/{resident_id:uuid}/vaccinations": Probe(),
    "GET /api/v1/venues/{venue_id:uuid}/vaccinations": Probe(),
    "GET /venue": Probe(),
    "POST /venue/lookup": Probe(form={"ticket": "{ticket}", "municipality_code": A, "birth_date": "19510304"}),
    "POST /venue/doses": Probe(form={"ticket": "{ticket}", "municipality_code": A, "dose_number": "2", "vaccinated_on": "2021-06-22", "product": "pfizer-comirnaty", "lot_number": "FA4597", "volume_ml": "0.3", "doctor_name": "医師", "idempotency_key": "b-probe-1", "birth_date": "19510304"}),
    "POST /api/v1/vaccinations": Probe(json={"ticket": "12131016{ticket}", "dose_number": "2", "vaccinated_on": "2021-06-22", "product": "pfizer-comirnaty", "lot_number": "FA4597", "volume_ml": "0.3", "doctor_name": "医師", "birth_date": "1951-03-04"}),
    "GET /venue/enrol": Probe(query={"code": "{device_id}"}),
    "POST /venue/enrol": Probe(form={"code": "{device_id}"}),
    "GET /venue/upload": Probe(),
    "POST /venue/upload": Probe(file=("file", CSV_ROW)),
    "GET /venue/recent": Probe(),
    "GET /verify": Exempt("public verification page for certificate holders; reads only what is posted"),
    "POST /verify": Exempt("public verification: checks the signature of a posted QR payload, looks nothing up"),
    "GET /static/{file_path:path}": Exempt(STATIC),
    "GET /schema": Exempt(STATIC),
    "GET /schema/openapi.json": Exempt(STATIC),
    "GET /schema/{path:str}": Exempt(STATIC),
    "POST /api/v1/residents/{resident_id:uuid}/my-number": Probe(json={"my_number": "{my_number}"}),
}  # fmt: skip


def test_every_route_has_a_probe(app) -> None:
    """A new route fails here, by name, until it gets a probe or a justified exemption."""
    missing = [key for key in route_keys(app) if key not in PROBES]
    assert not missing, f"routes without a cross-tenant probe in {__file__}: {missing}"
    stale = [key for key in PROBES if key not in route_keys(app)]
    assert not stale, f"probes for routes that no longer exist: {stale}"
    assert all(entry.reason for entry in PROBES.values() if isinstance(entry, Exempt))


_PARAM = re.compile(r"\{(\w+):\w+\}")


def _fill(value: Any, secrets: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**secrets)
    if isinstance(value, dict):
        return {k: _fill(v, secrets) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_fill(v, secrets) for v in value)
    return value


def request_for(key: str, probe: Probe, secrets: dict[str, str]) -> dict[str, Any]:
    """The httpx arguments of one probe, and the text it sends (to tell echoes from leaks)."""
    method, path = key.split(" ", 1)

    def param(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in PATH_VALUES, f"{key}: path parameter {name!r} has no value in PATH_VALUES"
        return PATH_VALUES[name].format(**secrets)

    url = _PARAM.sub(param, path)
    arguments: dict[str, Any] = {
        "method": method,
        "url": url,
        "params": _fill(probe.query, secrets),
    }
    if probe.form is not None:
        arguments["data"] = _fill(probe.form, secrets)
    if probe.json is not None:
        arguments["json"] = _fill(probe.json, secrets)
    if probe.file is not None:
        name, content = probe.file
        arguments["files"] = {name: ("probe.csv", _fill(content, secrets).encode(), "text/csv")}
    arguments["sent"] = json.dumps([url, arguments["params"], arguments.get("data"),
                                    arguments.get("json"), _fill(probe.file, secrets)],
                                   ensure_ascii=False)  # fmt: skip
    return arguments


def readable(response: Any) -> str:
    """Everything a response carries, as text: headers, body, zip members, JSON unescaped."""
    content = response.content
    parts = [str(response.headers)]
    if content.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            parts.extend(archive.read(n).decode("utf-8", "replace") for n in archive.namelist())
    else:
        parts.append(content.decode("utf-8", "replace"))
        if "json" in response.headers.get("content-type", ""):
            try:
                parts.append(json.dumps(response.json(), ensure_ascii=False))
            except ValueError:
                pass
    return "\n".join(parts)


async def snapshot_of(code: str) -> dict[str, str]:
    """A digest of every row of every tenant table in one area."""
    async with owner_transaction():
        connection = current_connection()
        tables = await connection.fetch(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
            " AND column_name = 'municipality_code' AND table_name IN (SELECT tablename"
            " FROM pg_tables WHERE schemaname = 'public') ORDER BY table_name"
        )
        digest = {}
        for row in tables:
            name = row["table_name"]
            digest[name] = await connection.fetchval(
                f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), ''))"
                f' FROM "{name}" t WHERE municipality_code = $1',
                code,
            )
        return digest


def csrf_header(client: Any) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("vrs_csrf", "")}


async def probe_everything(
    app: Any,
    area: AreaA,
    clients: dict[str, Any],
    extra: tuple[tuple[str, Probe], ...] = (),
    skip: frozenset[str] = frozenset(),
) -> tuple[list[str], list[str], int, list[str]]:
    """Every probe as every B client: (leaks, 5xx errors, requests tried, keys probed)."""
    keys = [k for k in route_keys(app) if isinstance(PROBES.get(k), Probe) and k not in skip]
    keys.sort(key=lambda k: PROBES[k].last)
    plan = [(k, PROBES[k]) for k in keys if not PROBES[k].last]
    plan += list(extra) + [(k, PROBES[k]) for k in keys if PROBES[k].last]
    leaks, errors, tried = [], [], 0
    for key, probe in plan:
        assert isinstance(probe, Probe)
        for login, client in clients.items():
            arguments = request_for(key, probe, area.secrets)
            sent = arguments.pop("sent")
            response = await client.request(
                **arguments, headers=csrf_header(client), follow_redirects=False
            )
            tried += 1
            if response.status_code >= 500:
                errors.append(f"{login} {key}: {response.status_code}")
            text = readable(response)
            for name, secret in area.secrets.items():
                if secret not in sent and secret in text:
                    leaks.append(f"{login} {key} → {response.status_code} shows A's {name}")
            if response.status_code == 200 and "application/pdf" in response.headers.get(
                "content-type", ""
            ):
                leaks.append(f"{login} {key} → a PDF (B holds no certificate)")
    return leaks, errors, tried, keys


async def test_no_account_of_b_reaches_anything_of_a(app, two_areas) -> None:
    area, clients = two_areas
    area: AreaA
    before = await snapshot_of(A)
    leaks, errors, tried, keys = await probe_everything(app, area, clients)
    assert tried >= len(keys) * len(clients)
    assert not errors, errors
    assert not leaks, leaks
    after = await snapshot_of(A)
    changed = [table for table in before if before[table] != after.get(table)]
    assert not changed, f"B's probes changed A's {changed}"


#: Each crossing's abuse, tried on top of :data:`PROBES` when A keeps the default terms
#: (both crossings on): F8 without or with a wrong stated birth date, F8 saves without
#: the identity check or with a clerk's made-up venue, F7 for a My Number B never recorded
#: on its own residents, with free-text consent, in bulk.
CROSSING_ABUSE: tuple[tuple[str, Probe], ...] = (
    ("POST /venue/lookup", Probe(form={"ticket": "{ticket}", "municipality_code": A, "birth_date": "1960-01-01"})),
    ("POST /venue/lookup", Probe(form={"ticket": "{ticket}", "municipality_code": A, "birth_date": "1951-03-05"})),
    ("POST /api/v1/vaccinations", Probe(json={"ticket": "12131016{ticket}", "dose_number": "3", "vaccinated_on": "2021-12-22", "product": "pfizer-comirnaty", "lot_number": "FA4597", "volume_ml": "0.3", "doctor_name": "医師", "venue_name": "架空の会場", "birth_date": "1951-04-03"})),
    ("POST /api/v1/inquiries", Probe(json={"my_number": "{my_number}", "consent": True, "consent_basis": "x", "consent_reference": "x"})),
    ("POST /inquiries/bulk", Probe(file=("file", INQUIRY_CSV + "{my_number},1,本人同意,x\n"))),
)  # fmt: skip


#: Probes that, under the default terms, are the crossings' designed use rather than abuse:
#: B's venue states A's person's right birth date (F8: the person is at B's venue, and B's
#: venue sees the name and records the dose, on the tablet or in its CSV), and B records A's person's My Number on its
#: own resident (a person may live in both: after that, B may inquire, logged on both sides,
#: rate limited and capped per day). Their abuse variants are in CROSSING_ABUSE.
DESIGNED_USE_AT_DEFAULTS = frozenset(
    {"POST /venue/lookup", "POST /venue/doses", "POST /venue/upload", "POST /imports"}
)


async def test_b_reaches_nothing_of_a_under_the_default_terms(
    app, two_areas_at_default_terms
) -> None:
    """The same probes, and each crossing's abuse, with A answering inquiries and accepting
    other venues' records (the defaults, and the demo's): the crossings answer only their
    purpose, so still nothing of A reaches B. A's audit log may grow: the crossings log
    every attempt in the answering area."""
    area, clients = two_areas_at_default_terms
    before = await snapshot_of(A)
    leaks, errors, tried, keys = await probe_everything(
        app, area, clients, CROSSING_ABUSE, skip=DESIGNED_USE_AT_DEFAULTS
    )
    assert tried >= len(keys) * len(clients)
    assert not errors, errors
    assert not leaks, leaks
    after = await snapshot_of(A)
    changed = [t for t in before if before[t] != after.get(t) and t != "audit_event"]
    assert not changed, f"B's probes changed A's {changed}"


async def test_the_probe_would_see_a_leak(app, two_areas) -> None:
    """The detector itself: A's own clerk, with the same probe, does see A's person."""
    from tests.factories import sign_in

    area, clients = two_areas
    a_clerk = clients["b_clerk"]  # reuse a client object: sign it in as A's clerk instead
    a_clerk.cookies.clear()
    assert (await sign_in(a_clerk, area.clerk_login)).status_code == 303
    arguments = request_for(
        "GET /residents/{resident_id:uuid}",
        PROBES["GET /residents/{resident_id:uuid}"],
        area.secrets,
    )
    arguments.pop("sent")
    response = await a_clerk.request(**arguments, headers=csrf_header(a_clerk))
    assert response.status_code == 200 and area.secrets["name"] in readable(response)


#: What a statistics viewer must never see, even of the municipalities it oversees.
PERSONAL = ("name", "kana", "my_number", "ticket", "resident_number", "resident_id",
            "vaccination_id", "certificate_id", "doctor", "inquiry_id", "consent")  # fmt: skip


async def test_statistics_viewers_of_a_s_own_prefecture_reach_no_personal_field(
    app, make_client
) -> None:
    """Tokyo's prefecture viewer and the national viewer oversee A: counts yes, people no."""
    from db.accounts.roles import Role
    from tests.factories import create_account, sign_in

    area = await area_a()
    personal = {k: v for k, v in area.secrets.items() if k in PERSONAL}
    personal["birth_date"] = "1951-03-04"
    viewers = {}
    for login, role in (("tokyo-viewer-p", Role.PREFECTURE_VIEWER),
                        ("national-viewer-p", Role.NATIONAL_VIEWER)):  # fmt: skip
        await create_account(login, role, None, prefecture_code="13")
        viewers[login] = await make_client()
        assert (await sign_in(viewers[login], login)).status_code == 303
    statistics = await viewers["tokyo-viewer-p"].get("/statistics")
    assert statistics.status_code == 200 and "千代田区" in statistics.text  # A is in view
    leaks = []
    for key in route_keys(app):
        probe = PROBES.get(key)
        if not isinstance(probe, Probe) or probe.last:
            continue
        for login, client in viewers.items():
            arguments = request_for(key, probe, area.secrets)
            sent = arguments.pop("sent")
            response = await client.request(**arguments, headers=csrf_header(client))
            assert response.status_code < 500, f"{login} {key}"
            text = readable(response)
            leaks += [f"{login} {key} shows {n}" for n, v in personal.items()
                      if v not in sent and v in text]  # fmt: skip
    assert not leaks, leaks
