"""Matching: the directory's services that suit one person, ranked by fit, each with why.

What the person brings (all read here, none typed in by the caller):

- **needs**: the active `Need` rows of their active care plan, by domain (NeedDomain);
- **goals**: "what matters to me" of the plan's goals, matched lightly (words) against a
  service's name, description and taxonomy terms;
- **locality**: their local authority district, from the LSOA of their home in the analytic
  store's patient record (`AnalyticResults.home_lsoa`) through the packaged lookup
  `reference/lsoa_imd2019.csv` (LSOA → LAD). The practice is not used: a practice's list
  spans several authorities and an organisation row holds no place, while community groups
  are organised where people live. With no LSOA (not linked, none recorded) the place part
  is left out and services of every locality are considered;
- **conditions**: the registers they are on in the latest run (`AnalyticResults.registers`);
- **age** from their date of birth; **language, ways of taking part and accessibility needs**
  from `SupportPreference`; **activation level** from their latest `Activation`.

How a service is chosen and ranked is split in two, on purpose (hazard H-060):

- *exclusions* (code, about safety): not active (inactive, defunct, temporarily closed);
  the person's age outside its minimum or maximum; a condition-specific service for a
  condition the person does not have; a locality that is neither the person's nor nearby
  (same county or conurbation). A service with no locality is available everywhere.
  Status is filtered in SQL when the directory is read (kept per process until its stamp
  changes: `directory`); the candidates are then taken set-wise from lookups by need,
  condition and locality (a service addressing none of the person's needs and none of their
  conditions is not a candidate), their age limits checked, and only they are scored;
- *ranking* (data, `matching.toml`): weight × fit for needs met, condition fit, place,
  capacity left (`selfcare/capacity.py`), accessibility, language, activation tailoring
  (`activation.toml`), ways of taking part and goals. A full service is kept, marked full
  and ranked after every service with a place left.

Activation changes only the order, never which services are suggested (hazard H-061).
The caller decides access (`support.suggest`) and audits; this module reads.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from houseofcare.datafiles import read_toml, validation_problems
from houseofcare.results import AnalyticResults
from houseofcare.selfcare.activation import (
    ActivationLevel,
    ActivationRules,
    latest,
    packaged_activation_rules,
)
from houseofcare.selfcare.capacity import Capacity, month_start
from houseofcare.selfcare.preferences import WAYS, Preferences, stored
from houseofcare.store.models import (
    CarePlan,
    CarePlanStatus,
    Goal,
    GoalStatus,
    Need,
    NeedDomain,
    NeedStatus,
    Person,
    Referral,
    Service,
    ServiceAccess,
    ServiceStatus,
)

MATCHING_FILE: Final = Path(__file__).with_name("matching.toml")
LSOA_FILE: Final = files("houseofcare.reference") / "lsoa_imd2019.csv"

#: A need domain in the words the care plan pages use.
NEED_WORDS: Final[Mapping[str, str]] = {
    NeedDomain.physical_health: "Physical health",
    NeedDomain.mental_health: "Mental health",
    NeedDomain.self_management: "Looking after myself",
    NeedDomain.social_housing: "Housing",
    NeedDomain.social_finance: "Money",
    NeedDomain.social_loneliness: "Loneliness",
    NeedDomain.social_carer: "Caring for someone",
    NeedDomain.mobility: "Getting about",
    NeedDomain.medicines: "Medicines",
}
#: Language codes (ISO 639-1) a reason names in words; others are shown as the code.
LANGUAGE_WORDS: Final[Mapping[str, str]] = {
    "en": "English",
    "cy": "Welsh",
    "pa": "Punjabi",
    "ur": "Urdu",
    "bn": "Bengali",
    "gu": "Gujarati",
    "hi": "Hindi",
    "pl": "Polish",
    "ro": "Romanian",
    "ar": "Arabic",
    "so": "Somali",
    "pt": "Portuguese",
    "es": "Spanish",
    "fr": "French",
    "ta": "Tamil",
    "zh": "Chinese",
    "tr": "Turkish",
    "lt": "Lithuanian",
    "sq": "Albanian",
    "fa": "Persian",
}
#: Words that mark each way of taking part in a service's text.
WAY_TERMS: Final[Mapping[str, tuple[str, ...]]] = {
    "group": ("group", "club", "class"),
    "one_to_one": ("one-to-one", "one to one", "1:1", "befriending"),
    "online": ("online", "video", "virtual", "app"),
    "phone": ("phone", "telephone", "helpline", "call"),
    "home_visit": ("home visit", "at home", "visits"),
}
_WORD = re.compile(r"[a-z][a-z'-]+")


# --- The rules (matching.toml) -----------------------------------------------------------------


class MatchingRulesError(ValueError):
    """The matching file is missing, malformed or breaks a rule of its schema."""


class Weights(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    needs: float = Field(ge=0)
    conditions: float = Field(ge=0)
    place: float = Field(ge=0)
    capacity: float = Field(ge=0)
    accessibility: float = Field(ge=0)
    language: float = Field(ge=0)
    activation: float = Field(ge=0)
    ways: float = Field(ge=0)
    goals: float = Field(ge=0)


class PlaceFit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    same_locality: float = Field(ge=0, le=1)
    everywhere: float = Field(ge=0, le=1)
    nearby: float = Field(ge=0, le=1)


class GoalWords(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    min_length: int = Field(ge=1, le=20)
    ignore: frozenset[str] = frozenset()


class MatchingRules(BaseModel):
    """The whole matching file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    weights: Weights
    place: PlaceFit
    goals: GoalWords


