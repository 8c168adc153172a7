"""Proxy access (issue 12, My care plan): a carer the person lets see their record.

`proxy_grant` holds the person's permission for another user (their carer) to see and use
their record as they do, until they withdraw it; one live grant per person and carer.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07 07:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "proxy_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("proxy_user_id", sa.Integer(), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "withdrawn_at IS NULL OR withdrawn_at >= granted_at",
            name=op.f("ck_proxy_grant_withdrawn_after_granted"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_proxy_grant_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["proxy_user_id"],
            ["user_account.id"],
            name=op.f("fk_proxy_grant_proxy_user_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["granted_by_id"],
            ["user_account.id"],
            name=op.f("fk_proxy_grant_granted_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by_id"],
            ["user_account.id"],
            name=op.f("fk_proxy_grant_withdrawn_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proxy_grant")),
    )
    with op.batch_alter_table("proxy_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proxy_grant_person_id"), ["person_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_proxy_grant_proxy_user_id"), ["proxy_user_id"], unique=False
        )
        batch_op.create_index(
            "uq_proxy_grant_current",
            ["person_id", "proxy_user_id"],
            unique=True,
            sqlite_where=sa.text("withdrawn_at IS NULL"),
            postgresql_where=sa.text("withdrawn_at IS NULL"),
        )


def downgrade() -> None:
    op.drop_table("proxy_grant")
