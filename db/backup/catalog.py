"""Which tables a backup holds and a restore may write: an explicit allow-list.

Every tenant table (a ``municipality_code`` column under row-level
security) is either :data:`RESTORED`, in insert order (a row is inserted
after the rows it refers to), or :data:`EXCLUDED` with the reason. A test
(``tests/integration/test_backup_catalog.py``) fails when a table is in
neither, so a new tenant table cannot silently fall out of backups.

Nothing else is ever restored: not municipalities or prefectures (the
operator creates the municipality first), not national tables (master data,
kiosk clients, suspensions), not sessions or API tokens (credentials of one
installation; they are issued again).
"""

from __future__ import annotations

#: Tenant tables a restore writes, in insert order.
RESTORED: tuple[str, ...] = (
    "municipality_setting",
    "venue",
    "account",
    "resident",
    "resident_version",
    "ticket",
    "vaccination",
    "vaccination_version",
    "venue_log",
    "venue_device",
    "certificate_issuance",
    "kiosk_completion",
    "kiosk_failure",
    "import_job",
    "import_rejection",
    "inquiry",
    "audit_event",
)

#: Tenant tables a backup leaves out, and why.
EXCLUDED: dict[str, str] = {
    "dose_count": "derived: the dose triggers count the restored doses again",
    "dose_rollup": "derived from dose_count by its triggers",
    "dose_change": "derived: the dose triggers append the restored doses' changes again",
    "population_count": "derived: the resident triggers count the restored residents again",
    "backup_job": "describes this installation's archive files and restores, not the area's data",
}

#: Columns that refer to a row of another restored table (of the same archive).
REFERENCES: dict[tuple[str, str], str] = {
    ("ticket", "resident"): "resident",
    ("resident_version", "resident"): "resident",
    ("vaccination", "resident"): "resident",
    ("vaccination_version", "vaccination"): "vaccination",
    ("certificate_issuance", "resident"): "resident",
    ("import_rejection", "job"): "import_job",
    ("venue_device", "venue"): "venue",
    ("account", "venue_id"): "venue",
    ("venue_device", "created_by"): "account",
    ("venue_device", "enrolled_by"): "account",
    ("venue_device", "revoked_by"): "account",
}

#: Tables whose ``id`` is a sequence number of the installation: given anew on restore.
SEQUENCE_IDS = frozenset({"audit_event"})
