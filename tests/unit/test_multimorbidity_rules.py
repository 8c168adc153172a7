"""Multimorbidity rule files: codelist-based conditions and deficits load, broken ones fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from houseofcare.population.multimorbidity import (
    load_multimorbidity_rules,
    packaged_multimorbidity_rules,
)
from houseofcare.population.rules import RULES_DIR, RuleError
from houseofcare.terminology.codelist import packaged_codelists

SHIPPED = (RULES_DIR / "multimorbidity.toml").read_text()


def _load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "multimorbidity.toml"
    path.write_text(text)
    return load_multimorbidity_rules(path, codelists=set(packaged_codelists()))


def test_all_36_efi_deficits_are_defined() -> None:
    efi = packaged_multimorbidity_rules().efi
    named = set(efi.deficits_from_registers) | set(efi.deficits_from_codelists) | {"Polypharmacy"}
    assert len(named) == efi.deficits_total == 36


def test_every_cambridge_condition_has_evidence() -> None:
    for condition in packaged_multimorbidity_rules().cms:
        assert condition.register_id or condition.codelists or condition.medicines


def test_an_unknown_codelist_is_named(tmp_path: Path) -> None:
    text = SHIPPED.replace('["efi_falls_cod"]', '["efi_fals_cod"]')
    with pytest.raises(RuleError, match="efi_fals_cod"):
        _load(tmp_path, text)


def test_a_condition_without_evidence_is_an_error(tmp_path: Path) -> None:
    text = SHIPPED + '\n[[cms]]\ncondition = "Nothing"\nweight = 0.1\n'
    with pytest.raises(RuleError, match="Nothing: needs a register, codelists or medicines"):
        _load(tmp_path, text)


def test_more_deficits_than_the_total_is_an_error(tmp_path: Path) -> None:
    text = SHIPPED.replace("deficits_total = 36", "deficits_total = 30")
    with pytest.raises(RuleError, match="36 deficits are defined but deficits_total is 30"):
        _load(tmp_path, text)
