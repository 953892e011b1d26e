from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Bytea, Text, Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.constraints import Unique

ID = "2026-12-01T09:52:58:380156"
VERSION = "1.38.0"
DESCRIPTION = ""


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="certificates", description=DESCRIPTION)

    manager.add_column(
        table_class_name="CertificateIssuance",
        tablename="certificate_issuance",
        column_name="idempotency_key",
        db_column_name="idempotency_key",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": None,
            "null": True,
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

    manager.add_column(
        table_class_name="CertificateIssuance",
        tablename="certificate_issuance",
        column_name="pdf",
        db_column_name="pdf",
        column_class_name="Bytea",
        column_class=Bytea,
        params={
            "default": None,
            "null": True,
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

    manager.add_column(
        table_class_name="CertificateIssuance",
        tablename="certificate_issuance",
        column_name="shc_jws",
        db_column_name="shc_jws",
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

    manager.add_column(
        table_class_name="CertificateIssuance",
        tablename="certificate_issuance",
        column_name="shc_kid",
        db_column_name="shc_kid",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
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

    manager.add_column(
        table_class_name="CertificateIssuance",
        tablename="certificate_issuance",
        column_name="vdsnc_json",
        db_column_name="vdsnc_json",
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

    manager.add_constraint(
        table_class_name="CertificateIssuance",
        tablename="certificate_issuance",
        constraint_name="certificate_idempotency_unique",
        constraint_class=Unique,
        params={
            "columns": ["municipality_code", "idempotency_key"],
            "nulls_distinct": True,
        },
        schema=None,
    )

    return manager