def load_matching_rules(path: Path = MATCHING_FILE) -> MatchingRules:
    """Read and check a matching file; errors name the file and the field."""
    raw = read_toml(path, MatchingRulesError, "no matching file here")
    try:
        return MatchingRules.model_validate(raw)
    except ValidationError as exc:
        raise MatchingRulesError(f"{path}: {validation_problems(exc)}") from None


@cache
def packaged_matching_rules() -> MatchingRules:
    """The weights shipped with houseofcare, loaded once."""
    return load_matching_rules()


# --- Locality -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Locality:
    """The person's local authority district and the districts near it (same county or
    conurbation), as names and codes in lower case for comparing with `Service.locality`."""

    name: str
    code: str
    area: str
    nearby: frozenset[str] = frozenset()

    @property
    def own(self) -> frozenset[str]:
        return frozenset({self.name.casefold(), self.code.casefold()})


@cache
def _districts() -> tuple[dict[str, tuple[str, str, str]], dict[str, frozenset[str]]]:
    """LSOA → (LAD code, LAD name, county or conurbation), and each county's districts."""
    by_lsoa: dict[str, tuple[str, str, str]] = {}
    by_area: dict[str, set[str]] = {}
    with LSOA_FILE.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            area = row["COUNTY_CONURBATION"] or row["REGION"]
            by_lsoa[row["LSOA_CODE"]] = (row["LAD_CODE"], row["LAD_NAME"], area)
            by_area.setdefault(area, set()).update(
                {row["LAD_CODE"].casefold(), row["LAD_NAME"].casefold()}
            )
    return by_lsoa, {area: frozenset(names) for area, names in by_area.items()}


def locality_of_lsoa(lsoa_code: str | None) -> Locality | None:
    """The local authority district of an LSOA (None: unknown code or none given)."""
    if not lsoa_code:
        return None
    by_lsoa, by_area = _districts()
    found = by_lsoa.get(lsoa_code.strip().upper())
    if found is None:
        return None
    code, name, area = found
    own = {code.casefold(), name.casefold()}
    return Locality(name=name, code=code, area=area, nearby=by_area.get(area, frozenset()) - own)


# --- The person ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonNeed:
    domain: str
    description: str


@dataclass(frozen=True)
class PersonFacts:
    """What matching knows about the person (also what the page shows beside it)."""

    person_id: int
    needs: tuple[PersonNeed, ...] = ()
    goals: tuple[str, ...] = ()
    age: int | None = None
    registers: frozenset[str] = frozenset()
    locality: Locality | None = None
    preferences: Preferences = field(default_factory=Preferences)
    activation: int | None = None

    @property
    def need_domains(self) -> tuple[str, ...]:
        """The domains of the person's needs, once each, in the plan's order."""
        return tuple(dict.fromkeys(n.domain for n in self.needs))


@dataclass(frozen=True)
class AnalyticFacts:
    """What the analytic store says: the registers in the latest run and the home LSOA."""

    registers: frozenset[str] = frozenset()
    lsoa_code: str | None = None


