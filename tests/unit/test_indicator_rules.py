"""Packaged care-gap indicators load and name known things; bad rules fail by file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from houseofcare.population.indicators import load_indicator_rules, packaged_indicator_rules
from houseofcare.population.rules import RuleError, packaged_register_rules
from houseofcare.terminology.codelist import packaged_codelists

GOOD = """
[[indicator]]
id = "AST_REVIEW"
name = "Asthma review"
qof_indicator = "AST007"
condition = "Asthma"
source = "test"
window_months = 12
[indicator.denominator]
register = "AST"
[indicator.numerator]
kind = "any_event"
codelists = ["astrev_cod"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "indicators.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_packaged_indicators_load_and_cover_enough_conditions() -> None:
    rules = packaged_indicator_rules()
    registers = {r.id for r in packaged_register_rules()}
    codelists = packaged_codelists()
    assert len(rules.indicators) >= 15
    assert len({i.denominator.register_id for i in rules.indicators}) >= 8
    for indicator in rules.indicators:
        assert indicator.denominator.register_id in registers
        assert indicator.codelist_names() <= codelists.keys()
        assert indicator.qof_indicator and indicator.source
    for score in rules.scores:
        for group in score.register_points:
            assert set(group.registers) <= registers


def test_a_good_rule_loads(tmp_path: Path) -> None:
    rules = load_indicator_rules(write(tmp_path, GOOD))
    assert [i.id for i in rules.indicators] == ["AST_REVIEW"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("window_months = 12", "window_months = 0"), "window_months"),
        (('register = "AST"', 'register = "NOPE"'), "denominator.register"),
        (('kind = "any_event"', 'kind = "sometimes"'), "numerator.kind"),
        (('codelists = ["astrev_cod"]', 'codelists = ["no_such_cod"]'), "no_such_cod"),
        (('codelists = ["astrev_cod"]', "max_value = 5"), "numerator"),
        (('source = "test"', 'source = "test"\nwindow = 3'), "window"),
    ],
)
def test_a_malformed_rule_fails_naming_the_file_and_field(
    tmp_path: Path, change: tuple[str, str], field: str
) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(RuleError) as failure:
        load_indicator_rules(path)
    message = str(failure.value)
    assert str(path) in message
    assert "AST_REVIEW" in message
    assert field in message


def test_unknown_score_and_duplicate_id_are_rejected(tmp_path: Path) -> None:
    with_score = GOOD.replace('register = "AST"', 'register = "AST"\nscore = "X"\nmin_score = 2')
    with pytest.raises(RuleError, match=r"denominator\.score: unknown score X"):
        load_indicator_rules(write(tmp_path, with_score))
    with pytest.raises(RuleError, match="declared twice"):
        load_indicator_rules(write(tmp_path, GOOD + GOOD))


def test_bp_numerator_needs_both_readings(tmp_path: Path) -> None:
    bp = GOOD.replace(
        'kind = "any_event"\ncodelists = ["astrev_cod"]',
        'kind = "latest_bp"\nsystolic = ["sysbp_cod"]\nmax_systolic = 140\nmax_diastolic = 90',
    )
    with pytest.raises(RuleError, match=r"numerator: .*systolic and diastolic"):
        load_indicator_rules(write(tmp_path, bp))


def test_every_indicator_is_documented() -> None:
    docs = Path(__file__).parents[2] / "docs" / "indicators.md"
    text = docs.read_text(encoding="utf-8")
    missing = [i.id for i in packaged_indicator_rules().indicators if f"| {i.id} |" not in text]
    assert not missing, f"add to docs/indicators.md: {missing}"
