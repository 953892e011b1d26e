"""The one definition of rule kinds: what the form posts becomes the params the rules read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from db.vaccines.rule_shapes import PARAM_FIELDS, SHAPES, MasterDataError, described, read_params
from web.forms import MasterDataForm
from web.i18n import catalog

MASTER = Path(__file__).resolve().parents[2] / "db" / "vaccines" / "data" / "vaccines.json"


def _typed(**fields: str) -> dict[str, str]:
    return {name: fields.get(name, "") for name in PARAM_FIELDS}


def test_the_form_struct_declares_every_parameter_once() -> None:
    assert len(PARAM_FIELDS) == len(set(PARAM_FIELDS))
    assert set(PARAM_FIELDS) <= set(MasterDataForm.__struct_fields__)
    assert "params" not in MasterDataForm.__struct_fields__


def test_every_kind_and_parameter_has_a_name_in_both_languages() -> None:
    for language in ("ja", "en"):
        for kind in SHAPES:
            assert f"master.kind.{kind}" in catalog(language)
        for field in PARAM_FIELDS:
            assert f"master.param.{field}" in catalog(language)


@pytest.mark.parametrize(
    ("kind", "typed", "params"),
    [
        ("interval", {"after_dose": "2", "min_days": "90"}, {"after_dose": 2, "min_days": 90}),
        ("interval", {"after_dose": "1", "min_days": "１８", "max_days": "180"},
         {"after_dose": 1, "min_days": 18, "max_days": 180}),
        ("age", {"min_months": "144"}, {"min_months": 144}),
        ("volume", {"ml": "0.25", "dose_from": "3", "min_age_months": "216"},
         {"ml": [0.25], "doses": [3, None], "min_age_months": 216}),
        ("volume", {"ml": "0.5", "dose_from": "1", "dose_to": "2"}, {"ml": [0.5], "doses": [1, 2]}),
        ("doses", {"min_dose": "3"}, {"min_dose": 3}),
        ("dose_start", {"dose": "6"}, {"dose": 6}),
    ],
)  # fmt: skip
def test_fields_become_the_params_the_rules_read(kind, typed, params) -> None:
    assert read_params(kind, _typed(**typed)) == params


@pytest.mark.parametrize(
    ("kind", "typed", "key", "field"),
    [
        ("interval", {"after_dose": "2", "min_days": "x"}, "master.number_invalid", "min_days"),
        ("interval", {"after_dose": "2", "min_days": "-1"}, "master.number_negative", "min_days"),
        ("interval", {"after_dose": "2", "min_days": "NaN"}, "master.number_invalid", "min_days"),
        ("interval", {"after_dose": "2"}, "master.number_required", "min_days"),
        ("interval", {"after_dose": "0", "min_days": "9"}, "master.number_range", "after_dose"),
        ("age", {"min_months": "200", "max_months": "100"}, "master.range_order", "max_months"),
        ("volume", {"ml": "0.3", "dose_from": "3", "dose_to": "1"}, "master.range_order", "dose_to"),
        ("booster", {}, "master.rule_kind", "kind"),
    ],
)  # fmt: skip
def test_bad_numbers_name_their_field(kind, typed, key, field) -> None:
    with pytest.raises(MasterDataError) as refused:
        read_params(kind, _typed(**typed))
    assert (refused.value.key, refused.value.field) == (key, field)


def test_every_rule_of_the_master_file_reads_back_as_labelled_values() -> None:
    """Each stored key is one the shapes know, so nothing is hidden from the page."""
    data = json.loads(MASTER.read_text(encoding="utf-8"))
    for product in data["products"]:
        for rule in product["rules"]:
            params = {
                k: v for k, v in rule.items() if k not in ("kind", "valid_from", "valid_to", "note")
            }
            keys = {p.params_key for p in SHAPES[rule["kind"]]}
            assert set(params) <= keys, (product["code"], rule)
            assert described(rule["kind"], params), (product["code"], rule)
    assert described("volume", {"ml": [0.25], "doses": [3, None]}) == [
        ("ml", "0.25"),
        ("dose_from", "3"),
    ]
