"""Social prescribing (issue 13, referrals): what a link worker's caseload keeps per person.

A practice professional refers a person to social prescribing by putting them on a link
worker's caseload (`caseload_assignment`, as a case manager's caseload); the referral says
what matters to the person (`what_matters`), and the link worker keeps the date they next
contact them (`follow_up_on`). Both nullable: a case manager's assignment has neither.
Plain ADD COLUMN (nullable, no default), which SQLite and PostgreSQL both do in place.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("caseload_assignment", sa.Column("what_matters", sa.Text(), nullable=True))
    op.add_column("caseload_assignment", sa.Column("follow_up_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("caseload_assignment", schema=None) as batch_op:
        batch_op.drop_column("follow_up_on")
        batch_op.drop_column("what_matters")
