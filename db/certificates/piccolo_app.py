"""Piccolo app for the certificates domain."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from db.certificates.tables import CertificateIssuance

APP_CONFIG = AppConfig(
    app_name="certificates",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[CertificateIssuance],
    migration_dependencies=["db.residents.piccolo_app"],
    commands=[],
)
