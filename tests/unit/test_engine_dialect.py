"""Every analytic query the project runs through the engine seam keeps to SQL both engines mean
alike: none holds a fragment `engine_dialect.toml` forbids, and each transpiles to Spark SQL.

The queries are captured, not copied: the builders run over a few hand-written records on an
in-memory DuckDB engine that keeps the SQL it is given (and the module that gave it), so a new
query in any of those modules is checked without being listed here. Whether the Spark SQL gives
the same answers is the spec cases' job (tests/spec, both engines).
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
import sqlglot

from houseofcare.analytic_tables import CLINICAL_TABLES
from houseofcare.careplan.caseload import candidates_in_order
from houseofcare.careplan.measures import measure_codes
from houseofcare.commissioning.disclosure import packaged_rule
from houseofcare.commissioning.inequality import packaged_measures as inequality_measures
from houseofcare.commissioning.inequality import report as inequality_report
from houseofcare.commissioning.inequality import report_frame
from houseofcare.commissioning.plan import build_plan
from houseofcare.commissioning.plan_inequalities import FRAME, inverse_care, project
from houseofcare.commissioning.plan_model import Area
from houseofcare.commissioning.population import practices
from houseofcare.engine import DuckDBEngine, Row, spark_sql
from houseofcare.engine_dialect import (
    DialectError,
    EngineDialect,
    code_only,
    load_dialect,
    packaged_dialect,
)
from houseofcare.population.indicators import (
    CARE_GAP_COLUMNS,
    achievement,
    compute_indicators,
    packaged_indicator_rules,
    recall_list,
)
from houseofcare.population.multimorbidity import (
    compute_multimorbidity,
    packaged_multimorbidity_rules,
)
from houseofcare.population.person_readings import compute_person_readings
from houseofcare.population.prevalence import prevalence
from houseofcare.population.readings import unusable_readings
from houseofcare.population.registers import compute_registers
from houseofcare.population.rules import packaged_register_rules
from houseofcare.risk.explain import factor_phrases, packaged_phrases
from houseofcare.risk.features import compute_features, model_features, packaged_feature_spec
from houseofcare.risk.scoring import SCORED_SQL
from houseofcare.store.analytic import arrow_schema
from houseofcare.terminology.codelist import packaged_codelists
from houseofcare.tiers.assign import tier_query
from houseofcare.tiers.proportionate import packaged_proportionate_policy
from houseofcare.tiers.report import level_counts
from tests.spec.conftest import Record

AS_OF = dt.date(2026, 3, 31)
RUN = "dialect-run"

#: The modules whose queries must be captured: each analytic builder the project runs through
#: the engine seam (a module missing here means its queries were not seen, not that they pass).
BUILDERS = (
    "houseofcare.population.registers",
    "houseofcare.population.multimorbidity",
    "houseofcare.population.indicators",
    "houseofcare.population.person_readings",
    "houseofcare.population.readings",
    "houseofcare.population.prevalence",
    "houseofcare.risk.features",
    "houseofcare.risk.explain",
    "houseofcare.risk.scoring",
    "houseofcare.tiers.assign",
    "houseofcare.tiers.report",
    "houseofcare.careplan.caseload",
    "houseofcare.commissioning.inequality",
    "houseofcare.commissioning.plan_frames",
    "houseofcare.commissioning.plan_grids",
    "houseofcare.commissioning.plan_capacity",
    "houseofcare.commissioning.plan_inequalities",
    "houseofcare.commissioning.plan_trends",
)


def _builder() -> str:
    """The houseofcare module (other than the engine) nearest the call: whose query this is."""
    frame = inspect.currentframe()
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("houseofcare.") and module != "houseofcare.engine":
            return module
        frame = frame.f_back
    return "test"


class RecordingEngine(DuckDBEngine):
    """DuckDB, keeping each query it is given with the module that built it: it records text,
    and runs the query as DuckDB would, so the builders go on as in a real run."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        super().__init__(con)
        self.queries: list[tuple[str, str]] = []

    def keep(self, module: str, sql: str) -> None:
        self.queries.append((module, sql))

    def view(self, name: str, sql: str) -> None:
        self.keep(_builder(), sql)
        super().view(name, sql)

    def materialise(self, name: str, sql: str) -> None:
        self.keep(_builder(), sql)
        super().materialise(name, sql)

    def rows(self, sql: str) -> list[Row]:
        self.keep(_builder(), sql)
        return super().rows(sql)

    def arrow(self, sql: str) -> pa.Table:
        self.keep(_builder(), sql)
        return super().arrow(sql)

    def columns(self, sql: str) -> list[str]:
        self.keep(_builder(), sql)
        return super().columns(sql)


