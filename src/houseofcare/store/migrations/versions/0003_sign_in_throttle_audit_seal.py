"""Sign-in throttling state (`sign_in_throttle`) and the audit trail's hash chain (`audit_seal`).

`sign_in_throttle` holds recent failed sign-ins per username and per client address, in the
store so every worker sees the same counts. `audit_seal` rows chain digests over batches of
audit events; they are append-only like the events (the same triggers as revision 0001).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The new append-only table (revision 0001 made `hoc_refuse_change()` on PostgreSQL).
SEAL_TABLE = "audit_seal"


def _create_seal_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            f"CREATE TRIGGER {SEAL_TABLE}_append_only BEFORE UPDATE OR DELETE ON {SEAL_TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION hoc_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {SEAL_TABLE}_no_truncate BEFORE TRUNCATE ON {SEAL_TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION hoc_refuse_change()"
        )
    elif dialect == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {SEAL_TABLE}_no_{operation.lower()} BEFORE {operation} "
                f"ON {SEAL_TABLE} BEGIN SELECT RAISE(ABORT, 'houseofcare: {SEAL_TABLE} is "
                f"append-only; {operation} refused'); END"
            )
    else:
        raise RuntimeError(f"no append-only triggers for {dialect}; add them before using it")


def upgrade() -> None:
    op.create_table(
        "sign_in_throttle",
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("failures >= 0", name=op.f("ck_sign_in_throttle_failures_not_negative")),
        sa.PrimaryKeyConstraint("subject", name=op.f("pk_sign_in_throttle")),
    )
    with op.batch_alter_table("sign_in_throttle", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sign_in_throttle_last_failure_at"), ["last_failure_at"], unique=False
        )
    op.create_table(
        SEAL_TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_event_id", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("event_ids", sa.Text(), nullable=False),
        sa.Column("event_digests", sa.Text(), nullable=False),
        sa.Column("previous_digest", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "last_event_id >= first_event_id", name=op.f("ck_audit_seal_range_ordered")
        ),
        sa.CheckConstraint("event_count >= 1", name=op.f("ck_audit_seal_not_empty")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_seal")),
        sa.UniqueConstraint("first_event_id", name=op.f("uq_audit_seal_first_event_id")),
    )
    _create_seal_triggers()


def downgrade() -> None:
    # dropping the table drops its triggers on both databases
    op.drop_table(SEAL_TABLE)
    with op.batch_alter_table("sign_in_throttle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_throttle_last_failure_at"))
    op.drop_table("sign_in_throttle")
