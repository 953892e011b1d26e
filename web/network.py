"""The closed network (LG-WAN): where staff may connect from.

``VRS_STAFF_NETWORKS`` lists the address ranges (CIDR) staff accounts may
use; every request of a staff account — session or bearer token — is
checked, so a new route is covered by existing. Empty means any address.
Venue operators are not staff: tablets may connect over the internet
(確認事項 第8条3) and are bound to registered devices instead
(:mod:`web.devices`). Kiosk and app clients carry no account at all.

The client address is the ASGI peer. ``X-Forwarded-For`` is believed only
when that peer is a trusted proxy (``VRS_TRUSTED_PROXIES``, default none):
then the right-most address not itself a trusted proxy is the client.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from litestar.types import Scope

from common.settings import Settings
from db.accounts.principal import Principal
from db.accounts.roles import Role

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Accounts bound to the closed network: everyone but venue operators.
STAFF_ROLES = frozenset(Role) - {Role.VENUE_OPERATOR}


class OutsideStaffNetwork(Exception):
    """A staff account asked from an address outside the configured ranges."""


def parse_networks(ranges: Iterable[str]) -> tuple[Network, ...]:
    """CIDR strings to networks (host bits allowed: ``10.1.2.3/8`` is ``10.0.0.0/8``)."""
    return tuple(ipaddress.ip_network(r, strict=False) for r in ranges)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _within(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == n.version and address in n for n in networks)


@dataclass(frozen=True)
class NetworkPolicy:
    """The allowlist and the proxies whose forwarding header is believed."""

    staff_networks: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings) -> NetworkPolicy:
        return cls(settings.staff_networks, settings.trusted_proxies)

    @cached_property
    def _staff(self) -> tuple[Network, ...]:
        return parse_networks(self.staff_networks)

    @cached_property
    def _proxies(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    def client_address(self, scope: Scope) -> Address | None:
        """Who is asking: the peer, or what a trusted proxy says it forwarded for."""
        client = scope.get("client")
        peer = _address(client[0]) if client else None
        if peer is None or not self._proxies or not _within(peer, self._proxies):
            return peer
        forwarded: list[str] = []
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                forwarded.extend(value.decode("latin-1").split(","))
        for hop in reversed(forwarded):
            address = _address(hop)
            if address is None:
                return None  # a malformed chain: trust nothing in it
            if not _within(address, self._proxies):
                return address
        return peer

    def allows_staff(self, scope: Scope) -> bool:
        """Whether a staff account may be served from this request's address."""
        if not self._staff:
            return True
        address = self.client_address(scope)
        return address is not None and _within(address, self._staff)

    def check(self, principal: Principal | None, scope: Scope) -> None:
        """Raise :class:`OutsideStaffNetwork` for a staff account outside the ranges."""
        if principal is not None and principal.role in STAFF_ROLES:
            if not self.allows_staff(scope):
                raise OutsideStaffNetwork