def _code(codelist: str) -> str:
    return sorted(packaged_codelists()[codelist].codes)[0]


def _records(engine: RecordingEngine) -> None:
    """A few people, enough for every builder to reach each of its queries."""
    for table in CLINICAL_TABLES:
        engine.register(table, arrow_schema(table).empty_table())
    record = Record(engine)
    record.patient("dm", birth_date="1950-01-01", lsoa_code="E01011229")
    record.condition("dm", _code("dm_cod"), "2015-01-01")
    record.condition("dm", _code("hyp_cod"), "2016-01-01")
    record.condition("dm", _code("hf_cod"), "2017-01-01")
    record.observation("dm", _code("ifcchbam_cod"), "2026-01-01", 80.0)
    record.medication("dm", _code("acei_arb_med"), "2026-02-01")
    record._insert(
        "encounter",
        encounter_id="e1",
        patient_id="dm",
        status="finished",
        class_code="IMP",
        priority_code="EM",
        type_code="183452005",
        period_start="2025-12-01 10:00:00",
        period_end="2025-12-05 10:00:00",
    )
    record.patient("hyp", birth_date="1960-01-01", practice_id="P2")
    record.condition("hyp", _code("hyp_cod"), "2020-01-01")
    record.patient("well", birth_date="1990-01-01")


