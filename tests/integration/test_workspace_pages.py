"""Person search and view, the dashboard, and the statistics viewers' pages and API."""

from __future__ import annotations

import datetime as dt
import json
import random
import re

import pytest

from db.accounts.roles import Role
from db.engine import current_connection, owner_transaction
from tests.factories import (
    create_account,
    create_municipality,
    create_resident,
    create_vaccination,
    csrf_token,
    sign_in,
)


async def audit_actions() -> list[str]:
    async with owner_transaction():
        rows = await current_connection().fetch("SELECT action FROM audit_event ORDER BY id")
    return [r["action"] for r in rows]


async def test_search_by_each_criterion_and_view_a_person(clerk_client) -> None:
    person = await create_resident(
        "131016", name="佐藤 花子", name_kana="サトウ ハナコ", birth_date=dt.date(1944, 5, 6)
    )
    await create_resident("131016", name="鈴木 一郎", name_kana="スズキ イチロウ")
    await create_vaccination(person)
    for query in (
        "name=サトウ",
        "name=ｻﾄｳﾊﾅｺ",
        "name=花子",
        "birth_date=1944-05-06",
        f"ticket_number={person['ticket_number']}",
        f"resident_number={person['resident_number']}",
    ):
        response = await clerk_client.get(f"/residents?{query}")
        assert response.status_code == 200, query
        assert response.text.count('data-testid="person-row"') == 1, query
        assert "佐藤 花子" in response.text
    page = await clerk_client.get("/residents")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    by_number = await clerk_client.post(
        "/residents/search", data={"my_number": person["my_number"], "_csrf_token": token}
    )
    assert by_number.text.count('data-testid="person-row"') == 1
    assert person["my_number"] not in by_number.text
    view = await clerk_client.get(f"/residents/{person['id']}")
    assert view.status_code == 200
    assert person["my_number"] not in view.text
    assert 'data-testid="my-number-masked"' in view.text
    assert 'data-testid="dose-row"' in view.text
    reveal = await clerk_client.post(
        f"/residents/{person['id']}/reveal", data={"_csrf_token": token}
    )
    assert reveal.status_code == 200
    assert person["my_number"] in reveal.text
    actions = await audit_actions()
    assert actions.count("resident.view") == 2
    assert "resident.my_number_reveal" in actions
    assert "resident.search" in actions


