"""Reliability under load and faults: soak, database crash, idempotency storms."""
