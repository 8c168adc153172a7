"""Units as data (`terminology/units.toml`): each conversion, the implied unit, implausible
values and unknown units — a reading in any declared unit means the same, and one that cannot
be converted is never used."""

from __future__ import annotations

from pathlib import Path

import pytest

from houseofcare.careplan.measures import MeasureFileError, load_measures
from houseofcare.population.indicators import load_indicator_rules
from houseofcare.population.rules import RULES_DIR, RuleError
from houseofcare.terminology.code_maps import packaged_code_maps
from houseofcare.terminology.units import (
    UNITS_FILE,
    UnitsError,
    conversion_rows,
    load_units,
    packaged_units,
    unit_problem,
)


def test_the_packaged_units_load_against_the_packaged_codelists() -> None:
    units = packaged_units()
    assert {"ifcchbam_cod", "cholesterol_values", "sysbp_cod", "egfr_values"} <= set(
        units.quantities
    )


@pytest.mark.parametrize(
    ("codelist", "value", "ucum", "unit", "expected"),
    [
        # HbA1c: 9.5 % (DCCT) is about 80 mmol/mol (IFCC), never 9.5 mmol/mol
        ("ifcchbam_cod", 9.5, "%", None, 80.3),
        ("ifcchbam_cod", 7.1, None, "%", 54.1),
        ("ifcchbam_cod", 58.0, "mmol/mol", None, 58.0),
        ("ifcchbam_cod", 58.0, None, None, 58.0),  # the IFCC code implies mmol/mol
        ("ifcchbam_cod", 9.5, None, None, None),  # "9.5 mmol/mol" cannot be a reading
        ("ifcchbam_cod", 58.0, "mg/dL", None, None),  # a unit HbA1c is never in
        # cholesterol: 150 mg/dL is 3.9 mmol/L
        ("cholesterol_values", 150.0, "mg/dL", None, 3.88),
        ("cholesterol_values", 150.0, None, "mg/dl", 3.88),
        ("cholesterol_values", 4.2, "mmol/L", None, 4.2),
        ("cholesterol_values", 4.2, None, None, None),  # no unit, none implied: unused
        ("sysbp_cod", 18.0, "kPa", None, 135.0),
        ("sysbp_cod", 135.0, None, "mmHg", 135.0),
        ("sysbp_cod", 1350.0, "mm[Hg]", None, None),  # implausible
        ("acr_cod", 30.0, "mg/g", None, 3.39),
        ("egfr_values", 62.0, None, "mL/min/1.73m2", 62.0),
        ("egfr_values", 62.0, "mL/min/{1.73_m2}", "whatever the text says", 62.0),
    ],
)
def test_a_reading_converts_to_its_canonical_unit_or_is_not_used(
    codelist: str, value: float, ucum: str | None, unit: str | None, expected: float | None
) -> None:
    got = packaged_units().canonical_value(codelist, value, ucum, unit)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=0.06)


def test_the_ucum_code_wins_over_the_display_text() -> None:
    units = packaged_units()
    assert units.canonical_value("cholesterol_values", 150.0, "mg/dL", "mmol/L") == pytest.approx(
        3.88, abs=0.01
    )


def test_the_rows_for_the_engines_cover_every_unit_and_spelling() -> None:
    rows = list(conversion_rows(packaged_units()))
    keys = {(codelist, kind, key) for codelist, kind, key, *_ in rows}
    assert ("ifcchbam_cod", "ucum", "%") in keys
    assert ("ifcchbam_cod", "implied", "") in keys
    assert ("cholesterol_values", "unit", "mg/dl") in keys
    assert ("cholesterol_values", "implied", "") not in keys
    assert len(keys) == len(rows)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "units.toml"
    path.write_text(text)
    return path


def test_a_malformed_units_file_is_refused_naming_the_field(tmp_path: Path) -> None:
    text = UNITS_FILE.read_text()
    with pytest.raises(UnitsError, match="plausible range"):
        load_units(_write(tmp_path, text.replace("[15.0, 200.0]", "[200.0, 15.0]")))
    with pytest.raises(UnitsError, match="listed twice"):
        load_units(_write(tmp_path, text.replace('"% of total Hb"', '"mmol/mol"')))
    with pytest.raises(UnitsError, match="names no packaged codelist: nosuch_cod"):
        load_units(
            _write(tmp_path, text.replace("[quantity.acr_cod]", "[quantity.nosuch_cod]")
                   .replace("quantity.acr_cod.unit", "quantity.nosuch_cod.unit")),
            known_codelists={"ifcchbam_cod", "cholesterol_values", "sysbp_cod", "dbp_cod",
                             "egfr_values", "acr_cod", "bmival_cod"},
        )  # fmt: skip


def _measure(tmp_path: Path, codelist: str, unit: str) -> Path:
    path = tmp_path / "measures.toml"
    path.write_text(
        f'[[measure]]\nid = "mm"\nlabel = "M"\ncodelists = ["{codelist}"]\nunit = "{unit}"\n'
        'about = "x"\nsource = "x"\n[[measure.band]]\nmeaning = "any"\n',
        encoding="utf-8",
    )
    return path


def test_a_results_measure_must_show_its_codelists_canonical_unit(tmp_path: Path) -> None:
    """The results letter explains a value by bands set in one unit: a measure on a codelist
    with no canonical unit, or naming another unit, is refused when loaded (hazard H-047)."""
    assert load_measures(_measure(tmp_path, "ifcchbam_cod", "mmol/mol"))[0].id == "mm"
    with pytest.raises(MeasureFileError, match="not how 'mmol/mol'"):
        load_measures(_measure(tmp_path, "ifcchbam_cod", "%"))
    with pytest.raises(MeasureFileError, match="no canonical unit"):
        load_measures(_measure(tmp_path, "dm_cod", "mmol/mol"))
    with pytest.raises(RuleError, match="no canonical unit"):
        rules = (
            (RULES_DIR / "indicators.toml")
            .read_text(encoding="utf-8")
            .replace('codelists = ["cholesterol_values"]', 'codelists = ["dm_cod"]', 1)
        )
        load_indicator_rules(_write(tmp_path, rules))


def test_every_map_unit_is_one_its_target_codelist_converts() -> None:
    """A LOINC row's `unit` is the unit its code means when a reading has none: it must be a
    unit the target codelist's quantity converts from, or such readings would be unusable."""
    units = packaged_units()
    problems = [
        f"{m.source_code}: {unit_problem(units, m.target_codelist, m.unit)}"
        for code_map in packaged_code_maps().values()
        for m in code_map.mappings
        if m.unit is not None and unit_problem(units, m.target_codelist, m.unit)
    ]
    assert problems == []
    assert unit_problem(units, "ifcchbam_cod", "mg/dL") is not None
