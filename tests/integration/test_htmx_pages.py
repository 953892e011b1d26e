"""One htmx pattern: every URL htmx fetches answers the whole page when opened directly.

The routes that answer partials declare them (``opt=partial(...)``, :mod:`web.htmx`);
this test lists them from the app itself, so a new one without a scenario here fails.
Each is fetched four ways: directly and as a boosted or history-restore htmx request
(the whole page), and as a plain htmx request (the partial), always with
``Vary: HX-Request``. POSTs answer a partial to htmx and a 303 to a plain form.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from db.accounts.roles import Role
from tests.factories import (
    create_account,
    create_municipality,
    csrf_token,
    enrol_device,
    sign_in,
)
from web.htmx import PARTIAL

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
CSV = "個別宛名番号,マイナンバー,氏名\n".encode()

HTMX = {"HX-Request": "true"}
WHOLE_PAGE_HEADERS = {
    "direct": {},
    "boosted": {**HTMX, "HX-Boosted": "true"},
    "history restore": {**HTMX, "HX-History-Restore-Request": "true"},
}


async def _browser(make_client, role: Role, code: str | None = "131016") -> Any:
    await create_municipality("131016")
    client = await make_client()
    assert (
        await sign_in(client, await create_account(role=role, municipality_code=code))
    ).status_code == 303
    return client


async def _dashboard(make_client) -> tuple[Any, str]:
    return await _browser(make_client, Role.CLERK), "/dashboard"


async def _statistics(make_client) -> tuple[Any, str]:
    return await _browser(make_client, Role.NATIONAL_VIEWER, None), "/statistics"


async def _import_job(make_client) -> tuple[Any, str]:
    client = await _browser(make_client, Role.CLERK)
    token = await csrf_token(client, "/imports")
    posted = await client.post(
        "/imports", files={"file": ("r.csv", CSV, "text/csv")}, headers={"x-csrftoken": token}
    )
    assert posted.status_code == 303, posted.text  # a plain form: redirected to the job's page
    return client, posted.headers["location"]


async def _backup_job(make_client) -> tuple[Any, str]:
    client = await _browser(make_client, Role.MUNICIPAL_ADMIN)
    token = await csrf_token(client, "/admin/backup")
    posted = await client.post("/admin/backup/export", data={"_csrf_token": token})
    assert posted.status_code == 303, posted.text
    return client, posted.headers["location"]


async def _venue_recent(make_client) -> tuple[Any, str]:
    await create_municipality("131016")
    client = await make_client()
    login = await create_account(role=Role.VENUE_OPERATOR)
    await enrol_device(login, client)
    assert (await sign_in(client, login)).status_code == 303
    return client, "/venue/recent"


#: Route path -> how to reach one of its URLs as a user allowed to see it.
SCENARIOS: dict[str, Callable[[Any], Awaitable[tuple[Any, str]]]] = {
    "/dashboard": _dashboard,
    "/statistics": _statistics,
    "/imports/{job_id:uuid}": _import_job,
    "/admin/backup/jobs/{job_id:uuid}": _backup_job,
    "/venue/recent": _venue_recent,
}


def partial_routes(app) -> dict[str, str]:
    """Route path -> the partial it declares, for every GET route of the app."""
    found = {}
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if "GET" in handler.http_methods and PARTIAL in handler.opt:
                found[route.path] = handler.opt[PARTIAL]
    return found


def test_every_partial_route_has_a_scenario_and_every_hx_get_url_is_declared(app) -> None:
    declared = partial_routes(app)
    assert set(declared) == set(SCENARIOS), "routes answering partials without a scenario here"
    patterns = [re.compile(re.sub(r"\{[^}]+\}", "[^/]+", path) + "$") for path in declared]
    fetched = {
        f"{path.relative_to(TEMPLATES)}: {url}"
        for path in TEMPLATES.rglob("*.html")
        for url in re.findall(r'\bhx-get="([^"]+)"', path.read_text(encoding="utf-8"))
        if not url.startswith("{{")  # a URL the handler passes in (its route is listed above)
    }
    undeclared = {
        entry
        for entry in fetched
        if not any(
            p.match(re.sub(r"\{\{[^}]+\}\}", "x", entry.split(": ", 1)[1]).split("?")[0])
            for p in patterns
        )
    }
    assert fetched and not undeclared, f"hx-get URLs whose route declares no partial: {undeclared}"


def _is_whole_page(text: str) -> bool:
    return text.lstrip().lower().startswith("<!doctype html>")


@pytest.mark.parametrize("route", sorted(SCENARIOS))
async def test_a_partial_url_answers_the_page_directly_and_the_partial_to_htmx(
    make_client, app, route: str
) -> None:
    client, url = await SCENARIOS[route](make_client)
    for how, headers in WHOLE_PAGE_HEADERS.items():
        page = await client.get(url, headers=headers)
        assert page.status_code == 200, (how, page.text)
        assert _is_whole_page(page.text), f"{url} {how}: not the whole page"
        assert "HX-Request" in page.headers.get("vary", ""), (how, page.headers)
    fragment = await client.get(url, headers=HTMX)
    assert fragment.status_code == 200, fragment.text
    assert not _is_whole_page(fragment.text) and "<html" not in fragment.text
    assert "HX-Request" in fragment.headers.get("vary", "")
    first_tag = re.search(r"<[a-z][^>]*>", fragment.text)
    marker = first_tag and re.search(r'\b(?:id|data-testid)="[^"]+"', first_tag.group(0))
    assert marker and marker.group(0) in page.text, "the page embeds the partial"


async def test_an_htmx_upload_answers_the_progress_partial(make_client, app) -> None:
    client = await _browser(make_client, Role.CLERK)
    token = await csrf_token(client, "/imports")
    posted = await client.post(
        "/imports", files={"file": ("r.csv", CSV, "text/csv")},
        headers={"x-csrftoken": token, **HTMX},
    )  # fmt: skip
    assert posted.status_code == 200, posted.text
    assert not _is_whole_page(posted.text) and 'id="job-' in posted.text


@pytest.mark.parametrize("how", sorted(WHOLE_PAGE_HEADERS))
async def test_errors_are_whole_pages_unless_htmx_asks_for_a_fragment(client, app, how) -> None:
    page = await client.get("/no-such-page", headers=WHOLE_PAGE_HEADERS[how])
    assert page.status_code == 404
    assert _is_whole_page(page.text), how
    assert "HX-Request" in page.headers.get("vary", "")
    alert = await client.get("/no-such-page", headers=HTMX)
    assert alert.status_code == 404 and not _is_whole_page(alert.text)
    assert alert.headers["hx-retarget"] == "#alerts"
