"""Every tenant table is covered by backup: restored (allow-list) or excluded with a reason."""

from __future__ import annotations

from db.backup.catalog import EXCLUDED, REFERENCES, RESTORED, SEQUENCE_IDS
from db.engine import current_connection, owner_transaction


async def tenant_tables() -> set[str]:
    """Tables with a ``municipality_code`` column under row-level security.

    A partitioned table counts once (its partitions, e.g. ``resident_141003``, are
    backed up through it).
    """
    async with owner_transaction():
        rows = await current_connection().fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
            " AND a.attname = 'municipality_code' AND NOT a.attisdropped"
            " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"
            " AND c.relnamespace = 'public'::regnamespace"
            " AND c.relrowsecurity"
        )
    return {r["relname"] for r in rows}


async def test_every_tenant_table_is_restored_or_excluded_with_a_reason(db) -> None:
    tables = await tenant_tables()
    assert {"resident", "vaccination", "kiosk_completion"} <= tables  # the query finds them
    uncovered = sorted(tables - set(RESTORED) - set(EXCLUDED))
    assert uncovered == [], (
        f"tenant tables not covered by backup: {uncovered}: add each to RESTORED (in insert"
        " order) or to EXCLUDED with the reason, in db/backup/catalog.py"
    )
    assert not set(RESTORED) & set(EXCLUDED)
    assert all(reason.strip() for reason in EXCLUDED.values())
    # The lists name no table that is gone, nor a table outside the areas.
    assert sorted((set(RESTORED) | set(EXCLUDED)) - tables) == []


async def test_references_and_numbered_tables_are_restored_tables(db) -> None:
    for (table, _column), target in REFERENCES.items():
        assert table in RESTORED and target in RESTORED
        assert RESTORED.index(target) < RESTORED.index(table)
    assert SEQUENCE_IDS <= set(RESTORED)
    assert RESTORED[-1] == "audit_event"  # events last: they refer to everything else
