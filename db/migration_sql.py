"""Run raw SQL inside a Piccolo migration's transaction.

For what Piccolo does not model: roles, grants, row-level security policies,
triggers and SECURITY DEFINER functions.
"""

from piccolo.engine import engine_finder


async def execute_sql(sql: str) -> None:
    """Execute one or more SQL statements in the migration's transaction."""
    engine = engine_finder()
    transaction = engine.current_transaction.get() if engine else None
    if transaction is None:
        raise RuntimeError("raw SQL migrations must run inside the migration transaction")
    await transaction.connection.execute(sql)
