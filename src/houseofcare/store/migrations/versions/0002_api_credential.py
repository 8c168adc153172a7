"""The web service's credentials (`api_credential`) move into the store's migrations.

Until now each API worker created this table at start-up. An older store may therefore
already have it (made outside the migrations, with other constraint names): it holds only
short-lived token digests, so it is replaced, and everyone signed in signs in again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 16:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("api_credential"):
        op.drop_table("api_credential")
    op.create_table(
        "api_credential",
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_api_credential_user_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("token_digest", name=op.f("pk_api_credential")),
    )
    with op.batch_alter_table("api_credential", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_credential_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("api_credential", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_credential_user_id"))
    op.drop_table("api_credential")
