# ruff: noqa: E501 (generated constraint SQL is clearer on one line)
"""Self-care (issue 13): the directory of services, referrals, activation and unmet need.

- `service`: one row per directory service (ORUK 3.0 document kept whole for export);
- `referral` (FHIR ServiceRequest) and `referral_event`, its moves; `unmet_need`, needs
  that found no service; `activation`, patient activation measurements (PAM-style);
- `support_preference`: the person's language, ways of taking part and accessibility needs;
- the role `link_worker` (social prescribing link worker), an organisation role: the two
  CHECK constraints on `user_account.role` are rewritten. On PostgreSQL with ALTER TABLE;
  on SQLite, which cannot alter a CHECK, by rewriting the table's definition in
  `sqlite_schema` (the documented way for changes that leave the stored rows as they are;
  a table rebuild would have to drop `user_account`, which every other table references).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 09:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = "'gp', 'nurse', 'case_manager', 'social_worker', 'voluntary_sector', 'commissioner', 'patient', 'admin'"
NEW_ROLES = OLD_ROLES + ", 'link_worker'"
OLD_ORG_ROLES = "'case_manager', 'gp', 'nurse', 'social_worker', 'voluntary_sector'"
NEW_ORG_ROLES = "'case_manager', 'gp', 'link_worker', 'nurse', 'social_worker', 'voluntary_sector'"


def _role_checks(roles: str, org_roles: str) -> dict[str, str]:
    return {
        "ck_user_account_role_allowed": f"role IN ({roles})",
        "ck_user_account_clinical_role_has_organisation": (
            f"role NOT IN ({org_roles}) OR organisation_id IS NOT NULL"
        ),
    }


def _rewrite_role_checks(old: dict[str, str], new: dict[str, str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, condition in new.items():
            op.execute(f"ALTER TABLE user_account DROP CONSTRAINT {name}")
            op.execute(f"ALTER TABLE user_account ADD CONSTRAINT {name} CHECK ({condition})")
        return
    bind = op.get_bind()
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'user_account'"
    ).scalar_one()
    for name, condition in old.items():
        before = f"CONSTRAINT {name} CHECK ({condition})"
        if before not in sql:
            raise RuntimeError(f"user_account's {name} is not as migration 0001 made it")
        sql = sql.replace(before, f"CONSTRAINT {name} CHECK ({new[name]})")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'user_account'",
        (sql,),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _rewrite_role_checks(
        _role_checks(OLD_ROLES, OLD_ORG_ROLES), _role_checks(NEW_ROLES, NEW_ORG_ROLES)
    )
    op.create_table(
        "service",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("oruk_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("organisation_name", sa.String(length=300), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("access", sa.String(length=32), nullable=False),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("taxonomy", sa.JSON(), nullable=False),
        sa.Column("locality", sa.String(length=200), nullable=True),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("postcode", sa.String(length=16), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("eligibility", sa.Text(), nullable=True),
        sa.Column("minimum_age", sa.Integer(), nullable=True),
        sa.Column("maximum_age", sa.Integer(), nullable=True),
        sa.Column("capacity_per_month", sa.Integer(), nullable=True),
        sa.Column("cost", sa.Text(), nullable=True),
        sa.Column("accessibility", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("email", sa.String(length=300), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.Column("opening_times", sa.Text(), nullable=True),
        sa.Column("document", sa.JSON(), nullable=True),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "access IN ('self_referral', 'referral', 'both')",
            name=op.f("ck_service_access_allowed"),
        ),
        sa.CheckConstraint(
            "kind IN ('statutory', 'voluntary', 'community', 'self_help', 'education', 'rehabilitation')",
            name=op.f("ck_service_kind_allowed"),
        ),
        sa.CheckConstraint(
            "status IN ('active', 'inactive', 'defunct', 'temporarily closed')",
            name=op.f("ck_service_status_allowed"),
        ),
        sa.CheckConstraint(
            "capacity_per_month IS NULL OR capacity_per_month >= 0",
            name=op.f("ck_service_capacity_not_negative"),
        ),
        sa.CheckConstraint(
            "minimum_age IS NULL OR maximum_age IS NULL OR minimum_age <= maximum_age",
            name=op.f("ck_service_ages_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_service_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service")),
        sa.UniqueConstraint("oruk_id", name=op.f("uq_service_oruk_id")),
    )
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_locality"), ["locality"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_service_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "activation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("level BETWEEN 1 AND 4", name=op.f("ck_activation_level_range")),
        sa.CheckConstraint("score >= 0 AND score <= 100", name=op.f("ck_activation_score_range")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_activation_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["user_account.id"],
            name=op.f("fk_activation_recorded_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activation")),
    )
    with op.batch_alter_table("activation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activation_person_id"), ["person_id"], unique=False)

    op.create_table(
        "referral",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("care_plan_id", sa.Integer(), nullable=True),
        sa.Column("action_id", sa.Integer(), nullable=True),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("need_domain", sa.String(length=32), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("referred_by_id", sa.Integer(), nullable=True),
        sa.Column("link_worker_id", sa.Integer(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('sent', 'accepted', 'declined', 'attended', 'did_not_attend', 'closed')",
            name=op.f("ck_referral_status_allowed"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_referral_version_positive")),
        sa.ForeignKeyConstraint(
            ["action_id"], ["care_action.id"], name=op.f("fk_referral_action_id_care_action")
        ),
        sa.ForeignKeyConstraint(
            ["care_plan_id"], ["care_plan.id"], name=op.f("fk_referral_care_plan_id_care_plan")
        ),
        sa.ForeignKeyConstraint(
            ["link_worker_id"],
            ["user_account.id"],
            name=op.f("fk_referral_link_worker_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_referral_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["referred_by_id"],
            ["user_account.id"],
            name=op.f("fk_referral_referred_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["service.id"], name=op.f("fk_referral_service_id_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral")),
    )
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referral_link_worker_id"), ["link_worker_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_referral_person_id"), ["person_id"], unique=False)
        batch_op.create_index("ix_referral_service_status", ["service_id", "status"], unique=False)

    op.create_table(
        "referral_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=32), nullable=True),
        sa.Column("to_status", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "from_status IS NULL OR from_status IN ('sent', 'accepted', 'declined', 'attended', 'did_not_attend', 'closed')",
            name=op.f("ck_referral_event_from_status_allowed"),
        ),
        sa.CheckConstraint(
            "to_status IN ('sent', 'accepted', 'declined', 'attended', 'did_not_attend', 'closed')",
            name=op.f("ck_referral_event_to_status_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["by_id"], ["user_account.id"], name=op.f("fk_referral_event_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referral.id"], name=op.f("fk_referral_event_referral_id_referral")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_event")),
    )
    with op.batch_alter_table("referral_event", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referral_event_referral_id"), ["referral_id"], unique=False
        )

    op.create_table(
        "unmet_need",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("referral_id", sa.Integer(), nullable=True),
        sa.Column("service_id", sa.Integer(), nullable=True),
        sa.Column("need_domain", sa.String(length=32), nullable=True),
        sa.Column("locality", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "reason IN ('no_suitable_service', 'service_full', 'declined')",
            name=op.f("ck_unmet_need_reason_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_unmet_need_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["user_account.id"],
            name=op.f("fk_unmet_need_recorded_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referral.id"], name=op.f("fk_unmet_need_referral_id_referral")
        ),
        sa.ForeignKeyConstraint(
            ["service_id"], ["service.id"], name=op.f("fk_unmet_need_service_id_service")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unmet_need")),
    )
    with op.batch_alter_table("unmet_need", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unmet_need_person_id"), ["person_id"], unique=False)
    op.create_table(
        "support_preference",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("ways", sa.JSON(), nullable=False),
        sa.Column("accessibility", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_support_preference_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["user_account.id"],
            name=op.f("fk_support_preference_updated_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_preference")),
        sa.UniqueConstraint("person_id", name=op.f("uq_support_preference_person_id")),
    )


def downgrade() -> None:
    op.drop_table("support_preference")
    _rewrite_role_checks(
        _role_checks(NEW_ROLES, NEW_ORG_ROLES), _role_checks(OLD_ROLES, OLD_ORG_ROLES)
    )
    with op.batch_alter_table("unmet_need", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unmet_need_person_id"))

    op.drop_table("unmet_need")
    with op.batch_alter_table("referral_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_event_referral_id"))

    op.drop_table("referral_event")
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_index("ix_referral_service_status")
        batch_op.drop_index(batch_op.f("ix_referral_person_id"))
        batch_op.drop_index(batch_op.f("ix_referral_link_worker_id"))

    op.drop_table("referral")
    with op.batch_alter_table("activation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activation_person_id"))

    op.drop_table("activation")
    with op.batch_alter_table("service", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_service_locality"))

    op.drop_table("service")
