"""The commissioning plan's frames built by hand for spec cases: small Arrow tables with the
columns `PlanContext` documents, registered on the engine under the frames' names, so a
section's figures are checked against known answers without the frame builder."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from houseofcare.engine import Engine
from tests.spec.plan_frames_by_hand import PEOPLE

#: `plan_people`'s columns and types, as `PlanContext` lists them (one schema for every
#: hand-made frame of the plan's spec cases).
PLAN_PEOPLE = PEOPLE

_DEFAULTS: dict[str, Any] = {
    "practice_id": "P1",
    "locality": "Leeds",
    "imd_decile": 5,
    "imd_quintile": 3,
    "ethnic_group": "White",
    "sex": "female",
    "age": 70,
    "age_band": "65-74",
    "esp_band": "70-74",
    "registers": 1,
    "level": 1,
    "risk": 0.1,
    "gaps": 0,
    "open_gaps": 0,
    "emergency_admissions": 0,
    "core20": False,
    "has_plan": False,
    "plan_reviewed": False,
    "referrals": 0,
    "unmet": 0,
}


def person(patient_id: str, **values: Any) -> dict[str, Any]:
    """One `plan_people` row: the defaults above, with `values` instead where given."""
    unknown = set(values) - set(PLAN_PEOPLE.names)
    assert not unknown, f"plan_people has no column {unknown}"
    return {"patient_id": patient_id, **_DEFAULTS, **values}


def register_people(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    engine.register("plan_people", pa.Table.from_pylist(list(rows), schema=PLAN_PEOPLE))


def register_table(engine: Engine, name: str, schema: pa.Schema, rows: Sequence[dict]) -> None:
    engine.register(name, pa.Table.from_pylist(list(rows), schema=schema))


REGISTER = pa.schema(
    [
        ("run_id", pa.string()),
        ("patient_id", pa.string()),
        ("register", pa.string()),
        ("first_recorded", pa.date32()),
        ("latest_recorded", pa.date32()),
    ]
)
TIER = pa.schema(
    [
        ("run_id", pa.string()),
        ("patient_id", pa.string()),
        ("level", pa.int64()),
        ("reason", pa.string()),
    ]
)
RUN = pa.schema([("run_id", pa.string()), ("as_of", pa.date32())])
CARE_GAP = pa.schema(
    [
        ("run_id", pa.string()),
        ("patient_id", pa.string()),
        ("indicator", pa.string()),
        ("outcome", pa.string()),
    ]
)


def on_register(run_id: str, patient_id: str, register: str) -> dict[str, Any]:
    day = dt.date(2015, 1, 1)
    return {
        "run_id": run_id,
        "patient_id": patient_id,
        "register": register,
        "first_recorded": day,
        "latest_recorded": day,
    }
