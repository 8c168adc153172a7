"""Register and multimorbidity rule files: the shipped ones load; broken ones fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from houseofcare.population.multimorbidity import (
    load_multimorbidity_rules,
    packaged_multimorbidity_rules,
)
from houseofcare.population.rules import (
    RULES_DIR,
    RuleError,
    load_register_rules,
    packaged_register_rules,
)

THE_18 = {
    "HYP", "DM", "AST", "COPD", "CHD", "HF", "AF", "STIA", "CKD",
    "DEP", "DEM", "MH", "CAN", "EP", "OST", "RA", "PAD", "LD",
}  # fmt: skip


def test_the_eighteen_registers_ship() -> None:
    assert {rule.id for rule in packaged_register_rules()} >= THE_18


def test_cms_weights_sum_to_the_published_total() -> None:
    rules = packaged_multimorbidity_rules()
    assert len(rules.cms) == 20
    assert sum(c.weight for c in rules.cms) == pytest.approx(16.33)


def _rules_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "registers.toml"
    path.write_text(body)
    return path


GOOD = """
[[register]]
id = "HYP"
name = "Hypertension"
qof_register = "HYP_REG"
diagnosis = ["hyp_cod"]
qof_prevalence_pct = 14.4
qof_source = "test"
"""


def test_a_minimal_rule_loads(tmp_path: Path) -> None:
    (rule,) = load_register_rules(_rules_file(tmp_path, GOOD))
    assert rule.resolved == () and rule.min_age == 0


def test_unknown_codelist_is_named(tmp_path: Path) -> None:
    path = _rules_file(tmp_path, GOOD.replace('"hyp_cod"', '"hyp_codd"'))
    with pytest.raises(RuleError, match=r"register HYP: unknown codelist.*hyp_codd"):
        load_register_rules(path)


def test_unknown_field_is_named(tmp_path: Path) -> None:
    path = _rules_file(tmp_path, GOOD + "min_agee = 3\n")
    with pytest.raises(RuleError, match="register HYP: min_agee"):
        load_register_rules(path)


def test_wrong_type_is_named(tmp_path: Path) -> None:
    path = _rules_file(tmp_path, GOOD + 'min_age = "eighteen"\n')
    with pytest.raises(RuleError, match="register HYP: min_age"):
        load_register_rules(path)


def test_max_age_below_min_age_is_an_error(tmp_path: Path) -> None:
    path = _rules_file(tmp_path, GOOD + "min_age = 50\nmax_age = 40\n")
    with pytest.raises(RuleError, match="max_age 40 is below min_age 50"):
        load_register_rules(path)


def test_duplicate_register_id_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="declared twice"):
        load_register_rules(_rules_file(tmp_path, GOOD + GOOD))


def test_multimorbidity_rules_naming_an_unknown_register_fail(tmp_path: Path) -> None:
    text = (
        (RULES_DIR / "multimorbidity.toml")
        .read_text()
        .replace('register = "DEM"', 'register = "DEMX"')
    )
    path = tmp_path / "multimorbidity.toml"
    path.write_text(text)
    with pytest.raises(RuleError, match="DEMX"):
        load_multimorbidity_rules(path, registers={r.id for r in packaged_register_rules()})
