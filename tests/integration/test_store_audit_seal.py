"""The audit trail's hash chain (issue 9, item 9), on SQLite and PostgreSQL.

Whoever owns the database file or the tables can drop the append-only triggers and rewrite
the trail. They cannot do it unseen: `seal` chains digests over batches of events and
`verify` names the first broken link, the seal, its event range and the event changed,
removed or slipped in. Each test gets a freshly migrated store (a SQLite file, or a
PostgreSQL schema of one module database), because the tests tamper with it.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from houseofcare.cli import app as hoc
from houseofcare.settings import Settings
from houseofcare.store.audit_seal import canonical_event, event_lines, seal
from houseofcare.store.audit_verify import verify
from houseofcare.store.database import make_engine, session_factory, transaction
from houseofcare.store.migrate import upgrade, upgrade_engine
from houseofcare.store.models import AuditEvent, AuditOutcome


@pytest.fixture(scope="module")
def postgres_schema(make_postgres_database: Callable[[str], str]) -> Callable[[], str]:
    """Fresh schemas in one database of this module; the URL's search_path selects it."""
    database_url = make_postgres_database("seal")

    def make() -> str:
        schema = f"s_{uuid.uuid4().hex[:12]}"
        engine = make_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        return f"{database_url}?options=-csearch_path%3D{schema}"

    return make


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_schema: Callable[[], str]
) -> Iterator[Engine]:
    url = (
        f"sqlite:///{tmp_path / 'store.sqlite'}" if request.param == "sqlite" else postgres_schema()
    )
    made = make_engine(url)
    upgrade_engine(made)
    yield made
    made.dispose()


def _events(engine: Engine, n: int, **values: object) -> list[int]:
    """`n` audit events as the store's audit service writes them; their ids."""
    factory = session_factory(engine)
    events = []
    with transaction(factory) as session:
        for i in range(n):
            event = AuditEvent(
                action="read",
                resource_type="CarePlan",
                user_id=7,
                username="t.gp",
                role="gp",
                resource_id=str(i),
                person_id=100 + i,
                outcome=AuditOutcome.success,
                detail={"b": [1, 2.5, "é"], "a": {"z": None, "y": True}},
                **values,
            )
            session.add(event)
            events.append(event)
        session.flush()
        return [event.id for event in events]


def _as_owner(engine: Engine, *statements: str) -> None:
    """Run `statements` in one transaction, as whoever the engine connects as."""
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def _drop_guards(engine: Engine, table: str = "audit_event") -> list[str]:
    """What an owner runs first to get past the append-only triggers."""
    if engine.dialect.name == "sqlite":
        return [f"DROP TRIGGER {table}_no_update", f"DROP TRIGGER {table}_no_delete"]
    return [f"ALTER TABLE {table} DISABLE TRIGGER ALL"]


def test_sealed_events_verify_and_unsealed_ones_are_counted(engine: Engine) -> None:
    assert verify(engine).ok and verify(engine).seals == 0
    first = _events(engine, 5)
    result = seal(engine)
    assert (result.seals, result.events) == (1, 5)
    _events(engine, 3)
    report = verify(engine)
    assert report.ok, report.broken
    assert (report.seals, report.sealed_events, report.unsealed_events) == (1, 5, 3)
    assert seal(engine).events == 3
    assert seal(engine).events == 0, "nothing new: no empty seal"
    report = verify(engine)
    assert report.ok and report.unsealed_events == 0 and report.seals == 2
    assert report.head is not None and report.head[0] > 0 and len(report.head[1]) == 64
    assert first[0] == 1


def test_a_large_backlog_is_sealed_in_batches(engine: Engine) -> None:
    _events(engine, 25)
    assert seal(engine, max_events=10).seals == 3
    assert verify(engine).ok


