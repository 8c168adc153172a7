"""Reading what `hoc run` wrote: one typed reader for the analytic store's run results.

A pipeline run writes its results into the analytic store, every row tagged with its run id:
`run` (one row per run), `register`, `multimorbidity`, `care_gap` and `unusable_reading`
(`run_results.RESULT_COLUMNS`), `risk_score` when a trained model scored the run
and `tier`, the triangle; one
person's record over time (readings through the unit-aware event layer, medicines, contacts)
is read from the clinical tables here too. Every
reader of those results (the API's RiskAssessment and lists, the Year of Care preparation,
the `hoc` commands, the pages) reads them here, by the columns those definitions declare, so
a change to a table is made in one place and nobody guesses at column names.

The reader tolerates what a store may not have yet: no run, no risk scores (no model was
trained), no triangle or no unusable-reading counts (a run made before they existed) each read
as nothing, and `ResultsUnavailable` says why the store itself cannot be read.

Reads here are not access-checked: the results are identifiable (one row per person), so a
caller that shows them to a user decides access first (`careplan.access`), as every API route
and identifiable command does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import duckdb

from houseofcare.analytic_tables import CLINICAL_TABLES
from houseofcare.population.events import reading_sql
from houseofcare.population.person_readings import READINGS_YEARS, years_before
from houseofcare.population.readings import UnusableReadings, most_first
from houseofcare.settings import Settings

if TYPE_CHECKING:
    from houseofcare.commissioning.population import (
        PopulationFigures,
        PopulationFilter,
        Practice,
    )

#: The clinical tables ingest makes, which the record readers read.
CLINICAL_TABLE_NAMES: Final = tuple(CLINICAL_TABLES)

#: The result tables a run may have written, each read by the columns its DDL declares.
RESULT_TABLE_NAMES: Final = (
    "run",
    "register",
    "multimorbidity",
    "care_gap",
    "person_reading",
    "unusable_reading",
    "risk_score",
    "tier",
)


class ResultsUnavailable(LookupError):
    """The analytic store cannot be read (missing, or locked by a run); the message says why."""


@dataclass(frozen=True)
class Run:
    """One pipeline run: results are as of `as_of`, written when it `finished_at`."""

    run_id: str
    as_of: dt.date
    finished_at: dt.datetime
    #: Living people the run placed (its `multimorbidity` rows).
    people: int


@dataclass(frozen=True)
class RegisterEntry:
    """The person is on a disease register (QOF-style rules, `population/registers.toml`)."""

    register: str
    first_recorded: dt.date | None
    latest_recorded: dt.date | None


@dataclass(frozen=True)
class CareGap:
    """One care-gap indicator's outcome for the person (`population/indicators.toml`)."""

    indicator: str
    #: `met`, `not met` or `excluded` (the indicator's own words).
    outcome: str
    evidence_code: str | None
    evidence_date: dt.date | None
    evidence_value: str | None
    overdue_since: dt.date | None

    @property
    def open(self) -> bool:
        """A gap to close: the indicator is not met."""
        return self.outcome == "not met"


@dataclass(frozen=True)
class Scores:
    """Multimorbidity and frailty at the run's date: LTC count, Cambridge Multimorbidity
    Score, electronic Frailty Index deficits, score and category."""

    ltc_count: int
    cms_score: float | None
    efi_deficits: int | None
    efi_score: float | None
    frailty_category: str | None


@dataclass(frozen=True)
class Risk:
    """The admission-risk model's score for the person, with the reasons that raised it."""

    risk: float | None
    #: Share of the population with lower risk, 0-100.
    percentile: float | None
    #: Up to three plain-language reasons, strongest first.
    factors: tuple[str, ...]
    model_version: str | None

    def columns(self) -> dict[str, Any]:
        """The stored columns by name (what a summary keeps as its source)."""
        padded = (*self.factors, None, None, None)[:3]
        return {
            "risk": self.risk,
            "percentile": self.percentile,
            "factor_1": padded[0],
            "factor_2": padded[1],
            "factor_3": padded[2],
            "model_version": self.model_version,
        }


@dataclass(frozen=True)
class Level:
    """The person's level on the Kaiser triangle (1-3; 0 is prevention) and why."""

    level: int
    reason: str | None


