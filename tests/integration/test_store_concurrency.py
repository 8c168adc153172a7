"""Many writers on one care plan: optimistic concurrency loses no update (PostgreSQL, SQLite).

Each thread reads the plan, changes it with the version it read, and on `StaleVersion`
re-reads and tries again: the way FHIR clients use If-Match. Every successful change must
be in the history exactly once, with consecutive version numbers, each version's "before"
being the previous version's "after" — no change ever silently overwrites another.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from itertools import pairwise

import pytest
from sqlalchemy import Engine

from houseofcare.careplan import SYSTEM, ActivePlanExists, StaleVersion
from houseofcare.careplan.people import create_person
from houseofcare.careplan.plans import (
    add_goal,
    care_plan_history,
    create_care_plan,
    find_care_plans,
    get_care_plan,
    update_care_plan,
)
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade_engine

THREADS = 6
UPDATES_EACH = 5


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def engine(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_postgres_database: Callable[[str], str],
) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('concurrency') / 'store.sqlite'}"
    else:
        url = make_postgres_database("concurrency")
    engine = make_engine(url, pool_size=THREADS + 2) if "postgresql" in url else make_engine(url)
    upgrade_engine(engine)
    yield engine
    engine.dispose()


def _new_person(engine: Engine, nhs_number: str) -> int:
    with transaction(session_factory(engine)) as session:
        return create_person(session, nhs_number=nhs_number).id


def _run(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()


def test_no_update_is_lost_when_many_writers_change_one_plan(engine: Engine) -> None:
    factory = session_factory(engine)
    person_id = _new_person(engine, "9434765919")
    with transaction(factory) as session:
        plan_id = create_care_plan(session, person_id, SYSTEM, description="").id
    barrier = threading.Barrier(THREADS)
    done: list[str] = []
    stale_seen: list[int] = []
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            barrier.wait()
            for step in range(UPDATES_EACH):
                mark = f"{name}.{step}"
                while True:
                    with factory() as session:
                        plan = get_care_plan(session, plan_id)
                        version, description = plan.version, plan.description or ""
                    try:
                        with transaction(factory) as session:
                            update_care_plan(
                                session,
                                plan_id,
                                version,
                                {"description": f"{description} {mark}".strip()},
                                SYSTEM,
                            )
                        done.append(mark)
                        break
                    except StaleVersion:
                        stale_seen.append(1)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    _run([threading.Thread(target=writer, args=(f"w{i}",)) for i in range(THREADS)])
    assert errors == []
    assert len(done) == THREADS * UPDATES_EACH
    with factory() as session:
        plan = get_care_plan(session, plan_id)
        # every mark is in the final text exactly once: nothing was overwritten
        assert sorted(plan.description.split()) == sorted(done)  # type: ignore[union-attr]
        assert plan.version == 1 + len(done)
        history = care_plan_history(session, plan_id)
        assert [v.version for v in history] == list(range(1, plan.version + 1))
        for before, after in pairwise(history):
            old, new = after.changes["description"]
            assert old == before.snapshot["description"]
            assert new == after.snapshot["description"]
    assert stale_seen, "the writers never collided, so the test proved nothing"


def test_concurrent_goal_additions_each_get_their_own_plan_version(engine: Engine) -> None:
    factory = session_factory(engine)
    person_id = _new_person(engine, "9990000018")
    with transaction(factory) as session:
        plan_id = create_care_plan(session, person_id, SYSTEM).id
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def adder(index: int) -> None:
        try:
            barrier.wait()
            with transaction(factory) as session:
                add_goal(session, plan_id, {"what_matters_to_me": f"goal {index}"}, SYSTEM)
        except BaseException as exc:
            errors.append(exc)

    _run([threading.Thread(target=adder, args=(i,)) for i in range(THREADS)])
    assert errors == []
    with factory() as session:
        plan = get_care_plan(session, plan_id)
        assert plan.version == 1 + THREADS
        assert len(plan.goals) == THREADS
        history = care_plan_history(session, plan_id)
        assert [v.version for v in history] == list(range(1, THREADS + 2))
        assert len(history[-1].snapshot["goals"]) == THREADS


def test_concurrent_creators_give_a_person_only_one_active_plan(engine: Engine) -> None:
    factory = session_factory(engine)
    person_id = _new_person(engine, "9990000026")
    barrier = threading.Barrier(THREADS)
    created: list[int] = []
    refused: list[int] = []
    errors: list[BaseException] = []

    def creator() -> None:
        try:
            barrier.wait()
            with transaction(factory) as session:
                created.append(create_care_plan(session, person_id, SYSTEM).id)
        except ActivePlanExists:
            refused.append(1)
        except BaseException as exc:
            errors.append(exc)

    _run([threading.Thread(target=creator) for _ in range(THREADS)])
    assert errors == []
    assert (len(created), len(refused)) == (1, THREADS - 1)
    with factory() as session:
        assert [p.id for p in find_care_plans(session, person_id=person_id)] == created