def test_the_canonical_form_is_the_same_on_sqlite_and_postgresql(
    tmp_path: Path, postgres_schema: Callable[[], str]
) -> None:
    """A digest made on one database must check on the other: timestamps to the
    microsecond in UTC, JSON with sorted keys, whatever order the keys were written in."""
    at = dt.datetime(2026, 3, 1, 9, 30, 5, 120, tzinfo=dt.UTC)
    lines = []
    for url in (f"sqlite:///{tmp_path / 'c.sqlite'}", postgres_schema()):
        made = make_engine(url)
        upgrade_engine(made)
        _events(made, 1, occurred_at=at)
        with made.connect() as connection:
            lines.append([line for _, line in event_lines(connection, 1, 1)])
        made.dispose()
    assert (
        lines[0]
        == lines[1]
        == [
            '[1,"2026-03-01T09:30:05.000120Z",7,"t.gp","gp","read","CarePlan","0",100,"success",'
            '{"a":{"y":true,"z":null},"b":[1,2.5,"é"]}]'
        ]
    )
    assert canonical_event((1, at, None, None, None, "x", "y", None, None, "denied", None)) == (
        '[1,"2026-03-01T09:30:05.000120Z",null,null,null,"x","y",null,null,"denied",null]'
    )


def test_an_event_changed_after_dropping_the_triggers_is_named(engine: Engine) -> None:
    """SQLite: DROP TRIGGER then UPDATE; PostgreSQL as the owner: DISABLE TRIGGER ALL."""
    ids = _events(engine, 6)
    seal(engine)
    _events(engine, 2)
    seal(engine)
    _as_owner(
        engine,
        *_drop_guards(engine),
        f"UPDATE audit_event SET outcome = 'denied' WHERE id = {ids[3]}",
    )
    report = verify(engine)
    assert not report.ok and report.broken is not None
    assert (report.broken.seal_id, report.broken.event_id) == (1, ids[3])
    assert (report.broken.first_event_id, report.broken.last_event_id) == (1, 6)
    assert f"event {ids[3]} was altered" in report.broken.what


def test_an_event_deleted_after_dropping_the_triggers_is_named(engine: Engine) -> None:
    ids = _events(engine, 6)
    seal(engine)
    _as_owner(engine, *_drop_guards(engine), f"DELETE FROM audit_event WHERE id = {ids[2]}")
    report = verify(engine)
    assert report.broken is not None and report.broken.event_id == ids[2]
    assert "was removed" in report.broken.what


def test_an_event_slipped_into_a_sealed_range_is_named(engine: Engine) -> None:
    _events(engine, 3)
    _as_owner(  # a gap, as a rolled-back insert leaves on PostgreSQL
        engine,
        "INSERT INTO audit_event (id, occurred_at, action, resource_type, outcome) "
        "VALUES (9, CURRENT_TIMESTAMP, 'read', 'Patient', 'success')",
    )
    seal(engine)
    _as_owner(
        engine,
        "INSERT INTO audit_event (id, occurred_at, action, resource_type, outcome) "
        "VALUES (6, CURRENT_TIMESTAMP, 'read', 'Patient', 'success')",
    )
    report = verify(engine)
    assert report.broken is not None and report.broken.event_id == 6
    assert "not in the seal" in report.broken.what


def test_a_removed_or_altered_seal_breaks_the_chain(engine: Engine) -> None:
    for _ in range(3):
        _events(engine, 2)
        seal(engine)
    _as_owner(engine, *_drop_guards(engine, "audit_seal"), "DELETE FROM audit_seal WHERE id = 2")
    report = verify(engine)
    assert report.broken is not None and report.broken.seal_id == 3
    assert "previous seal" in report.broken.what


def test_rewriting_the_whole_chain_is_caught_by_a_recorded_head(engine: Engine) -> None:
    """An owner who deletes the newest events and their seal leaves a shorter chain that is
    consistent in itself: only a head digest recorded elsewhere shows the loss."""
    _events(engine, 2)
    seal(engine)
    _events(engine, 2)
    seal(engine)
    head = verify(engine).head
    assert head is not None and verify(engine, expect_head=head).ok
    _as_owner(
        engine,
        *_drop_guards(engine),
        *_drop_guards(engine, "audit_seal")[-1:],
        "DELETE FROM audit_seal WHERE id = 2",
        "DELETE FROM audit_event WHERE id > 2",
    )
    assert verify(engine).ok, "consistent in itself"
    report = verify(engine, expect_head=head)
    assert report.broken is not None and f"seal {head[0]}" in report.broken.what