@dataclass(frozen=True)
class Reading:
    """One reading of a measure, in the measure's canonical unit, or why it was left out."""

    measure: str
    date: dt.date | None
    #: The value in the canonical unit (None: the reading cannot be used, see `problem`).
    value: float | None
    #: `unknown unit`, `no unit` or `implausible` (the event layer's words), else None.
    problem: str | None


@dataclass(frozen=True)
class Medicine:
    """One medicine (by code) issued to the person: its name and when it was first and last
    issued."""

    name: str
    code: str
    first_issued: dt.date | None
    last_issued: dt.date | None
    issues: int
    #: The status of the latest issue (FHIR MedicationRequest.status).
    status: str | None


@dataclass(frozen=True)
class Contact:
    """One encounter: a contact, an admission or an A&E attendance."""

    start: dt.datetime | None
    end: dt.datetime | None
    #: The encounter kind it matched (`risk/features.toml`, e.g. `emergency_admission`), or
    #: None for any other contact.
    kind: str | None
    class_code: str | None
    type_display: str | None


#: An encounter kind as the contacts reader takes it: (kind, class, priority, type); None
#: matches any priority or type.
EncounterKindRow = tuple[str, str, str | None, str | None]


@dataclass(frozen=True)
class HospitalEvent:
    """An unplanned hospital episode of a person: what a case manager joins up care around."""

    patient_id: str
    #: `admission` (an emergency admission) or `a&e` (an A&E attendance).
    kind: str
    started: dt.datetime
    #: Discharge (admission) or leaving A&E; None while still there or not recorded.
    ended: dt.datetime | None


@dataclass(frozen=True)
class LevelChange:
    """A person's level in two runs (None: not placed on the triangle in that run)."""

    patient_id: str
    level: int | None
    previous_level: int | None

    @property
    def joined_level3(self) -> bool:
        """New to case management (level 3) since the earlier run."""
        return self.level == 3 and self.previous_level != 3

    @property
    def left_level3(self) -> bool:
        """At level 3 in the earlier run and no longer."""
        return self.previous_level == 3 and self.level != 3


#: Encounters that were never real contacts.
_NOT_A_CONTACT = "coalesce(e.status, '') NOT IN ('entered-in-error', 'cancelled')"
#: An emergency admission (inpatient, emergency priority or typed as SNOMED CT 183452005
#: |Emergency hospital admission|) or an A&E attendance, as `risk/features.toml` counts them.
_HOSPITAL_KIND = (
    "CASE WHEN e.class_code = 'IMP' AND (e.priority_code = 'EM' OR e.type_code = '183452005') "
    "THEN 'admission' WHEN e.class_code = 'EMER' THEN 'a&e' END"
)


_RUN = "run_id, as_of, finished_at, people"
_RISK = "patient_id, risk, percentile, factor_1, factor_2, factor_3, model_version"


def _risk(row: tuple[Any, ...]) -> Risk:
    _, risk, percentile, *factors, model_version = row
    return Risk(
        risk=None if risk is None else float(risk),
        percentile=None if percentile is None else float(percentile),
        factors=tuple(str(f) for f in factors if f not in (None, "")),
        model_version=model_version,
    )


