"""The operational store: people, users, care teams, care plans and their history, audit.

Audit events and version rows are append-only: triggers (PostgreSQL and SQLite) refuse
UPDATE and DELETE on them (and TRUNCATE on PostgreSQL), whoever asks.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-24 15:49:28.364888
"""

# ruff: noqa: E501 (generated constraint SQL is clearer on one line)
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Tables whose rows may only be added (the same list as houseofcare.store.models).
APPEND_ONLY_TABLES = ("audit_event", "care_plan_version", "goal_version", "care_action_version")


def _create_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE FUNCTION hoc_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'houseofcare: % is append-only; % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$"""
        )
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION hoc_refuse_change()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION hoc_refuse_change()"
            )
    elif dialect == "sqlite":
        for table in APPEND_ONLY_TABLES:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'houseofcare: {table} is append-only; "
                    f"{operation} refused'); END"
                )
    else:
        raise RuntimeError(f"no append-only triggers for {dialect}; add them before using it")


def _drop_append_only_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS hoc_refuse_change()")
    elif dialect == "sqlite":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("role", sa.String(length=32), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('success', 'denied', 'not_found', 'invalid', 'conflict', 'error')",
            name=op.f("ck_audit_event_outcome_allowed"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_event_person_time", ["person_id", "occurred_at"], unique=False
        )
        batch_op.create_index("ix_audit_event_user_time", ["user_id", "occurred_at"], unique=False)

    op.create_table(
        "organisation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ods_code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "type IN ('practice', 'community_trust', 'acute_trust', 'local_authority_social_care', 'voluntary_group')",
            name=op.f("ck_organisation_type_allowed"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisation")),
        sa.UniqueConstraint("ods_code", name=op.f("uq_organisation_ods_code")),
    )
    op.create_table(
        "care_team",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_care_team_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_team")),
    )
    with op.batch_alter_table("care_team", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_care_team_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nhs_number", sa.String(length=10), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("given_name", sa.String(length=100), nullable=True),
        sa.Column("family_name", sa.String(length=100), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("gender", sa.String(length=16), nullable=True),
        sa.Column("practice_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(nhs_number) = 10", name=op.f("ck_person_nhs_number_length")),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["organisation.id"], name=op.f("fk_person_practice_id_organisation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person")),
        sa.UniqueConstraint("nhs_number", name=op.f("uq_person_nhs_number")),
        sa.UniqueConstraint("patient_id", name=op.f("uq_person_patient_id")),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_practice_id"), ["practice_id"], unique=False)

    op.create_table(
        "user_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(role = 'patient' AND person_id IS NOT NULL) OR (role <> 'patient' AND person_id IS NULL)",
            name=op.f("ck_user_account_patient_is_a_person"),
        ),
        sa.CheckConstraint(
            "role IN ('gp', 'nurse', 'case_manager', 'social_worker', 'voluntary_sector', 'commissioner', 'patient', 'admin')",
            name=op.f("ck_user_account_role_allowed"),
        ),
        sa.CheckConstraint(
            "role NOT IN ('case_manager', 'gp', 'nurse', 'social_worker', 'voluntary_sector') OR organisation_id IS NOT NULL",
            name=op.f("ck_user_account_clinical_role_has_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_user_account_organisation_id_organisation"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_user_account_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_account")),
        sa.UniqueConstraint("person_id", name=op.f("uq_user_account_person_id")),
        sa.UniqueConstraint("username", name=op.f("uq_user_account_username")),
    )
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_user_account_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "care_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("care_team_id", sa.Integer(), nullable=True),
        sa.Column("lead_user_id", sa.Integer(), nullable=True),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("period_end", sa.Date(), nullable=True),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("last_reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("conversation_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agreed_with_person", sa.Boolean(), nullable=False),
        sa.Column("agreed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'on-hold', 'revoked', 'completed', 'entered-in-error')",
            name=op.f("ck_care_plan_status_allowed"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_care_plan_version_positive")),
        sa.ForeignKeyConstraint(
            ["care_team_id"], ["care_team.id"], name=op.f("fk_care_plan_care_team_id_care_team")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_care_plan_created_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["lead_user_id"],
            ["user_account.id"],
            name=op.f("fk_care_plan_lead_user_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_care_plan_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_plan")),
    )
    with op.batch_alter_table("care_plan", schema=None) as batch_op:
        batch_op.create_index("ix_care_plan_person_id", ["person_id"], unique=False)
        batch_op.create_index(
            "ix_care_plan_team_review", ["care_team_id", "review_date"], unique=False
        )
        batch_op.create_index(
            "uq_care_plan_one_active_per_person",
            ["person_id"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )

    op.create_table(
        "care_team_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("care_team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["care_team_id"],
            ["care_team.id"],
            name=op.f("fk_care_team_member_care_team_id_care_team"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_care_team_member_user_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_team_member")),
        sa.UniqueConstraint(
            "care_team_id", "user_id", name=op.f("uq_care_team_member_care_team_id_user_id")
        ),
    )
    with op.batch_alter_table("care_team_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_care_team_member_user_id"), ["user_id"], unique=False)

    op.create_table(
        "caseload_assignment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_manager_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assigned_by_id", sa.Integer(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["assigned_by_id"],
            ["user_account.id"],
            name=op.f("fk_caseload_assignment_assigned_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["case_manager_id"],
            ["user_account.id"],
            name=op.f("fk_caseload_assignment_case_manager_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_caseload_assignment_person_id_person")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_caseload_assignment")),
    )
    with op.batch_alter_table("caseload_assignment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_caseload_assignment_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            "uq_caseload_assignment_open",
            ["case_manager_id", "person_id"],
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )

    op.create_table(
        "consent_to_share",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("organisation_type", sa.String(length=32), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "organisation_type IN ('practice', 'community_trust', 'acute_trust', 'local_authority_social_care', 'voluntary_group')",
            name=op.f("ck_consent_to_share_organisation_type_allowed"),
        ),
        sa.CheckConstraint(
            "withdrawn_at IS NULL OR withdrawn_at >= given_at",
            name=op.f("ck_consent_to_share_withdrawn_after_given"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_consent_to_share_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["user_account.id"],
            name=op.f("fk_consent_to_share_recorded_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_by_id"],
            ["user_account.id"],
            name=op.f("fk_consent_to_share_withdrawn_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_to_share")),
    )
    with op.batch_alter_table("consent_to_share", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consent_to_share_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            "uq_consent_to_share_current",
            ["person_id", "organisation_type"],
            unique=True,
            sqlite_where=sa.text("withdrawn_at IS NULL"),
            postgresql_where=sa.text("withdrawn_at IS NULL"),
        )

    op.create_table(
        "care_plan_comment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("care_plan_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["user_account.id"],
            name=op.f("fk_care_plan_comment_author_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["care_plan_id"],
            ["care_plan.id"],
            name=op.f("fk_care_plan_comment_care_plan_id_care_plan"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_plan_comment")),
    )
    with op.batch_alter_table("care_plan_comment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_care_plan_comment_care_plan_id"), ["care_plan_id"], unique=False
        )

    op.create_table(
        "care_plan_participant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("care_plan_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "role IN ('person', 'carer', 'professional', 'other')",
            name=op.f("ck_care_plan_participant_role_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["care_plan_id"],
            ["care_plan.id"],
            name=op.f("fk_care_plan_participant_care_plan_id_care_plan"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_care_plan_participant_user_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_plan_participant")),
    )
    with op.batch_alter_table("care_plan_participant", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_care_plan_participant_care_plan_id"), ["care_plan_id"], unique=False
        )

    op.create_table(
        "care_plan_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("care_plan_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by_id", sa.Integer(), nullable=True),
        sa.Column("changed_by_role", sa.String(length=32), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "change IN ('created', 'updated', 'conversation', 'review_date', 'reviewed', 'goal', 'action', 'need')",
            name=op.f("ck_care_plan_version_change_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["care_plan_id"],
            ["care_plan.id"],
            name=op.f("fk_care_plan_version_care_plan_id_care_plan"),
        ),
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["user_account.id"],
            name=op.f("fk_care_plan_version_changed_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_plan_version")),
        sa.UniqueConstraint(
            "care_plan_id", "version", name=op.f("uq_care_plan_version_care_plan_id_version")
        ),
    )
    op.create_table(
        "goal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("care_plan_id", sa.Integer(), nullable=False),
        sa.Column("what_matters_to_me", sa.Text(), nullable=False),
        sa.Column("target_measure", sa.String(length=100), nullable=True),
        sa.Column("target_value", sa.Float(), nullable=True),
        sa.Column("target_unit", sa.String(length=32), nullable=True),
        sa.Column("target_due", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("status_date", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('proposed', 'planned', 'accepted', 'active', 'on-hold', 'completed', 'cancelled', 'entered-in-error', 'rejected')",
            name=op.f("ck_goal_status_allowed"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_goal_version_positive")),
        sa.ForeignKeyConstraint(
            ["care_plan_id"], ["care_plan.id"], name=op.f("fk_goal_care_plan_id_care_plan")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_goal_created_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goal")),
    )
    with op.batch_alter_table("goal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_goal_care_plan_id"), ["care_plan_id"], unique=False)

    op.create_table(
        "need",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("care_plan_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "domain IN ('physical_health', 'mental_health', 'self_management', 'social_housing', 'social_finance', 'social_loneliness', 'social_carer', 'mobility', 'medicines')",
            name=op.f("ck_need_domain_allowed"),
        ),
        sa.CheckConstraint("status IN ('active', 'resolved')", name=op.f("ck_need_status_allowed")),
        sa.ForeignKeyConstraint(
            ["care_plan_id"], ["care_plan.id"], name=op.f("fk_need_care_plan_id_care_plan")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["user_account.id"], name=op.f("fk_need_created_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_need")),
    )
    with op.batch_alter_table("need", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_need_care_plan_id"), ["care_plan_id"], unique=False)

    op.create_table(
        "preparation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("care_plan_id", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("prepared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("prepared_by_id", sa.Integer(), nullable=True),
        sa.Column("sent_on", sa.Date(), nullable=True),
        sa.Column("sent_by_id", sa.Integer(), nullable=True),
        sa.Column("talk_about", sa.Text(), nullable=True),
        sa.Column("talk_about_by_id", sa.Integer(), nullable=True),
        sa.Column("talk_about_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["care_plan_id"], ["care_plan.id"], name=op.f("fk_preparation_care_plan_id_care_plan")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["person.id"], name=op.f("fk_preparation_person_id_person")
        ),
        sa.ForeignKeyConstraint(
            ["prepared_by_id"],
            ["user_account.id"],
            name=op.f("fk_preparation_prepared_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["sent_by_id"], ["user_account.id"], name=op.f("fk_preparation_sent_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["talk_about_by_id"],
            ["user_account.id"],
            name=op.f("fk_preparation_talk_about_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_preparation")),
    )
    with op.batch_alter_table("preparation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_preparation_person_id"), ["person_id"], unique=False)

    op.create_table(
        "care_action",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("care_plan_id", sa.Integer(), nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=True),
        sa.Column("performer", sa.String(length=32), nullable=False),
        sa.Column("performer_name", sa.String(length=200), nullable=True),
        sa.Column("performer_user_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "performer = 'person' OR performer_name IS NOT NULL OR performer_user_id IS NOT NULL",
            name=op.f("ck_care_action_performer_named"),
        ),
        sa.CheckConstraint(
            "performer IN ('person', 'carer', 'professional', 'service')",
            name=op.f("ck_care_action_performer_allowed"),
        ),
        sa.CheckConstraint(
            "status IN ('not-started', 'scheduled', 'in-progress', 'on-hold', 'completed', 'cancelled', 'stopped', 'unknown', 'entered-in-error')",
            name=op.f("ck_care_action_status_allowed"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_care_action_version_positive")),
        sa.ForeignKeyConstraint(
            ["care_plan_id"], ["care_plan.id"], name=op.f("fk_care_action_care_plan_id_care_plan")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_care_action_created_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(["goal_id"], ["goal.id"], name=op.f("fk_care_action_goal_id_goal")),
        sa.ForeignKeyConstraint(
            ["performer_user_id"],
            ["user_account.id"],
            name=op.f("fk_care_action_performer_user_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_action")),
    )
    with op.batch_alter_table("care_action", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_care_action_care_plan_id"), ["care_plan_id"], unique=False
        )

    op.create_table(
        "goal_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("goal_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by_id", sa.Integer(), nullable=True),
        sa.Column("changed_by_role", sa.String(length=32), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "change IN ('created', 'updated', 'conversation', 'review_date', 'reviewed', 'goal', 'action', 'need')",
            name=op.f("ck_goal_version_change_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["user_account.id"],
            name=op.f("fk_goal_version_changed_by_id_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["goal_id"], ["goal.id"], name=op.f("fk_goal_version_goal_id_goal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_goal_version")),
        sa.UniqueConstraint("goal_id", "version", name=op.f("uq_goal_version_goal_id_version")),
    )
    op.create_table(
        "care_action_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=32), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by_id", sa.Integer(), nullable=True),
        sa.Column("changed_by_role", sa.String(length=32), nullable=True),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "change IN ('created', 'updated', 'conversation', 'review_date', 'reviewed', 'goal', 'action', 'need')",
            name=op.f("ck_care_action_version_change_allowed"),
        ),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["care_action.id"],
            name=op.f("fk_care_action_version_action_id_care_action"),
        ),
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["user_account.id"],
            name=op.f("fk_care_action_version_changed_by_id_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_care_action_version")),
        sa.UniqueConstraint(
            "action_id", "version", name=op.f("uq_care_action_version_action_id_version")
        ),
    )

    _create_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    op.drop_table("care_action_version")
    op.drop_table("goal_version")
    with op.batch_alter_table("care_action", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_action_care_plan_id"))

    op.drop_table("care_action")
    with op.batch_alter_table("preparation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_preparation_person_id"))

    op.drop_table("preparation")
    with op.batch_alter_table("need", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_need_care_plan_id"))

    op.drop_table("need")
    with op.batch_alter_table("goal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_goal_care_plan_id"))

    op.drop_table("goal")
    op.drop_table("care_plan_version")
    with op.batch_alter_table("care_plan_participant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_plan_participant_care_plan_id"))

    op.drop_table("care_plan_participant")
    with op.batch_alter_table("care_plan_comment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_plan_comment_care_plan_id"))

    op.drop_table("care_plan_comment")
    with op.batch_alter_table("consent_to_share", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_consent_to_share_current",
            sqlite_where=sa.text("withdrawn_at IS NULL"),
            postgresql_where=sa.text("withdrawn_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_consent_to_share_person_id"))

    op.drop_table("consent_to_share")
    with op.batch_alter_table("caseload_assignment", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_caseload_assignment_open",
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_caseload_assignment_person_id"))

    op.drop_table("caseload_assignment")
    with op.batch_alter_table("care_team_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_team_member_user_id"))

    op.drop_table("care_team_member")
    with op.batch_alter_table("care_plan", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_care_plan_one_active_per_person",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index("ix_care_plan_team_review")
        batch_op.drop_index("ix_care_plan_person_id")

    op.drop_table("care_plan")
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_account_organisation_id"))

    op.drop_table("user_account")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_practice_id"))

    op.drop_table("person")
    with op.batch_alter_table("care_team", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_care_team_organisation_id"))

    op.drop_table("care_team")
    op.drop_table("organisation")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_user_time")
        batch_op.drop_index("ix_audit_event_person_time")

    op.drop_table("audit_event")
