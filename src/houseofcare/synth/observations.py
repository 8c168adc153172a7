"""Observations a GP record holds: BP, HbA1c, eGFR, ACR, cholesterol, BMI, smoking, MRC, PHQ-9.

People on a register are measured on a recall cycle (6-monthly, annual, or overdue at two
years); others are measured now and then (Poisson). Values depend on a latent per-person
control factor plus a practice effect plus a deprivation effect, so control varies by person,
practice and area as it does in real QOF data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from houseofcare.synth import inputs, tables
from houseofcare.synth.conditions import Diagnoses
from houseofcare.synth.events import choose, periodic_events, poisson_events
from houseofcare.synth.people import People
from houseofcare.synth.practices import Practices
from houseofcare.synth.timeline import DAYS_PER_YEAR, NEVER, Timeline

SNOMED = "http://snomed.info/sct"
KINDS = ["systolic", "diastolic", "hba1c", "egfr", "acr", "cholesterol", "bmi", "smoking",
         "mrc_dyspnoea", "phq9"]  # fmt: skip
CARDIOMETABOLIC = ["hypertension", "diabetes", "chd", "stroke_tia", "ckd", "heart_failure",
                   "atrial_fibrillation", "pad"]  # fmt: skip
#: Recall intervals (days) and how many people follow each: 6-monthly, annual, overdue.
RECALL_DAYS = np.array([182.0, 365.0, 730.0])
RECALL_SHARE = np.array([0.30, 0.55, 0.15])
DEPRIVATION_CONTROL = 0.5


@dataclass
class Measures:
    person: list[np.ndarray]
    day: list[np.ndarray]
    kind: list[np.ndarray]
    value: list[np.ndarray]
    smoking: list[np.ndarray]  # index into smoking codes, -1 for numeric values

    def add(self, kind: str, person: np.ndarray, day: np.ndarray, value: np.ndarray) -> None:
        self.person.append(person)
        self.day.append(np.floor(day).astype(np.int64))
        self.kind.append(np.full(person.size, KINDS.index(kind)))
        self.value.append(np.asarray(value, dtype=np.float64))
        self.smoking.append(np.full(person.size, -1))


def first_onset(dx: Diagnoses, keys: list[str]) -> np.ndarray:
    return np.minimum.reduce([dx.onset[k] for k in keys])


def smoking_status(rng: np.random.Generator, people: People, dx: Diagnoses, day: int) -> np.ndarray:
    """0 never, 1 current, 2 ex-smoker: about 13% current smokers among adults (ONS APS 2022)."""
    age = people.age_at(day)
    dep = 0.55 + 1.15 * people.deprivation
    by_age = np.where(age < 25, 0.85, np.where(age < 65, 1.15, 0.6))
    current = 0.125 * dep * by_age
    ex = np.clip(0.12 + 0.005 * np.clip(age - 25, 0, None), 0, 0.45)
    copd = dx.onset["copd"] <= day
    current = np.where(copd, 0.40, current)
    ex = np.where(copd, 0.50, ex)
    u = rng.random(people.size)
    return np.where(u < current, 1, np.where(u < current + ex, 2, 0))


def build_measures(
    rng: np.random.Generator,
    people: People,
    dx: Diagnoses,
    practices: Practices,
    timeline: Timeline,
) -> tuple[Measures, np.ndarray]:
    """All measurements, plus the number of BP readings (the first rows of kind systolic)."""
    m = Measures([], [], [], [], [])
    end = timeline.end
    stop = np.minimum(end, people.death_day + 1).astype(float)
    adult_from = people.birth_day + 18 * DAYS_PER_YEAR
    base = np.maximum(timeline.start, adult_from).astype(float)
    age = np.clip(people.age_at(end), 0, None)
    control = (
        people.latent_control
        + practices.control_effect[people.practice]
        + DEPRIVATION_CONTROL * people.deprivation
    )
    recall = RECALL_DAYS[choose(rng, RECALL_SHARE, people.size)]
    cardio_onset = first_onset(dx, CARDIOMETABOLIC)
    on_cardio = cardio_onset < stop
    older = age >= 40
    never = np.full(people.size, float(NEVER))

    def scheduled(onset: np.ndarray, interval: np.ndarray, general_rate: np.ndarray):
        on = onset < stop
        start = np.maximum(base, onset.astype(float))
        p1, d1 = periodic_events(rng, interval, np.where(on, start, never), stop)
        p2, d2 = poisson_events(rng, np.where(on, 0.0, general_rate) / DAYS_PER_YEAR, base, stop)
        return np.r_[p1, p2], np.r_[d1, d2]

    # Blood pressure (systolic and diastolic together).
    p, d = scheduled(cardio_onset, recall, np.where(older, 0.4, 0.2))
    htn = dx.onset["hypertension"][p] <= d
    person_bp = rng.standard_normal(people.size)
    sbp = (
        112
        + 0.45 * np.clip(age[p] - 20, 0, None)
        + 4 * people.male[p]
        + 6 * person_bp[p]
        + htn * (10 + 7 * control[p])
        + rng.normal(0, 9, p.size)
    )
    sbp = np.clip(np.round(sbp), 80, 230)
    dbp = 0.45 * sbp + 22 - 0.12 * np.clip(age[p] - 50, 0, None) + rng.normal(0, 5, p.size)
    dbp = np.clip(np.round(dbp), 40, 130)
    m.add("systolic", p, d, sbp)
    m.add("diastolic", p, d, dbp)
    n_bp = p.size

    # HbA1c: every recall for diabetes; now and then for people over 40.
    dm = dx.onset["diabetes"]
    p, d = scheduled(dm, recall, np.where(older, 0.12, 0.0))
    on = dm[p] <= d
    type1 = dx.variant["diabetes"][p] == "type1"
    value = np.where(
        on,
        53 + 9 * control[p] + 8 * type1 + rng.normal(0, 5, p.size),
        36 + 0.06 * np.clip(age[p] - 40, 0, None) + rng.normal(0, 2.5, p.size),
    )
    m.add("hba1c", p, d, np.clip(np.round(value), 28, 150))

    # eGFR consistent with CKD stage.
    renal = np.minimum(cardio_onset, dx.onset["ckd"])
    p, d = scheduled(renal, recall, np.where(older, 0.15, 0.0))
    ckd = dx.onset["ckd"][p] <= d
    stage = np.searchsorted(["3a", "3b", "4", "5"], dx.variant["ckd"][p])
    low = np.array([45.0, 30.0, 15.0, 6.0])[stage]
    high = np.array([59.0, 44.0, 29.0, 14.0])[stage]
    person_renal = rng.standard_normal(people.size)
    normal = 112 - 0.85 * np.clip(age[p] - 25, 0, None) + 10 * person_renal[p]
    value = np.where(
        ckd,
        low + rng.random(p.size) * (high - low),
        np.maximum(60, normal + rng.normal(0, 4, p.size)),
    )
    m.add("egfr", p, d, np.clip(np.round(value), 5, 140))

    # Urine ACR for diabetes and CKD.
    acr_onset = np.minimum(dm, dx.onset["ckd"])
    p, d = scheduled(acr_onset, np.maximum(recall, 365), np.zeros(people.size))
    ckd = dx.onset["ckd"][p] <= d
    median = 1.0 + 3.0 * ckd + 1.0 * (dm[p] <= d)
    value = rng.lognormal(np.log(median) + 0.35 * control[p], 0.6)
    m.add("acr", p, d, np.round(value, 1))

    # Total cholesterol.
    p, d = scheduled(cardio_onset, np.maximum(recall, 365), np.where(older, 0.12, 0.0))
    treated = on_cardio[p] & (cardio_onset[p] <= d)
    value = 5.3 - 1.2 * treated + 0.3 * control[p] + rng.normal(0, 0.6, p.size)
    m.add("cholesterol", p, d, np.round(np.clip(value, 2.0, 10.0), 1))

    # BMI.
    person_bmi = 27 + 1.0 * people.deprivation + 4.5 * rng.standard_normal(people.size)
    p, d = scheduled(cardio_onset, np.maximum(recall, 365), np.full(people.size, 0.15))
    value = person_bmi[p] + 2.5 * (dm[p] <= d) + rng.normal(0, 0.5, p.size)
    m.add("bmi", p, d, np.round(np.clip(value, 15, 60), 1))

    # Smoking status (coded value), every other year on a register, occasionally otherwise.
    status = smoking_status(rng, people, dx, end)
    any_ltc = first_onset(dx, [s.key for s in inputs.conditions()])
    p, d = scheduled(any_ltc, np.full(people.size, 730.0), np.full(people.size, 0.2))
    m.add("smoking", p, d, np.full(p.size, np.nan))
    m.smoking[-1] = status[p]

    # MRC dyspnoea grade for COPD; PHQ-9 for depression.
    p, d = scheduled(dx.onset["copd"], np.full(people.size, 365.0), np.zeros(people.size))
    grade = np.clip(np.round(2.3 + 0.8 * control[p] + rng.normal(0, 0.6, p.size)), 1, 5)
    m.add("mrc_dyspnoea", p, d, grade)
    depr = np.where(dx.active("depression", end), dx.onset["depression"], NEVER)
    p, d = scheduled(depr, np.full(people.size, 365.0), np.zeros(people.size))
    score = np.clip(np.round(11 + 4 * control[p] + rng.normal(0, 4, p.size)), 0, 27)
    m.add("phq9", p, d, score)
    return m, n_bp


def observation_tables(
    m: Measures,
    n_bp: int,
    patient_ids: pa.Array,
    prefix: str,
    last_updated: pa.Array,
) -> tuple[pa.Table, pa.Table]:
    """The flat observation table (one row per value) and the BP panels for the FHIR export."""
    codes = inputs.observation_codes()
    smoking = inputs.table("smoking_status.csv")
    person = np.concatenate(m.person)
    day = np.concatenate(m.day)
    kind = np.concatenate(m.kind)
    value = np.concatenate(m.value)
    smoke = np.concatenate(m.smoking)
    n = person.size
    # A BP's systolic and diastolic rows share the panel's id (as ingest flattens components).
    resource = np.arange(n)
    resource[n_bp : 2 * n_bp] = resource[:n_bp]
    obs_id = tables.ids(prefix, resource)
    coded = smoke >= 0
    stamp = last_updated.take(pa.array(np.zeros(n, dtype=np.int64)))
    flat = tables.finish(
        "observation",
        {
            "observation_id": obs_id,
            "patient_id": tables.take(patient_ids, person),
            "status": tables.constant("final", n),
            "code_system": tables.constant(SNOMED, n),
            "code": tables.from_codes([codes[k][0] for k in KINDS], kind),
            "display": tables.from_codes([codes[k][1] for k in KINDS], kind),
            "effective_date": tables.dates(day),
            "value_number": pa.array(value, mask=coded),
            "value_unit": tables.from_codes(
                [codes[k][2] for k in KINDS], kind, np.array([not codes[k][2] for k in KINDS])[kind]
            ),
            "value_ucum": tables.from_codes(
                [codes[k][3] for k in KINDS], kind, np.array([not codes[k][3] for k in KINDS])[kind]
            ),
            "value_code_system": tables.from_codes([SNOMED], np.zeros(n), ~coded),
            "value_code": tables.from_codes([r["code"] for r in smoking], smoke.clip(0), ~coded),
            "value_display": tables.from_codes(
                [r["display"] for r in smoking], smoke.clip(0), ~coded
            ),
            "last_updated": stamp,
        },
        n,
    )
    bp = pa.table(
        {
            "observation_id": obs_id.slice(0, n_bp),
            "patient_id": flat.column("patient_id").slice(0, n_bp),
            "effective_date": flat.column("effective_date").slice(0, n_bp),
            "systolic": pa.array(value[:n_bp]),
            "diastolic": pa.array(value[n_bp : 2 * n_bp]),
            "last_updated": stamp.slice(0, n_bp),
        }
    )
    return flat, bp
