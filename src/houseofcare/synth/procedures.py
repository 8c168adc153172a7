"""Procedures that care-gap indicators look for: reviews, care plans, foot checks, flu jabs, and
the personalised care adjustments (declined, unsuitable) that exclude people from indicators.

Each review is done in a given year with the probability in ``data/procedures.csv`` (so some
people are overdue); flu vaccination goes to people aged 65+ or on an at-risk register, in the
September–December campaign of each year. Personalised care adjustment codes go to people on
any register, more often to those who engage less with recall (so exclusions fall mostly on
people who would otherwise have an open gap, as in practice).

Issue 13: diabetes structured education (referred in the year after diagnosis, attended in the
first two years), MRC breathlessness grades and pulmonary rehabilitation in COPD, so the
structured education and rehabilitation indicators have data. Their rows come after the others
in procedures.csv, so the earlier procedures of a seed are drawn as before.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from houseofcare.synth import inputs, tables
from houseofcare.synth.conditions import Diagnoses
from houseofcare.synth.people import People
from houseofcare.synth.timeline import EPOCH, Timeline

SNOMED = "http://snomed.info/sct"
#: ``condition`` value in procedures.csv for codes recorded for people on any register.
ANY_REGISTER = "any_register"
FLU_AT_RISK = ["diabetes", "copd", "asthma", "chd", "heart_failure", "stroke_tia", "ckd",
               "learning_disability", "dementia", "smi"]  # fmt: skip


def build_procedures(
    rng: np.random.Generator,
    people: People,
    dx: Diagnoses,
    timeline: Timeline,
    patient_ids: pa.Array,
    prefix: str,
    last_updated: pa.Array,
) -> pa.Table:
    rows = inputs.table("procedures.csv")
    person, day, kind = [], [], []
    engaged = rng.random(people.size) * 0.4 + 0.8  # per-person adherence to recall
    for k, row in enumerate(rows):
        for ws, we in timeline.windows:
            when = ws + rng.random(people.size) * (we - ws)
            if row["condition"] == "flu_eligible":
                # The campaign runs September to December: place the jab in that part of the year.
                first = _campaign_start(ws, we)
                when = first + rng.random(people.size) * max(min(122, we - first), 1)
                age = people.age_at(when)
                eligible = age >= 65
                for key in FLU_AT_RISK:
                    eligible |= dx.active(key, when)
                chance = np.where(age >= 65, 0.78, 0.5) * engaged
            elif row["condition"] == ANY_REGISTER:
                eligible = dx.count(when) > 0
                chance = float(row["annual_probability"]) * (2.0 - engaged)
            elif "<" in row["condition"]:
                # issue 13: newly diagnosed only ("diabetes<365": in the year after diagnosis),
                # as structured education is offered at diagnosis
                key, days = row["condition"].split("<")
                eligible = dx.active(key, when) & (when - dx.onset[key] <= int(days))
                chance = float(row["annual_probability"]) * engaged
            else:
                eligible = dx.active(row["condition"], when)
                chance = float(row["annual_probability"]) * engaged
            done = eligible & (rng.random(people.size) < chance)
            done &= (when < people.death_day) & (when >= people.birth_day)
            idx = np.flatnonzero(done)
            person.append(idx)
            day.append(np.floor(when[idx]).astype(np.int64))
            kind.append(np.full(idx.size, k))
    p, d, k = np.concatenate(person), np.concatenate(day), np.concatenate(kind)
    order = np.lexsort((d, p))
    p, d, k = p[order], d[order], k[order]
    n = p.size
    return tables.finish(
        "procedure",
        {
            "procedure_id": tables.ids(prefix, np.arange(n)),
            "patient_id": tables.take(patient_ids, p),
            "status": tables.constant("completed", n),
            "code_system": tables.constant(SNOMED, n),
            "code": tables.from_codes([r["code"] for r in rows], k),
            "display": tables.from_codes([r["display"] for r in rows], k),
            "performed_date": tables.dates(d),
            "last_updated": last_updated.take(pa.array(np.zeros(n, dtype=np.int64))),
        },
        n,
    )


def _campaign_start(ws: int, we: int) -> int:
    """The first day of the September flu campaign inside the window ``[ws, we)``."""
    first = EPOCH + dt.timedelta(days=ws)
    year = first.year if first.month < 9 else first.year + 1
    campaign = (dt.date(year, 9, 1) - EPOCH).days
    if campaign >= we:
        campaign = (dt.date(year - 1, 9, 1) - EPOCH).days
    return max(campaign, ws)
