"""Roles, grants, row-level security and the sanctioned crossings (raw SQL only)."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

APP_CONFIG = AppConfig(
    app_name="security",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[],
    migration_dependencies=[
        "db.tenancy.piccolo_app",
        "db.accounts.piccolo_app",
        "db.residents.piccolo_app",
        "db.vaccines.piccolo_app",
        "db.vaccinations.piccolo_app",
        "db.certificates.piccolo_app",
        "db.audit.piccolo_app",
    ],
    commands=[],
)
