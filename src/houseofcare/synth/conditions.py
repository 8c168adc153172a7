"""Long-term conditions: who has which, since when, and which were later resolved.

Model (documented in docs/synthetic-population.md): each condition has a cumulative onset curve
``F(a) = pmax · RR_sex / (1 + exp(-(a - mid) / scale))``; a person has had the condition by age
``a`` when their own threshold ``U / r`` falls below ``F(a + shift)``, where ``U`` is uniform,
``r`` is a multiplier from a shared latent propensity (so conditions cluster) times explicit
relative risks from parent conditions (``data/condition_links.csv``), and ``shift`` moves the
age axis by deprivation: +6 years in IMD decile 1 and −6 in decile 10, so onset comes about 12
years earlier in the most deprived areas (Barnett et al., Lancet 2012). ``pmax`` is calibrated
per IMD decile, against that decile's age–sex pyramid, so that each decile's *register*
prevalence matches QOF 2022-23 times England's shape across deciles (issue 14) over QOF's
denominator: where QOF counts only diagnoses since a date (depression since April 2006, cancer
since April 2003) the calibration counts only onsets since then, plus the share of earlier
onsets that have a later recorded episode (depression recurs: the first diagnosis keeps its
deprivation-shifted date and a new episode code is recorded after 2006); where QOF needs recent
treatment (asthma, epilepsy) it divides by the share of people the prescribing rules treat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from houseofcare.synth import inputs
from houseofcare.synth.people import People
from houseofcare.synth.timeline import DAYS_PER_YEAR, NEVER, Timeline, day_number

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
    #: A later recorded episode (conditions whose register has a date floor), else NEVER.
    episode: dict[str, np.ndarray] = field(default_factory=dict)

    def active(self, key: str, day: np.ndarray | int) -> np.ndarray:
        """On the register at ``day``: diagnosed, and not resolved or re-diagnosed since."""
        onset = self.onset[key] <= day
        if key not in self.resolved:
            return onset
        return onset & ((self.resolved[key] > day) | (self.rediagnosed[key] <= day))

    def count(self, day: np.ndarray | int) -> np.ndarray:
        return sum(self.active(k, day).astype(np.int64) for k in self.onset)


def treated_share(spec: inputs.ConditionSpec) -> float:
    """Share of people with the condition whom the prescribing rules give a required medicine.

    Groups are offered independently, so the share is one minus the chance that every group
    offering a medicine from the required codelists passes the person by.
    """
    if not spec.register_requires:
        return 1.0
    required: set[str] = set()
    for name in spec.register_requires:
        required |= set(inputs.codelist(name))
    code = {r["medicine"]: r["code"] for r in inputs.table("medicines.csv")}
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for rule in inputs.table("prescribing_rules.csv"):
        if rule["condition"] == spec.key:
            groups.setdefault((rule["variant"], rule["group"]), []).append(rule)
    untreated = 1.0
    for members in groups.values():
        weights = np.array([float(m["weight"]) for m in members])
        inside = np.array([code[m["medicine"]] in required for m in members])
        untreated *= (
            1 - float(members[0]["group_probability"]) * weights[inside].sum() / weights.sum()
        )
    if untreated >= 1.0:
        raise ValueError(
            f"conditions.csv: {spec.key} requires {'|'.join(spec.register_requires)} but no "
            "prescribing rule issues a medicine from it"
        )
    return 1.0 - untreated


@cache
def calibrated_pmax(as_of_day: int) -> dict[str, np.ndarray]:
    """``pmax`` per condition and IMD decile (element ``decile − 1``) so that each decile's
    register prevalence, over its own age–sex pyramid, is on its target: England's 2022-23
    figure times England's shape across deciles (``inputs.decile_prevalence_shape``)."""
    pyr = inputs.decile_pyramids()
    shape = inputs.decile_prevalence_shape()
    age = np.arange(pyr.male.shape[1]) + 0.5
    out = {}
    for spec in inputs.conditions():
        since_years = (
            (as_of_day - day_number(spec.register_since)) / DAYS_PER_YEAR
            if spec.register_since
            else None
        )
        keep = age >= spec.min_age
        pmax = np.empty(10)
        for decile in range(1, 11):
            shifted = age + deprivation_shift(np.array(decile))
            g = _curve(shifted, spec)
            if since_years is not None:
                before = _curve(shifted - since_years, spec)
                g = g - (1 - spec.episode_after_since) * before
            male, female = pyr.male[decile - 1], pyr.female[decile - 1]
            num = (male * g * spec.male_rr + female * g)[keep].sum()
            den = (male + female)[keep].sum()
            target = (
                spec.qof_prevalence
                * shape[spec.key][decile - 1]
                * spec.calibration
                / (1 - 0.9 * spec.resolve_fraction)
            )
            pmax[decile - 1] = target / treated_share(spec) / (num / den)
        out[spec.key] = pmax
    return out


