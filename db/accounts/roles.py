"""Roles (SPEC §4) and what each may do."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Who an account is."""

    NATIONAL_ADMIN = "national_admin"
    """国: master data and municipalities; no personal data."""
    MUNICIPAL_ADMIN = "municipal_admin"
    """市区町村管理者: staff and venue accounts, venues, settings, backups."""
    CLERK = "clerk"
    """市区町村職員: residents, records, inquiries, certificates, dashboard."""
    VENUE_OPERATOR = "venue_operator"
    """接種会場: records doses at one venue."""
    PREFECTURE_VIEWER = "prefecture_viewer"
    """都道府県: aggregated statistics of its municipalities only."""
    NATIONAL_VIEWER = "national_viewer"
    """国: aggregated national statistics only."""

    @property
    def is_municipal(self) -> bool:
        """Bound to one municipality's area."""
        return self in MUNICIPAL_ROLES

    @property
    def sees_personal_data(self) -> bool:
        """May see residents' personal data (of its own municipality)."""
        return self in {Role.MUNICIPAL_ADMIN, Role.CLERK, Role.VENUE_OPERATOR}


MUNICIPAL_ROLES = frozenset({Role.MUNICIPAL_ADMIN, Role.CLERK, Role.VENUE_OPERATOR})
STATISTICS_ROLES = frozenset({Role.PREFECTURE_VIEWER, Role.NATIONAL_VIEWER})

#: Roles a municipal admin may give to accounts of their municipality.
GRANTABLE_BY_MUNICIPAL_ADMIN = frozenset({Role.CLERK, Role.VENUE_OPERATOR, Role.MUNICIPAL_ADMIN})
