"""The inquiry log of the asking municipality (F7 接種記録の照会).

The answering municipality's side is its audit log (``inquiry.answered``),
written by the crossing functions in its own area.
"""

from piccolo.columns import JSONB, UUID, Integer, Timestamptz, Varchar
from piccolo.table import Table


class Inquiry(Table):
    """One inquiry made (single or bulk): who asked, when, for whom, on which consent."""

    id = UUID(primary_key=True)
    municipality_code = Varchar(length=6, index=True)
    """The asking municipality."""
    kind = Varchar(length=8, default="single")
    """single or bulk (一括照会)."""
    actor = UUID(null=True, default=None)
    actor_login = Varchar(length=64, default="")
    consent_basis = Varchar(length=512, default="")
    """The basis of the recorded consent (single) or a summary (bulk)."""
    subjects = JSONB(default="[]")
    """For whom: per person the masked My Number, the local resident if any, the answer count."""
    subject_count = Integer(default=0)
    answered_count = Integer(default=0)
    answering_municipalities = JSONB(default="[]")
    made_at = Timestamptz()