def analytic_facts(results: AnalyticResults, patient_id: str | None) -> AnalyticFacts:
    """The person's registers (latest run) and home LSOA; empty for an unlinked person."""
    if patient_id is None:
        return AnalyticFacts()
    run_id = results.latest_run_id()
    registers = (
        frozenset(e.register for e in results.registers(run_id, patient_id))
        if run_id
        else frozenset()
    )
    return AnalyticFacts(registers=registers, lsoa_code=results.home_lsoa(patient_id))


def _age(birth_date: dt.date | None, today: dt.date) -> int | None:
    if birth_date is None:
        return None
    return (
        today.year
        - birth_date.year
        - ((today.month, today.day) < (birth_date.month, birth_date.day))
    )


_LIVE_GOALS = (GoalStatus.proposed, GoalStatus.planned, GoalStatus.accepted, GoalStatus.active)


def person_facts(
    session: Session,
    person_id: int,
    analytic: AnalyticFacts,
    *,
    today: dt.date | None = None,
) -> PersonFacts:
    """The person's needs, goals, age, preferences and activation from the store, with the
    registers and locality the analytic store gave (no access check: the caller decided)."""
    person = session.get(Person, person_id)
    if person is None:
        raise LookupError(f"no person {person_id}")
    plan_id = session.scalar(
        select(CarePlan.id).where(
            CarePlan.person_id == person_id, CarePlan.status == CarePlanStatus.active
        )
    )
    needs: tuple[PersonNeed, ...] = ()
    goals: tuple[str, ...] = ()
    if plan_id is not None:
        needs = tuple(
            PersonNeed(str(domain), description)
            for domain, description in session.execute(
                select(Need.domain, Need.description)
                .where(Need.care_plan_id == plan_id, Need.status == NeedStatus.active)
                .order_by(Need.id)
            )
        )
        goals = tuple(
            session.scalars(
                select(Goal.what_matters_to_me)
                .where(Goal.care_plan_id == plan_id, Goal.status.in_(_LIVE_GOALS))
                .order_by(Goal.id)
            )
        )
    activation = latest(session, person_id)
    return PersonFacts(
        person_id=person_id,
        needs=needs,
        goals=goals,
        age=_age(person.birth_date, today or dt.date.today()),
        registers=analytic.registers,
        locality=locality_of_lsoa(analytic.lsoa_code),
        preferences=Preferences.of(stored(session, person_id)),
        activation=None if activation is None else activation.level,
    )


# --- The directory (read here until selfcare/directory.py offers a reader) --------------------


@dataclass(frozen=True)
class Candidate:
    """One active service as matching reads it (only the model's columns), its text and
    lists in lower case for comparing."""

    id: int
    name: str
    organisation_name: str
    kind: str
    access: str
    needs: tuple[str, ...]
    conditions: tuple[str, ...]
    locality: str | None
    text: str
    accessibility: tuple[str, ...]
    languages: tuple[str, ...]
    capacity_per_month: int | None
    minimum_age: int | None = None
    maximum_age: int | None = None
    #: The activation levels (1–4) the service fits, worked out once when the directory is
    #: read (None: work it out when scoring).
    levels: frozenset[int] | None = None
    #: The ways of taking part its text mentions (None: work it out when scoring).
    ways: frozenset[str] | None = None


def _ways_in(text: str) -> frozenset[str]:
    return frozenset(way for way, terms in WAY_TERMS.items() if any(t in text for t in terms))


_COLUMNS = (
    Service.id,
    Service.name,
    Service.organisation_name,
    Service.kind,
    Service.access,
    Service.needs,
    Service.conditions,
    Service.locality,
    Service.description,
    Service.taxonomy,
    Service.accessibility,
    Service.languages,
    Service.capacity_per_month,
    Service.minimum_age,
    Service.maximum_age,
)


def _taxonomy_terms(taxonomy: Any) -> str:
    if not isinstance(taxonomy, list):
        return ""
    return " ".join(str(t.get("term", "")) for t in taxonomy if isinstance(t, dict))


