"""The record-integrity rules: one table, applied alike to the tablet, the API and CSV.

Each rule prevents a mistake the national system let through (about 5% of its
records were wrong). A rule returns findings; a finding's effect is

- ``stop``: nothing is saved; the operator sees why and corrects the input;
- ``must_fix`` (要修正) / ``must_check`` (要確認): the record is saved and
  queued for a clerk, with the rule that flagged it.

Rules read the vaccine master data *in force on the dose's date* (intervals
went 8 → 6 → 5 → 3 months, Pfizer's age limit 16 → 12), so a 2021 record is
judged by 2021's rules. Nothing here touches the database: the caller gathers
the person's facts and the master data, which keeps every rule testable.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from db.vaccines.model import MasterData, Product, Rule

#: The programme's first day (医療従事者への先行接種開始).
PROGRAMME_START = dt.date(2021, 2, 17)


class Effect(StrEnum):
    """What a finding does to the save."""

    STOP = "stop"
    MUST_FIX = "must_fix"
    MUST_CHECK = "must_check"


@dataclass(frozen=True)
class Finding:
    """One rule's verdict: message key and parameters for the catalog."""

    rule: str
    effect: Effect
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    overridable: bool = False
    """The operator may save anyway, with a reason (then the record is 要修正)."""

    def as_dict(self) -> dict[str, Any]:
        """The JSON stored in ``quality_reasons`` and sent to clients."""
        return {
            "rule": self.rule,
            "effect": str(self.effect),
            "key": self.key,
            "params": self.params,
        }


# --- the dose being recorded and what we know of the person ----------------------


@dataclass(frozen=True)
class PreviousDose:
    """A dose already recorded for the person (active records only)."""

    dose_number: int
    vaccinated_on: dt.date
    product: str


@dataclass(frozen=True)
class Person:
    """What the rules need of the person: no name, no My Number."""

    birth_date: dt.date
    moved_out_on: dt.date | None = None
    deceased_on: dt.date | None = None
    doses: tuple[PreviousDose, ...] = ()


@dataclass(frozen=True)
class DoseInput:
    """The dose as entered (already parsed: types are right, values unchecked)."""

    dose_number: int
    vaccinated_on: dt.date
    product: str
    lot_number: str
    volume_ml: Decimal


def age_in_months(birth: dt.date, day: dt.date) -> int:
    """Completed months of age on ``day`` (as 満年齢 counts: a birthday completes a year)."""
    months = (day.year - birth.year) * 12 + (day.month - birth.month)
    if day.day < birth.day:
        months -= 1
    return months


# --- the rules ----------------------------------------------------------------

RuleCheck = Callable[[DoseInput, Person, MasterData, dt.date], Iterable[Finding]]