def _curve(shifted_age: np.ndarray, spec: inputs.ConditionSpec) -> np.ndarray:
    return 1 / (1 + np.exp(-(shifted_age - spec.onset_mid_age) / spec.onset_scale))


def _links() -> dict[str, list[tuple[str, float]]]:
    links: dict[str, list[tuple[str, float]]] = {}
    for row in inputs.table("condition_links.csv"):
        links.setdefault(row["child"], []).append((row["parent"], float(row["relative_risk"])))
    return links


def build_diagnoses(rng: np.random.Generator, people: People, timeline: Timeline) -> Diagnoses:
    pmax = calibrated_pmax(timeline.end)
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
        top = pmax[spec.key][people.decile - 1] * np.where(people.male, spec.male_rr, 1.0)
        u = rng.random(people.size) / r
        ever = u < top
        ratio = np.where(ever, u / np.where(ever, top - u, 1.0), 1.0)
        onset_age = spec.onset_mid_age + spec.onset_scale * np.log(ratio) - shift
        early = onset_age < spec.min_onset_age
        onset_age = np.where(early, spec.min_onset_age + rng.random(people.size) * 3, onset_age)
        onset_day = people.birth_day + np.floor(onset_age * DAYS_PER_YEAR).astype(np.int64)
        onset = np.where(ever, onset_day, NEVER)
        out.onset[spec.key] = onset
        if spec.register_since is not None:
            _later_episode(rng, out, spec, people, timeline)
        if spec.resolve_fraction > 0:
            _resolve(rng, out, spec.key, spec.resolve_fraction, timeline)
    _variants(rng, people, out)
    return out


def _later_episode(
    rng: np.random.Generator,
    out: Diagnoses,
    spec: inputs.ConditionSpec,
    people: People,
    timeline: Timeline,
) -> None:
    """A new recorded episode after the register's date floor for some earlier diagnoses.

    Depression recurs (about half of people have another episode after a first: NICE CG90), and
    the GP records each episode, so QOF's since-2006 register still holds many people whose
    first depression was earlier. The episode falls uniformly between the floor (or a year
    after onset, or age 18, whichever is latest) and the as-of date.
    """
    assert spec.register_since is not None
    onset = out.onset[spec.key]
    floor = day_number(spec.register_since)
    adult = people.birth_day + np.floor(spec.min_age * DAYS_PER_YEAR).astype(np.int64)
    earliest = np.maximum.reduce([np.full(onset.size, floor), onset + 365, adult])
    room = timeline.end - earliest
    recurs = (onset < floor) & (room > 0) & (rng.random(onset.size) < spec.episode_after_since)
    day = earliest + np.floor(rng.random(onset.size) * np.maximum(room, 0)).astype(np.int64)
    out.episode[spec.key] = np.where(recurs, day, NEVER)


def latest_episode(dx: Diagnoses, key: str) -> np.ndarray:
    """The latest recorded diagnosis day before any resolution: a later episode, else onset."""
    episode = dx.episode.get(key)
    if episode is None:
        return dx.onset[key]
    return np.where(episode < NEVER, episode, dx.onset[key])


def _resolve(
    rng: np.random.Generator, out: Diagnoses, key: str, fraction: float, timeline: Timeline
) -> None:
    onset = latest_episode(out, key)
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
