"""Repeat prescriptions typical of each condition (rules in ``data/prescribing_rules.csv``).

Each rule is a group (e.g. "statin") offered with a probability to people on a register, the
medicine within the group chosen by weight; AF anticoagulation applies only at CHA2DS2-VASc ≥ 2
(about 85% treated, as in national audit). A person gets a medicine once however many rules
lead to it, issued every ``issue_interval_days`` from diagnosis (or the start of the history)
until death or the as-of date.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from houseofcare.synth import inputs, tables
from houseofcare.synth.conditions import Diagnoses, cha2ds2_vasc
from houseofcare.synth.events import periodic_events
from houseofcare.synth.people import People
from houseofcare.synth.timeline import NEVER, Timeline

SNOMED = "http://snomed.info/sct"


def build_medications(
    rng: np.random.Generator,
    people: People,
    dx: Diagnoses,
    timeline: Timeline,
    patient_ids: pa.Array,
    prefix: str,
    last_updated: pa.Array,
) -> pa.Table:
    medicines = inputs.table("medicines.csv")
    names = [r["medicine"] for r in medicines]
    start = np.full((len(names), people.size), NEVER, dtype=np.int64)
    interval = np.full(len(names), 56.0)
    rules = inputs.table("prescribing_rules.csv")
    groups: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for r in rules:
        groups.setdefault((r["condition"], r["variant"], r["group"]), []).append(r)
    end = timeline.end
    score = cha2ds2_vasc(people, dx, end)
    for (condition, variant, group), members in groups.items():
        if condition == "population":
            onset = np.where(people.age_at(end) >= 30, timeline.start, NEVER)
            chance = float(members[0]["group_probability"]) * np.where(people.male, 0.3, 1.7)
        else:
            onset = np.where(dx.active(condition, end), dx.onset[condition], NEVER)
            chance = np.full(people.size, float(members[0]["group_probability"]))
        if variant:
            onset = np.where(dx.variant[condition] == variant, onset, NEVER)
        if group.startswith("anticoagulant_if_chadsvasc_2"):
            chance = np.where(score >= 2, chance, 0.1)
        offered = (onset < NEVER) & (rng.random(people.size) < chance)
        weights = np.array([float(m["weight"]) for m in members])
        pick = np.searchsorted(np.cumsum(weights) / weights.sum(), rng.random(people.size))
        for k, member in enumerate(members):
            med = names.index(member["medicine"])
            chosen = offered & (pick == k)
            start[med] = np.where(chosen, np.minimum(start[med], onset), start[med])
            interval[med] = float(member["issue_interval_days"])
    person, med_index, days = [], [], []
    stop = np.minimum(end, people.death_day + 1).astype(float)
    for med in range(len(names)):
        on = start[med] < NEVER
        if not on.any():
            continue
        begin = np.where(on, np.maximum(start[med], timeline.start), NEVER).astype(float)
        p, d = periodic_events(rng, np.full(people.size, interval[med]), begin, stop, 0.1)
        person.append(p)
        days.append(np.floor(d).astype(np.int64))
        med_index.append(np.full(p.size, med))
    p = np.concatenate(person) if person else np.zeros(0, dtype=np.int64)
    d = np.concatenate(days) if days else np.zeros(0, dtype=np.int64)
    k = np.concatenate(med_index) if med_index else np.zeros(0, dtype=np.int64)
    order = np.lexsort((d, p))
    p, d, k = p[order], d[order], k[order]
    n = p.size
    recent = d > end - interval[k]
    return tables.finish(
        "medication",
        {
            "medication_request_id": tables.ids(prefix, np.arange(n)),
            "patient_id": tables.take(patient_ids, p),
            "status": tables.from_codes(["completed", "active"], recent),
            "intent": tables.constant("order", n),
            "code_system": tables.constant(SNOMED, n),
            "code": tables.from_codes([r["code"] for r in medicines], k),
            "display": tables.from_codes([r["display"] for r in medicines], k),
            "authored_on": tables.dates(d),
            "last_updated": last_updated.take(pa.array(np.zeros(n, dtype=np.int64))),
        },
        n,
    )
