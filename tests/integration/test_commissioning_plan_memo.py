"""The commissioners' page keeps a built plan while neither store changes
(`web/commissioning.py`): the operational store's stamp moves with every change that could
move a figure of the plan, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from houseofcare.nhs_number import nhs_check_digit
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import CarePlan, CarePlanStatus, Person, UnmetNeed
from houseofcare.web.commissioning import operational_stamp


def _nhs(serial: int) -> str:
    while (check := nhs_check_digit(f"999{serial:06d}")) is None:
        serial += 1
    return f"999{serial:06d}{check}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(
    request: pytest.FixtureRequest, tmp_path: Path, make_postgres_database: Callable[[str], str]
) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'operational.sqlite'}"
    return make_postgres_database("plan_memo")


def test_the_stamp_moves_with_every_change_that_moves_the_plan(store_url: str) -> None:
    engine = make_engine(store_url)
    try:
        upgrade_engine(engine)
        factory = session_factory(engine)
        with transaction(factory) as session:
            person = Person(nhs_number=_nhs(1))
            session.add(person)
            session.flush()
            session.add(CarePlan(person_id=person.id, status=CarePlanStatus.active, title="Plan"))
        stamps = []
        with factory() as session:
            stamps.append(operational_stamp(session))
            assert operational_stamp(session) == stamps[0]  # reading changes nothing
        with transaction(factory) as session:  # a need, goal or action added: a new version
            session.execute(update(CarePlan).values(version=CarePlan.version + 1))
        with factory() as session:
            stamps.append(operational_stamp(session))
        with transaction(factory) as session:  # unmet need recorded
            session.add(
                UnmetNeed(need_domain="housing", reason="no_suitable_service", locality="Leeds")
            )
        with factory() as session:
            stamps.append(operational_stamp(session))
        with transaction(factory) as session:  # a person linked to the analytic record
            session.execute(update(Person).values(patient_id="p-1"))
        with factory() as session:
            stamps.append(operational_stamp(session))
        assert len(set(stamps)) == len(stamps)
    finally:
        engine.dispose()