def _analytics(engine: RecordingEngine) -> None:
    """Every analytic builder, in the order a run, a score, the triangle and a plan use them."""
    codelists = packaged_codelists()
    registers = compute_registers(engine, packaged_register_rules(), codelists, AS_OF)
    engine.keep("houseofcare.population.registers", registers.sql)
    # the run's registers, as `hoc run` keeps them for the steps after (and the triangle)
    engine.materialise("run_register", registers.sql)
    scores = compute_multimorbidity(
        engine, packaged_multimorbidity_rules(), AS_OF, "run_register", codelists
    )
    engine.keep("houseofcare.population.multimorbidity", scores.sql)
    engine.materialise("run_multimorbidity", scores.sql)
    gaps = compute_indicators(engine, packaged_indicator_rules(), codelists, AS_OF, "run_register")
    engine.keep("houseofcare.population.indicators", gaps.sql)
    engine.materialise("run_care_gap", f"SELECT {CARE_GAP_COLUMNS} FROM ({gaps.sql}) AS g")
    readings = compute_person_readings(engine, measure_codes(), AS_OF)
    engine.keep("houseofcare.population.person_readings", readings.sql)
    unusable_readings(engine, AS_OF)

    features = compute_features(engine, AS_OF, with_label=True)
    engine.keep("houseofcare.risk.features", features.sql)
    people = features.arrow()
    risk = pa.table({"patient_id": people["patient_id"], "risk": [0.6, 0.2, 0.01]})
    engine.register("run_risk_score", risk)
    names = model_features(packaged_feature_spec(), [r.id for r in packaged_register_rules()])
    engine.register(
        "factor_rows",
        pa.table(
            {
                "patient_id": ["dm", "dm", "dm"],
                "rank": pa.array([1, 2, 3], pa.int64()),
                "feature": ["cms_score", "ltc_count", names[0]],
                "value": [1.25, 3.0, None],
                "contribution": [0.3, 0.2, 0.1],
            }
        ),
    )
    phrases = factor_phrases(
        engine, "factor_rows", packaged_phrases(), names, packaged_register_rules()
    )
    engine.keep("houseofcare.risk.explain", phrases.sql)
    engine.materialise("risk_factor_phrases", phrases.sql)
    engine.register("risk_prediction", risk)
    scored = SCORED_SQL.replace(":model_version", "'v1'")
    engine.keep("houseofcare.risk.scoring", scored)
    engine.rows(scored)

    for has_risk in (True, False):
        tiers = tier_query(engine, as_of=AS_OF, people=3, has_risk=has_risk)
        engine.keep("houseofcare.tiers.assign", tiers.sql)
        engine.rows(tiers.sql)

    run = f"'{RUN}'"
    for stored in ("register", "multimorbidity", "care_gap", "risk_score"):
        engine.materialise(stored, f"SELECT {run} AS run_id, * FROM run_{stored}")
    tiers = tier_query(engine, as_of=AS_OF, people=3, has_risk=True)
    engine.materialise("tier", f"SELECT {run} AS run_id, * FROM ({tiers.sql}) AS t")
    engine.register(
        "run",
        pa.table({"run_id": [RUN], "as_of": pa.array([AS_OF], pa.date32())}),
    )
    for module, query in (
        ("prevalence", prevalence(engine, RUN, packaged_register_rules(), by_practice=True)),
        ("indicators", achievement(engine, RUN)),
        ("indicators", recall_list(engine, RUN)),
    ):
        engine.keep(f"houseofcare.population.{module}", query.sql)
        engine.rows(query.sql)
    candidates_in_order(engine, RUN, packaged_proportionate_policy())
    counts = level_counts(engine.con, RUN, by_practice=True)
    engine.keep("houseofcare.tiers.report", counts.sql_query())

    plan = build_plan(engine, None, RUN, AS_OF, Area("all", None, "Everyone"))
    assert plan.sections
    inequality_report(engine, RUN, practices(engine.con))
    # a plan of three people is too small for its inequalities' figures: ask for them anyway
    measures = inequality_measures("plan_people")
    report_frame(engine, FRAME, measures, rule=packaged_rule())
    inverse_care(engine, FRAME, measures, rule=packaged_rule())
    project(engine, FRAME, RUN, measures, packaged_proportionate_policy(), rule=packaged_rule())


@pytest.fixture(scope="module")
def captured() -> Iterator[dict[str, str]]:
    """Each analytic query once, with the module that built it first (the test's own wrappers
    around them, which hold no SQL of the project's but theirs, left out)."""
    con = duckdb.connect(":memory:")
    engine = RecordingEngine(con)
    _records(engine)
    _analytics(engine)
    queries: dict[str, str] = {}
    for module, sql in engine.queries:
        if module != "test":
            queries.setdefault(sql, module)
    yield queries
    con.close()


def test_every_analytic_builder_was_seen(captured: dict[str, str]) -> None:
    seen = set(captured.values())
    assert sorted(set(BUILDERS) - seen) == []


def test_no_analytic_query_holds_a_fragment_only_one_engine_means(
    captured: dict[str, str],
) -> None:
    dialect = packaged_dialect()
    found = sorted(
        {
            f"{module}: {entry.id} ({fragment!r}); instead: {entry.instead}"
            for sql, module in captured.items()
            for entry, fragment in dialect.fragments(sql)
        }
    )
    assert not found, "\n".join(found)


def test_every_analytic_query_transpiles_to_spark_sql(captured: dict[str, str]) -> None:
    failed = []
    for sql, module in captured.items():
        try:
            spark_sql(sql)  # refuses what SQLGlot cannot carry (ErrorLevel.RAISE)
        except (sqlglot.errors.SqlglotError, ValueError) as exc:
            failed.append(f"{module}: {str(exc)[:200]}")
    assert not failed, "\n".join(failed)


