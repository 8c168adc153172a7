"""The person's explanations of their results (`careplan/explanations.toml`): the packaged
file loads, a broken one fails naming the file and the entry, and what a value means is
chosen from the value as the page shows it, in the measure's one unit (hazard H-053)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from houseofcare.careplan.explanations import (
    LEFT_OUT_REASONS,
    ExplanationFileError,
    load_explanations,
    packaged_explanations,
)
from houseofcare.careplan.measures import packaged_measures
from houseofcare.results import Reading
from houseofcare.web.my_care import explain

LEFT_OUT = """
[left_out]
"unknown unit" = "a"
"no unit" = "b"
"implausible" = "c"
other = "d"
"""

ENTRY = """
[[explanation]]
measure = "{measure}"
heading = "Blood sugar"
unit = "{unit}"
unit_words = "millimoles per mole"
decimals = 0
what_it_is = "x"
why_it_matters = "y"
"""


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "explanations.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_packaged_file_explains_every_measure_of_the_results_in_its_own_unit() -> None:
    loaded = packaged_explanations()
    units = {m.id: m.unit for m in packaged_measures()}
    assert {e.measure.id for e in loaded.measures} == set(units)
    for explained in loaded.measures:
        assert explained.text.unit == units[explained.measure.id]
    assert set(loaded.left_out) == LEFT_OUT_REASONS


def test_a_unit_that_is_not_the_measure_s_is_refused_naming_the_entry(tmp_path: Path) -> None:
    path = _file(tmp_path, LEFT_OUT + ENTRY.format(measure="hba1c", unit="%"))
    with pytest.raises(ExplanationFileError, match=r"explanations.toml: hba1c: unit '%'"):
        load_explanations(path)


def test_an_unknown_measure_is_refused(tmp_path: Path) -> None:
    path = _file(tmp_path, LEFT_OUT + ENTRY.format(measure="sugar", unit="mmol/mol"))
    with pytest.raises(ExplanationFileError, match=r"sugar: not a measure of measures\.toml"):
        load_explanations(path)


def test_every_reason_a_reading_is_left_out_needs_words(tmp_path: Path) -> None:
    text = LEFT_OUT.replace('"no unit" = "b"\n', "") + ENTRY.format(
        measure="hba1c", unit="mmol/mol"
    )
    with pytest.raises(ExplanationFileError, match="left_out: no words for no unit"):
        load_explanations(_file(tmp_path, text))


def test_a_misspelt_field_or_a_measure_explained_twice_is_refused(tmp_path: Path) -> None:
    entry = ENTRY.format(measure="hba1c", unit="mmol/mol")
    with pytest.raises(ExplanationFileError, match=r"explanation\.0\.headline"):
        load_explanations(_file(tmp_path, LEFT_OUT + entry + 'headline = "x"\n'))
    with pytest.raises(ExplanationFileError, match="explained once"):
        load_explanations(_file(tmp_path, LEFT_OUT + entry + entry))


def test_a_missing_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(ExplanationFileError, match="no explanations file here"):
        load_explanations(tmp_path / "nothing.toml")


def test_the_meaning_is_that_of_the_value_as_shown() -> None:
    hba1c = next(e for e in packaged_explanations().measures if e.measure.id == "hba1c")
    # 47.6 is shown as 48: explained as 48 (at the diagnostic level), never as "below 48"
    assert hba1c.shown(47.6) == "48"
    assert hba1c.meaning(47.6).startswith("48 to 58")
    assert hba1c.meaning(47.4).startswith("Below 48")


def test_readings_left_out_after_the_latest_are_named_never_shown_as_numbers() -> None:
    day = dt.date(2026, 1, 1)
    readings = [
        Reading("hba1c", day, 61.0, None),
        Reading("hba1c", day.replace(month=2), None, "unknown unit"),
        Reading("egfr", day, None, "implausible"),
    ]
    found = {r.measure: r for r in explain(readings)}
    assert found["hba1c"].value == "61" and found["hba1c"].unit == "mmol/mol"
    assert found["hba1c"].meaning is not None and found["hba1c"].meaning.startswith("59 or more")
    assert [x.why for x in found["hba1c"].left_out] == [
        packaged_explanations().left_out["unknown unit"]
    ]
    assert found["egfr"].value is None and found["egfr"].meaning is None
    assert found["egfr"].left_out[0].why.startswith("the number recorded is not possible")
    assert "bmi" not in found