def test_a_late_commit_with_a_lower_id_is_never_reported_as_tampering(
    postgres_schema: Callable[[], str],
) -> None:
    """On PostgreSQL ids are taken when a row is inserted, not when it commits: an event
    with a lower id can commit after a higher one. The sealer waits for every transaction
    still writing audit events, so it never seals past an id that may yet appear."""
    engine = make_engine(postgres_schema())
    upgrade_engine(engine)
    try:
        _events(engine, 2)
        slow = engine.connect()
        slow_tx = slow.begin()
        slow.execute(
            text(
                "INSERT INTO audit_event (occurred_at, action, resource_type, outcome) "
                "VALUES (now(), 'read', 'Patient', 'success')"
            )
        )
        later = _events(engine, 2)  # higher ids, committed first
        result = seal(engine, wait_seconds=0.2)
        assert not result.settled and result.events == 0
        assert verify(engine).ok
        slow_tx.commit()
        slow.close()
        assert seal(engine).events == 5
        report = verify(engine)
        assert report.ok and report.unsealed_events == 0 and report.sealed_events == 5
        assert later[-1] == 5
    finally:
        engine.dispose()


def test_sealers_racing_each_other_and_writers_keep_one_unbroken_chain(engine: Engine) -> None:
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        while not stop.is_set():
            _events(engine, 3)

    def sealer() -> None:
        try:
            for _ in range(15):
                seal(engine, wait_seconds=1.0, max_events=7)
        except BaseException as exc:  # pragma: no cover (reported below)
            failures.append(exc)

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=sealer) for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads[1:]:
        thread.join()
    stop.set()
    threads[0].join()
    assert failures == []
    seal(engine)
    report = verify(engine)
    assert report.ok, report.broken
    assert report.unsealed_events == 0 and report.seals >= 2


def test_hoc_audit_seal_and_verify_on_the_default_sqlite_store(tmp_path: Path) -> None:
    runner = CliRunner()
    settings = Settings(data_dir=tmp_path / "hoc-data")
    upgrade(settings)
    engine = make_engine(settings.operational_url)
    ids = _events(engine, 4)
    data_dir = ["--data-dir", str(settings.data_dir)]
    result = runner.invoke(hoc, ["audit", "verify", *data_dir])
    assert result.exit_code == 0, result.output
    assert "4 events not yet sealed" in result.output
    result = runner.invoke(hoc, ["audit", "seal", *data_dir])
    assert result.exit_code == 0 and "sealed 4 events in 1 seal" in result.output
    result = runner.invoke(hoc, ["audit", "verify", *data_dir])
    assert result.exit_code == 0 and "intact" in result.output
    head = result.output.split("head seal ")[1].split()[0]  # "1:<digest>"
    _as_owner(engine, *_drop_guards(engine), f"DELETE FROM audit_event WHERE id = {ids[1]}")
    result = runner.invoke(hoc, ["audit", "verify", *data_dir, "--head", head])
    assert result.exit_code == 1
    assert "seal 1" in result.output and f"event {ids[1]} was removed" in result.output
    engine.dispose()


def test_hoc_serve_s_sealing_process_seals_the_trail_in_the_background(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hoc serve` runs one sealing process beside its workers (`HOC_API_AUDIT_SEAL_SECONDS`);
    the workers themselves never seal (it stalled their requests)."""
    from houseofcare.api.audit_sealer import run_in_process

    url = engine.url.render_as_string(hide_password=False)
    monkeypatch.setenv("HOC_DATABASE_URL", url)
    monkeypatch.setenv("HOC_DATA_DIR", str(tmp_path / "hoc-data"))
    _events(engine, 4)
    process = run_in_process(0.1)
    try:
        deadline = time.monotonic() + 30
        while verify(engine).unsealed_events and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        process.terminate()
        process.join(timeout=10)
    report = verify(engine)
    assert report.ok and report.unsealed_events == 0 and report.sealed_events == 4
