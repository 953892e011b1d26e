"""The closed network: staff only from VRS_STAFF_NETWORKS; venue tablets and machine clients exempt."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from common.settings import SettingsError, load_settings
from db.accounts.roles import Role
from tests.factories import create_account, create_municipality, enrol_device, sign_in
from web.network import NetworkPolicy

LGWAN = "10.0.0.0/8"


def scope(peer: str, forwarded: str | None = None) -> dict:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"client": (peer, 4321), "headers": headers}


def test_empty_allowlist_allows_every_address() -> None:
    assert NetworkPolicy().allows_staff(scope("203.0.113.9"))


def test_addresses_inside_and_outside_the_ranges() -> None:
    policy = NetworkPolicy(staff_networks=(LGWAN, "2001:db8::/32"))
    assert policy.allows_staff(scope("10.20.30.40"))
    assert policy.allows_staff(scope("2001:db8::1"))
    assert policy.allows_staff(scope("::ffff:10.1.1.1"))  # IPv4 seen through an IPv6 socket
    assert not policy.allows_staff(scope("192.0.2.1"))
    assert not policy.allows_staff({"headers": []})  # no peer known: refused


def test_x_forwarded_for_is_not_believed_by_default() -> None:
    policy = NetworkPolicy(staff_networks=(LGWAN,))
    assert not policy.allows_staff(scope("198.51.100.7", forwarded="10.0.0.5"))


def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy() -> None:
    policy = NetworkPolicy(staff_networks=(LGWAN,), trusted_proxies=("172.16.0.0/12",))
    assert policy.allows_staff(scope("172.16.0.2", forwarded="10.0.0.5"))
    # The client's own claim left of the real hop is not believed.
    assert not policy.allows_staff(scope("172.16.0.2", forwarded="10.0.0.5, 198.51.100.7"))
    assert not policy.allows_staff(scope("198.51.100.7", forwarded="10.0.0.5"))
    assert not policy.allows_staff(scope("172.16.0.2", forwarded="not-an-address"))


def test_a_malformed_range_stops_the_server_naming_the_setting() -> None:
    environ = {"VRS_SECRET_KEY": "s" * 40, "VRS_MY_NUMBER_KEY": "a" * 43 + "=",
               "VRS_STAFF_NETWORKS": "10.0.0.0/8, lgwan", "VRS_SECRETS_FILE": "/nonexistent"}  # fmt: skip
    with pytest.raises(SettingsError, match="VRS_STAFF_NETWORKS"):
        load_settings(environ)
    environ["VRS_STAFF_NETWORKS"] = "10.0.0.0/8, 192.168.1.0/24"
    assert load_settings(environ).staff_networks == ("10.0.0.0/8", "192.168.1.0/24")


@pytest.fixture
def closed_app(app, settings):
    from web.app import create_app

    return create_app(dataclasses.replace(settings, staff_networks=(LGWAN,)), manage_pool=False)


def client_from(app, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 5555)),
        base_url="http://127.0.0.1:8000",
    )


async def test_staff_are_served_inside_and_refused_outside_each_request(closed_app) -> None:
    await create_municipality("131016")
    clerk = await create_account("net-clerk", Role.CLERK)
    async with client_from(closed_app, "10.1.2.3") as inside:
        assert (await sign_in(inside, clerk)).status_code == 303
        assert (await inside.get("/residents")).status_code == 200
        token = inside.cookies.get("vrs_session")
    async with client_from(closed_app, "198.51.100.7") as outside:
        outside.cookies.set("vrs_session", token)  # the same session, from outside
        page = await outside.get("/residents")
        assert page.status_code == 403 and "庁内ネットワーク" in page.text
        api = await outside.get("/api/v1/me", headers={"x-forwarded-for": "10.1.2.3"})
        assert api.status_code == 403
        assert api.json()["code"] == "network.outside_staff_networks"


async def test_staff_cannot_sign_in_from_outside(closed_app) -> None:
    await create_municipality("131016")
    admin = await create_account("net-admin", Role.MUNICIPAL_ADMIN)
    async with client_from(closed_app, "198.51.100.7") as outside:
        refused = await sign_in(outside, admin)
        assert refused.status_code == 403 and "vrs_session" not in refused.cookies
        assert "LGWAN" in refused.text


async def test_a_registered_venue_tablet_works_from_the_internet(closed_app) -> None:
    await create_municipality("131016")
    operator = await create_account("net-venue", Role.VENUE_OPERATOR)
    async with client_from(closed_app, "198.51.100.7") as tablet:
        assert (await sign_in(tablet, operator)).status_code == 303
        assert (await tablet.get("/venue", follow_redirects=False)).status_code == 303
        await enrol_device(operator, tablet)
        assert (await tablet.get("/venue")).status_code == 200


async def test_an_empty_allowlist_serves_staff_from_anywhere(app, client) -> None:
    """The default app (no ranges) serves staff from anywhere: empty means allow all."""
    await create_municipality("131016")
    await sign_in(client, await create_account("net-open", Role.CLERK))
    assert (await client.get("/residents")).status_code == 200
