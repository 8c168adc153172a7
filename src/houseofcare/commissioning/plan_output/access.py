"""Who may build the commissioning plan: one access decision and one audit event.

The plan is aggregate and disclosure-controlled, but it is built from identifiable rows (the
run, the care plans, referrals and unmet need), so building it is the population page's
decision, `population.read` (`careplan/policy.toml`: commissioners and analysts, and GPs as
practice leads), made by the same `Guard` with its audit: an allowed build is one `export`
event of a `CommissioningPlan` naming the run, the area and the format; a refusal is one
denied event with the reason. The command line signs in as `hoc recall` does (`--user` and a
password, or `--token`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from houseofcare.cli_access import ExportRefused, read_password, sign_in
from houseofcare.settings import Settings

#: The audit events' resource type for the plan (the page's and the command's alike).
RESOURCE_TYPE: Final = "CommissioningPlan"
#: What a refusal adds, so a user knows whom to ask.
WHO_MAY: Final = (
    "the commissioning plan is for roles granted the population's figures (population.read: "
    "commissioners and analysts, and GPs as practice leads)"
)


def authorise_plan(
    settings: Settings,
    *,
    username: str | None,
    token: str | None,
    detail: Mapping[str, Any],
    password: Callable[[str], str] = read_password,
) -> str:
    """Sign in, decide `population.read`, audit it; the signed-in username, or ExportRefused
    (audited) saying why."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from houseofcare.careplan.actor import Actor
    from houseofcare.careplan.guard import AccessRefused, Guard
    from houseofcare.careplan.policy import Action, packaged_policy
    from houseofcare.store.audit import record_audit_now
    from houseofcare.store.database import engine_for, session_factory, transaction
    from houseofcare.store.models import AuditOutcome

    if not username and not token:
        raise ExportRefused(
            "the commissioning plan is built from identifiable records: sign in with --user "
            "USERNAME (you are asked for your password) or --token (HOC_TOKEN)"
        )
    engine = engine_for(settings)
    try:
        factory = session_factory(engine)
        try:
            user = sign_in(settings, factory, username=username, token=token, password=password)
            if user is None:
                why = (
                    "the personal access token is unknown, expired or revoked"
                    if token
                    else "unknown username or wrong password"
                )
                record_audit_now(
                    factory,
                    action="export",
                    resource_type=RESOURCE_TYPE,
                    outcome=AuditOutcome.denied,
                    detail={**detail, "reason": why, "via": "cli"},
                )
                raise ExportRefused(why)
            guard = Guard(
                actor=Actor.signed_in(user), factory=factory, policy=packaged_policy(), via="cli"
            )
            with transaction(factory) as session:
                guard.authorise(
                    session,
                    Action.population_read,
                    None,
                    audit_action="export",
                    resource_type=RESOURCE_TYPE,
                )
                guard.audit(
                    session,
                    action="export",
                    resource_type=RESOURCE_TYPE,
                    detail={**detail, "aggregate": True},
                )
        except AccessRefused as exc:
            raise ExportRefused(f"{exc.reason}: {WHO_MAY}") from None
        except (OperationalError, ProgrammingError):
            raise ExportRefused(
                "the operational store (users, audit) is not set up: run `hoc db upgrade` and "
                "create users (`hoc db seed-demo` for a demo)"
            ) from None
    finally:
        engine.dispose()
    return user.username
