"""Every row of every shipped code map, on every engine: a reading or a medicine coded with the
source code becomes an event with the target code (a reading, with a plausible value in the
unit the source code implies, gets a value), so no map row is dead."""

from __future__ import annotations

from houseofcare.engine import Engine
from houseofcare.population.events import CODED_EVENT_SQL
from houseofcare.terminology.code_maps import LOINC, packaged_code_maps
from houseofcare.terminology.units import packaged_units
from tests.spec.conftest import Record


def test_every_map_row_gives_its_target_code(engine: Engine, record: Record) -> None:
    units = packaged_units()
    expected: dict[str, tuple[str, str, bool]] = {}
    for code_map in packaged_code_maps().values():
        for n, m in enumerate(code_map.mappings):
            patient = f"{code_map.name}-{n}"
            record.patient(patient, birth_date="1960-01-01")
            if code_map.system == LOINC:
                quantity = units.quantities[m.target_codelist]
                rule = next(u for u in quantity.unit if u.ucum == (m.unit or quantity.canonical))
                value = sum(quantity.plausible) / 2 / rule.factor - rule.offset
                # no unit on the reading: the map's unit (or the quantity's implied one) holds
                record.observation(patient, m.source_code, "2025-10-01", value, code_system=LOINC)
                expected[patient] = (m.target_code, "observation", True)
            else:
                record._insert(
                    "medication",
                    medication_request_id=f"m-{patient}",
                    patient_id=patient,
                    status="active",
                    intent="order",
                    code_system=code_map.system,
                    code=m.source_code,
                    authored_on="2025-10-01",
                )
                expected[patient] = (m.target_code, "medication", False)
    rows = engine.rows(f"SELECT patient_id, code, source, value_number FROM ({CODED_EVENT_SQL}) e")
    got = {patient: (code, source, value is not None) for patient, code, source, value in rows}
    assert got == expected
