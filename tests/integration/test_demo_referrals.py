"""`hoc db seed-demo`'s social prescribing: the demo link worker, their people, and referrals
made through the referral service (on the plan, audited), loaded once however often it runs."""

from __future__ import annotations

from sqlalchemy import func, select
from test_store_preparation import _analytic_store

from houseofcare.careplan.people import authenticate
from houseofcare.selfcare.demo_referrals import STORIES
from houseofcare.settings import Settings
from houseofcare.store.database import engine_for, session_factory
from houseofcare.store.demo import demo_password, seed_demo
from houseofcare.store.models import (
    AuditEvent,
    CarePlanComment,
    CaseloadAssignment,
    Referral,
    Role,
    Service,
)


def test_seed_demo_gives_the_link_worker_people_and_referrals(settings: Settings) -> None:
    _analytic_store(settings, risk_tables=False)
    summary = seed_demo(settings, people=10, plans=3)
    assert "demo.linkworker" in {u.username for u in summary.users}
    seed_demo(settings, people=10, plans=3)  # idempotent
    engine = engine_for(settings)
    try:
        with session_factory(engine)() as session:
            worker = authenticate(session, "demo.linkworker", demo_password("demo.linkworker"))
            assert worker is not None and worker.role is Role.link_worker
            people = session.scalars(
                select(CaseloadAssignment.what_matters).where(
                    CaseloadAssignment.case_manager_id == worker.id
                )
            ).all()
            assert len(people) >= 1 and all(people)
            # one referral each, at the stages of the demo's stories in turn
            statuses = [
                s.value for s in session.scalars(select(Referral.status).order_by(Referral.id))
            ]
            assert statuses == [stage for _, _, stage in STORIES][: len(people)]
            # the referrals go to the demo voluntary group's services
            groups = set(
                session.scalars(
                    select(Service.organisation_name).join(
                        Referral, Referral.service_id == Service.id
                    )
                )
            )
            assert groups == {"Demo Breathe Easy Group"}
            notes = session.scalars(select(CarePlanComment.text)).all()
            assert any("attended. Came to four walks" in n for n in notes)
            audited = session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.resource_type == "ServiceRequest", AuditEvent.action == "update")
            )
            moves = {"attended": 2, "accepted": 1, "declined": 1, "sent": 0}
            assert audited == sum(moves[s] for s in statuses)
    finally:
        engine.dispose()
