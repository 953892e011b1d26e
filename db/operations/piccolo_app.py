"""Piccolo app for national operations: suspensions and the kiosks' reports."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from db.operations.tables import (
    KioskCompletion,
    KioskFault,
    KioskIssuance,
    KioskStatus,
    SuspensionEvent,
)

APP_CONFIG = AppConfig(
    app_name="operations",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[SuspensionEvent, KioskStatus, KioskFault, KioskCompletion, KioskIssuance],
    migration_dependencies=["db.security.piccolo_app", "db.cards.piccolo_app"],
    commands=[],
)
