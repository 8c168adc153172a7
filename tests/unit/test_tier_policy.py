"""The tiering policy file: the packaged defaults load, and a bad policy names its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from houseofcare.tiers.policy import Capacity, PolicyError, load_policy, packaged_policy

GOOD = """
version = "test"
[level3]
top_percent = 2
min_emergency_admissions_12m = 3
[capacity]
caseload = 50
case_managers = 4
[level2]
complex_registers = ["HF"]
min_ltcs = 3
uncontrolled_indicators = ["DM_HBA1C_58"]
"""
REGISTERS = {"HF", "COPD", "DM"}
INDICATORS = {"DM_HBA1C_58"}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text)
    return path


def test_packaged_policy_loads_with_the_documented_defaults() -> None:
    policy = packaged_policy()
    assert policy.capacity.caseload == 50
    assert policy.level3.combine == "or"
    assert policy.level2.min_ltcs > policy.level1.min_ltcs


def test_a_good_policy_loads(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, GOOD), registers=REGISTERS, indicators=INDICATORS)
    assert policy.capacity.places(100_000) == 200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('complex_registers = ["HF"]', 'complex_registers = ["XYZ"]'),
            "level2.complex_registers: unknown register(s) XYZ",
        ),
        (
            ('uncontrolled_indicators = ["DM_HBA1C_58"]', 'uncontrolled_indicators = ["NOPE"]'),
            "level2.uncontrolled_indicators: unknown indicator(s) NOPE",
        ),
        (("top_percent = 2", "top_percent = 0"), "level3.top_percent"),
        (("caseload = 50", "caseload = 50\ncase_managers_per_100k = 3"), "not both"),
        (("min_ltcs = 3", "min_ltcs = 1"), "level2.min_ltcs"),
        (("caseload = 50", "casload = 50"), "capacity.casload"),
        (
            ("top_percent = 2\nmin_emergency_admissions_12m = 3", "combine = 'or'"),
            "set top_percent, min_emergency_admissions_12m or both",
        ),
    ],
)
def test_a_bad_policy_names_the_file_and_the_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(PolicyError) as raised:
        load_policy(path, registers=REGISTERS, indicators=INDICATORS)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


def test_a_missing_or_broken_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "absent.toml")
    with pytest.raises(PolicyError, match=r"policy\.toml"):
        load_policy(write(tmp_path, "version = "))


@pytest.mark.parametrize(
    ("capacity", "people", "places"),
    [
        (Capacity(caseload=50, case_managers=3), 10, 150),
        (Capacity(caseload=50, case_managers_per_100k=30), 100_000, 1500),
        (Capacity(caseload=60, case_managers_per_100k=30), 3_000, 60),  # 0.9 → 1 manager
        (Capacity(caseload=50), 100_000, None),
    ],
)
def test_capacity_is_case_managers_times_caseload(
    capacity: Capacity, people: int, places: int | None
) -> None:
    assert capacity.places(people) == places
