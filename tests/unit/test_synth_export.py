"""The FHIR export: shape per docs/fhir-profile.md, determinism, atomic writing, same population."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from houseofcare.analytic_tables import CLINICAL_TABLES
from houseofcare.synth import generate_population
from houseofcare.synth.nhs_number import (
    TEST_RANGE_CAPACITY,
    check_digit,
    is_valid,
    nhs_numbers,
    valid_serials,
)

AS_OF = dt.date(2024, 3, 31)
N = 5_000
TYPES = ["Patient", "Organization", "Practitioner", "Condition", "Observation",
         "MedicationRequest", "Procedure", "Encounter"]  # fmt: skip


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("export")
    out = {}
    for name, seed, fmt in (("a", 5, "ndjson"), ("b", 5, "ndjson"), ("c", 6, "ndjson"),
                            ("p", 5, "parquet")):  # fmt: skip
        out[name] = root / name
        generate_population(patients=N, seed=seed, as_of=AS_OF, out=out[name], fmt=fmt)
    return out


def resources(folder: Path, kind: str) -> list[dict]:
    with (folder / f"{kind}.ndjson").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_writes_one_file_per_type_and_a_manifest(exports: dict[str, Path]) -> None:
    manifest = json.loads((exports["a"] / "manifest.json").read_text())
    assert manifest["requiresAccessToken"] is False
    assert manifest["error"] == []
    assert {o["type"] for o in manifest["output"]} == set(TYPES)
    for entry in manifest["output"]:
        assert (exports["a"] / entry["url"]).exists()
    assert (exports["a"] / "truth" / "oracle_emergency_admission.parquet").exists()
    assert not list(exports["a"].glob("*.parquet"))


def test_same_seed_gives_identical_bytes_and_another_seed_differs(
    exports: dict[str, Path],
) -> None:
    for kind in TYPES:
        a = (exports["a"] / f"{kind}.ndjson").read_bytes()
        assert a == (exports["b"] / f"{kind}.ndjson").read_bytes(), kind
    assert (exports["a"] / "Patient.ndjson").read_bytes() != (
        exports["c"] / "Patient.ndjson"
    ).read_bytes()


def test_parquet_and_ndjson_hold_the_same_population(exports: dict[str, Path]) -> None:
    con = duckdb.connect()
    for table in CLINICAL_TABLES:
        path = exports["p"] / f"{table}.parquet"
        cols = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
        assert [(c[0], c[1]) for c in cols] == CLINICAL_TABLES[table], table
    ids = {r["id"] for r in resources(exports["a"], "Patient")}
    sql = f"SELECT patient_id FROM read_parquet('{exports['p']}/patient.parquet')"
    parquet_ids = {i for (i,) in con.execute(sql).fetchall()}
    assert ids == parquet_ids
    # the same names in both formats (Patient.name official → given_name, family_name)
    names = {
        r["id"]: (r["name"][0]["given"][0], r["name"][0]["family"])
        for r in resources(exports["a"], "Patient")
    }
    path = exports["p"] / "patient.parquet"
    sql = f"SELECT patient_id, given_name, family_name FROM read_parquet('{path}')"
    assert {i: (g, f) for i, g, f in con.execute(sql).fetchall()} == names
    pairs = (
        ("condition", "Condition"),
        ("encounter", "Encounter"),
        ("medication", "MedicationRequest"),
        ("procedure", "Procedure"),
    )
    for table, kind in pairs:
        count = con.execute(f"SELECT count(*) FROM read_parquet('{exports['p']}/{table}.parquet')")
        assert count.fetchone()[0] == len(resources(exports["a"], kind)), kind  # type: ignore[index]
    flat = con.execute(f"SELECT count(*) FROM read_parquet('{exports['p']}/observation.parquet')")
    obs = resources(exports["a"], "Observation")
    values = sum(len(o.get("component", [])) or 1 for o in obs)
    assert flat.fetchone()[0] == values  # type: ignore[index]


def test_patient_shape(exports: dict[str, Path]) -> None:
    patients = resources(exports["a"], "Patient")
    p = patients[0]
    assert p["meta"]["profile"] == ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"]
    assert p["meta"]["lastUpdated"].startswith("2024-03-31T")
    (ident,) = p["identifier"]
    assert ident["system"] == "https://fhir.nhs.uk/Id/nhs-number"
    (ext,) = p["extension"]
    assert (
        ext["url"] == "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-EthnicCategory"
    )
    coding = ext["valueCodeableConcept"]["coding"][0]
    assert coding["system"] == "https://fhir.hl7.org.uk/CodeSystem/UKCore-EthnicCategoryEngland"
    lsoa = p["address"][0]["extension"][0]
    assert lsoa["url"] == "https://houseofcare.org.uk/fhir/StructureDefinition/lsoa-2011"
    assert lsoa["valueCode"].startswith("E01")
    assert p["generalPractitioner"][0]["reference"].startswith("Organization/")
    dead = [q for q in patients if "deceasedDateTime" in q]
    assert 0 < len(dead) < len(patients) * 0.1
    assert all(v is not None for q in patients[:200] for v in q.values())
    # every person has an official name (docs/fhir-profile.md)
    assert all(
        q["name"][0]["use"] == "official" and q["name"][0]["family"] and q["name"][0]["given"][0]
        for q in patients
    )
    numbers = [q["identifier"][0]["value"] for q in patients]
    assert len(set(numbers)) == len(numbers)
    assert all(n.startswith("999") and is_valid(n) for n in numbers)


def test_observation_encounter_and_condition_shapes(exports: dict[str, Path]) -> None:
    obs = resources(exports["a"], "Observation")
    bp = [o for o in obs if o["code"]["coding"][0]["code"] == "75367002"]
    assert bp
    components = [c["code"]["coding"][0]["code"] for c in bp[0]["component"]]
    assert components == ["72313002", "1091811000000102"]
    assert bp[0]["component"][0]["valueQuantity"]["unit"] == "mmHg"
    smoking = [o for o in obs if "valueCodeableConcept" in o]
    assert {o["valueCodeableConcept"]["coding"][0]["code"] for o in smoking} <= {
        "266919005", "77176002", "8517006"}  # fmt: skip
    assert all("valueQuantity" not in o for o in smoking)
    enc = resources(exports["a"], "Encounter")
    kinds = {(e["class"]["code"], e["type"][0]["coding"][0]["code"],
              e["priority"]["coding"][0]["code"]) for e in enc}  # fmt: skip
    assert ("IMP", "183452005", "EM") in kinds
    assert ("EMER", "4525004", "EM") in kinds
    assert ("AMB", "11429006", "R") in kinds
    admissions = [e for e in enc if e["type"][0]["coding"][0]["code"] == "183452005"]
    assert all(
        e["period"]["end"] >= e["period"]["start"] for e in admissions if "end" in e["period"]
    )
    cond = resources(exports["a"], "Condition")
    statuses = {c["clinicalStatus"]["coding"][0]["code"] for c in cond}
    # inactive: an earlier depression episode once a later one is recorded
    assert statuses == {"active", "resolved", "inactive"}
    assert all(c["code"]["coding"][0]["system"] == "http://snomed.info/sct" for c in cond)


def test_gzip_export(tmp_path: Path) -> None:
    out = tmp_path / "gz"
    summary = generate_population(patients=300, seed=2, as_of=AS_OF, out=out, gzip=True)
    with gzip.open(out / "Patient.ndjson.gz", "rt") as handle:
        lines = handle.read().splitlines()
    assert len(lines) == summary.rows["Patient"] == 300
    assert json.loads(lines[0])["resourceType"] == "Patient"


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate_population(patients=0, seed=1, as_of=AS_OF, out=tmp_path / "x")
    with pytest.raises(ValueError, match="unknown format"):
        generate_population(patients=10, seed=1, as_of=AS_OF, out=tmp_path / "x", fmt="csv")
    with pytest.raises(ValueError, match="history_years must be a whole number from 3 to 10"):
        generate_population(patients=10, seed=1, as_of=AS_OF, out=tmp_path / "x", history_years=2)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("years", [3, 5])
def test_history_runs_the_given_years_before_the_as_of_date(tmp_path: Path, years: int) -> None:
    out = tmp_path / "h"
    generate_population(
        patients=2_000, seed=3, as_of=AS_OF, out=out, fmt="parquet", history_years=years
    )
    ((first, last),) = duckdb.sql(
        f"SELECT min(period_start), max(period_start) FROM read_parquet('{out}/encounter.parquet')"
    ).fetchall()
    start = AS_OF.replace(year=AS_OF.year - years)
    assert start <= first.date() <= start + dt.timedelta(days=7)
    assert AS_OF - dt.timedelta(days=7) <= last.date() <= AS_OF


def test_replaces_an_existing_export_only_at_the_end(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    summary = generate_population(patients=200, seed=1, as_of=AS_OF, out=out, fmt="parquet")
    assert not (out / "old.txt").exists()
    assert summary.rows["patient"] == 200
    assert summary.format == "parquet" and summary.people == 200
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_small_populations_still_get_three_practices(tmp_path: Path) -> None:
    summary = generate_population(patients=50, seed=1, as_of=AS_OF, out=tmp_path / "s")
    orgs = resources(tmp_path / "s", "Organization")
    practices = [o for o in orgs if o["type"][0]["coding"][0]["display"] == "GP practice"]
    assert len(practices) >= 3
    assert all(o["identifier"][0]["value"].startswith("Y9") for o in practices)
    assert summary.rows["Practitioner"] >= 6


def test_nhs_number_check_digit() -> None:
    assert is_valid("9434765919")  # the NHS Digital worked example
    assert not is_valid("9434765918")
    assert check_digit(np.array([[9, 4, 3, 4, 7, 6, 5, 9, 1]]))[0] == 9
    numbers = nhs_numbers(np.arange(20_000), seed=3)
    assert len(set(numbers.tolist())) == 20_000
    assert all(is_valid(n) for n in numbers[:2000])


def test_nhs_numbers_are_unique_up_to_the_test_range_and_absent_beyond_it() -> None:
    assert valid_serials().size == TEST_RANGE_CAPACITY
    everyone = nhs_numbers(np.arange(TEST_RANGE_CAPACITY + 5), seed=4)
    inside, beyond = everyone[:TEST_RANGE_CAPACITY], everyone[TEST_RANGE_CAPACITY:]
    assert len(set(inside.tolist())) == TEST_RANGE_CAPACITY  # every valid number used once
    assert all(n.startswith("999") for n in inside[::50_000])
    assert beyond.tolist() == [None] * 5
    # Chunking does not matter: a person's number depends only on their index and the seed.
    assert nhs_numbers(np.arange(1_000, 1_010), seed=4).tolist() == everyone[1_000:1_010].tolist()


def test_ndjson_larger_than_the_test_range_is_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="909,091 valid NHS numbers"):
        generate_population(
            patients=TEST_RANGE_CAPACITY + 1, seed=1, as_of=AS_OF, out=tmp_path / "big"
        )
    assert not list(tmp_path.iterdir())
