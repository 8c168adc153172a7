"""Synthetic GP practices, their GPs and acute trusts, placed in real local authorities.

Practices are made up (ODS-like codes ``Y9nnnn`` that no real organisation uses); each sits in one
of the localities in ``data/localities.csv`` and draws its patients from that area's real LSOAs,
leaning towards a practice-specific part of the deprivation range, so practices differ in
deprivation as real ones do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from houseofcare.synth import inputs

#: Real English practice list sizes run from about 3,000 to 20,000 (median about 9,000).
LIST_SIZE_MEDIAN = 9_000
LIST_SIZE_MIN, LIST_SIZE_MAX = 3_000, 20_000
MIN_PRACTICES = 3
PATIENTS_PER_GP = 2_200
#: How sharply a practice's catchment favours LSOAs near its own deprivation decile.
CATCHMENT_SPREAD = 1.5

FAMILY_NAMES = [
    "Smith", "Jones", "Patel", "Williams", "Taylor", "Khan", "Brown", "Davies", "Evans", "Wilson",
    "Thomas", "Ahmed", "Johnson", "Roberts", "Walker", "Wright", "Okafor", "Robinson", "Hussain",
    "Thompson", "White", "Hughes", "Edwards", "Green", "Chen", "Hall", "Lewis", "Harris", "Begum",
]  # fmt: skip
GIVEN_NAMES = [
    "Sarah", "James", "Priya", "David", "Emma", "Mohammed", "Rachel", "Thomas", "Aisha", "Claire",
    "Daniel", "Helen", "Oliver", "Fatima", "Joanne", "Richard", "Chloe", "Andrew", "Grace",
    "Sanjay",
]  # fmt: skip


@dataclass(frozen=True)
class Practices:
    """Every practice of the population, with its patients' index range and catchment."""

    list_size: np.ndarray  # int64, sums to the population size
    first_person: np.ndarray  # global index of each practice's first patient
    locality: np.ndarray  # index into inputs.lsoas().locality_names
    catchment_cdf: list[np.ndarray]  # cumulative weights over the locality's LSOAs
    catchment_lsoa: list[np.ndarray]  # LSOA indices (into inputs.lsoas()) of that catchment
    control_effect: np.ndarray  # practice contribution to the latent control of LTCs
    seed: int

    @property
    def count(self) -> int:
        return int(self.list_size.size)

    def practice_of(self, person: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.first_person, person, side="right") - 1

    def organization_id(self, practice: np.ndarray | int) -> np.ndarray:
        return np.char.add(f"s{self.seed}-gp", np.asarray(practice).astype(str))


def build_practices(patients: int, seed: int) -> Practices:
    """Practices for a population of ``patients``: list sizes 3k–20k, scaled down for small N."""
    rng = np.random.default_rng([seed, 1])
    count = max(MIN_PRACTICES, round(patients / LIST_SIZE_MEDIAN))
    raw = np.clip(
        rng.lognormal(np.log(LIST_SIZE_MEDIAN), 0.45, count), LIST_SIZE_MIN, LIST_SIZE_MAX
    )
    share = raw / raw.sum() * patients
    sizes = np.floor(share).astype(np.int64)
    remainder = patients - sizes.sum()
    sizes[np.argsort(share - sizes)[::-1][:remainder]] += 1
    lsoas = inputs.lsoas()
    n_localities = len(lsoas.locality_names)
    locality = np.arange(count) % n_localities
    cdfs, members = [], []
    for p in range(count):
        in_area = np.flatnonzero(lsoas.locality == locality[p])
        centre = lsoas.decile[rng.choice(in_area)]
        weight = np.exp(-np.abs(lsoas.decile[in_area] - centre) / CATCHMENT_SPREAD)
        cdf = np.cumsum(weight)
        cdfs.append(cdf / cdf[-1])
        members.append(in_area)
    return Practices(
        list_size=sizes,
        first_person=np.r_[0, np.cumsum(sizes)[:-1]],
        locality=locality,
        catchment_cdf=cdfs,
        catchment_lsoa=members,
        control_effect=rng.normal(0, 0.3, count),
        seed=seed,
    )


def assign_lsoa(rng: np.random.Generator, practices: Practices, practice: np.ndarray) -> np.ndarray:
    """An LSOA (index into inputs.lsoas()) from each patient's practice catchment."""
    out = np.empty(practice.size, dtype=np.int64)
    u = rng.random(practice.size)
    for p in np.unique(practice):  # a loop over the few practices in a chunk, not over people
        rows = practice == p
        pick = np.searchsorted(practices.catchment_cdf[p], u[rows], side="right")
        out[rows] = practices.catchment_lsoa[p][pick.clip(0, practices.catchment_lsoa[p].size - 1)]
    return out


def gp_counts(practices: Practices) -> np.ndarray:
    """GPs per practice: about one per 2,200 patients, at least two."""
    return np.maximum(2, np.round(practices.list_size / PATIENTS_PER_GP)).astype(np.int64)


def organization_rows(practices: Practices) -> dict[str, list[str]]:
    """Organization rows: every practice and one acute trust per locality used."""
    names = inputs.lsoas().locality_names
    trusts = inputs.lsoas().trust_names
    ids, ods, label, type_display = [], [], [], []
    for p in range(practices.count):
        ids.append(f"s{practices.seed}-gp{p}")
        ods.append(f"Y9{p:04d}")
        label.append(f"Synthetic practice {p + 1} ({names[practices.locality[p]]})")
        type_display.append("GP practice")
    for loc in sorted(set(practices.locality.tolist())):
        ids.append(f"s{practices.seed}-trust{loc}")
        ods.append(f"Y8T{loc:02d}")
        label.append(trusts[loc])
        type_display.append("NHS trust")
    return {
        "organization_id": ids,
        "ods_code": ods,
        "name": label,
        "type_code": ["prov"] * len(ids),
        "type_display": type_display,
    }


def trust_id(practices: Practices, practice: np.ndarray) -> np.ndarray:
    return np.char.add(f"s{practices.seed}-trust", practices.locality[practice].astype(str))


def practitioner_rows(practices: Practices) -> dict[str, list[str]]:
    """A few GPs per practice, with made-up names and identifiers."""
    rng = np.random.default_rng([practices.seed, 2])
    counts = gp_counts(practices)
    ids, idents, family, given = [], [], [], []
    for p, n in enumerate(counts.tolist()):
        for k in range(n):
            ids.append(f"s{practices.seed}-gp{p}-dr{k}")
            idents.append(f"G9{p:04d}{k:02d}")
            family.append(FAMILY_NAMES[int(rng.integers(len(FAMILY_NAMES)))])
            given.append(GIVEN_NAMES[int(rng.integers(len(GIVEN_NAMES)))])
    return {
        "practitioner_id": ids,
        "identifier": idents,
        "family_name": family,
        "given_name": given,
    }