def _candidate(row: Any) -> Candidate:
    text = " ".join(
        part for part in (row.name, row.description or "", _taxonomy_terms(row.taxonomy)) if part
    )
    made = Candidate(
        id=row.id,
        name=row.name,
        organisation_name=row.organisation_name,
        kind=str(row.kind),
        access=str(row.access),
        needs=tuple(row.needs or ()),
        conditions=tuple(row.conditions or ()),
        locality=row.locality,
        text=text.casefold(),
        accessibility=tuple(a.casefold() for a in row.accessibility or ()),
        languages=tuple(lang.casefold() for lang in row.languages or ()),
        capacity_per_month=row.capacity_per_month,
        minimum_age=row.minimum_age,
        maximum_age=row.maximum_age,
    )
    levels = packaged_activation_rules().levels
    return replace(
        made,
        levels=frozenset(lv.level for lv in levels if _activation_fit(lv, made)),
        ways=_ways_in(made.text),
    )


@dataclass(frozen=True)
class Directory:
    """The active services, read once per directory stamp, with lookups by need, condition
    and locality (positions in `services`)."""

    stamp: tuple[Any, ...]
    services: tuple[Candidate, ...]
    by_need: Mapping[str, frozenset[int]]
    by_condition: Mapping[str, frozenset[int]]
    #: Lower-case locality → positions; "" for the services with none (everywhere).
    by_place: Mapping[str, frozenset[int]]

    @classmethod
    def of(cls, stamp: tuple[Any, ...], services: Sequence[Candidate]) -> Directory:
        need: dict[str, set[int]] = {}
        condition: dict[str, set[int]] = {}
        place: dict[str, set[int]] = {}
        for at, service in enumerate(services):
            for d in service.needs:
                need.setdefault(d, set()).add(at)
            for r in service.conditions:
                condition.setdefault(r, set()).add(at)
            place.setdefault((service.locality or "").casefold(), set()).add(at)
        return cls(
            stamp=stamp,
            services=tuple(services),
            by_need={k: frozenset(v) for k, v in need.items()},
            by_condition={k: frozenset(v) for k, v in condition.items()},
            by_place={k: frozenset(v) for k, v in place.items()},
        )

    def candidates(self, facts: PersonFacts, domains: Sequence[str]) -> list[Candidate]:
        """The services addressing one of the person's needs or conditions (every one when
        they have neither), in their locality, a nearby one or none, open to their age."""
        wanted: set[int] = set()
        for d in domains:
            wanted |= self.by_need.get(d, frozenset())
        for r in facts.registers:
            wanted |= self.by_condition.get(r, frozenset())
        if not domains and not facts.registers:
            wanted = set(range(len(self.services)))
        if facts.locality is not None:
            near: set[int] = set(self.by_place.get("", frozenset()))
            for name in facts.locality.own | facts.locality.nearby:
                near |= self.by_place.get(name, frozenset())
            wanted &= near
        age = facts.age
        found = [self.services[at] for at in sorted(wanted)]
        if age is None:
            return found
        return [
            c
            for c in found
            if (c.minimum_age is None or c.minimum_age <= age)
            and (c.maximum_age is None or c.maximum_age >= age)
        ]


_DIRECTORIES: dict[str, Directory] = {}
_DIRECTORIES_LOCK = threading.Lock()


def directory_stamp(session: Session) -> tuple[Any, ...]:
    """What changes whenever the directory does: how many services and how many active, the
    newest change and the highest id (an import adds or updates rows, and stamps
    `updated_at`)."""
    row = session.execute(
        select(
            func.count(Service.id),
            # a status change that forgot to stamp updated_at still changes this
            func.count(Service.id).filter(Service.status == ServiceStatus.active),
            func.max(Service.updated_at),
            func.max(Service.id),
        )
    ).one()
    return tuple(row)


def directory(session: Session) -> Directory:
    """The active services of this store, kept per process until the stamp changes (read
    again at once after an import). Reading each candidate's JSON lists on every view cost
    more than the whole target (40–70 ms for ~1,000 candidates among 5,000); the stamp is one
    indexed aggregate."""
    key = str(session.get_bind().url)
    stamp = directory_stamp(session)
    with _DIRECTORIES_LOCK:
        kept = _DIRECTORIES.get(key)
    if kept is not None and kept.stamp == stamp:
        return kept
    rows = session.execute(
        select(*_COLUMNS).where(Service.status == ServiceStatus.active).order_by(Service.id)
    )
    made = Directory.of(stamp, [_candidate(row) for row in rows])
    with _DIRECTORIES_LOCK:
        _DIRECTORIES[key] = made
    return made


