"""Year of Care preparation from a real DuckDB analytic store, and the demo seed, end to end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pytest
from sqlalchemy import select, true
from typer.testing import CliRunner

from houseofcare.careplan import SYSTEM, InvalidChange
from houseofcare.careplan.lists import caseload, due_reviews
from houseofcare.careplan.measures import MeasureFileError, load_measures, packaged_measures
from houseofcare.careplan.people import authenticate, create_person, find_person_by_patient_id
from houseofcare.careplan.plans import active_care_plan, care_plan_history, find_care_plans
from houseofcare.careplan.preparation import (
    NoAnalyticRun,
    add_talking_points,
    latest_preparation,
    mark_summary_sent,
    prepare,
    read_results_summary,
)
from houseofcare.cli import app
from houseofcare.risk.scoring import RISK_SCORE_DDL
from houseofcare.settings import Settings
from houseofcare.store.analytic import connect, person_index
from houseofcare.store.database import engine_for, session_factory, transaction
from houseofcare.store.demo import DEMO_USERS, PLAN_STAGES, DemoError, demo_password, seed_demo
from houseofcare.store.migrate import head_revision, upgrade
from houseofcare.store.models import (
    AuditEvent,
    CarePlan,
    CarePlanStatus,
    CareTeam,
    ChangeKind,
    Person,
    Preparation,
    Role,
    User,
)
from houseofcare.synth.nhs_number import nhs_numbers
from houseofcare.tiers.assign import TIER_DDL

SNOMED = "http://snomed.info/sct"
HBA1C, SYSTOLIC, BMI = "999791000000106", "72313002", "60621009"
NUMBERS = ["9434765919", "9990000018", "9990000026"]


def _analytic_store(settings: Settings, *, risk_tables: bool) -> None:
    """Three people, some results, two runs with care gaps (and optionally a tier table)."""
    con = connect(settings)
    con.execute(
        "CREATE TABLE run (run_id VARCHAR, as_of DATE, started_at TIMESTAMP, "
        "finished_at TIMESTAMP, code_version VARCHAR, rules_digest VARCHAR, people BIGINT)"
    )
    con.execute(
        "CREATE TABLE care_gap (run_id VARCHAR, patient_id VARCHAR, indicator VARCHAR, "
        "outcome VARCHAR, evidence_code VARCHAR, evidence_date DATE, evidence_value VARCHAR, "
        "overdue_since DATE)"
    )
    for index, number in enumerate(NUMBERS):
        con.execute(
            "INSERT INTO patient (patient_id, nhs_number, given_name, family_name, gender, "
            "birth_date, practice_id) VALUES (?, ?, ?, 'Okafor', 'female', DATE '1950-01-01', "
            "'Y90001')",
            [f"p{index}", number, f"Grace{index}"],
        )
    con.execute(
        "INSERT INTO organization (organization_id, ods_code, name) "
        "VALUES ('o1', 'Y90001', 'Riverside Surgery')"
    )
    observations = [
        ("p0", HBA1C, "2025-06-01", 70.0),
        ("p0", HBA1C, "2026-01-10", 62.0),  # the latest before the run's as-of date
        ("p0", HBA1C, "2026-06-01", 40.0),  # after the as-of date: must not be shown
        ("p0", SYSTOLIC, "2026-02-01", 128.0),
        ("p0", BMI, "2025-11-11", 31.2),
        ("p1", HBA1C, "2026-01-01", 45.0),  # someone else's result
    ]
    for n, (patient, code, date, value) in enumerate(observations):
        con.execute(
            "INSERT INTO observation (observation_id, patient_id, status, code_system, code, "
            "effective_date, value_number) VALUES (?, ?, 'final', ?, ?, ?, ?)",
            [f"o{n}", patient, SNOMED, code, date, value],
        )
    con.execute(
        "INSERT INTO run VALUES ('old', DATE '2025-12-31', now(), TIMESTAMP '2026-01-01', "
        "'x', 'x', 3), ('new', DATE '2026-03-31', now(), TIMESTAMP '2026-04-01', 'x', 'x', 3)"
    )
    con.execute(
        "INSERT INTO care_gap VALUES "
        "('new', 'p0', 'DM_HBA1C_58', 'not met', NULL, NULL, NULL, DATE '2026-01-10'), "
        "('new', 'p0', 'DM_HBA1C_75_FRAIL', 'met', NULL, NULL, NULL, NULL), "
        "('old', 'p0', 'OLD_GAP', 'not met', NULL, NULL, NULL, NULL)"
    )
    if risk_tables:
        con.execute(TIER_DDL)
        con.execute("INSERT INTO tier VALUES ('new', 'p0', 3, 'top 3% risk')")
    con.close()


def test_the_results_summary_reads_the_latest_run(settings: Settings) -> None:
    _analytic_store(settings, risk_tables=False)
    summary = read_results_summary(settings, "p0")
    assert (summary.run_id, summary.as_of) == ("new", "2026-03-31")
    by_id = {m.measure: m for m in summary.measures}
    assert set(by_id) == {"hba1c", "systolic_bp", "bmi"}
    assert (by_id["hba1c"].value, by_id["hba1c"].date) == (62.0, "2026-01-10")
    assert by_id["hba1c"].meaning.startswith("59 or more")
    assert by_id["systolic_bp"].meaning.startswith("90 to 139")
    assert by_id["bmi"].meaning.startswith("30 to 39.9")
    assert [g.indicator for g in summary.care_gaps] == ["DM_HBA1C_58"]
    assert "HbA1c" in summary.care_gaps[0].name
    assert summary.risk is None  # no tier or risk table yet: tolerated
    older = read_results_summary(settings, "p0", run_id="old")
    assert [g.indicator for g in older.care_gaps] == ["OLD_GAP"]
    assert {m.measure: m.value for m in older.measures}["hba1c"] == 70.0
    with pytest.raises(NoAnalyticRun):
        read_results_summary(settings, "p0", run_id="never")


def test_the_risk_level_is_included_when_the_run_has_one(settings: Settings) -> None:
    _analytic_store(settings, risk_tables=True)
    summary = read_results_summary(settings, "p0")
    assert summary.risk is not None and summary.risk.level == "3"
    assert summary.risk.source["tier.reason"] == "top 3% risk"
    assert read_results_summary(settings, "p1").risk is None


def test_preparation_is_stored_sent_and_annotated(settings: Settings) -> None:
    _analytic_store(settings, risk_tables=False)
    upgrade(settings)
    engine = engine_for(settings)
    factory = session_factory(engine)
    try:
        with transaction(factory) as session:
            person = create_person(session, nhs_number=NUMBERS[0], patient_id="p0")
            stranger = create_person(session, nhs_number=NUMBERS[1])
            record = prepare(session, person.id, SYSTEM, settings=settings)
            assert record.summary["run_id"] == "new"
            assert record.sent_on is None
            with pytest.raises(InvalidChange, match="not linked"):
                prepare(session, stranger.id, SYSTEM, settings=settings)
        with transaction(factory) as session:
            mark_summary_sent(session, record.id, SYSTEM, sent_on=dt.date.today())
            add_talking_points(session, record.id, "My feet hurt when I walk", SYSTEM)
            with pytest.raises(InvalidChange):
                add_talking_points(session, record.id, "  ", SYSTEM)
        with factory() as session:
            latest = latest_preparation(session, person.id)
            assert latest is not None and latest.id == record.id
            assert latest.sent_on == dt.date.today()
            assert latest.talk_about == "My feet hurt when I walk"
            assert {m["measure"] for m in latest.summary["measures"]} >= {"hba1c"}
    finally:
        engine.dispose()


def test_every_measure_explains_every_value() -> None:
    for measure in packaged_measures():
        for value in (-1.0, 0.0, 14.9, 18.5, 48.0, 58.9, 59.0, 89.9, 140.0, 160.0, 1000.0):
            assert measure.meaning(value)


def test_a_band_gap_in_the_measures_file_is_refused_naming_the_measure(tmp_path: Path) -> None:
    path = tmp_path / "measures.toml"
    path.write_text(
        '[[measure]]\nid = "bmi"\nlabel = "BMI"\ncodelists = ["bmival_cod"]\nunit = "kg/m2"\n'
        'about = "x"\nsource = "x"\n'
        '[[measure.band]]\nbelow = 25\nmeaning = "low"\n'
        '[[measure.band]]\nfrom = 26\nmeaning = "high"\n',
        encoding="utf-8",
    )
    with pytest.raises(MeasureFileError, match=r"bmi.*must meet"):
        load_measures(path)


def test_seed_demo_loads_people_users_for_every_role_and_plans(settings: Settings) -> None:
    _analytic_store(settings, risk_tables=False)
    summary = seed_demo(settings, people=10, plans=2)
    assert (summary.people, summary.new_people, summary.care_plans) == (3, 3, 2)
    assert {u.role for u in summary.users} == {r.value for r in Role}
    again = seed_demo(settings, people=10, plans=2)  # idempotent
    assert (again.new_people, again.care_plans) == (0, 2)
    engine = engine_for(settings)
    try:
        with session_factory(engine)() as session:
            roles = dict(session.execute(select(User.username, User.role)).tuples().all())
            assert {name: roles.get(name) for name, _, _ in DEMO_USERS} == {
                name: role for name, role, _ in DEMO_USERS
            }
            patient = authenticate(session, "demo.patient", demo_password("demo.patient"))
            assert patient is not None and patient.person_id is not None
            person = find_person_by_patient_id(session, "p0")
            assert person is not None and person.practice is not None
            assert person.practice.name == "Riverside Surgery"
            assert (person.given_name, person.family_name) == ("Grace0", "Okafor")
            # no tier table: nobody on the caseload; the first plan is prepared, the second agreed
            assert summary.caseload == 0
            assert summary.plan_stages == {"prepared": 1, "agreed": 1}
            assert active_care_plan(session, person.id) is None  # a draft until the conversation
            second = find_person_by_patient_id(session, "p1")
            assert second is not None
            plan = active_care_plan(session, second.id)
            assert plan is not None and plan.agreed_with_person and len(plan.goals) == 1
            assert len(find_care_plans(session)) == 2
    finally:
        engine.dispose()


def _network(settings: Settings) -> dict[str, float]:
    """Two practices, 12 people with names, a run whose level 3 is six people (one of them
    dead since, two at the second practice); risk per level 3 patient id."""
    con = connect(settings)
    con.execute(
        "CREATE TABLE run (run_id VARCHAR, as_of DATE, started_at TIMESTAMP, "
        "finished_at TIMESTAMP, code_version VARCHAR, rules_digest VARCHAR, people BIGINT)"
    )
    con.execute(TIER_DDL)
    con.execute(RISK_SCORE_DDL)
    con.execute(
        "INSERT INTO run VALUES ('old', DATE '2025-03-31', now(), TIMESTAMP '2025-04-01', "
        "'x', 'x', 12), ('new', DATE '2026-03-31', now(), TIMESTAMP '2026-04-01', 'x', 'x', 12)"
    )
    numbers = nhs_numbers(np.arange(12), 7)
    level3 = {"n1": 0.31, "n3": 0.62, "n5": 0.18, "n8": 0.55, "n10": 0.40, "n11": 0.90}
    for i, number in enumerate(numbers):
        pid = f"n{i}"
        con.execute(
            "INSERT INTO patient (patient_id, nhs_number, given_name, family_name, gender, "
            "birth_date, death_date, practice_id) VALUES (?, ?, ?, ?, ?, DATE '1948-05-01', ?, ?)",
            [
                pid,
                str(number),
                f"Given{i}",
                f"Family{i}",
                "female" if i % 2 else "male",
                "2026-01-01" if pid == "n11" else None,  # dead since the run: not loaded
                "Y90001" if i < 8 else "Y90002",
            ],
        )
        level = 3 if pid in level3 else i % 3
        con.execute("INSERT INTO tier VALUES ('new', ?, ?, 'r')", [pid, level])
        con.execute("INSERT INTO tier VALUES ('old', ?, 3, 'r')", [pid])  # an older run
        risk = level3.get(pid, 0.01 * i)
        con.execute(
            "INSERT INTO risk_score VALUES ('new', ?, ?, 50, NULL, NULL, NULL, 'm1')", [pid, risk]
        )
    con.close()
    del level3["n11"]
    return level3


def test_seed_demo_caseload_is_level_3_by_risk_and_plans_are_at_every_stage(
    settings: Settings,
) -> None:
    risk = _network(settings)
    summary = seed_demo(settings, people=6, plans=8, caseload=4)
    by_risk = sorted(risk, key=risk.get, reverse=True)[:4]  # n3, n8, n10, n1
    assert summary.caseload == 4
    assert summary.plan_stages == dict.fromkeys(PLAN_STAGES, 2)
    engine = engine_for(settings)
    try:
        with session_factory(engine)() as session:
            matron = session.scalar(select(User).where(User.username == "demo.matron"))
            assert matron is not None
            listed = caseload(session, matron.id, visible=true())
            # level 3 people of the latest run, highest risk first, wherever they are registered
            assert [e.patient_id for e in listed] == by_risk
            assert [e.given_name for e in listed] == [f"Given{p[1:]}" for p in by_risk]
            assert all(e.family_name for e in listed)
            # the caseload's plans come first (by risk), the stages in turn
            plans = {
                session.get(Person, plan.person_id).patient_id: plan  # type: ignore[union-attr]
                for plan in session.scalars(select(CarePlan))
            }
            assert len(plans) == 8
            stage_of = {p: PLAN_STAGES[i % 4] for i, p in enumerate(by_risk)}
            today = dt.date.today()
            for patient_id, stage in stage_of.items():
                plan = plans[patient_id]
                team = session.get(CareTeam, plan.care_team_id)
                assert team is not None and "case management" in team.name
                history = [v.change for v in care_plan_history(session, plan.id)]
                if stage == "prepared":
                    assert plan.status is CarePlanStatus.draft
                    sent = session.scalar(
                        select(Preparation).where(Preparation.person_id == plan.person_id)
                    )
                    assert sent is not None and sent.sent_on == today
                    assert sent.summary["run_id"] == "new"
                    continue
                assert plan.status is CarePlanStatus.active and plan.agreed_with_person
                assert plan.review_date is not None
                if stage == "agreed":
                    assert plan.review_date > today and plan.last_reviewed_at is None
                elif stage == "due for review":
                    assert plan.review_date <= today
                else:
                    assert plan.review_date > today and plan.last_reviewed_at is not None
                    assert history[-1] is ChangeKind.reviewed
                    assert ChangeKind.conversation in history
            due = due_reviews(session, plan.care_team_id, visible=true())  # type: ignore[arg-type]
            assert [d.care_plan_id for d in due] == [plans[by_risk[2]].id]
            # audited as made by their writer, saying the demo made them
            events = session.scalars(
                select(AuditEvent).where(AuditEvent.resource_type == "CarePlan")
            ).all()
            assert len(events) == 8 and {e.action for e in events} == {"create"}
            first = next(e for e in events if e.resource_id == str(plans[by_risk[0]].id))
            assert (first.username, first.detail) == (
                "demo.matron",
                {"source": "hoc db seed-demo", "stage": "prepared"},
            )
    finally:
        engine.dispose()
    again = seed_demo(settings, people=6, plans=8, caseload=4)
    assert (again.new_people, again.caseload, again.care_plans) == (0, 4, 8)
    engine = engine_for(settings)
    try:
        with session_factory(engine)() as session:
            assert len(find_care_plans(session)) == 8
    finally:
        engine.dispose()


def test_seed_demo_reads_a_store_made_before_names_and_names_people_later(
    settings: Settings,
) -> None:
    """A store not yet re-ingested since names joined the contract still seeds (no names);
    after re-ingest, running again gives the people already loaded their names."""
    _analytic_store(settings, risk_tables=False)
    con = duckdb.connect(str(settings.analytic_db_path))
    # such a store had no index by person either (DuckDB alters no indexed table)
    con.execute(f"DROP INDEX {person_index('patient')}")
    con.execute("ALTER TABLE patient DROP COLUMN given_name")
    con.execute("ALTER TABLE patient DROP COLUMN family_name")
    con.close()
    assert seed_demo(settings, people=10, plans=0).new_people == 3
    con = connect(settings)  # ensure_schema adds the missing columns back
    con.execute("UPDATE patient SET given_name = 'Ada', family_name = 'Lovelace'")
    con.close()
    seed_demo(settings, people=10, plans=0)
    engine = engine_for(settings)
    try:
        with session_factory(engine)() as session:
            names = session.execute(select(Person.given_name, Person.family_name)).all()
            assert set(names) == {("Ada", "Lovelace")}
    finally:
        engine.dispose()


def test_seed_demo_without_an_analytic_store_says_what_to_do(settings: Settings) -> None:
    with pytest.raises(DemoError, match="hoc quickstart"):
        seed_demo(settings)


def test_hoc_db_commands(settings: Settings) -> None:
    runner = CliRunner()
    data_dir = str(settings.data_dir)
    result = runner.invoke(app, ["db", "upgrade", "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    head = head_revision()
    assert f"is at revision {head}" in result.output
    result = runner.invoke(app, ["db", "current", "--data-dir", data_dir])
    assert result.exit_code == 0 and f"revision {head} (newest: {head})" in result.output
    result = runner.invoke(app, ["db", "seed-demo", "--data-dir", data_dir])
    assert result.exit_code == 2 and "no analytic store" in result.output
    _analytic_store(settings, risk_tables=False)
    result = runner.invoke(app, ["db", "seed-demo", "--people", "3", "--data-dir", data_dir])
    assert result.exit_code == 0, result.output
    assert "demo.matron" in result.output and demo_password("demo.matron") in result.output


def test_analytic_store_is_only_read(settings: Settings) -> None:
    """Preparing a summary must not change the analytic store (it is opened read-only)."""
    _analytic_store(settings, risk_tables=False)
    before = settings.analytic_db_path.stat().st_mtime_ns
    read_results_summary(settings, "p0")
    assert settings.analytic_db_path.stat().st_mtime_ns == before
    con = duckdb.connect(str(settings.analytic_db_path), read_only=True)
    assert con.execute("SELECT count(*) FROM run").fetchall() == [(2,)]
    con.close()
