"""Generate one chunk of people and every table row that belongs to them.

A chunk is a fixed-size block of global person indices with its own random streams, seeded by
``(seed, chunk number, stream)``: the output depends only on the seed and the population size,
and each generator (people, conditions, encounters, …) has its own stream so a change in one
does not reshuffle the others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from houseofcare.synth import hazards, inputs, tables
from houseofcare.synth.conditions import Diagnoses, build_diagnoses
from houseofcare.synth.deficits import build_deficits
from houseofcare.synth.encounters import build_events, encounter_table
from houseofcare.synth.encounters import simulate_deaths_and_admissions as deaths_and_admissions
from houseofcare.synth.events import choose
from houseofcare.synth.medications import build_medications
from houseofcare.synth.names import draw_names
from houseofcare.synth.nhs_number import nhs_numbers
from houseofcare.synth.observations import build_measures, observation_tables
from houseofcare.synth.people import People, build_people
from houseofcare.synth.practices import Practices
from houseofcare.synth.procedures import build_procedures
from houseofcare.synth.tables import MICROS_PER_DAY
from houseofcare.synth.timeline import NEVER, Timeline, day_number, years_after

CHUNK_SIZE = 100_000
SNOMED = "http://snomed.info/sct"
#: FHIR condition-clinical codes, indexed by the status numbers below.
CLINICAL_STATUS = ["active", "resolved", "inactive"]
ACTIVE, RESOLVED, INACTIVE = 0, 1, 2
STREAMS = {"people": 1, "conditions": 2, "hospital": 3, "encounters": 4, "observations": 5,
           "medications": 6, "procedures": 7, "codes": 8, "deficits": 9, "names": 10}  # fmt: skip


@dataclass
class ChunkOutput:
    tables: dict[str, pa.Table]  # analytic tables plus "bp_panel" and "oracle"


def generate_chunk(
    *,
    chunk: int,
    first: int,
    size: int,
    seed: int,
    practices: Practices,
    timeline: Timeline,
    oracle_dates: list[dt.date],
) -> ChunkOutput:
    def rng(stream: str) -> np.random.Generator:
        return np.random.default_rng([seed, chunk, STREAMS[stream]])

    index = np.arange(first, first + size, dtype=np.int64)
    people = build_people(rng("people"), index, practices, timeline)
    dx = build_diagnoses(rng("conditions"), people, timeline)
    emergency = deaths_and_admissions(rng("hospital"), people, dx, timeline)
    patient_ids = tables.ids(f"s{seed}-p", index)
    stamp = pa.array([timeline.end * MICROS_PER_DAY], type=pa.timestamp("us"))
    prefix = f"s{seed}-c{chunk}-"
    events = build_events(rng("encounters"), people, dx, timeline, emergency)
    measures, n_bp = build_measures(rng("observations"), people, dx, practices, timeline)
    observation, bp_panel = observation_tables(measures, n_bp, patient_ids, prefix + "o", stamp)
    out = {
        "patient": patient_table(rng("names"), people, patient_ids, practices, seed, stamp),
        "condition": condition_table(
            rng("codes"), rng("deficits"), people, dx, timeline, patient_ids, prefix, stamp
        ),
        "observation": observation,
        "encounter": encounter_table(
            events, patient_ids, people, practices, prefix + "e", timeline, stamp
        ),
        "medication": build_medications(
            rng("medications"), people, dx, timeline, patient_ids, prefix + "m", stamp
        ),
        "procedure": build_procedures(
            rng("procedures"), people, dx, timeline, patient_ids, prefix + "x", stamp
        ),
        "bp_panel": bp_panel,
        "oracle": oracle_table(people, dx, patient_ids, oracle_dates),
    }
    return ChunkOutput(out)


def patient_table(
    rng: np.random.Generator,
    people: People,
    patient_ids: pa.Array,
    practices: Practices,
    seed: int,
    stamp: pa.Array,
) -> pa.Table:
    """One row per person. Names have their own random stream, so adding them changed no other
    column of an existing seed's output."""
    n = people.size
    lsoa = inputs.lsoas()
    birth_year = people.birth_day.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
    names = draw_names(
        rng,
        ethnic=people.ethnic,
        male=people.male,
        birth_year=birth_year + 1970,
        ethnic_codes=tuple(inputs.ethnicity().codes),
    )
    return tables.finish(
        "patient",
        {
            "patient_id": patient_ids,
            "nhs_number": pa.array(nhs_numbers(people.index, seed), type=pa.string()),
            "given_name": tables.from_codes(names.given_names, names.given),
            "family_name": tables.from_codes(names.family_names, names.family),
            "gender": tables.from_codes(["female", "male"], people.male),
            "birth_date": tables.dates(people.birth_day),
            "death_date": tables.dates(people.death_day),
            "ethnic_category": tables.from_codes(inputs.ethnicity().codes, people.ethnic),
            "lsoa_code": pa.array(lsoa.codes[people.lsoa]),
            "practice_id": pa.array(practices.organization_id(people.practice)),
            "last_updated": stamp.take(pa.array(np.zeros(n, dtype=np.int64))),
        },
        n,
    )