# --- Scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suggestion:
    """One suitable service, its score, and why it is suggested (and what it lacks)."""

    service_id: int
    name: str
    organisation_name: str
    kind: str
    access: str
    locality: str | None
    score: float
    #: Why it is suggested, in plain words, most important first.
    reasons: tuple[str, ...]
    #: What the person prefers or needs that the service does not say it offers.
    cautions: tuple[str, ...]
    #: The need domains it addresses among the person's.
    needs_met: tuple[str, ...]
    #: No place left this month: kept, ranked after every service with a place.
    full: bool
    #: Places left this month (None: the service sets no limit).
    places_left: int | None


@dataclass(frozen=True)
class UnmetNeed:
    """A need of the person's no suggested service addresses (or only full ones)."""

    domain: str
    words: str
    descriptions: tuple[str, ...]
    #: Services address it but every one is full this month.
    only_full: bool


@dataclass(frozen=True)
class Match:
    """The ranked suggestions for one person and their needs left without a service."""

    facts: PersonFacts
    #: The best first (all of them, or the first `limit` asked for).
    suggestions: tuple[Suggestion, ...]
    unmet: tuple[UnmetNeed, ...]
    #: Services read as candidates (after the filters), for the page's note.
    considered: int
    #: How many services suit the person (more than `suggestions` when limited).
    suitable: int


def goal_words(goals: Iterable[str], rules: MatchingRules) -> frozenset[str]:
    """The words of the person's goals worth matching (long enough, not common)."""
    ignore = rules.goals.ignore
    return frozenset(
        w
        for goal in goals
        for w in _WORD.findall(goal.casefold())
        if len(w) >= rules.goals.min_length and w not in ignore
    )


def _activation_fit(level: ActivationLevel, service: Candidate) -> bool:
    return (
        service.kind in level.prefer_kinds
        or service.access in level.prefer_access
        or any(term in service.text for term in level.prefer_terms)
    )


def _language(code: str) -> str:
    return LANGUAGE_WORDS.get(code, code)


@dataclass(frozen=True)
class _Person:
    """The person's facts in the shape scoring reads many times."""

    facts: PersonFacts
    domains: tuple[str, ...]
    words: frozenset[str]
    level: ActivationLevel | None
    accessibility: tuple[str, ...]
    ways: tuple[tuple[str, tuple[str, ...]], ...]
    #: Lower-case locality → its place points (weight × fit; "" = no locality, available
    #: everywhere); a locality not in it is excluded. None: the person's locality is unknown.
    place_points: Mapping[str, float] | None = None


def _place_points(locality: Locality | None, rules: MatchingRules) -> dict[str, float] | None:
    if locality is None:
        return None
    w, fit = rules.weights.place, rules.place
    points = {name: w * fit.nearby for name in locality.nearby}
    points.update({name: w * fit.same_locality for name in locality.own})
    points[""] = w * fit.everywhere
    return points


def _fits_level(level: ActivationLevel, service: Candidate) -> bool:
    if service.levels is not None:
        return level.level in service.levels
    return _activation_fit(level, service)


def _offered(who: _Person, service: Candidate) -> list[str]:
    """The person's preferred ways the service offers, in the person's order."""
    ways = service.ways if service.ways is not None else _ways_in(service.text)
    return [way for way, _ in who.ways if way in ways]


def _place(service: Candidate, locality: Locality) -> str | None:
    """same / everywhere / nearby, or None: elsewhere (excluded)."""
    place = (service.locality or "").casefold()
    if not place:
        return "everywhere"
    if place in locality.own:
        return "same"
    if place in locality.nearby:
        return "nearby"
    return None


def _fit(
    service: Candidate,
    who: _Person,
    rules: MatchingRules,
    per_month: tuple[int | None, int | None],
) -> tuple[float, tuple[str, ...]] | None:
    """The service's score and the needs it meets, or None when it is excluded (a
    condition the person does not have, a locality not theirs nor nearby)."""
    facts = who.facts
    w = rules.weights
    if service.conditions and not facts.registers.intersection(service.conditions):
        return None
    score = 0.0
    needs_met = tuple(d for d in who.domains if d in service.needs)
    if who.domains:
        score += w.needs * len(needs_met) / len(who.domains)
    if service.conditions:
        score += w.conditions
    if who.place_points is not None:
        points = who.place_points.get((service.locality or "").casefold())
        if points is None:
            return None
        score += points
    limit, left = per_month
    if limit is None:
        score += w.capacity
    elif limit > 0 and left is not None:
        score += w.capacity * left / limit
    if who.accessibility:
        met = sum(1 for a in who.accessibility if a in service.accessibility)
        score += w.accessibility * met / len(who.accessibility)
    language = facts.preferences.language
    if language and language in (service.languages or ("en",)):
        score += w.language
    if who.level is not None and _fits_level(who.level, service):
        score += w.activation
    if who.ways:
        score += w.ways * len(_offered(who, service)) / len(who.ways)
    if who.words:
        matched = sum(1 for word in who.words if word in service.text)
        score += w.goals * min(matched, 3) / 3
    return score, needs_met


