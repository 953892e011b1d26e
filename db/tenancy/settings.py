"""A municipality's settings, changed by its admin with a reason (自治体の設定).

Each change is a new revision of ``municipality_setting`` (who, when, why),
so the table itself is the history; the change is also audited. What is still
to be done before a new municipality can work (no venue, no contact, no kiosk
decision, no second admin, no clerk) is :func:`open_tasks`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from db.accounts.principal import Principal
from db.audit.queries import record
from db.engine import current_connection
from db.tenancy.queries import TermsAgreed, current_terms, save_terms

#: Kiosk terms 第10条: the service runs within 06:30–23:00; a municipality may narrow it.
KIOSK_EARLIEST = dt.time(6, 30)
KIOSK_LATEST = dt.time(23, 0)
CONTACT_MAX = 200
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_SWITCHES = (
    "provides_records_to_inquiries",
    "accepts_records_from_other_venues",
    "provides_statistics",
    "kiosk_issuance",
)


class SettingsError(Exception):
    """Bad settings input, as a message key and the field it is about."""

    def __init__(self, key: str, field: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.field = field
        self.params = params


def _time(value: str, field: str) -> dt.time:
    match = _TIME.match(value.strip())
    if match is None:
        raise SettingsError("settings.time_invalid", field)
    return dt.time(int(match.group(1)), int(match.group(2)))


def parse_settings(form: Mapping[str, str]) -> tuple[TermsAgreed, str]:
    """The settings and reason a form asks for; raises :class:`SettingsError`.

    A checkbox that is absent is off. Hours must lie within 06:30–23:00 and
    start before they end; the reason must say something.
    """
    start = _time(form.get("kiosk_hours_start", ""), "kiosk_hours_start")
    end = _time(form.get("kiosk_hours_end", ""), "kiosk_hours_end")
    if start < KIOSK_EARLIEST or end > KIOSK_LATEST:
        raise SettingsError("settings.hours_outside", "kiosk_hours_start")
    if start >= end:
        raise SettingsError("settings.hours_order", "kiosk_hours_end")
    contact = " ".join(form.get("certificate_contact", "").split())
    if len(contact) > CONTACT_MAX:
        raise SettingsError("settings.contact_too_long", "certificate_contact", limit=CONTACT_MAX)
    reason = form.get("reason", "").strip()
    if not reason:
        raise SettingsError("settings.reason_required", "reason")
    switches = {name: form.get(name, "") in ("1", "on", "true") for name in _SWITCHES}
    terms = TermsAgreed(
        kiosk_hours_start=start, kiosk_hours_end=end, certificate_contact=contact, **switches
    )
    return terms, reason


async def change_settings(
    municipality_code: str, terms: TermsAgreed, reason: str, actor: Principal
) -> int | None:
    """Save a new revision (audited) when anything changed; returns its number or None."""
    before = await current_terms(municipality_code)
    if before == terms:
        return None
    revision = await save_terms(municipality_code, terms, actor.account_id, reason)
    changed = [
        f.name
        for f in dataclasses.fields(TermsAgreed)
        if before is None or getattr(before, f.name) != getattr(terms, f.name)
    ]
    await record(
        "settings.change",
        actor=actor,
        municipality_code=municipality_code,
        object_type="municipality_setting",
        object_id=str(revision),
        details={"changed": changed, "reason": reason},
    )
    return revision


async def settings_history(municipality_code: str) -> list[dict[str, Any]]:
    """Every revision, newest first, with the login of who made it."""
    rows = await current_connection().fetch(
        "SELECT s.*, a.login AS changed_by_login FROM municipality_setting s"
        " LEFT JOIN account a ON a.id = s.changed_by"
        " WHERE s.municipality_code = $1 ORDER BY s.revision DESC",
        municipality_code,
    )
    return [dict(row) for row in rows]


async def open_tasks(municipality_code: str) -> list[str]:
    """What a municipality has not set up yet, as message keys (its home page lists them)."""
    connection = current_connection()
    tasks = []
    if not await connection.fetchval(
        "SELECT count(*) FROM venue WHERE municipality_code = $1 AND active", municipality_code
    ):
        tasks.append("setup.venues")
    terms = await current_terms(municipality_code)
    if terms is None or not terms.certificate_contact:
        tasks.append("setup.contact")
    if not await connection.fetchval(
        "SELECT count(*) FROM municipality_setting"
        " WHERE municipality_code = $1 AND changed_by IS NOT NULL",
        municipality_code,
    ):
        tasks.append("setup.kiosk_decision")
    roles = dict(
        await connection.fetch(
            "SELECT role, count(*) FROM account WHERE municipality_code = $1 AND active"
            " GROUP BY role",
            municipality_code,
        )
    )
    if roles.get("municipal_admin", 0) < 2:
        tasks.append("setup.second_admin")
    if not roles.get("clerk", 0):
        tasks.append("setup.clerks")
    return tasks
