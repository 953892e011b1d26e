"""Import jobs of residents and tickets (F1 事前登録) and the rows they rejected."""

from piccolo.columns import (
    JSONB,
    UUID,
    BigInt,
    Integer,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class ImportJob(Table):
    """One upload of a residents-and-tickets CSV, with its progress and outcome.

    The job runs in the server process after the upload has been stored, so it
    carries on when the browser closes; the page polls this row.
    """

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    filename = Varchar(length=255, default="")
    status = Varchar(length=16, default="queued")
    """queued, running, done or failed."""
    phase = Varchar(length=16, default="upload")
    """upload, read, load, apply, done: what the job is doing now."""
    encoding = Varchar(length=16, default="")
    """utf-8, utf-8-sig or cp932, as detected."""
    total_bytes = BigInt(default=0)
    processed_bytes = BigInt(default=0)
    rows_read = Integer(default=0)
    rows_rejected = Integer(default=0)
    residents_inserted = Integer(default=0)
    residents_updated = Integer(default=0)
    residents_unchanged = Integer(default=0)
    tickets_inserted = Integer(default=0)
    tickets_reissued = Integer(default=0)
    ignored_columns = JSONB(default="[]")
    error_key = Varchar(length=64, default="")
    """Why the whole file failed (a message key), if it did."""
    error_params = JSONB(default="{}")
    started_by = UUID(null=True, default=None)
    created_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)


class ImportRejection(Table):
    """One rejected row: its line, the column and the reason (a message key).

    The rejected value is not kept: it may be a My Number.
    """

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    job = UUID(index=True)
    line_number = Integer()
    column_name = Varchar(length=32)
    reason = Varchar(length=64)
    params = JSONB(default="{}")
