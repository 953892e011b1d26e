"""A settings revision says why: ``municipality_setting.reason`` (issue 14).

The municipal admin changes the settings from ``/admin/settings``; each change
is a new revision with who, when and now why. Earlier revisions get an empty
reason. Backwards drops the column.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-06T07:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "municipality_setting.reason"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tenancy", description=DESCRIPTION)

    manager.add_column(
        table_class_name="MunicipalitySetting",
        tablename="municipality_setting",
        column_name="reason",
        db_column_name="reason",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
