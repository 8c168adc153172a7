"""Fuzz every operation in /openapi.json: no request may get a server error (5xx).

schemathesis reads the app's own OpenAPI document (which declares the FHIR bodies, search
parameters and If-Match that the routes read by hand) and sends each operation generated
requests in-process (ASGI): data that fits the schema (positive) and data that does not
(negative), as a GP and as a patient (bearer tokens), on SQLite and on PostgreSQL, against a
store seeded with the test cast. Half the cases are aimed at the cast's real rows (path ids,
the body's patient reference, the current If-Match), so they get past "no such id" to the
access checks, the writes and the fast paths behind them.

Bounded for CI on 2 cores: `HOC_FUZZ_EXAMPLES` examples per operation, mode and role (default
12), no deadline, no shrinking, no stateful phase, derandomised so a run is repeatable
(`HOC_FUZZ_SEED=<n>` explores other inputs). A failure lists each operation's first server
error with a curl command that repeats it and the server's traceback.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from test_api_support import World, _build

from houseofcare.api.app import create_app
from houseofcare.api.fhir.mapping import ORGANISATION_TYPE_SYSTEM
from houseofcare.settings import Settings
from houseofcare.store.database import make_engine, session_factory
from houseofcare.store.migrate import upgrade_engine
from houseofcare.store.models import CarePlan, Goal

EXAMPLES = int(os.environ.get("HOC_FUZZ_EXAMPLES", "12"))
SEED = os.environ.get("HOC_FUZZ_SEED")
ROLES = ("gp", "patient")
#: Not fuzzed: signing out revokes the fuzzing role's own token (every later call would be 401).
SKIPPED = {("POST", "/auth/logout")}
#: Signing in runs argon2 on purpose (slow by design): fewer examples there.
SLOW = {("POST", "/auth/token"), ("POST", "/auth/login")}

pytestmark = pytest.mark.slow

CONSENT_ACTOR = {
    "role": {"text": "shared with"},
    "reference": {
        "identifier": {
            "system": ORGANISATION_TYPE_SYSTEM,
            "value": "voluntary_group",
        }
    },
}


class Recording:
    """The app, with every exception it raises recorded (Starlette has already answered 500)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.errors: list[BaseException] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        except Exception as exc:
            self.errors.append(exc)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    make_postgres_database: Callable[[str], str],
) -> Iterator[tuple[World, Recording]]:
    """A store of its own (the fuzzer writes to it), seeded with the cast, signed in."""
    folder: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'operational.sqlite'}"
    else:
        url = make_postgres_database("fuzz")
    engine = make_engine(url)
    upgrade_engine(engine)
    app = create_app(Settings(data_dir=folder / "hoc-data", database_url=url))
    with TestClient(app) as client:
        world = World(db=request.param, client=client, factory=session_factory(engine))
        _build(world)
        yield world, Recording(app)
    app.state.services.engine.dispose()
    engine.dispose()


def _aim(world: World, case: Any, choice: int) -> Any:
    """Point the case at the related person's rows (choice 2 or 3; 3 also drops the NHS
    number beside the reference, which a generated one would rarely match, and makes the
    parts of a Goal or Consent that the mapping checks valid)."""
    if choice < 2:
        return case
    person = world.people["related"]
    real = {
        "person_id": person,
        "plan_id": world.plans["related"],
        "goal_id": world.goals["related"],
        "consent_id": world.consents["related"],
        "team_id": world.team_id,
        "event_id": 1,
        "version": 1,
    }
    for name in list(case.path_parameters or {}):
        if name in real:
            case.path_parameters[name] = real[name]
    if isinstance(case.body, dict):
        for field in ("subject", "patient"):
            if isinstance(case.body.get(field), dict):
                case.body[field]["reference"] = f"Patient/{person}"
                if choice == 3:
                    case.body[field].pop("identifier", None)
        if choice == 3:
            kind = case.body.get("resourceType")
            if kind == "Goal":
                case.body["description"] = {"text": "Walk to the shops"}
                case.body.pop("target", None)
            elif kind == "Consent" and isinstance(case.body.get("provision"), dict):
                case.body["provision"]["actor"] = [CONSENT_ACTOR]
    if case.headers and "If-Match" in case.headers and case.path_parameters:
        model = {"plan_id": CarePlan, "goal_id": Goal}
        for name, kind in model.items():
            if name in case.path_parameters:
                version = world.version_of(kind, case.path_parameters[name])
                case.headers["If-Match"] = f'W/"{version}"'
    return case


def _run(
    world: World,
    operation: Any,
    mode: GenerationMode,
    examples: int,
    call: Callable[[Any], None],
) -> None:
    cases = st.tuples(operation.as_strategy(generation_mode=mode), st.integers(0, 3))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=SEED is None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=cases.map(lambda pair: _aim(world, *pair)))
    def fuzz(case: Any) -> None:
        call(case)

    if SEED is not None:
        fuzz = seed(int(SEED))(fuzz)
    try:
        fuzz()
    except Unsatisfiable:
        # negative mode on an operation with nothing to get wrong (no parameters, no body)
        assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request"


@pytest.mark.parametrize("role", ROLES)
def test_no_operation_answers_a_server_error(
    fuzz_world: tuple[World, Recording], role: str
) -> None:
    world, app = fuzz_world
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {world.tokens[role]}"}
    failures: dict[str, str] = {}
    counts: dict[int, int] = {}
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, "the OpenAPI document lost operations"
    for operation in operations:
        key = (operation.method.upper(), operation.path)
        if key in SKIPPED:
            continue
        label = f"{key[0]} {key[1]}"

        def call(case: Any, label: str = label) -> None:
            raised = len(app.errors)
            response = case.call(headers=headers)
            counts[response.status_code] = counts.get(response.status_code, 0) + 1
            if response.status_code >= 500 and label not in failures:
                server = (
                    "".join(traceback.format_exception(app.errors[-1])[-6:])
                    if (len(app.errors) > raised)
                    else response.text[:500]
                )
                failures[label] = (
                    f"{response.status_code}: {case.as_curl_command(headers=headers)}\n{server}"
                )

        examples = max(2, EXAMPLES // 4) if key in SLOW else EXAMPLES
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run(world, operation, mode, examples, call)
    elapsed = time.monotonic() - started
    print(f"{world.db} as {role}: {sum(counts.values())} requests in {elapsed:.0f}s, {counts}")
    assert not failures, "server errors:\n\n" + "\n\n".join(
        f"{label}\n{detail}" for label, detail in failures.items()
    )
    assert sum(counts.values()) >= len(operations) * 2, "too few requests were sent"