def _explain(
    service: Candidate,
    who: _Person,
    score: float,
    needs_met: tuple[str, ...],
    per_month: tuple[int | None, int | None],
    register_names: Mapping[str, str],
) -> Suggestion:
    """The suggestion with its reasons and cautions in plain words."""
    facts = who.facts
    reasons: list[str] = []
    cautions: list[str] = []
    if needs_met:
        reasons.append("Helps with " + ", ".join(NEED_WORDS.get(d, d).lower() for d in needs_met))
    shared = sorted(facts.registers.intersection(service.conditions))
    if shared:
        reasons.append("For people with " + ", ".join(register_names.get(r, r) for r in shared))
    if facts.locality is not None:
        reasons.append(
            {
                "same": f"In {facts.locality.name}, where the person lives",
                "everywhere": "Available wherever the person lives",
                "nearby": f"Nearby, in {service.locality}",
            }[_place(service, facts.locality) or "everywhere"]
        )
    _, left = per_month
    if left == 0:
        cautions.append("Full this month")
    elif left is not None:
        reasons.append(f"{left} place{'s' if left != 1 else ''} left this month")
    wanted = facts.preferences.accessibility
    met = [a for a in wanted if a.casefold() in service.accessibility]
    if met:
        reasons.append("Has " + ", ".join(met))
    missing = [a for a in wanted if a.casefold() not in service.accessibility]
    if missing:
        cautions.append("Does not say it has " + ", ".join(missing))
    language = facts.preferences.language
    if language:
        if language in (service.languages or ("en",)):
            if language != "en":
                reasons.append(f"Offered in {_language(language)}")
        else:
            cautions.append(f"Not offered in {_language(language)}")
    if who.level is not None and _fits_level(who.level, service):
        reasons.append(who.level.because)
    ways = _offered(who, service)
    if ways:
        reasons.append("Offers " + ", ".join(WAYS.get(way, way).lower() for way in ways))
    matched = sorted(word for word in who.words if word in service.text)
    if matched:
        reasons.append(
            "Matches what matters to the person: " + ", ".join(f"“{m}”" for m in matched[:3])
        )
    if service.access in (ServiceAccess.self_referral, ServiceAccess.both):
        reasons.append("Takes self-referrals")
    return Suggestion(
        service_id=service.id,
        name=service.name,
        organisation_name=service.organisation_name,
        kind=service.kind,
        access=service.access,
        locality=service.locality,
        score=round(score, 1),
        reasons=tuple(reasons),
        cautions=tuple(cautions),
        needs_met=needs_met,
        full=left == 0,
        places_left=left,
    )


def _ranked(
    candidates: Sequence[Candidate],
    facts: PersonFacts,
    places: Mapping[int, tuple[int | None, int | None]],
    *,
    rules: MatchingRules | None,
    activation_rules: ActivationRules | None,
    register_names: Mapping[str, str] | None,
    limit: int | None,
) -> tuple[list[Suggestion], set[str], set[str], int]:
    rules = rules or packaged_matching_rules()
    who = _Person(
        facts=facts,
        domains=facts.need_domains,
        words=goal_words(facts.goals, rules),
        level=None
        if facts.activation is None
        else (activation_rules or packaged_activation_rules()).level(facts.activation),
        accessibility=tuple(a.casefold() for a in facts.preferences.accessibility),
        ways=tuple((way, WAY_TERMS.get(way, ())) for way in facts.preferences.ways),
        place_points=_place_points(facts.locality, rules),
    )
    scored = []
    met_open: set[str] = set()
    met_any: set[str] = set()
    for c in candidates:
        # a service not counted yet has all its places left
        per_month = places.get(c.id, (c.capacity_per_month, c.capacity_per_month))
        fit = _fit(c, who, rules, per_month)
        if fit is None:
            continue
        score, needs_met = fit
        full = per_month[1] == 0
        met_any.update(needs_met)
        if not full:
            met_open.update(needs_met)
        scored.append((full, -round(score, 1), c.name.casefold(), c.id, c, score, needs_met))
    scored.sort(key=lambda t: t[:4])
    chosen = scored if limit is None else scored[:limit]
    names = register_names or {}
    suggestions = [
        _explain(c, who, score, needs_met, places.get(c.id, (c.capacity_per_month,) * 2), names)
        for *_, c, score, needs_met in chosen
    ]
    return suggestions, met_open, met_any, len(scored)


