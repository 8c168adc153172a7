"""The caseload's candidates in the Core20PLUS5 order (`tiers/proportionate.toml`), on every
engine: a favoured person's risk weighted by `caseload.risk_weight` for the order only, and
nobody left off the list."""

from __future__ import annotations

import pyarrow as pa

from houseofcare.careplan.caseload import candidates_in_order
from houseofcare.engine import Engine
from houseofcare.tiers.proportionate import packaged_proportionate_policy
from tests.spec.conftest import Record

RUN = "caseload-run"
DEPRIVED, AFFLUENT = "E01015736", "E01005185"  # IMD 2019 deciles 1 and 10 (the lookup)


def triangle(engine: Engine, record: Record) -> None:
    """Five level 3 people and one at level 2, with their risks; `smi` on the SMI register."""
    people = {
        # id: (LSOA, level, risk)
        "affluent-high": (AFFLUENT, 3, 0.60),
        "affluent-mid": (AFFLUENT, 3, 0.50),
        "deprived-mid": (DEPRIVED, 3, 0.45),  # 0.45 x 1.25 = 0.5625: above 0.50
        "deprived-low": (DEPRIVED, 3, 0.30),  # 0.375: still below 0.50
        "smi": (AFFLUENT, 3, 0.42),  # PLUS (SMI register): 0.525
        "level2": (DEPRIVED, 2, 0.90),
        "unscored": (DEPRIVED, 3, None),
    }
    for pid, (lsoa, _, _) in people.items():
        record.patient(pid, lsoa_code=lsoa)
    engine.register(
        "tier",
        pa.table(
            {
                "run_id": [RUN] * len(people),
                "patient_id": list(people),
                "level": pa.array([v[1] for v in people.values()], pa.int32()),
                "reason": pa.array([None] * len(people), pa.string()),
            }
        ),
    )
    scored = [(pid, v[2]) for pid, v in people.items() if v[2] is not None]
    engine.register(
        "risk_score",
        pa.table(
            {
                "run_id": [RUN] * len(scored),
                "patient_id": [pid for pid, _ in scored],
                "risk": pa.array([risk for _, risk in scored], pa.float64()),
            }
        ),
    )
    engine.register(
        "register",
        pa.table(
            {
                "run_id": [RUN, "other-run"],
                "patient_id": ["smi", "affluent-mid"],
                "register": ["SMI", "SMI"],
            }
        ),
    )


def test_the_plain_order_is_highest_risk_first(engine: Engine, record: Record) -> None:
    triangle(engine, record)
    assert candidates_in_order(engine, RUN) == [
        "affluent-high",
        "affluent-mid",
        "deprived-mid",
        "smi",
        "deprived-low",
        "unscored",
    ]


def test_the_core20plus5_order_weights_favoured_risk_and_removes_nobody(
    engine: Engine, record: Record
) -> None:
    triangle(engine, record)
    policy = packaged_proportionate_policy()
    assert policy.caseload.risk_weight == 1.25
    assert candidates_in_order(engine, RUN, policy) == [
        "affluent-high",  # 0.60, not favoured: still first
        "deprived-mid",  # Core20: 0.5625
        "smi",  # PLUS by register in this run: 0.525
        "affluent-mid",  # 0.50 (on the SMI register only in another run)
        "deprived-low",  # Core20: 0.375
        "unscored",  # no risk: last, as in the plain order
    ]
