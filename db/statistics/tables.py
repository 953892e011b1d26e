"""Incrementally kept counts for the dashboard and statistics (F6).

Triggers on ``vaccination`` and ``resident`` keep these up to date in the
same transaction as the change, so no view ever groups the dose table.
"""

from piccolo.columns import BigInt, Boolean, Date, Integer, Varchar
from piccolo.constraints import Unique
from piccolo.table import Table


class DoseCount(Table):
    """Active doses counted per day, dose, age band, sex, medical worker, product and venue."""

    municipality_code = Varchar(length=6, index=True)
    vaccinated_on = Date()
    dose_number = Integer()
    age_band = Varchar(length=8)
    """Age on the day of the dose: 0-4, 5-11, 12-19, 20-29 … 90-99, 100-, or unknown."""
    over_65 = Boolean()
    """The national open data's split: 65 and over on the day of the dose."""
    sex = Varchar(length=1)
    medical_worker = Boolean()
    product = Varchar(length=48)
    venue_name = Varchar(length=128)
    doses = BigInt(default=0)

    dose_count_key = Unique(
        [
            "municipality_code",
            "vaccinated_on",
            "dose_number",
            "age_band",
            "over_65",
            "sex",
            "medical_worker",
            "product",
            "venue_name",
        ]
    )


class PopulationCount(Table):
    """Registered population: active residents not moved out and not deceased."""

    municipality_code = Varchar(length=6, unique=True)
    residents = BigInt(default=0)
