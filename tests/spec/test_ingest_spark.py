"""`hoc ingest --engine spark` loads what `hoc ingest` loads: the same files give the same
clinical tables, row for row, and the same bad records reported with the same file, line and
reason (docs/scaling.md, "Ingest on Spark").

One ingest of each engine over the synthetic fixtures, with bad lines added to them: a line that
is not JSON, wrong-typed values, an element of the wrong shape, an escaped control character,
a resource without an id, a blank line; and two versions of one patient, of which the newer
must win.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest
from typer.testing import CliRunner

from houseofcare.analytic_tables import CLINICAL_TABLES
from houseofcare.cli import app
from houseofcare.clinical_lake import MARKER, clinical_folder
from houseofcare.ingest import IngestReport, ingest_paths
from houseofcare.ingest.spark import ingest_to_lake
from houseofcare.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

FIXTURES = Path(__file__).parents[1] / "fixtures" / "fhir" / "synthetic"
SCT = "http://snomed.info/sct"

BAD_PATIENTS = [
    "this line is not JSON",
    json.dumps({"resourceType": "Patient", "id": "bad-birth", "birthDate": "2023-02-30"}),
    json.dumps({"resourceType": "Patient", "id": "number-gender", "gender": 1}),
    json.dumps({"resourceType": "Patient", "gender": "male"}),
    "",
    json.dumps({"resourceType": "Patient", "id": "shape", "name": {"family": "X"}}),
    json.dumps({"resourceType": "Patient", "id": "control", "gender": "ma\u0001le"}),
    # a newer version of hoc-p2 (the fixture's is 2026-03-31): it wins
    json.dumps(
        {
            "resourceType": "Patient",
            "id": "hoc-p2",
            "meta": {"lastUpdated": "2026-04-02T09:30:00Z"},
            "gender": "female",
            "birthDate": "1961-07",
        }
    ),
    # an older one: it loses
    json.dumps(
        {
            "resourceType": "Patient",
            "id": "hoc-p2",
            "meta": {"lastUpdated": "2020-01-01T00:00:00+01:00"},
            "gender": "male",
        }
    ),
]


def _observation(oid: str, value: Any) -> str:
    return json.dumps(
        {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "code": {"coding": [{"system": SCT, "code": "27113001", "display": "Body weight"}]},
            "subject": {"reference": "Patient/hoc-p1"},
            "effectiveDateTime": "2024-01-02T10:00:00+01:00",
            "valueQuantity": {"value": value, "unit": "kg"},
        }
    )


OBSERVATIONS = [
    _observation("weight-ok", 70.5),
    _observation("weight-text", "abc"),
    _observation("weight-string", "70.5"),
]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("export")
    for path in FIXTURES.glob("*.ndjson*"):
        shutil.copy(path, folder / path.name)
    with (folder / "Patient.ndjson").open("a") as out:
        out.write("\n".join(BAD_PATIENTS) + "\n")
    # Observations in a file named for another type: each line is classified on its own
    (folder / "More.ndjson").write_text("\n".join(OBSERVATIONS) + "\n")
    return folder


@pytest.fixture(scope="module")
def ingested(
    export: Path, spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Settings, IngestReport, IngestReport]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("data"))
    files = sorted(export.iterdir())
    on_duckdb = ingest_paths(paths=files, settings=settings)
    on_spark = ingest_to_lake(paths=files, settings=settings, spark=spark)
    return settings, on_duckdb, on_spark


def _both(settings: Settings, table: str) -> tuple[list[Any], list[Any]]:
    """A clinical table's rows in the store and in the lake, sorted."""
    con = duckdb.connect(str(settings.analytic_db_path), read_only=True)
    try:
        store = con.execute(f'SELECT * FROM "{table}" ORDER BY ALL').fetchall()
        folder = clinical_folder(settings) / table
        lake = con.execute(
            f"SELECT * FROM read_parquet('{folder}/*.parquet') ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    return store, lake


@pytest.mark.parametrize("table", sorted(CLINICAL_TABLES))
def test_the_lake_holds_what_the_store_holds(
    ingested: tuple[Settings, IngestReport, IngestReport], table: str
) -> None:
    settings = ingested[0]
    store, lake = _both(settings, table)
    assert lake == store
    con = duckdb.connect()
    folder = clinical_folder(settings) / table
    types = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{folder}/*.parquet')").fetchall()
    assert [(name, kind) for name, kind, *_ in types] == CLINICAL_TABLES[table]


def test_the_newest_version_wins(ingested: tuple[Settings, IngestReport, IngestReport]) -> None:
    settings = ingested[0]
    con = duckdb.connect()
    folder = clinical_folder(settings) / "patient"
    rows = con.execute(
        f"SELECT gender, birth_date::VARCHAR FROM read_parquet('{folder}/*.parquet') "
        "WHERE patient_id = 'hoc-p2'"
    ).fetchall()
    assert rows == [("female", "1961-07-01")]


def test_bad_records_are_reported_alike(
    ingested: tuple[Settings, IngestReport, IngestReport],
) -> None:
    settings, on_duckdb, on_spark = ingested
    con = duckdb.connect(str(settings.analytic_db_path), read_only=True)
    columns = "source_file, line_number, resource_type, resource_id, trim(reason, chr(10))"
    store = con.execute(f"SELECT {columns} FROM quarantine ORDER BY ALL").fetchall()
    folder = clinical_folder(settings) / "_quarantine"
    lake = con.execute(
        f"SELECT {columns} FROM read_parquet('{folder}/*.parquet') ORDER BY ALL"
    ).fetchall()
    assert lake == store
    reasons = {(Path(f).name, n, r) for f, n, _, _, r in lake}
    assert ("Patient.ndjson", 3, "line is not valid JSON: this line is not JSON") in reasons
    assert any("expected a JSON number" in r for _, _, r in reasons)
    assert any("control character" in r for _, _, r in reasons)
    assert on_spark.quarantined == on_duckdb.quarantined == len(store)
    assert {t: c.quarantined for t, c in on_spark.by_type.items()} == {
        t: c.quarantined for t, c in on_duckdb.by_type.items()
    }


def test_the_staged_tables_are_renamed_into_place(
    ingested: tuple[Settings, IngestReport, IngestReport],
) -> None:
    settings = ingested[0]
    assert sorted(p.name for p in settings.lake_path.iterdir()) == ["clinical"]
    assert sorted(p.name for p in clinical_folder(settings).iterdir()) == sorted(
        [*CLINICAL_TABLES, "_quarantine", MARKER]
    )


def test_a_failed_ingest_leaves_the_lake_as_it_was(
    ingested: tuple[Settings, IngestReport, IngestReport],
    spark: SparkSession,
    tmp_path: Path,
) -> None:
    settings = ingested[0]
    before = _lake_files(settings)
    broken = tmp_path / "Observation.ndjson.gz"
    broken.write_bytes(b"\x1f\x8b this is not gzip data at all")
    with pytest.raises(Exception, match=r"(?i)gzip|header|corrupt|not in"):
        ingest_to_lake(paths=[FIXTURES / "Patient.ndjson", broken], settings=settings, spark=spark)
    assert _lake_files(settings) == before


def test_hoc_ingest_engine_spark(spark: SparkSession, tmp_path: Path) -> None:
    """The command replaces the lake's tables with the files given, and says what it loaded."""
    runner = CliRunner()
    data = tmp_path / "data"
    result = runner.invoke(
        app,
        ["ingest", "--engine", "spark", "--data-dir", str(data), str(FIXTURES / "Patient.ndjson")],
    )
    assert result.exit_code == 0, result.output
    assert "ingest into the lake" in result.output
    assert "Patient" in result.output
    con = duckdb.connect()
    clinical = data / "lake" / "clinical"
    [(patients,)] = con.execute(f"SELECT count(*) FROM '{clinical}/patient/*.parquet'").fetchall()
    [(conditions,)] = con.execute(
        f"SELECT count(*) FROM '{clinical}/condition/*.parquet'"
    ).fetchall()
    assert (patients, conditions) == (2, 0)


def test_hoc_ingest_engine_spark_refuses_what_it_does_not_read(tmp_path: Path) -> None:
    xml = Path(__file__).parents[1] / "fixtures" / "fhir" / "ukcore-xml" / "Patient-Okafor.xml"
    result = CliRunner().invoke(
        app, ["ingest", "--engine", "spark", "--data-dir", str(tmp_path), str(xml)]
    )
    assert result.exit_code == 2
    assert "NDJSON only" in result.output
    assert not (tmp_path / "lake").exists()


def _lake_files(settings: Settings) -> dict[str, int]:
    return {
        str(p.relative_to(settings.lake_path)): p.stat().st_size
        for p in settings.lake_path.rglob("*")
        if p.is_file()
    }
