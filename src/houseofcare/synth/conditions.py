"""Long-term conditions: who has which, since when, and which were later resolved.

Model (documented in docs/synthetic-population.md): each condition has a cumulative onset curve
``F(a) = pmax · RR_sex / (1 + exp(-(a - mid) / scale))``; a person has had the condition by age
``a`` when their own threshold ``U / r`` falls below ``F(a + shift)``, where ``U`` is uniform,
``r`` is a multiplier from a shared latent propensity (so conditions cluster) times explicit
relative risks from parent conditions (``data/condition_links.csv``), and ``shift`` moves the
age axis by deprivation: +6 years in IMD decile 1 and −6 in decile 10, so onset comes about 12
years earlier in the most deprived areas (Barnett et al., Lancet 2012). ``pmax`` is calibrated
against the age–sex pyramid so that prevalence matches QOF 2022-23 over QOF's denominator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from houseofcare.synth import inputs
from houseofcare.synth.people import People
from houseofcare.synth.timeline import DAYS_PER_YEAR, NEVER, Timeline

#: Years added to the age axis in IMD decile 1 (and taken away in decile 10).
DEPRIVATION_SHIFT_YEARS = 6.0
#: Standard deviation of the log propensity shared by all conditions.
SHARED_PROPENSITY_SD = 0.6
#: Share of resolved diagnoses that are re-diagnosed later.
REDIAGNOSIS_FRACTION = 0.1


def deprivation_shift(decile: np.ndarray) -> np.ndarray:
    return DEPRIVATION_SHIFT_YEARS * (5.5 - decile) / 4.5


@dataclass
class Diagnoses:
    """Per-condition onset, variant and resolution days for one chunk of people."""

    onset: dict[str, np.ndarray] = field(default_factory=dict)
    variant: dict[str, np.ndarray] = field(default_factory=dict)
    resolved: dict[str, np.ndarray] = field(default_factory=dict)
    rediagnosed: dict[str, np.ndarray] = field(default_factory=dict)

    def active(self, key: str, day: np.ndarray | int) -> np.ndarray:
        """On the register at ``day``: diagnosed, and not resolved or re-diagnosed since."""
        onset = self.onset[key] <= day
        if key not in self.resolved:
            return onset
        return onset & ((self.resolved[key] > day) | (self.rediagnosed[key] <= day))

    def count(self, day: np.ndarray | int) -> np.ndarray:
        return sum(self.active(k, day).astype(np.int64) for k in self.onset)


@cache
def calibrated_pmax() -> dict[str, float]:
    """``pmax`` per condition so pyramid-weighted prevalence over QOF's denominator is on target."""
    pyr = inputs.pyramid()
    age = pyr.ages + 0.5
    out = {}
    for spec in inputs.conditions():
        num = den = 0.0
        for decile in range(1, 11):
            shifted = age + deprivation_shift(np.array(decile))
            g = 1 / (1 + np.exp(-(shifted - spec.onset_mid_age) / spec.onset_scale))
            keep = age >= spec.min_age
            num += (pyr.male * g * spec.male_rr + pyr.female * g)[keep].sum()
            den += (pyr.male + pyr.female)[keep].sum()
        target = spec.qof_prevalence * spec.calibration / (1 - 0.9 * spec.resolve_fraction)
        out[spec.key] = target / (num / den)
    return out


def _links() -> dict[str, list[tuple[str, float]]]:
    links: dict[str, list[tuple[str, float]]] = {}
    for row in inputs.table("condition_links.csv"):
        links.setdefault(row["child"], []).append((row["parent"], float(row["relative_risk"])))
    return links


def build_diagnoses(rng: np.random.Generator, people: People, timeline: Timeline) -> Diagnoses:
    pmax = calibrated_pmax()
    links = _links()
    shift = deprivation_shift(people.decile)
    sd = SHARED_PROPENSITY_SD
    shared = np.exp(sd * people.latent_health - sd * sd / 2)
    out = Diagnoses()
    for spec in inputs.conditions():
        r = shared.copy()
        if spec.key == "learning_disability":
            r = np.ones(people.size)  # present from birth; not part of the acquired cluster
        for parent, rr in links.get(spec.key, []):
            if parent not in out.onset:
                raise ValueError(f"condition_links.csv: {parent} must come before {spec.key}")
            r = np.where(out.onset[parent] <= timeline.end, r * rr, r)
        top = pmax[spec.key] * np.where(people.male, spec.male_rr, 1.0)
        u = rng.random(people.size) / r
        ever = u < top
        ratio = np.where(ever, u / np.where(ever, top - u, 1.0), 1.0)
        onset_age = spec.onset_mid_age + spec.onset_scale * np.log(ratio) - shift
        early = onset_age < spec.min_onset_age
        onset_age = np.where(early, spec.min_onset_age + rng.random(people.size) * 3, onset_age)
        onset_day = people.birth_day + np.floor(onset_age * DAYS_PER_YEAR).astype(np.int64)
        onset = np.where(ever, onset_day, NEVER)
        out.onset[spec.key] = onset
        if spec.resolve_fraction > 0:
            _resolve(rng, out, spec.key, spec.resolve_fraction, timeline)
    _variants(rng, people, out)
    return out


def _resolve(
    rng: np.random.Generator, out: Diagnoses, key: str, fraction: float, timeline: Timeline
) -> None:
    onset = out.onset[key]
    room = timeline.end - onset - 365
    resolved = (room > 0) & (rng.random(onset.size) < fraction)
    day = onset + 365 + np.floor(rng.random(onset.size) * np.maximum(room, 0)).astype(np.int64)
    out.resolved[key] = np.where(resolved, day, NEVER)
    room2 = timeline.end - day - 180
    again = resolved & (room2 > 0) & (rng.random(onset.size) < REDIAGNOSIS_FRACTION)
    day2 = day + 180 + np.floor(rng.random(onset.size) * np.maximum(room2, 0)).astype(np.int64)
    out.rediagnosed[key] = np.where(again, day2, NEVER)


def _variants(rng: np.random.Generator, people: People, out: Diagnoses) -> None:
    """Diabetes type (type 1 mostly with onset before 30) and CKD stage (worse with age)."""
    onset_age = people.age_at(out.onset["diabetes"])
    type1 = np.where(onset_age < 30, rng.random(people.size) < 0.75, rng.random(people.size) < 0.02)
    out.variant["diabetes"] = np.where(type1, "type1", "type2")
    age = people.age_at(out.onset["ckd"])
    u = rng.random(people.size)
    old = age >= 80
    cut = np.where(old[:, None], [0.50, 0.82, 0.95], [0.65, 0.90, 0.97])
    stage = (u[:, None] >= cut).sum(axis=1)
    out.variant["ckd"] = np.array(["3a", "3b", "4", "5"])[stage]


def cha2ds2_vasc(people: People, dx: Diagnoses, day: int) -> np.ndarray:
    """CHA2DS2-VASc at ``day`` (Lip et al., Chest 2010), for the AF anticoagulation rule."""
    age = people.age_at(day)
    score = (
        dx.active("heart_failure", day).astype(int)
        + dx.active("hypertension", day)
        + np.where(age >= 75, 2, np.where(age >= 65, 1, 0))
        + dx.active("diabetes", day)
        + 2 * dx.active("stroke_tia", day)
        + (dx.active("chd", day) | dx.active("pad", day))
        + (~people.male)
    )
    return score
