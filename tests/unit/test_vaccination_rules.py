"""Each record-integrity rule, with the real-world mistake it prevents (issue: 5% bad records)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from db.vaccinations.rules import (
    DoseInput,
    Effect,
    Person,
    PreviousDose,
    age_in_months,
    expected_dose_number,
    judge,
)
from db.vaccines.loader import DEFAULT_FILE
from db.vaccines.model import master_from_document

MASTER = master_from_document(json.loads(DEFAULT_FILE.read_text(encoding="utf-8")))
TODAY = dt.date(2026, 12, 1)
ADULT = dt.date(1960, 4, 1)
FIRST = PreviousDose(1, dt.date(2021, 6, 1), "pfizer-comirnaty")
SECOND = PreviousDose(2, dt.date(2021, 6, 22), "pfizer-comirnaty")


def dose(**changes) -> DoseInput:
    values = {"dose_number": 1, "vaccinated_on": dt.date(2021, 6, 1), "product": "pfizer-comirnaty",
              "lot_number": "EY0779", "volume_ml": Decimal("0.3")}  # fmt: skip
    return DoseInput(**{**values, **changes})


def findings(d: DoseInput, person: Person | None = None) -> list[tuple[str, str, str]]:
    verdict = judge(d, person or Person(ADULT), MASTER, TODAY)
    return [(f.rule, str(f.effect), f.key) for f in verdict.findings]


def test_a_correct_first_dose_passes_every_rule() -> None:
    assert findings(dose()) == []


def test_a_correct_second_dose_after_three_weeks_passes() -> None:
    assert (
        findings(
            dose(dose_number=2, vaccinated_on=dt.date(2021, 6, 22)), Person(ADULT, doses=(FIRST,))
        )
        == []
    )


# (the mistake, the input, the person, the expected finding)
CASES = [
    ("typed next year instead of this year", dose(vaccinated_on=dt.date(2027, 6, 1)), None,
     ("date_in_range", "stop", "rule.date_future")),
    ("typed 2020 for 2021", dose(vaccinated_on=dt.date(2020, 6, 1)), None,
     ("date_in_range", "stop", "rule.date_before_programme")),
    ("the same dose saved twice (another day, same 回数)",
     dose(dose_number=1, vaccinated_on=dt.date(2021, 6, 3)), Person(ADULT, doses=(FIRST,)),
     ("no_duplicate", "stop", "rule.same_dose_number")),
    ("two records the same day", dose(dose_number=2, vaccinated_on=FIRST.vaccinated_on), Person(ADULT, doses=(FIRST,)),
     ("no_duplicate", "stop", "rule.same_day")),
    ("second dose dated before the first",
     dose(dose_number=2, vaccinated_on=dt.date(2021, 5, 20)), Person(ADULT, doses=(FIRST,)),
     ("dose_order", "stop", "rule.dose_before_previous")),
    ("a first dose entered after the second was recorded",
     dose(dose_number=1, vaccinated_on=dt.date(2021, 7, 30)), Person(ADULT, doses=(SECOND,)),
     ("dose_order", "stop", "rule.dose_after_next")),
    ("回数 misread: third dose with no second on record",
     dose(dose_number=3, vaccinated_on=dt.date(2022, 3, 1), lot_number="FF2018"), Person(ADULT, doses=(FIRST,)),
     ("next_expected", "must_check", "rule.not_next_dose")),
    ("second Pfizer dose after 10 days",
     dose(dose_number=2, vaccinated_on=dt.date(2021, 6, 11)), Person(ADULT, doses=(FIRST,)),
     ("minimum_interval", "stop", "rule.interval_too_short")),
    ("a 15-year-old given Pfizer in May 2021 (16+ then)", dose(vaccinated_on=dt.date(2021, 5, 20), lot_number="ER7449"),
     Person(dt.date(2006, 1, 1)), ("age_allowed", "stop", "rule.age_outside_range")),
    ("an 8-year-old given the adult Pfizer product", dose(vaccinated_on=dt.date(2022, 3, 1), lot_number="FF2018"),
     Person(dt.date(2014, 1, 1)), ("age_allowed", "stop", "rule.age_outside_range")),
    ("a bivalent vaccine recorded as a first dose",
     dose(product="pfizer-comirnaty-bivalent", lot_number="GJ5622", vaccinated_on=dt.date(2022, 11, 1)), None,
     ("series_position", "stop", "rule.booster_only")),
    ("a lot number of another maker", dose(lot_number="3002330"), None, ("lot_valid", "stop", "rule.lot_unknown")),
    ("a lot used after its expiry", dose(lot_number="EP2163", vaccinated_on=dt.date(2021, 9, 10)), None,
     ("lot_valid", "stop", "rule.lot_expired")),
    ("Moderna booster recorded with the primary 0.5 mL",
     dose(dose_number=3, product="moderna-spikevax", lot_number="000045A", volume_ml=Decimal("0.5"),
          vaccinated_on=dt.date(2022, 3, 1)), Person(ADULT, doses=(FIRST, SECOND)),
     ("volume_allowed", "stop", "rule.volume_not_allowed")),
    ("a dose recorded for someone who had died", dose(), Person(ADULT, deceased_on=dt.date(2021, 5, 1)),
     ("still_resident", "must_check", "rule.after_death")),
    ("a dose recorded after the person moved away", dose(), Person(ADULT, moved_out_on=dt.date(2021, 5, 1)),
     ("still_resident", "must_check", "rule.after_moving_out")),
    ("second dose of another maker in the primary series",
     dose(dose_number=2, product="moderna-spikevax", lot_number="3002330", volume_ml=Decimal("0.5"),
          vaccinated_on=dt.date(2021, 7, 1)), Person(ADULT, doses=(FIRST,)),
     ("same_maker_in_primary_series", "must_check", "rule.cross_vaccination")),
    ("a product code that does not exist", dose(product="sputnik"), None, ("known_product", "stop", "rule.product_unknown")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mistake", "given", "person", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_each_rule_catches_its_mistake(mistake, given, person, expected) -> None:
    assert expected in findings(given, person)


def test_intervals_are_judged_by_the_rule_of_the_doses_date() -> None:
    # A third dose 6½ months after the second: too early in January 2022 (8 months then) ...
    early = dose(dose_number=3, vaccinated_on=dt.date(2022, 1, 5), lot_number="FF2018")
    assert ("minimum_interval", "stop", "rule.interval_too_short") in findings(
        early, Person(ADULT, doses=(FIRST, SECOND))
    )
    # ... but 4 months after the second is fine in November 2022 (3 months then).
    late_person = Person(
        ADULT, doses=(FIRST, PreviousDose(2, dt.date(2022, 7, 1), "pfizer-comirnaty"))
    )
    late = dose(dose_number=3, vaccinated_on=dt.date(2022, 11, 1), lot_number="FK0108")
    assert findings(late, late_person) == []


def test_pfizer_age_limit_moved_from_16_to_12() -> None:
    fourteen = Person(dt.date(2007, 1, 1))
    assert ("age_allowed", "stop", "rule.age_outside_range") in findings(
        dose(vaccinated_on=dt.date(2021, 5, 20), lot_number="ER7449"), fourteen
    )
    assert findings(dose(vaccinated_on=dt.date(2021, 6, 10), lot_number="ER7449"), fourteen) == []


def test_a_too_short_interval_can_be_overridden_with_a_reason_and_is_queued() -> None:
    verdict = judge(
        dose(dose_number=2, vaccinated_on=dt.date(2021, 6, 11)),
        Person(ADULT, doses=(FIRST,)),
        MASTER,
        TODAY,
    )
    assert verdict.blocking(None) and not verdict.blocking("医師の判断で前倒し")
    assert verdict.quality("医師の判断で前倒し") == "must_fix"
    assert (
        verdict.stored_reasons("医師の判断で前倒し")[0]["override_reason"] == "医師の判断で前倒し"
    )


def test_other_stops_cannot_be_overridden() -> None:
    verdict = judge(dose(lot_number="NOPE"), Person(ADULT), MASTER, TODAY)
    assert [f.key for f in verdict.blocking("any reason")] == ["rule.lot_unknown"]


def test_must_check_findings_save_the_record_as_must_check() -> None:
    verdict = judge(dose(), Person(ADULT, moved_out_on=dt.date(2021, 5, 1)), MASTER, TODAY)
    assert not verdict.blocking(None)
    assert verdict.quality(None) == "must_check"
    assert all(r["effect"] != "stop" for r in verdict.stored_reasons(None))
    assert Effect.MUST_CHECK.value == "must_check"


def test_ages_count_completed_months() -> None:
    assert age_in_months(dt.date(2010, 5, 20), dt.date(2022, 5, 19)) == 143
    assert age_in_months(dt.date(2010, 5, 20), dt.date(2022, 5, 20)) == 144


def test_expected_dose_number_follows_the_highest_recorded() -> None:
    assert expected_dose_number(Person(ADULT)) == 1
    assert expected_dose_number(Person(ADULT, doses=(FIRST, SECOND))) == 3


def test_a_dose_3_before_boosters_began_is_refused() -> None:
    """No interval rule in force before 2021-12-01 used to mean no limit: a dose 3 in 2021-11 passed."""
    person = Person(ADULT, doses=(FIRST, SECOND))
    early = findings(dose(dose_number=3, vaccinated_on=dt.date(2021, 11, 20)), person)
    assert ("dose_in_programme", "stop", "rule.dose_before_programme") in early
    on_time = findings(
        dose(dose_number=3, vaccinated_on=dt.date(2022, 2, 1), lot_number="FK0108"), person
    )
    assert not any(rule == "dose_in_programme" for rule, _, _ in on_time)


def test_a_dose_4_before_its_start_is_refused_even_with_a_booster_interval_in_force() -> None:
    third = PreviousDose(3, dt.date(2021, 12, 20), "pfizer-comirnaty")
    person = Person(ADULT, doses=(FIRST, SECOND, third))
    found = findings(
        dose(dose_number=4, vaccinated_on=dt.date(2022, 5, 1), lot_number="FK0108"), person
    )
    assert ("dose_in_programme", "stop", "rule.dose_before_programme") in found


def test_a_second_dose_typed_a_year_late_is_flagged_to_check() -> None:
    """2022-06-22 typed for 2021-06-22: 386 days after dose 1, within the primary series."""
    found = findings(
        dose(dose_number=2, vaccinated_on=dt.date(2022, 6, 22), lot_number="FK0108"),
        Person(ADULT, doses=(FIRST,)),
    )
    assert ("interval_within_schedule", "must_check", "rule.interval_unusually_long") in found


def test_a_booster_long_after_the_primary_series_is_not_a_typo() -> None:
    found = findings(
        dose(dose_number=3, vaccinated_on=dt.date(2023, 1, 10), lot_number="FK0108"),
        Person(ADULT, doses=(FIRST, SECOND)),
    )
    assert not any(rule == "interval_within_schedule" for rule, _, _ in found)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("19850401", dt.date(1985, 4, 1)), ("S600401", dt.date(1985, 4, 1)), ("3600401", dt.date(1985, 4, 1)),
     ("１９８５０４０１", dt.date(1985, 4, 1)), ("1985/04/01", dt.date(1985, 4, 1)), ("H010108", dt.date(1989, 1, 8)),
     ("R010501", dt.date(2019, 5, 1)), ("昭600401", dt.date(1985, 4, 1))],
)  # fmt: skip
def test_the_stated_birth_date_is_read_as_a_nurse_types_it(typed: str, expected: dt.date) -> None:
    from db.vaccinations.dose_input import parse_stated_birth_date

    assert parse_stated_birth_date(typed) == expected


@pytest.mark.parametrize("typed", ["S640108", "H310501", "19850231", "1985041", "X600401", ""])
def test_an_impossible_birth_date_is_refused(typed: str) -> None:
    from db.vaccinations.dose_input import parse_stated_birth_date

    with pytest.raises(ValueError):
        parse_stated_birth_date(typed)
