"""Fixtures of the kiosk card unit tests (demo cards, emulators)."""

from tests.unit.kiosk.card_fixtures import (  # noqa: F401  (fixtures, found by name)
    card,
    card_key_dir,
    demo_card,
    expired_demo_card,
    jlis_ca,
    other_ca,
    second_demo_card,
)