async def test_bad_search_input_is_explained_not_a_500(clerk_client) -> None:
    for query in ("ticket_number=12", "birth_date=1999-99-99", "resident_number=abc", "page=x"):
        response = await clerk_client.get(f"/residents?{query}")
        assert response.status_code in {400, 422}, query
    missing = await clerk_client.get("/residents/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404


async def test_results_are_paged(clerk_client) -> None:
    for _ in range(25):
        await create_resident("131016", name_kana="タナカ タロウ")
    first = await clerk_client.get("/residents?name=タナカ")
    assert first.text.count('data-testid="person-row"') == 20
    assert 'data-testid="page-next"' in first.text
    second = await clerk_client.get("/residents?name=タナカ&page=2")
    assert second.text.count('data-testid="person-row"') == 5


async def direct_counts(code: str) -> dict[str, dict]:
    async with owner_transaction():
        c = current_connection()
        by_dose = dict(
            await c.fetch(
                "SELECT dose_number, count(*) FROM vaccination WHERE municipality_code = $1"
                " AND status = 'active' GROUP BY 1",
                code,
            )
        )
        by_day = dict(
            await c.fetch(
                "SELECT vaccinated_on, count(*) FROM vaccination WHERE municipality_code = $1"
                " AND status = 'active' GROUP BY 1",
                code,
            )
        )
        by_age = dict(
            await c.fetch(
                "SELECT vrs_age_band(r.birth_date, v.vaccinated_on), count(*) FROM vaccination v"
                " JOIN resident r ON r.id = v.resident WHERE v.municipality_code = $1"
                " AND v.status = 'active' GROUP BY 1",
                code,
            )
        )
    return {"dose": by_dose, "day": by_day, "age": by_age}


async def test_dashboard_numbers_equal_a_direct_count(clerk_client) -> None:
    from db.engine import tenant_transaction
    from db.statistics.queries import municipality_figures

    rng = random.Random(4)
    people = [
        await create_resident("131016", birth_date=dt.date(rng.randint(1920, 2020), 1, 1))
        for _ in range(30)
    ]
    for person in people:
        for dose in range(1, rng.randint(1, 3) + 1):
            await create_vaccination(
                person,
                dose_number=dose,
                vaccinated_on=dt.date(2021, 6, 1)
                + dt.timedelta(days=dose * 30 + rng.randint(0, 20)),
            )
    # A deletion (a recorded state) leaves the counts.
    async with owner_transaction():
        await current_connection().execute(
            "UPDATE vaccination SET status = 'deleted' WHERE id = (SELECT id FROM vaccination LIMIT 1)"
        )
    expected = await direct_counts("131016")
    async with tenant_transaction("131016"):
        figures = await municipality_figures()
    assert dict(figures["by_dose"]) == expected["dose"]
    assert dict(figures["by_day"]) == expected["day"]
    assert dict(figures["by_age"]) == expected["age"]
    assert figures["population"] == 30
    page = await clerk_client.get("/dashboard")
    assert page.status_code == 200
    assert f'data-testid="total-doses">{sum(expected["dose"].values())}<' in page.text
    assert 'hx-trigger="every 5s"' in page.text
    partial = await clerk_client.get("/dashboard", headers={"hx-request": "true"})
    assert partial.text.lstrip().startswith('<div id="dashboard-figures"')


async def test_a_new_dose_shows_on_the_next_refresh(clerk_client) -> None:
    person = await create_resident("131016")
    before = await clerk_client.get("/dashboard", headers={"hx-request": "true"})
    assert 'data-testid="total-doses">0<' in before.text
    await create_vaccination(person)
    after = await clerk_client.get("/dashboard", headers={"hx-request": "true"})
    assert 'data-testid="total-doses">1<' in after.text


@pytest.fixture
async def two_prefectures(app):
    await create_municipality("131016")
    await create_municipality("131041")
    await create_municipality("011002")
    for code in ("131016", "131041", "011002"):
        person = await create_resident(code, name="秘密 太郎", name_kana="ヒミツ タロウ")
        await create_vaccination(person, code, venue_name="秘密会場", lot_number="SECRETLOT")
    return person


@pytest.mark.parametrize("role", [Role.PREFECTURE_VIEWER, Role.NATIONAL_VIEWER])
async def test_statistics_roles_see_sums_and_cannot_reach_personal_data(
    make_client, two_prefectures, role
) -> None:
    viewer = await make_client()
    await sign_in(viewer, await create_account(None, role, municipality_code=None))
    page = await viewer.get("/statistics")
    assert page.status_code == 200
    expected_total = 2 if role is Role.PREFECTURE_VIEWER else 3
    assert f'data-testid="total-doses">{expected_total}<' in page.text
    api = await viewer.get("/api/v1/statistics")
    assert api.status_code == 200
    assert api.json()["total"] == expected_total
    bodies = [page.text, api.text]
    from db.statistics.open_data import FILES

    for name in FILES:
        response = await viewer.get(f"/statistics/open-data/{name}")
        assert response.status_code == 200
        bodies.append(response.text)
    detail = [json.loads(line) for line in bodies[2].splitlines()]
    assert set(detail[0]) == {
        "date",
        "prefecture",
        "gender",
        "age",
        "medical_worker",
        "status",
        "count",
    }
    assert detail[0]["age"] in {"-64", "65-"}
    for body in bodies:
        for secret in ("秘密", "ヒミツ", "SECRETLOT", two_prefectures["my_number"]):
            assert secret not in body
    # Every personal page and API is closed to them.
    resident_id = two_prefectures["id"]
    for path in (
        "/residents",
        "/residents?name=ヒミツ",
        f"/residents/{resident_id}",
        "/dashboard",
        "/imports",
        "/inquiries",
        "/admin/backup",
    ):
        response = await viewer.get(path)
        assert response.status_code in {403, 404}, path
        for secret in ("秘密", "ヒミツ"):
            assert secret not in response.text
    token = await csrf_token(viewer, "/")
    for path in (
        "/inquiries/single",
        "/inquiries/bulk",
        f"/residents/{resident_id}/reveal",
        "/residents/search",
        "/admin/backup/export",
        "/imports",
    ):
        response = await viewer.post(path, data={"_csrf_token": token})
        assert response.status_code == 403, path
        assert "ヒミツ" not in response.text
    api = await viewer.post(
        "/api/v1/inquiries",
        json={"my_number": two_prefectures["my_number"]},
        headers={"x-csrftoken": token},
    )
    assert api.status_code == 403


async def test_the_open_data_command_writes_the_files(two_prefectures, tmp_path) -> None:
    from db.engine import tenant_transaction
    from db.statistics.open_data import write_open_data

    async with tenant_transaction(None):
        names = await write_open_data(tmp_path, None)
    lines = (tmp_path / "prefecture.ndjson").read_text().splitlines()
    assert sum(json.loads(line)["count"] for line in lines) == 3
    assert (tmp_path / "summary_by_prefecture.csv").read_text().startswith("prefecture,total")
    assert len(names) == 6