def rank(
    candidates: Sequence[Candidate],
    facts: PersonFacts,
    places: Mapping[int, tuple[int | None, int | None]],
    *,
    rules: MatchingRules | None = None,
    activation_rules: ActivationRules | None = None,
    register_names: Mapping[str, str] | None = None,
    limit: int | None = None,
) -> list[Suggestion]:
    """Score every candidate, drop the excluded, and order: services with a place first,
    then by score (highest first), then by name and id so the order is stable; reasons are
    written for the first `limit` only (all when None)."""
    return _ranked(
        candidates,
        facts,
        places,
        rules=rules,
        activation_rules=activation_rules,
        register_names=register_names,
        limit=limit,
    )[0]


def _unmet(facts: PersonFacts, met_open: set[str], met_any: set[str]) -> tuple[UnmetNeed, ...]:
    return tuple(
        UnmetNeed(
            domain=d,
            words=NEED_WORDS.get(d, d),
            descriptions=tuple(n.description for n in facts.needs if n.domain == d),
            only_full=d in met_any,
        )
        for d in facts.need_domains
        if d not in met_open
    )


def unmet_needs(facts: PersonFacts, suggestions: Sequence[Suggestion]) -> tuple[UnmetNeed, ...]:
    """The person's needs no suggestion with a place addresses (`only_full`: only full ones)."""
    return _unmet(
        facts,
        {d for s in suggestions if not s.full for d in s.needs_met},
        {d for s in suggestions for d in s.needs_met},
    )


def taken_this_month(session: Session, now: dt.datetime | None = None) -> dict[int, int]:
    """Referrals accepted this month, per service: the places taken, counted as
    `capacity.capacities` counts them (by the month a referral was accepted in), in one
    grouped query over the month's referrals rather than a list of every candidate's id
    (hundreds of bound ids cost more than the count)."""
    start = month_start(now)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return {
        int(sid): int(n)
        for sid, n in session.execute(
            select(Referral.service_id, func.count())
            .where(Referral.accepted_at >= start, Referral.accepted_at < end)
            .group_by(Referral.service_id)
        )
    }


@cache
def _register_names() -> dict[str, str]:
    from houseofcare.population.rules import packaged_register_rules

    return {r.id: r.name for r in packaged_register_rules()}


def match(
    session: Session,
    facts: PersonFacts,
    *,
    now: dt.datetime | None = None,
    rules: MatchingRules | None = None,
    activation_rules: ActivationRules | None = None,
    limit: int | None = None,
) -> Match:
    """The suitable services for the person, ranked (the first `limit`, all when None), and
    their needs left unmet (judged over every suitable service, whatever the limit)."""
    candidates = directory(session).candidates(facts, facts.need_domains)
    taken = taken_this_month(session, now)
    places = {
        c.id: (c.capacity_per_month, Capacity(c.id, c.capacity_per_month, taken.get(c.id, 0)).left)
        for c in candidates
        if c.capacity_per_month is not None
    }
    suggestions, met_open, met_any, suitable = _ranked(
        candidates,
        facts,
        places,
        rules=rules,
        activation_rules=activation_rules,
        register_names=_register_names(),
        limit=limit,
    )
    return Match(
        facts=facts,
        suggestions=tuple(suggestions),
        unmet=_unmet(facts, met_open, met_any),
        considered=len(candidates),
        suitable=suitable,
    )


__all__ = [
    "AnalyticFacts",
    "Locality",
    "Match",
    "MatchingRules",
    "PersonFacts",
    "PersonNeed",
    "Suggestion",
    "UnmetNeed",
    "analytic_facts",
    "directory",
    "load_matching_rules",
    "locality_of_lsoa",
    "match",
    "person_facts",
    "rank",
]
