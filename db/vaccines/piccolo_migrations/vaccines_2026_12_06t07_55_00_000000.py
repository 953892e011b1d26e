"""Moderna's rename to スパイクバックス dates from 2022-01-21, not 2022-04-01.

The seed's briefing on the certificate app: "1月21日 モデルナワクチンの製品名を
「COVID-19ワクチンモデルナ」から「スパイクバックス」に変更" (after the 2022-01-20
notice). The bundled master data now says so; this moves the dates in databases
loaded earlier, only where they are still the bundled ones (a national admin's
own edit is left alone). Backwards restores the earlier dates.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from db.migration_sql import execute_sql

ID = "2026-12-06T07:55:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "スパイクバックス from 2022-01-21"

SQL = r"""
UPDATE product_name SET valid_to = DATE '2022-01-20'
 WHERE product = 'moderna-spikevax' AND name = 'COVID-19ワクチンモデルナ筋注'
   AND valid_to = DATE '2022-03-31';
UPDATE product_name SET valid_from = DATE '2022-01-21'
 WHERE product = 'moderna-spikevax' AND name = 'スパイクバックス筋注'
   AND valid_from = DATE '2022-04-01';
"""

BACKWARD_SQL = r"""
UPDATE product_name SET valid_from = DATE '2022-04-01'
 WHERE product = 'moderna-spikevax' AND name = 'スパイクバックス筋注'
   AND valid_from = DATE '2022-01-21';
UPDATE product_name SET valid_to = DATE '2022-03-31'
 WHERE product = 'moderna-spikevax' AND name = 'COVID-19ワクチンモデルナ筋注'
   AND valid_to = DATE '2022-01-20';
"""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="vaccines", description=DESCRIPTION)

    async def run():
        await execute_sql(SQL)

    async def run_backwards():
        await execute_sql(BACKWARD_SQL)

    manager.add_raw(run)
    manager.add_raw_backwards(run_backwards)
    return manager
