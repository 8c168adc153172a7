"""Frailty deficits recorded in older people's records (the eFI's coded deficits).

A GP record of an older person holds findings such as falls, dizziness, hearing loss or "lives
alone"; the electronic frailty index counts them. Each deficit in ``data/frailty_deficits.csv``
is recorded with a probability that rises with age and with the person's latent frailty, number
of conditions and deprivation, so the eFI computed from the record carries real signal about
the hospital use the hazard model generates — as it does in practice — without entering the
hazard model itself (the oracle is unchanged)::

    rate = scale · −ln(1 − prevalence at 75) · e^{0.045 (age − 75)} · frailty^1.0
           · e^{0.08 (conditions − 1.5)} · e^{0.3 · deprivation}

Each deficit is recorded once, on a day drawn evenly from the ten years before the as-of date
(or death), never before the person's 40th birthday.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from houseofcare.synth import inputs
from houseofcare.synth.conditions import Diagnoses
from houseofcare.synth.people import People
from houseofcare.synth.timeline import DAYS_PER_YEAR

AGE_SLOPE = 0.045
FRAILTY_POWER = 1.0
PER_CONDITION = 0.08
MEAN_CONDITIONS = 1.5
DEPRIVATION = 0.3
MIN_AGE = 40
#: Calibration: brings the eFI categories of people aged 65+ near Clegg et al. 2016.
SCALE = 1.15
LOOKBACK_YEARS = 10


@dataclass(frozen=True)
class RecordedDeficits:
    person: np.ndarray  # index into the chunk's people
    day: np.ndarray  # day number the deficit was recorded
    kind: np.ndarray  # index into codes/displays
    codes: list[str]  # one per deficit in the data file
    displays: list[str]


def build_deficits(
    rng: np.random.Generator, people: People, dx: Diagnoses, limit: np.ndarray
) -> RecordedDeficits:
    """The deficit codes recorded for each person up to ``limit`` (as-of date or death)."""
    age = people.age_at(limit)
    conditions = dx.count(limit)
    shared = (
        np.exp(AGE_SLOPE * (age - 75))
        * people.frailty**FRAILTY_POWER
        * np.exp(PER_CONDITION * (conditions - MEAN_CONDITIONS))
        * np.exp(DEPRIVATION * people.deprivation)
    )
    first_day = np.maximum(
        limit - LOOKBACK_YEARS * DAYS_PER_YEAR,
        people.birth_day + MIN_AGE * DAYS_PER_YEAR,
    )
    eligible = (age >= MIN_AGE) & (first_day < limit)
    rows = inputs.table("frailty_deficits.csv")
    persons, days, kinds = [], [], []
    for number, row in enumerate(rows):
        base = -math.log(1 - float(row["prevalence_at_75"])) * SCALE
        chance = 1 - np.exp(-base * shared)
        hit = np.flatnonzero(eligible & (rng.random(people.size) < chance))
        span = limit[hit] - first_day[hit]
        persons.append(hit)
        days.append((first_day[hit] + rng.random(hit.size) * span).astype(np.int64))
        kinds.append(np.full(hit.size, number, dtype=np.int64))
    return RecordedDeficits(
        person=np.concatenate(persons),
        day=np.concatenate(days),
        kind=np.concatenate(kinds),
        codes=[row["code"] for row in rows],
        displays=[row["display"] for row in rows],
    )