def date_in_range(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """接種日 in the future or before the programme began: a typo, never a dose."""
    if dose.vaccinated_on > today:
        yield Finding(
            "date_in_range",
            Effect.STOP,
            "rule.date_future",
            {"date": dose.vaccinated_on.isoformat()},
        )
    elif dose.vaccinated_on < PROGRAMME_START:
        yield Finding(
            "date_in_range", Effect.STOP, "rule.date_before_programme",
            {"date": dose.vaccinated_on.isoformat(), "start": PROGRAMME_START.isoformat()},
        )  # fmt: skip


def no_duplicate(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """Another record for the same day or dose number: the same dose entered twice."""
    for previous in person.doses:
        if previous.vaccinated_on == dose.vaccinated_on:
            yield Finding(
                "no_duplicate",
                Effect.STOP,
                "rule.same_day",
                {"date": dose.vaccinated_on.isoformat()},
            )
            return
        if previous.dose_number == dose.dose_number:
            yield Finding(
                "no_duplicate", Effect.STOP, "rule.same_dose_number",
                {"dose": dose.dose_number, "date": previous.vaccinated_on.isoformat()},
            )  # fmt: skip
            return


def dose_order(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """A second dose dated before the first (or a first after the second)."""
    for previous in person.doses:
        earlier_number = previous.dose_number < dose.dose_number
        if earlier_number and previous.vaccinated_on > dose.vaccinated_on:
            yield Finding(
                "dose_order", Effect.STOP, "rule.dose_before_previous",
                {"dose": dose.dose_number, "previous": previous.dose_number,
                 "previous_date": previous.vaccinated_on.isoformat()},
            )  # fmt: skip
            return
        if (
            not earlier_number
            and previous.dose_number != dose.dose_number
            and previous.vaccinated_on < dose.vaccinated_on
        ):
            yield Finding(
                "dose_order", Effect.STOP, "rule.dose_after_next",
                {"dose": dose.dose_number, "next": previous.dose_number,
                 "next_date": previous.vaccinated_on.isoformat()},
            )  # fmt: skip
            return


def expected_dose_number(person: Person) -> int:
    """The dose that normally comes next: one more than the highest recorded."""
    return max((d.dose_number for d in person.doses), default=0) + 1


def next_expected(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """回数 skipping or repeating a number: usually a misread ticket or a lost record."""
    expected = expected_dose_number(person)
    if dose.dose_number != expected and not any(
        d.dose_number == dose.dose_number for d in person.doses
    ):
        yield Finding(
            "next_expected",
            Effect.MUST_CHECK,
            "rule.not_next_dose",
            {"dose": dose.dose_number, "expected": expected},
        )


def known_product(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """The product must be in the master (the other rules depend on it)."""
    if dose.product not in master.products:
        yield Finding(
            "known_product", Effect.STOP, "rule.product_unknown", {"product": dose.product}
        )


def dose_in_programme(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """A dose number before the programme offered it (dose 3 before 2021-12-01): a typo.

    The master data gives each dose number the day it began (``dose_start``
    rules, effective-dated like the others); the rule for the highest dose
    number at or below this one applies.
    """
    product = master.products.get(dose.product)
    if product is None:
        return
    starts = [
        r for r in product.rules if r.kind == "dose_start" and r.params["dose"] <= dose.dose_number
    ]
    if not starts:
        return
    number = max(r.params["dose"] for r in starts)
    opened = [r for r in starts if r.params["dose"] == number]
    if not any(r.period.covers(dose.vaccinated_on) for r in opened):
        yield Finding(
            "dose_in_programme", Effect.STOP, "rule.dose_before_programme",
            {"dose": dose.dose_number, "date": dose.vaccinated_on.isoformat(),
             "start": min(r.period.since for r in opened).isoformat()},
        )  # fmt: skip


def interval_within_schedule(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """Within the primary series, an interval far beyond any schedule: a year typo, mostly.

    The product's interval rule after dose 1 carries ``max_days`` (see the
    master data's note): a second dose typed a year late is flagged 要確認.
    """
    product = master.products.get(dose.product)
    if product is None:
        return
    earlier = [d for d in person.doses if d.vaccinated_on < dose.vaccinated_on]
    if not earlier:
        return
    previous = max(earlier, key=lambda d: d.vaccinated_on)
    rule = _interval_rule(product, previous.dose_number, dose.vaccinated_on)
    if (
        rule is None
        or "max_days" not in rule.params
        or previous.dose_number != dose.dose_number - 1
    ):
        return
    days = (dose.vaccinated_on - previous.vaccinated_on).days
    if days > rule.params["max_days"]:
        yield Finding(
            "interval_within_schedule", Effect.MUST_CHECK, "rule.interval_unusually_long",
            {"days": days, "max_days": rule.params["max_days"], "previous": previous.dose_number,
             "previous_date": previous.vaccinated_on.isoformat()},
        )  # fmt: skip


def minimum_interval(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """The interval since the previous dose, against the product's minimum on that date."""
    product = master.products.get(dose.product)
    earlier = [d for d in person.doses if d.vaccinated_on < dose.vaccinated_on]
    if product is None or not earlier:
        return
    previous = max(earlier, key=lambda d: d.vaccinated_on)
    rule = _interval_rule(product, previous.dose_number, dose.vaccinated_on)
    if rule is None:
        return
    days = (dose.vaccinated_on - previous.vaccinated_on).days
    if days < rule.params["min_days"]:
        yield Finding(
            "minimum_interval", Effect.STOP, "rule.interval_too_short",
            {"days": days, "min_days": rule.params["min_days"], "previous": previous.dose_number,
             "previous_date": previous.vaccinated_on.isoformat()},
            overridable=True,
        )  # fmt: skip


def _interval_rule(product: Product, after_dose: int, day: dt.date) -> Rule | None:
    """The interval rule after ``after_dose``; later boosters follow the last booster rule."""
    rules = product.rules_on("interval", day)
    exact = [r for r in rules if r.params["after_dose"] == after_dose]
    if exact:
        return exact[0]
    boosters = [r for r in rules if 2 <= r.params["after_dose"] < after_dose]
    return max(boosters, key=lambda r: r.params["after_dose"], default=None)


def age_allowed(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """The person's age on the date, against the product's age range then."""
    product = master.products.get(dose.product)
    if product is None:
        return
    months = age_in_months(person.birth_date, dose.vaccinated_on)
    rules = product.rules_on("age", dose.vaccinated_on)
    if not rules:
        yield Finding(
            "age_allowed",
            Effect.STOP,
            "rule.product_not_in_use",
            {"date": dose.vaccinated_on.isoformat()},
        )
        return
    if not any(_months_within(months, r.params) for r in rules):
        yield Finding(
            "age_allowed", Effect.STOP, "rule.age_outside_range",
            {"age": months // 12, "note": rules[0].note},
        )  # fmt: skip


def series_position(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """Products only for boosters (the bivalent vaccines) given as a primary dose."""
    product = master.products.get(dose.product)
    if product is None:
        return
    for rule in product.rules_on("doses", dose.vaccinated_on):
        if dose.dose_number < rule.params["min_dose"]:
            yield Finding(
                "series_position",
                Effect.STOP,
                "rule.booster_only",
                {"min_dose": rule.params["min_dose"]},
            )


def lot_valid(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """The lot must exist for that product and be within its expiry on the date."""
    product = master.products.get(dose.product)
    if product is None:
        return
    lot = dose.lot_number.strip().upper()
    expiry = product.lots.get(lot)
    if expiry is None:
        yield Finding("lot_valid", Effect.STOP, "rule.lot_unknown", {"lot": lot})
    elif expiry < dose.vaccinated_on:
        yield Finding(
            "lot_valid", Effect.STOP, "rule.lot_expired", {"lot": lot, "expiry": expiry.isoformat()}
        )


def volume_allowed(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """接種量 must be one the product allows for this dose and age (0.25 vs 0.5 mL)."""
    if dose.product not in master.products:
        return
    allowed = allowed_volumes(
        master, dose.product, dose.dose_number, person.birth_date, dose.vaccinated_on
    )
    if dose.volume_ml not in allowed:
        yield Finding(
            "volume_allowed", Effect.STOP, "rule.volume_not_allowed",
            {"volume": str(dose.volume_ml), "allowed": " / ".join(f"{v} mL" for v in sorted(allowed)) or "—"},
        )  # fmt: skip


def allowed_volumes(
    master: MasterData, product_code: str, dose_number: Any, birth: dt.date, day: dt.date
) -> list[Decimal]:
    """The volumes the product allows for this dose and age on ``day`` (the form's default)."""
    product = master.products.get(product_code)
    if product is None or not str(dose_number).isdigit():
        return []
    number = int(dose_number)
    months = age_in_months(birth, day)
    allowed: set[Decimal] = set()
    for rule in product.rules_on("volume", day):
        first, last = rule.params.get("doses", [1, None])
        if number < first or (last is not None and number > last):
            continue
        if not _months_within(months, rule.params, prefix="_age"):
            continue
        allowed.update(Decimal(str(ml)) for ml in rule.params["ml"])
    return sorted(allowed)


def _months_within(months: int, params: dict[str, Any], prefix: str = "") -> bool:
    low = params.get(f"min{prefix}_months") if prefix else params.get("min_months")
    high = params.get(f"max{prefix}_months") if prefix else params.get("max_months")
    return (low is None or months >= low) and (high is None or months <= high)


def still_resident(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """A dose dated after the person moved out or died: the wrong person, or a late record."""
    if person.deceased_on and dose.vaccinated_on > person.deceased_on:
        yield Finding(
            "still_resident",
            Effect.MUST_CHECK,
            "rule.after_death",
            {"date": person.deceased_on.isoformat()},
        )
    elif person.moved_out_on and dose.vaccinated_on > person.moved_out_on:
        yield Finding(
            "still_resident",
            Effect.MUST_CHECK,
            "rule.after_moving_out",
            {"date": person.moved_out_on.isoformat()},
        )


def same_maker_in_primary_series(
    dose: DoseInput, person: Person, master: MasterData, today: dt.date
) -> Iterable[Finding]:
    """Cross-vaccination within the primary series (doses 1–2) is unusual: check it.

    Boosters of another maker (交互接種) were the national policy from
    December 2021, so they are not flagged.
    """
    product = master.products.get(dose.product)
    if product is None or dose.dose_number > 2:
        return
    for previous in person.doses:
        other = master.products.get(previous.product)
        if previous.dose_number <= 2 and other is not None and other.maker != product.maker:
            yield Finding(
                "same_maker_in_primary_series", Effect.MUST_CHECK, "rule.cross_vaccination",
                {"previous": previous.dose_number},
            )  # fmt: skip
            return


#: The table of rules, in the order their findings are shown.
RULES: Sequence[tuple[str, RuleCheck]] = (
    ("date_in_range", date_in_range),
    ("known_product", known_product),
    ("no_duplicate", no_duplicate),
    ("dose_order", dose_order),
    ("dose_in_programme", dose_in_programme),
    ("minimum_interval", minimum_interval),
    ("interval_within_schedule", interval_within_schedule),
    ("age_allowed", age_allowed),
    ("series_position", series_position),
    ("lot_valid", lot_valid),
    ("volume_allowed", volume_allowed),
    ("next_expected", next_expected),
    ("still_resident", still_resident),
    ("same_maker_in_primary_series", same_maker_in_primary_series),
)


@dataclass(frozen=True)
class Verdict:
    """All findings of a dose, and what they mean for the save."""

    findings: tuple[Finding, ...]

    @property
    def stops(self) -> list[Finding]:
        return [f for f in self.findings if f.effect is Effect.STOP]

    def blocking(self, override_reason: str | None) -> list[Finding]:
        """Stops that remain: overridable ones give way to a stated reason."""
        reason = (override_reason or "").strip()
        return [f for f in self.stops if not (f.overridable and reason)]

    def quality(self, override_reason: str | None) -> str:
        """ok, must_fix (要修正: an override or a must-fix finding) or must_check (要確認)."""
        if any(f.effect is Effect.MUST_FIX for f in self.findings) or (
            (override_reason or "").strip() and any(f.overridable for f in self.stops)
        ):
            return "must_fix"
        if any(f.effect is Effect.MUST_CHECK for f in self.findings):
            return "must_check"
        return "ok"

    def stored_reasons(self, override_reason: str | None) -> list[dict[str, Any]]:
        """What the quality queue shows: non-stop findings, and overridden stops with the reason."""
        reasons = [f.as_dict() for f in self.findings if f.effect is not Effect.STOP]
        for finding in self.stops:
            if finding.overridable and (override_reason or "").strip():
                reasons.append(
                    {**finding.as_dict(), "effect": "must_fix", "override_reason": override_reason}
                )
        return reasons


def judge(dose: DoseInput, person: Person, master: MasterData, today: dt.date) -> Verdict:
    """Apply every rule to a dose."""
    return Verdict(tuple(f for _, check in RULES for f in check(dose, person, master, today)))