def condition_table(
    rng: np.random.Generator,
    deficit_rng: np.random.Generator,
    people: People,
    dx: Diagnoses,
    timeline: Timeline,
    patient_ids: pa.Array,
    prefix: str,
    stamp: pa.Array,
) -> pa.Table:
    """Diagnoses, resolved codes, re-diagnoses and frailty deficits recorded up to the as-of
    date or death."""
    choices = inputs.condition_codes()
    resolved_codes = {r["condition"]: r for r in inputs.table("resolved_codes.csv")}
    codes: list[str] = []
    displays: list[str] = []
    seen: dict[str, int] = {}

    def code_index(code: str, display: str) -> int:
        if code not in seen:
            seen[code] = len(codes)
            codes.append(code)
            displays.append(display)
        return seen[code]

    limit = np.minimum(timeline.end, people.death_day)
    person, onset, abated, kind, status = [], [], [], [], []

    def add(p: np.ndarray, day: np.ndarray, end: np.ndarray, k: np.ndarray, st: np.ndarray):
        person.append(p)
        onset.append(day)
        abated.append(end)
        kind.append(k)
        status.append(st)

    def pick_codes(key: str, p: np.ndarray) -> np.ndarray:
        out = np.zeros(p.size, dtype=np.int64)
        variant = dx.variant.get(key)
        for (cond, var, sex), choice in choices.items():
            if cond != key:
                continue
            rows = (people.male[p] == (sex == "male")) & (
                variant[p] == var if variant is not None else np.full(p.size, var == "")
            )
            if rows.any():
                lookup = np.array(
                    [code_index(c, d) for c, d in zip(choice.codes, choice.displays, strict=True)]
                )
                out[rows] = lookup[choose(rng, choice.probabilities, int(rows.sum()))]
        return out

    never = np.full(people.size, NEVER)
    for spec in inputs.conditions():
        key = spec.key
        first = dx.onset[key]
        p = np.flatnonzero(first <= limit)
        episode = dx.episode.get(key, never)[p]
        relapsed = episode <= limit[p]
        resolved_day = dx.resolved.get(key, never)[p]
        was_resolved = resolved_day <= limit[p]
        # The first diagnosis; when a later episode is recorded, the first becomes inactive.
        first_status = np.where(relapsed, INACTIVE, np.where(was_resolved, RESOLVED, ACTIVE))
        first_end = np.where(was_resolved & ~relapsed, resolved_day, NEVER)
        add(p, first[p], first_end, pick_codes(key, p), first_status)
        q = p[relapsed]
        ended = was_resolved[relapsed]
        add(
            q,
            episode[relapsed],
            np.where(ended, resolved_day[relapsed], NEVER),
            pick_codes(key, q),
            np.where(ended, RESOLVED, ACTIVE),
        )
        if key in dx.resolved:
            spec_res = resolved_codes[key]
            q = p[was_resolved]
            rc = code_index(spec_res["code"], spec_res["display"])
            add(
                q,
                resolved_day[was_resolved],
                np.full(q.size, NEVER),
                np.full(q.size, rc),
                np.full(q.size, RESOLVED),
            )
            again = dx.rediagnosed[key]
            r = np.flatnonzero(again <= limit)
            add(r, again[r], np.full(r.size, NEVER), pick_codes(key, r), np.full(r.size, ACTIVE))
    deficits = build_deficits(deficit_rng, people, dx, limit)
    lookup = np.array(
        [code_index(c, d) for c, d in zip(deficits.codes, deficits.displays, strict=True)]
    )
    add(
        deficits.person,
        deficits.day,
        np.full(deficits.person.size, NEVER),
        lookup[deficits.kind],
        np.full(deficits.person.size, ACTIVE),
    )
    p = np.concatenate(person)
    d = np.concatenate(onset)
    a = np.concatenate(abated)
    k = np.concatenate(kind)
    s = np.concatenate(status)
    order = np.lexsort((d, p))
    p, d, a, k, s = p[order], d[order], a[order], k[order], s[order]
    n = p.size
    return tables.finish(
        "condition",
        {
            "condition_id": tables.ids(prefix + "d", np.arange(n)),
            "patient_id": tables.take(patient_ids, p),
            "code_system": tables.constant(SNOMED, n),
            "code": tables.from_codes(codes, k),
            "display": tables.from_codes(displays, k),
            "clinical_status": tables.from_codes(CLINICAL_STATUS, s),
            "verification_status": tables.constant("confirmed", n),
            "onset_date": tables.dates(d),
            "abatement_date": tables.dates(a),
            "recorded_date": tables.dates(d),
            "last_updated": stamp.take(pa.array(np.zeros(n, dtype=np.int64))),
        },
        n,
    )


ORACLE_SCHEMA = pa.schema(
    [("patient_id", pa.string()), ("index_date", pa.date32()), ("probability", pa.float64())]
)


def oracle_table(
    people: People, dx: Diagnoses, patient_ids: pa.Array, oracle_dates: list[dt.date]
) -> pa.Table:
    """True P(≥1 emergency admission in the 12 months after each index date), alive at it."""
    parts = []
    for date in oracle_dates:
        day = day_number(date)
        years = (day_number(years_after(date, 1)) - day) / 365.25
        alive = np.flatnonzero((people.birth_day <= day) & (people.death_day > day))
        rate = hazards.admission_rate(people, dx, np.full(people.size, day))[alive]
        death = hazards.death_rate(people, dx, np.full(people.size, day))[alive]
        prob = hazards.expected_probability_of_admission(rate, death, years)
        parts.append(
            pa.table(
                {
                    "patient_id": tables.take(patient_ids, alive),
                    "index_date": tables.dates(np.full(alive.size, day)),
                    "probability": pa.array(prob),
                },
                schema=ORACLE_SCHEMA,
            )
        )
    return pa.concat_tables(parts) if parts else ORACLE_SCHEMA.empty_table()
