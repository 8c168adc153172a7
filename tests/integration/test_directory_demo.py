"""The demo set-up loads the demo directory (issue 13): about forty services in the demo
network's localities, the voluntary group receiving the services it runs, and a second run
changing nothing."""

from __future__ import annotations

from sqlalchemy import select
from test_store_preparation import _analytic_store

from houseofcare.settings import Settings
from houseofcare.store.database import engine_for, session_factory
from houseofcare.store.demo import seed_demo
from houseofcare.store.models import Organisation, Service, ServiceStatus


def _directory(settings: Settings) -> dict[str, tuple[str, int | None, str]]:
    engine = engine_for(settings)
    try:
        with session_factory(engine)() as session:
            rows = session.execute(
                select(Service.name, Service.organisation_id, Service.status, Service.updated_at)
            ).all()
            group = session.scalar(
                select(Organisation.id).where(Organisation.ods_code == "DEMO-VG")
            )
    finally:
        engine.dispose()
    return {name: (str(status), org, f"{updated}") for name, org, status, updated in rows} | {
        "__group__": ("", group, "")
    }


def test_the_demo_loads_its_directory_once(settings: Settings) -> None:
    _analytic_store(settings, risk_tables=False)
    seed_demo(settings, people=10, plans=0)
    first = _directory(settings)
    group = first.pop("__group__")[1]
    assert len(first) == 43
    assert first["Health Walks Manchester"][1] == group  # the voluntary group receives it
    assert first["Breathe Easy Manchester: COPD peer support group"][1] == group
    assert first["NHS Talking Therapies Manchester"][1] is None
    assert first["Memory Café"][0] == ServiceStatus.temporarily_closed
    localities = {"Manchester", "Blackpool", "Leeds", "Sheffield", "Wiltshire", "Wokingham"}
    assert all(f"Health Walks {place}" in first for place in localities)
    seed_demo(settings, people=10, plans=0)
    again = _directory(settings)
    again.pop("__group__")
    assert again == first  # nothing changed, not even the rows' update times