def tables_of(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The tables of the store's main schema."""
    return frozenset(
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    )


#: The store's file → (its stamp, its tables): asked again only when the store has changed.
_PRESENT: dict[Path, tuple[tuple[int, ...], frozenset[str]]] = {}


def _person_filter(ids: list[str]) -> tuple[str, str | list[str]]:
    """A filter on `patient_id` for `ids` (never empty) and its one parameter: a semi-join on
    the list (a caseload); one person is read through `_one_person` instead."""
    return "patient_id IN (SELECT unnest(?::VARCHAR[]))", ids


def _one_person(table: str, columns: str, person: str = "?") -> str:
    """A CTE `mine`: `table`'s `columns` of one person (`person`: the first parameter, `?`,
    or a named one).

    DuckDB looks a person up in the table's index on `patient_id` only when that equality is
    the scan's one filter: with `run_id = ? AND patient_id = ?` it scans every row of the
    table, which grows with the population (1.8 ms a read at 100,000 people, ten times that
    at a million). `MATERIALIZED` keeps the run's filter out of the scan, so the page reads
    one person's rows by key and then keeps the run's."""
    return (
        f"WITH mine AS MATERIALIZED (SELECT {columns} FROM main.{table} "
        f"WHERE patient_id = {person}) "
    )


class AnalyticResults:
    """The run results in one analytic store connection (read-only when opened by `open`)."""

    def __init__(
        self, con: duckdb.DuckDBPyConnection, present: frozenset[str] | None = None
    ) -> None:
        self.con = con
        if present is None:
            present = tables_of(con)
        #: Which result tables this store has (a store gains them as runs and models come).
        self.tables = present & frozenset(RESULT_TABLE_NAMES)
        #: Which clinical tables it has (a store made by `hoc ingest` has them all; one made
        #: by hand may not): asked once here, not before each read.
        self.clinical = present & frozenset(CLINICAL_TABLE_NAMES)

    @classmethod
    @contextmanager
    def open(cls, settings: Settings) -> Iterator[AnalyticResults]:
        """The project's analytic store, read-only, closed after the block.

        Raises `ResultsUnavailable` when there is no store yet or it cannot be opened now
        (DuckDB lets a writer, such as a running `hoc run`, hold the file alone).
        """
        from houseofcare.store.analytic import connect, store_stamp
        from houseofcare.store.analytic_hold import WriterWaiting

        path = settings.analytic_db_path
        if not path.exists():
            raise ResultsUnavailable(f"no analytic store at {path}; run `hoc ingest` and `hoc run`")
        try:
            con = connect(settings, read_only=True)
        except WriterWaiting:
            raise ResultsUnavailable(
                "the analytic store is being updated (a run or an ingest is about to write "
                "it); its figures are back as soon as that has finished"
            ) from None
        except duckdb.Error as exc:
            raise ResultsUnavailable(f"the analytic store cannot be read now ({exc})") from None
        try:
            stamp = store_stamp(path)
            known = _PRESENT.get(path)
            if known is None or known[0] != stamp:
                known = _PRESENT[path] = (stamp, tables_of(con))
            yield cls(con, known[1])
        finally:
            con.close()

    def _rows(self, sql: str, parameters: list[Any] | Mapping[str, Any]) -> list[tuple[Any, ...]]:
        # fetchall, not fetchone: DuckDB keeps a half-read result open and blocks the connection
        return self.con.execute(sql, parameters).fetchall()

    def _ids(self, patient_ids: Iterable[str]) -> list[str]:
        """The ids once each, in order (a list may name a person twice)."""
        return list(dict.fromkeys(patient_ids))

    # --- Runs ----------------------------------------------------------------------------------

    def latest_run(self) -> Run | None:
        """The run that finished last, or None before the first run."""
        if "run" not in self.tables:
            return None
        rows = self._rows(f"SELECT {_RUN} FROM run ORDER BY finished_at DESC LIMIT 1", [])
        return Run(*rows[0]) if rows else None

    def latest_run_id(self) -> str | None:
        """The latest run's id (what a command uses when no `--run` is given)."""
        run = self.latest_run()
        return None if run is None else run.run_id

    def run(self, run_id: str | None = None) -> Run | None:
        """The run `run_id` (the latest when None), or None if there is no such run."""
        if run_id is None:
            return self.latest_run()
        if "run" not in self.tables:
            return None
        rows = self._rows(f"SELECT {_RUN} FROM run WHERE run_id = ?", [run_id])
        return Run(*rows[0]) if rows else None

    def previous_run(self, run_id: str, *, with_levels: bool = False) -> Run | None:
        """The run that finished last before `run_id` (to compare two runs); `with_levels`
        skips runs that placed nobody on the triangle (who moved level needs both)."""
        if "run" not in self.tables or (with_levels and "tier" not in self.tables):
            return None
        placed = (
            " AND EXISTS (SELECT 1 FROM tier t WHERE t.run_id = r.run_id)" if with_levels else ""
        )
        rows = self._rows(
            f"SELECT {_RUN} FROM run r WHERE r.finished_at < "
            f"(SELECT finished_at FROM run WHERE run_id = ?){placed} "
            "ORDER BY r.finished_at DESC LIMIT 1",
            [run_id],
        )
        return Run(*rows[0]) if rows else None

    def has(self, table: str) -> bool:
        """Whether the store has the result table (risk_score comes with a trained model)."""
        return table in self.tables

    def rows_in_run(self, table: str, run_id: str) -> int:
        """How many rows `table` holds for the run (0 when the table does not exist)."""
        if table not in RESULT_TABLE_NAMES:
            raise ValueError(f"{table!r} is not a result table")
        if table not in self.tables:
            return 0
        ((count,),) = self._rows(f'SELECT count(*) FROM "{table}" WHERE run_id = ?', [run_id])
        return int(count)

    # --- One person ----------------------------------------------------------------------------

    def registers(self, run_id: str, patient_id: str) -> tuple[RegisterEntry, ...]:
        """The registers the person is on in the run, by register name."""
        if "register" not in self.tables:
            return ()
        rows = self._rows(
            _one_person("register", "run_id, register, first_recorded, latest_recorded")
            + "SELECT register, first_recorded, latest_recorded FROM mine "
            "WHERE run_id = ? ORDER BY register",
            [patient_id, run_id],
        )
        return tuple(RegisterEntry(*row) for row in rows)

    def care_gaps(
        self, run_id: str, patient_id: str, *, open_only: bool = False
    ) -> tuple[CareGap, ...]:
        """The person's indicator outcomes in the run; `open_only` keeps the gaps to close,
        longest overdue first (those with no date first: never done)."""
        if "care_gap" not in self.tables:
            return ()
        where = " AND outcome = 'not met'" if open_only else ""
        columns = "indicator, outcome, evidence_code, evidence_date, evidence_value, overdue_since"
        rows = self._rows(
            _one_person("care_gap", f"run_id, {columns}")
            + f"SELECT {columns} FROM mine WHERE run_id = ?{where} "
            "ORDER BY overdue_since NULLS FIRST, indicator",
            [patient_id, run_id],
        )
        return tuple(CareGap(*row) for row in rows)

    def scores(self, run_id: str, patient_id: str) -> Scores | None:
        """The person's multimorbidity and frailty scores (None: not living at the run's date,
        or not in the population)."""
        if "multimorbidity" not in self.tables:
            return None
        columns = "ltc_count, cms_score, efi_deficits, efi_score, frailty_category"
        rows = self._rows(
            _one_person("multimorbidity", f"run_id, {columns}")
            + f"SELECT {columns} FROM mine WHERE run_id = ? LIMIT 1",
            [patient_id, run_id],
        )
        return Scores(*rows[0]) if rows else None

    def risk(self, run_id: str, patient_id: str) -> Risk | None:
        """The person's admission risk and its reasons (None: the run has no score for them)."""
        return self.risks(run_id, [patient_id]).get(patient_id)

    def risks(self, run_id: str, patient_ids: Iterable[str]) -> dict[str, Risk]:
        """Risk per person for many people in one query (a caseload, a list)."""
        ids = self._ids(patient_ids)
        if not ids or "risk_score" not in self.tables:
            return {}
        if len(ids) == 1:
            rows = self._rows(
                _one_person("risk_score", "*") + f"SELECT {_RISK} FROM mine WHERE run_id = ?",
                [ids[0], run_id],
            )
        else:
            among, value = _person_filter(ids)
            rows = self._rows(
                f"SELECT {_RISK} FROM risk_score WHERE run_id = ? AND {among}", [run_id, value]
            )
        return {row[0]: _risk(row) for row in rows}

    def level(self, run_id: str, patient_id: str) -> Level | None:
        """The person's level on the triangle and why (None: not placed in this run)."""
        return self.levels(run_id, [patient_id]).get(patient_id)

    def levels(self, run_id: str, patient_ids: Iterable[str]) -> dict[str, Level]:
        """Level per person for many people in one query."""
        ids = self._ids(patient_ids)
        if not ids or "tier" not in self.tables:
            return {}
        if len(ids) == 1:
            rows = self._rows(
                _one_person("tier", "run_id, patient_id, level, reason")
                + "SELECT patient_id, level, reason FROM mine WHERE run_id = ?",
                [ids[0], run_id],
            )
        else:
            among, value = _person_filter(ids)
            rows = self._rows(
                f"SELECT patient_id, level, reason FROM tier WHERE run_id = ? AND {among}",
                [run_id, value],
            )
        return {pid: Level(int(level), reason) for pid, level, reason in rows}

    def case_management_by_risk(self, limit: int) -> list[str]:
        """Living level 3 (case management) people of the latest run that placed people on the
        triangle, highest risk first (by patient id where the run had no risk model); [] without
        such a run. Someone who died since the run is left out: a caseload is for the living."""
        if limit <= 0 or "tier" not in self.tables or "run" not in self.tables:
            return []
        run = self._rows(
            """SELECT r.run_id FROM run r
               WHERE EXISTS (SELECT 1 FROM tier t WHERE t.run_id = r.run_id)
               ORDER BY r.finished_at DESC LIMIT 1""",
            [],
        )
        if not run:
            return []
        risk = (
            "(SELECT max(s.risk) FROM risk_score s "
            "WHERE s.run_id = t.run_id AND s.patient_id = t.patient_id)"
            if "risk_score" in self.tables
            else "CAST(NULL AS DOUBLE)"
        )
        rows = self._rows(
            f"""SELECT t.patient_id FROM tier t JOIN patient p ON p.patient_id = t.patient_id
                WHERE t.run_id = ? AND t.level = 3 AND p.death_date IS NULL
                  AND p.nhs_number IS NOT NULL AND p.practice_id IS NOT NULL
                ORDER BY {risk} DESC NULLS LAST, t.patient_id LIMIT ?""",
            [run[0][0], limit],
        )
        return [str(r[0]) for r in rows]

    # --- A caseload: level changes and hospital events between runs --------------------------

    def _has_encounters(self) -> bool:
        """Whether the ingested `encounter` table is there (not a result: ingest makes it)."""
        return "encounter" in self.clinical

    def level3(self, run_id: str, patient_ids: Iterable[str] | None = None) -> list[str]:
        """Which of `patient_ids` (None: everyone) the run placed at level 3 (case
        management), highest risk first (by patient id where the run has no risk score): a
        caseload's candidates."""
        ids = None if patient_ids is None else self._ids(patient_ids)
        if ids == [] or "tier" not in self.tables:
            return []
        risk = (
            "(SELECT max(s.risk) FROM risk_score s "
            "WHERE s.run_id = t.run_id AND s.patient_id = t.patient_id)"
            if "risk_score" in self.tables
            else "CAST(NULL AS DOUBLE)"
        )
        among = "" if ids is None else " AND t.patient_id IN (SELECT unnest(?::VARCHAR[]))"
        rows = self._rows(
            f"""SELECT t.patient_id FROM tier t
                WHERE t.run_id = ? AND t.level = 3{among}
                ORDER BY {risk} DESC NULLS LAST, t.patient_id""",
            [run_id] if ids is None else [run_id, ids],
        )
        return [str(r[0]) for r in rows]

    def level_changes(
        self, run_id: str, previous_run_id: str, patient_ids: Iterable[str]
    ) -> dict[str, LevelChange]:
        """Each person's level in the run and in the earlier run, in one query (people placed
        in neither are left out)."""
        ids = self._ids(patient_ids)
        if not ids or "tier" not in self.tables:
            return {}
        rows = self._rows(
            """WITH wanted AS (SELECT unnest(?::VARCHAR[]) AS patient_id)
               SELECT w.patient_id, now.level, before.level FROM wanted w
               LEFT JOIN tier now ON now.run_id = ? AND now.patient_id = w.patient_id
               LEFT JOIN tier before ON before.run_id = ? AND before.patient_id = w.patient_id
               WHERE now.level IS NOT NULL OR before.level IS NOT NULL""",
            [ids, run_id, previous_run_id],
        )
        return {
            str(pid): LevelChange(
                str(pid),
                None if level is None else int(level),
                None if before is None else int(before),
            )
            for pid, level, before in rows
        }

    def last_contacts(self, patient_ids: Iterable[str]) -> dict[str, dt.datetime]:
        """Each person's latest recorded encounter of any kind (GP, community, hospital)."""
        ids = self._ids(patient_ids)
        if not ids or not self._has_encounters():
            return {}
        rows = self._rows(
            f"""SELECT e.patient_id, max(e.period_start) FROM encounter e
                WHERE e.patient_id IN (SELECT unnest(?::VARCHAR[])) AND {_NOT_A_CONTACT}
                  AND e.period_start IS NOT NULL
                GROUP BY e.patient_id""",
            [ids],
        )
        return {str(pid): started for pid, started in rows}

    def hospital_events(
        self, patient_ids: Iterable[str], since: dt.date
    ) -> dict[str, tuple[HospitalEvent, ...]]:
        """Emergency admissions, discharges and A&E attendances since `since` (midnight), for
        many people in one query, latest first: an admission that began earlier counts when
        its discharge came since."""
        ids = self._ids(patient_ids)
        if not ids or not self._has_encounters():
            return {}
        rows = self._rows(
            f"""SELECT * FROM (
                  SELECT e.patient_id, {_HOSPITAL_KIND} AS kind, e.period_start, e.period_end
                  FROM encounter e
                  WHERE e.patient_id IN (SELECT unnest(?::VARCHAR[])) AND {_NOT_A_CONTACT}
                    AND e.period_start IS NOT NULL
                    AND (e.period_start >= CAST(? AS TIMESTAMP)
                         OR e.period_end >= CAST(? AS TIMESTAMP))
                ) x
                WHERE x.kind IS NOT NULL
                  AND (x.kind = 'admission' OR x.period_start >= CAST(? AS TIMESTAMP))
                ORDER BY x.patient_id, x.period_start DESC""",
            [ids, since, since, since],
        )
        found: dict[str, list[HospitalEvent]] = {}
        for pid, kind, started, ended in rows:
            found.setdefault(str(pid), []).append(HospitalEvent(str(pid), kind, started, ended))
        return {pid: tuple(events) for pid, events in found.items()}

    # --- One person's record over time: measures, medicines, contacts -------------------------

    def _has_clinical(self, table: str) -> bool:
        """Whether the store has the clinical table."""
        return table in self.clinical

    def death_date(self, patient_id: str) -> dt.date | None:
        """The date of death the record holds for the person (None: none recorded), for the
        person banner: a page about someone who has died must say so."""
        if not self._has_clinical("patient"):
            return None
        rows = self._rows("SELECT max(death_date) FROM patient WHERE patient_id = ?", [patient_id])
        return rows[0][0] if rows else None

    def readings(
        self,
        patient_id: str,
        codes: Mapping[str, Iterable[str]],
        *,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> tuple[Reading, ...]:
        """The person's readings of each measure (measure id → its SNOMED CT codes) from
        `since` to `until` inclusive, by measure and oldest first, in one query.

        Values come through the unit-aware event layer (`population/events.py`,
        `READING_SQL`), converted to the measure's canonical unit; a reading no rule may use
        (unknown unit, no unit where none is implied, implausible) comes with its problem and
        no value, so a page shows it as left out, never as a number in another unit (H-043).
        """
        pairs = sorted({(m, code) for m, found in codes.items() for code in found})
        if not pairs or not self._has_clinical("observation"):
            return ()
        # `observation` narrowed to the person first, under the table's own name, so the
        # event layer's every part (its scan of the code systems in use included) reads one
        # person's rows, not the whole store's, on every page view
        rows = self._rows(
            f"""
            WITH observation AS (
                SELECT * FROM main.observation WHERE patient_id = $patient_id)
            SELECT m.measure_id, o.event_date, o.value_number, o.value_problem
            FROM ({reading_sql(frozenset(c for _, c in pairs))}) AS o
            JOIN (SELECT unnest($ids::VARCHAR[]) AS measure_id,
                         unnest($codes::VARCHAR[]) AS code) AS m
              ON m.code = o.code
            WHERE o.patient_id = $patient_id
              AND (o.value_number IS NOT NULL OR o.value_problem IS NOT NULL)
              AND ($since::DATE IS NULL OR o.event_date >= $since::DATE)
              AND ($until::DATE IS NULL OR o.event_date <= $until::DATE)
            ORDER BY m.measure_id, o.event_date, o.value_number NULLS LAST
            """,
            {
                "ids": [m for m, _ in pairs],
                "codes": [c for _, c in pairs],
                "patient_id": patient_id,
                "since": since,
                "until": until,
            },
        )
        return tuple(
            Reading(measure, date, None if value is None else float(value), problem)
            for measure, date, value, problem in rows
        )

    def person_readings(self, run_id: str, patient_id: str) -> tuple[Reading, ...] | None:
        """The person's readings of every measure (`careplan/measures.toml`) as the run kept
        them (`population/person_readings.py`: the years before the run, in canonical units,
        left-out ones with their problem), by measure and oldest first; read by key.

        None when the store holds no readings kept by this run (a run made before runs kept
        them, or not the latest run): the caller reads them from the clinical tables instead
        (`readings`).
        """
        if "person_reading" not in self.tables:
            return None
        held = self._rows("SELECT run_id FROM person_reading LIMIT 1", [])
        if not held or held[0][0] != run_id:
            return None
        rows = self._rows(
            _one_person(
                "person_reading",
                "run_id, measure_id, event_date, value_number, value_problem",
                "$patient_id",
            )
            + """SELECT measure_id, event_date, value_number, value_problem FROM mine
            WHERE run_id = $run_id ORDER BY measure_id, event_date, value_number NULLS LAST""",
            {"patient_id": patient_id, "run_id": run_id},
        )
        return tuple(
            Reading(measure, date, None if value is None else float(value), problem)
            for measure, date, value, problem in rows
        )

    def run_readings(
        self,
        run_id: str,
        as_of: dt.date,
        patient_id: str,
        codes: Mapping[str, Iterable[str]],
    ) -> tuple[Reading, ...]:
        """The person's readings of `codes`' measures for a page: as the run kept them
        (`person_readings`, by key), or, for a run that kept none, worked out from the
        clinical tables over the same years up to the run's date (`readings`)."""
        kept = self.person_readings(run_id, patient_id)
        if kept is not None:
            return tuple(r for r in kept if r.measure in codes)
        since = years_before(as_of, READINGS_YEARS)
        return self.readings(patient_id, codes, since=since, until=as_of)

    def medicines(self, patient_id: str, *, until: dt.date | None = None) -> tuple[Medicine, ...]:
        """Every medicine issued to the person up to `until`, one row per code, the most
        recently issued first (entered-in-error issues left out)."""
        if not self._has_clinical("medication"):
            return ()
        rows = self._rows(
            """
            SELECT coalesce(arg_max(display, authored_on), code), code, min(authored_on),
                   max(authored_on), count(*), arg_max(status, authored_on)
            FROM medication
            WHERE patient_id = $patient_id AND coalesce(status, '') <> 'entered-in-error'
              AND ($until::DATE IS NULL OR authored_on <= $until::DATE)
            GROUP BY code_system, code
            ORDER BY max(authored_on) DESC NULLS LAST, 1
            """,
            {"patient_id": patient_id, "until": until},
        )
        return tuple(Medicine(*row) for row in rows)

    def contacts(
        self,
        patient_id: str,
        kinds: Iterable[EncounterKindRow],
        *,
        since: dt.date,
        until: dt.date,
        limit: int = 100,
    ) -> tuple[Contact, ...]:
        """The person's encounters that started from `since` to `until` inclusive, most
        recent first (at most `limit`), each with the kind it matched: the same kinds the
        risk model counts (`risk/features.toml`: emergency and elective admissions, A&E
        attendances, …), so the page and the model mean the same by an admission."""
        table = list(kinds)
        if not table or not self._has_clinical("encounter"):
            return ()
        rows = self._rows(
            """
            SELECT e.period_start, e.period_end, k.kind, e.class_code, e.type_display
            FROM encounter e
            LEFT JOIN (SELECT unnest($kind::VARCHAR[]) AS kind,
                              unnest($class::VARCHAR[]) AS class_code,
                              unnest($priority::VARCHAR[]) AS priority_code,
                              unnest($type::VARCHAR[]) AS type_code) AS k
              ON k.class_code = e.class_code
             AND (k.priority_code IS NULL OR k.priority_code = e.priority_code)
             AND (k.type_code IS NULL OR k.type_code = e.type_code)
            WHERE e.patient_id = $patient_id
              AND coalesce(e.status, '') NOT IN ('entered-in-error', 'cancelled')
              AND e.period_start >= $since::DATE
              AND e.period_start < $until::DATE + INTERVAL 1 DAY
            QUALIFY row_number() OVER (
                PARTITION BY e.encounter_id ORDER BY k.kind NULLS LAST) = 1
            ORDER BY e.period_start DESC, e.encounter_id
            LIMIT $limit
            """,
            {
                "kind": [k[0] for k in table],
                "class": [k[1] for k in table],
                "priority": [k[2] for k in table],
                "type": [k[3] for k in table],
                "patient_id": patient_id,
                "since": since,
                "until": until,
                "limit": limit,
            },
        )
        return tuple(Contact(*row) for row in rows)

    # --- The run as a whole --------------------------------------------------------------------

    def unusable_readings(self, run_id: str) -> list[UnusableReadings]:
        """Readings no rule could use at the run's date, most readings first (none for a run
        made before they were counted)."""
        if "unusable_reading" not in self.tables:
            return []
        rows = self._rows(
            "SELECT quantity, problem, readings, people FROM unusable_reading WHERE run_id = ?",
            [run_id],
        )
        return most_first(rows)

    def _practice(self, practice_id: str | None) -> tuple[str, list[Any]]:
        """A join to the people of one practice (by the analytic store's practice id)."""
        if practice_id is None:
            return "", []
        return (
            " AND x.patient_id IN (SELECT patient_id FROM patient WHERE practice_id = ?)",
            [practice_id],
        )

    def register_counts(self, run_id: str, practice_id: str | None = None) -> dict[str, int]:
        """People per register in the run (one practice's, or everyone's).

        Exact counts, for use inside the identifiable zone: anything that leaves it goes
        through disclosure control (`commissioning`, `population.prevalence`).
        """
        if "register" not in self.tables:
            return {}
        where, extra = self._practice(practice_id)
        rows = self._rows(
            f"SELECT register, count(*) FROM register x WHERE run_id = ?{where} "
            "GROUP BY register ORDER BY register",
            [run_id, *extra],
        )
        return {register: int(count) for register, count in rows}

    def care_gap_counts(
        self, run_id: str, practice_id: str | None = None
    ) -> dict[str, dict[str, int]]:
        """People per indicator and outcome (`met`, `not met`, `excluded`) in the run. Exact
        counts, like `register_counts`."""
        if "care_gap" not in self.tables:
            return {}
        where, extra = self._practice(practice_id)
        rows = self._rows(
            f"SELECT indicator, outcome, count(*) FROM care_gap x WHERE run_id = ?{where} "
            "GROUP BY indicator, outcome ORDER BY indicator, outcome",
            [run_id, *extra],
        )
        counts: dict[str, dict[str, int]] = {}
        for indicator, outcome, count in rows:
            counts.setdefault(indicator, {})[outcome] = int(count)
        return counts

    def level_counts(self, run_id: str, practice_id: str | None = None) -> dict[int, int]:
        """People per level of the triangle in the run. Exact counts, like `register_counts`."""
        if "tier" not in self.tables:
            return {}
        where, extra = self._practice(practice_id)
        rows = self._rows(
            f"SELECT level, count(*) FROM tier x WHERE run_id = ?{where} "
            "GROUP BY level ORDER BY level",
            [run_id, *extra],
        )
        return {int(level): int(count) for level, count in rows}

    # --- issue 12: population pages: the run's disclosure-controlled figures ------------------

    def practices(self) -> list[Practice]:
        """Every practice with living people, by name, with its locality (the local authority
        where most of its people live): what the population page filters and compares by."""
        from houseofcare.commissioning.population import practices

        if "patient" not in self.clinical:
            return []
        return practices(self.con)

    def population(
        self, run_id: str, chosen: PopulationFilter, known: list[Practice]
    ) -> PopulationFigures | None:
        """The run's triangle, risk bands, register prevalence beside QOF England and
        practices compared, each by IMD quintile, for the people `chosen` picks (`known`:
        `practices()`). Every count disclosure-controlled (`commissioning.population`): the
        one reader here whose answer may leave the identifiable zone. None: the run placed
        nobody on the triangle."""
        from houseofcare.commissioning.population import figures

        if not {"tier", "register"} <= self.tables or "patient" not in self.clinical:
            return None
        if not self.rows_in_run("tier", run_id):
            return None
        return figures(self.con, run_id, chosen, known)

    # --- issue 13: matching (selfcare/matching.py): where the person lives

    def home_lsoa(self, patient_id: str) -> str | None:
        """The LSOA the record gives for the person's home (None: none recorded): matching
        turns it into their local authority to find services near them."""
        if not self._has_clinical("patient"):
            return None
        rows = self._rows("SELECT max(lsoa_code) FROM patient WHERE patient_id = ?", [patient_id])
        return rows[0][0] if rows else None
