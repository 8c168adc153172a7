"""Deaths and encounters over the four-year history: GP, outpatient, A&E, admissions.

Emergency admissions and deaths are simulated window by window from `hazards`, using each
person's state at the window's start, so the oracle's rate is exactly the rate the events were
drawn from. Other encounter kinds are Poisson with person-level rates (see the docs for the
figures). Every event is truncated at death and at the as-of date.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from houseofcare.synth import hazards, tables
from houseofcare.synth.conditions import Diagnoses
from houseofcare.synth.events import poisson_events
from houseofcare.synth.people import People
from houseofcare.synth.practices import Practices, trust_id
from houseofcare.synth.timeline import DAYS_PER_YEAR, Timeline

SNOMED = "http://snomed.info/sct"
#: (class, type code, type display, priority) per encounter kind, as in docs/fhir-profile.md.
KINDS = {
    "gp": ("AMB", "11429006", "Consultation", "R"),
    "gp_phone": ("AMB", "185317003", "Telephone encounter", "R"),
    "outpatient": ("AMB", "281036007", "Follow-up consultation", "R"),
    "ae": ("EMER", "4525004", "Emergency department patient visit", "EM"),
    "emergency": ("IMP", "183452005", "Emergency hospital admission", "EM"),
    "elective": ("IMP", "8715000", "Hospital admission, elective", "EL"),
}
KIND_NAMES = list(KINDS)
#: Share of emergency admissions that start with an A&E attendance the same day.
ADMITTED_VIA_AE = 0.75
#: Scale of the practice consultation rate: about 5 consultations (GP and nurse) per person-year,
#: as in English general practice (Hobbs et al., Lancet 2016: 5.2 in 2013-14).
PRACTICE_CONSULTATION_SCALE = 2.2
#: Share of practice consultations held by telephone (NHS Digital, Appointments in General
#: Practice 2023: roughly a quarter to a third of appointments).
TELEPHONE_SHARE = 0.3
HOUR = 1 / 24


@dataclass
class Events:
    person: np.ndarray
    kind: np.ndarray  # index into KIND_NAMES
    start: np.ndarray  # fractional day
    end: np.ndarray  # fractional day (may exceed the as-of date: still in hospital)


def simulate_deaths_and_admissions(
    rng: np.random.Generator, people: People, dx: Diagnoses, timeline: Timeline
) -> tuple[np.ndarray, np.ndarray]:
    """Set ``people.death_day``; return emergency admissions ``(person, fractional day)``."""
    persons, days = [], []
    death = np.full(people.size, np.inf)
    for ws, we in timeline.windows:
        born = people.birth_day < we
        alive = born & (death > ws)
        state = np.maximum(ws, people.birth_day)
        episode = hazards.episode_multipliers(rng, people.size)
        rate = hazards.admission_rate(people, dx, state) * episode / DAYS_PER_YEAR
        mu = hazards.death_rate(people, dx, state) / DAYS_PER_YEAR
        t_death = state + rng.exponential(1.0, people.size) / mu
        dies = alive & (t_death < we)
        death = np.where(dies, t_death, death)
        stop = np.where(alive, np.minimum(we, death), state)
        p, d = poisson_events(rng, np.where(alive, rate, 0.0), state.astype(float), stop)
        persons.append(p)
        days.append(d)
    people.death_day = np.where(np.isfinite(death), np.floor(death), 10_000_000).astype(np.int64)
    return np.concatenate(persons), np.concatenate(days)


def _hours(rng: np.random.Generator, day: np.ndarray, first: float, last: float) -> np.ndarray:
    """Move event times to working hours ``first``–``last`` of their day."""
    return np.floor(day) + (first + rng.random(day.size) * (last - first)) * HOUR


def build_events(
    rng: np.random.Generator,
    people: People,
    dx: Diagnoses,
    timeline: Timeline,
    emergency: tuple[np.ndarray, np.ndarray],
) -> Events:
    start = np.maximum(timeline.start, people.birth_day).astype(float)
    stop = np.minimum(timeline.end, people.death_day + 1).astype(float)
    age = np.clip(people.age_at(timeline.end), 0, None)
    n_cond = dx.count(np.minimum(timeline.end, people.death_day))
    mult = people.frailty**0.5
    deprived = people.deprivation
    female = ~people.male
    gp_rate = (
        PRACTICE_CONSULTATION_SCALE
        * (1.6 + 0.9 * n_cond + 0.02 * np.clip(age - 40, 0, None) + 1.5 * (age < 5))
        * (1 + 0.25 * female * (age >= 16))
        * mult
    )
    op_rate = (0.25 + 0.35 * n_cond) * (1 + 0.01 * np.clip(age - 40, 0, None))
    ae_rate = 0.24 * np.exp(0.45 * deprived) * (1 + 0.8 * (age < 5) + 0.6 * (age >= 80)) * mult
    el_rate = 0.02 + 0.03 * np.minimum(n_cond, 3) + 0.0015 * np.clip(age - 40, 0, None)
    parts: list[Events] = []
    for kind, rate, first, last in (
        ("gp", gp_rate, 8.0, 18.0),
        ("outpatient", op_rate, 9.0, 17.0),
        ("ae", ae_rate, 0.0, 24.0),
        ("elective", el_rate, 7.0, 12.0),
    ):
        person, day = poisson_events(rng, rate / DAYS_PER_YEAR, start, stop)
        begin = _hours(rng, day, first, last)
        kind_index = np.full(person.size, KIND_NAMES.index(kind))
        if kind == "gp":
            phone = rng.random(person.size) < TELEPHONE_SHARE
            kind_index = np.where(phone, KIND_NAMES.index("gp_phone"), KIND_NAMES.index("gp"))
            end = begin + (10 + rng.random(person.size) * 10) / 1440
        elif kind == "outpatient":
            end = begin + 30 / 1440
        elif kind == "ae":
            end = begin + (1 + rng.random(person.size) * 5) * HOUR
        else:
            los = np.where(rng.random(person.size) < 0.6, 0.0, rng.lognormal(np.log(2), 0.6))
            end = begin + los + 6 * HOUR
        parts.append(Events(person, kind_index, begin, end))
    person, day = emergency
    e_age = (day - people.birth_day[person]) / DAYS_PER_YEAR
    median = np.exp(0.022 * np.clip(e_age - 20, 0, None))
    los = rng.lognormal(np.log(median), 1.0)
    death_time = people.death_day[person] + 1.0
    end = np.minimum(day + los, death_time)
    parts.append(Events(person, np.full(person.size, KIND_NAMES.index("emergency")), day, end))
    via_ae = rng.random(person.size) < ADMITTED_VIA_AE
    ae_start = day[via_ae] - (2 + rng.random(via_ae.sum()) * 4) * HOUR
    parts.append(
        Events(
            person[via_ae],
            np.full(via_ae.sum(), KIND_NAMES.index("ae")),
            np.maximum(ae_start, np.floor(day[via_ae])),
            day[via_ae],
        )
    )
    out = Events(
        person=np.concatenate([p.person for p in parts]),
        kind=np.concatenate([p.kind for p in parts]),
        start=np.concatenate([p.start for p in parts]),
        end=np.concatenate([p.end for p in parts]),
    )
    order = np.lexsort((out.start, out.person))
    return Events(out.person[order], out.kind[order], out.start[order], out.end[order])


def encounter_table(
    events: Events,
    patient_ids: pa.Array,
    people: People,
    practices: Practices,
    prefix: str,
    timeline: Timeline,
    last_updated: pa.Array,
) -> pa.Table:
    n = events.person.size
    names = KIND_NAMES
    classes = [KINDS[k][0] for k in names]
    codes = [KINDS[k][1] for k in names]
    displays = [KINDS[k][2] for k in names]
    priorities = [KINDS[k][3] for k in names]
    ongoing = events.end > timeline.end
    practice = people.practice[events.person]
    gp_like = np.isin(events.kind, [names.index("gp"), names.index("gp_phone")])
    provider = np.where(gp_like, practices.organization_id(practice), trust_id(practices, practice))
    return tables.finish(
        "encounter",
        {
            "encounter_id": tables.ids(prefix, np.arange(n)),
            "patient_id": tables.take(patient_ids, events.person),
            "status": tables.from_codes(["finished", "in-progress"], ongoing),
            "class_code": tables.from_codes(classes, events.kind),
            "type_system": tables.constant(SNOMED, n),
            "type_code": tables.from_codes(codes, events.kind),
            "type_display": tables.from_codes(displays, events.kind),
            "priority_code": tables.from_codes(priorities, events.kind),
            "period_start": tables.timestamps(events.start),
            "period_end": tables.timestamps(events.end, missing=ongoing),
            "service_provider_id": pa.array(provider),
            "last_updated": last_updated.take(pa.array(np.zeros(n, dtype=np.int64))),
        },
        n,
    )