def test_no_declared_duckdb_only_module_is_an_analytic_builder() -> None:
    """A module is DuckDB's alone or an analytic builder; the page readers stay out of the way
    of the analytics, and every declared module exists."""
    dialect = packaged_dialect()
    for module in dialect.duckdb_only_modules():
        assert importlib.util.find_spec(module) is not None, module
    # the writers (tiers.assign) and run reports (tiers.report) hold analytic queries too;
    # only the per-person readers must be outside the builders entirely
    readers = {"houseofcare.results", "houseofcare.careplan.preparation"}
    assert readers <= dialect.duckdb_only_modules()
    assert readers.isdisjoint(BUILDERS)


def test_the_relied_on_spark_settings_are_the_session_defaults() -> None:
    source = inspect.getsource(importlib.import_module("houseofcare.spark_session"))
    for setting in packaged_dialect().setting:
        assert f'"{setting.key}": "{setting.value}"' in source


@pytest.mark.parametrize(
    ("sql", "forbidden"),
    [
        ("SELECT NULL::DOUBLE AS v", {"cast-shorthand"}),
        ("SELECT * FROM t WHERE id IN (SELECT unnest($ids))", {"named-parameter", "duckdb-lists"}),
        ("SELECT 100.0 * met / n FROM t", {"decimal-literal"}),
        ("SELECT epoch(b) - epoch(a) FROM t", {"epoch"}),
        ("SELECT floor(x / 2) FROM t", {"bare-floor-ceil"}),
        ("SELECT round(v, t.decimals) FROM t", {"round-scale"}),
        ("SELECT string_agg(r, ', ') FROM t", {"string-agg-unordered"}),
        ("SELECT x[1] FROM t", {"brackets"}),
        ("SELECT * FROM t WHERE id = ?", {"positional-parameter"}),
        # portable spellings, and look-alikes inside strings, comments and names
        ("SELECT CAST(NULL AS DOUBLE), CAST(floor(x) AS DOUBLE), round(v, 2) FROM t", set()),
        ("SELECT string_agg(r, ', ' ORDER BY r), t1.x FROM t -- epoch() aside", set()),
        ("SELECT 'a::b $x [1] 2.5' AS s, regexp_matches(c, '^x$') FROM t", set()),
    ],
)
def test_each_forbidden_fragment_is_found_where_written_and_nowhere_else(
    sql: str, forbidden: set[str]
) -> None:
    assert {entry.id for entry, _ in packaged_dialect().fragments(sql)} == forbidden


def test_string_literals_and_comments_are_not_sql() -> None:
    assert code_only("SELECT 'it''s $x' /* 1.5 */ AS \"a::b\" -- it's") == (
        "SELECT ''   AS \"a::b\"  "
    )


def test_every_entry_says_why() -> None:
    dialect = packaged_dialect()
    entries = [*dialect.forbidden, *dialect.carried, *dialect.duckdb_only, *dialect.accepted]
    assert all(len(e.reason.split()) >= 5 for e in entries)
    assert all(a.hazard for a in dialect.accepted)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("version = 1\n", "forbidden"),
        (
            'version = 1\n[[forbidden]]\nid = "x"\npattern = "("\n'
            'reason = "a reason long enough to read"\ninstead = "y"\n',
            "not a regular expression",
        ),
        (
            'version = 1\n[[forbidden]]\nid = "x"\npattern = "x"\n'
            'reason = "a reason long enough to read"\ninstead = "y"\n'
            '[[rewrite]]\nfrom = "a"\nto = "b"\n',
            "rewrite",
        ),
        (
            'version = 1\n[[forbidden]]\nid = "x"\npattern = "x"\n'
            'reason = "a reason long enough to read"\ninstead = "y"\n'
            '[[forbidden]]\nid = "x"\npattern = "z"\n'
            'reason = "a reason long enough to read"\ninstead = "y"\n',
            "declared twice",
        ),
    ],
)
def test_a_malformed_dialect_file_names_itself_and_the_field(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "engine_dialect.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DialectError, match=re.escape(str(path)) + ".*" + problem):
        load_dialect(path)


def test_the_packaged_file_loads() -> None:
    assert isinstance(packaged_dialect(), EngineDialect)
