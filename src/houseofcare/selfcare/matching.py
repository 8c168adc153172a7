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
  Status, age and locality are filtered in SQL, with a prefilter on needs and conditions
  (a service addressing none of the person's needs and none of their conditions is not a
  candidate), so only candidates are scored;
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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from houseofcare.datafiles import read_toml, validation_problems
from houseofcare.results import AnalyticResults
from houseofcare.selfcare.activation import (
    ActivationLevel,
    ActivationRules,
    latest,
    packaged_activation_rules,
)
from houseofcare.selfcare.capacity import capacities
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
    """One service row as matching reads it (only the model's columns)."""

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
)


def _json_has(column: Any, value: str) -> Any:
    """A prefilter: the JSON list's text holds the quoted value (checked exactly later)."""
    return cast(column, Text).like(f'%"{value}"%')


def _taxonomy_terms(taxonomy: Any) -> str:
    if not isinstance(taxonomy, list):
        return ""
    return " ".join(str(t.get("term", "")) for t in taxonomy if isinstance(t, dict))


def _candidates(session: Session, facts: PersonFacts) -> list[Candidate]:
    """The active services the person is eligible for by age and place, addressing one of
    their needs or conditions (all active ones when they have neither)."""
    query = select(*_COLUMNS).where(Service.status == ServiceStatus.active)
    if facts.age is not None:
        query = query.where(
            or_(Service.minimum_age.is_(None), Service.minimum_age <= facts.age),
            or_(Service.maximum_age.is_(None), Service.maximum_age >= facts.age),
        )
    if facts.locality is not None:
        places = sorted(facts.locality.own | facts.locality.nearby)
        query = query.where(
            or_(Service.locality.is_(None), func.lower(Service.locality).in_(places))
        )
    wanted = [_json_has(Service.needs, d) for d in facts.need_domains] + [
        _json_has(Service.conditions, r) for r in sorted(facts.registers)
    ]
    if wanted:
        query = query.where(or_(*wanted))
    found = []
    for row in session.execute(query):
        text = " ".join(
            part
            for part in (row.name, row.description or "", _taxonomy_terms(row.taxonomy))
            if part
        )
        found.append(
            Candidate(
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
            )
        )
    return found


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
    suggestions: tuple[Suggestion, ...]
    unmet: tuple[UnmetNeed, ...]
    #: Services read as candidates (after the SQL filters), for the page's note.
    considered: int


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


def _score(
    service: Candidate,
    facts: PersonFacts,
    rules: MatchingRules,
    level: ActivationLevel | None,
    words: frozenset[str],
    register_names: Mapping[str, str],
    per_month: tuple[int | None, int | None],
) -> Suggestion | None:
    """The service's fit for the person, or None when it is excluded (a condition the person
    does not have, a locality not theirs nor nearby)."""
    w = rules.weights
    if service.conditions and not set(service.conditions) & facts.registers:
        return None
    reasons: list[str] = []
    cautions: list[str] = []
    score = 0.0
    needs_met = tuple(d for d in facts.need_domains if d in service.needs)
    if facts.need_domains:
        score += w.needs * len(needs_met) / len(facts.need_domains)
        if needs_met:
            reasons.append(
                "Helps with " + ", ".join(NEED_WORDS.get(d, d).lower() for d in needs_met)
            )
    shared = sorted(set(service.conditions) & facts.registers)
    if shared:
        score += w.conditions
        reasons.append("For people with " + ", ".join(register_names.get(r, r) for r in shared))
    if facts.locality is not None:
        place = (service.locality or "").casefold()
        if not place:
            score += w.place * rules.place.everywhere
            reasons.append("Available wherever the person lives")
        elif place in facts.locality.own:
            score += w.place * rules.place.same_locality
            reasons.append(f"In {facts.locality.name}, where the person lives")
        elif place in facts.locality.nearby:
            score += w.place * rules.place.nearby
            reasons.append(f"Nearby, in {service.locality}")
        else:
            return None
    limit, left = per_month
    full = left == 0
    if limit is None:
        score += w.capacity
    elif limit > 0 and left is not None:
        score += w.capacity * left / limit
    if full:
        cautions.append("Full this month")
    elif left is not None:
        reasons.append(f"{left} place{'s' if left != 1 else ''} left this month")
    wanted = facts.preferences.accessibility
    if wanted:
        met = [a for a in wanted if a.casefold() in service.accessibility]
        score += w.accessibility * len(met) / len(wanted)
        if met:
            reasons.append("Has " + ", ".join(met))
        missing = [a for a in wanted if a.casefold() not in service.accessibility]
        if missing:
            cautions.append("Does not say it has " + ", ".join(missing))
    language = facts.preferences.language
    if language:
        offered = service.languages or ("en",)
        if language in offered:
            score += w.language
            if language != "en":
                reasons.append(f"Offered in {_language(language)}")
        else:
            cautions.append(f"Not offered in {_language(language)}")
    if level is not None and _activation_fit(level, service):
        score += w.activation
        reasons.append(level.because)
    ways = [
        way
        for way in facts.preferences.ways
        if any(t in service.text for t in WAY_TERMS.get(way, ()))
    ]
    if facts.preferences.ways and ways:
        score += w.ways * len(ways) / len(facts.preferences.ways)
        reasons.append("Offers " + ", ".join(WAYS[way].lower() for way in ways))
    matched = sorted(word for word in words if word in service.text)
    if words and matched:
        score += w.goals * min(len(matched), 3) / 3
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
        full=full,
        places_left=left,
    )


def rank(
    candidates: Sequence[Candidate],
    facts: PersonFacts,
    places: Mapping[int, tuple[int | None, int | None]],
    *,
    rules: MatchingRules | None = None,
    activation_rules: ActivationRules | None = None,
    register_names: Mapping[str, str] | None = None,
) -> list[Suggestion]:
    """Score every candidate, drop the excluded, and order: services with a place first,
    then by score (highest first), then by name and id so the order is stable."""
    rules = rules or packaged_matching_rules()
    level = (
        None
        if facts.activation is None
        else (activation_rules or packaged_activation_rules()).level(facts.activation)
    )
    words = goal_words(facts.goals, rules)
    names = register_names or {}
    scored = [
        s
        for c in candidates
        if (
            s := _score(
                c,
                facts,
                rules,
                level,
                words,
                names,
                # a service not counted yet has all its places left
                places.get(c.id, (c.capacity_per_month, c.capacity_per_month)),
            )
        )
        is not None
    ]
    return sorted(scored, key=lambda s: (s.full, -s.score, s.name.casefold(), s.service_id))


def unmet_needs(facts: PersonFacts, suggestions: Sequence[Suggestion]) -> tuple[UnmetNeed, ...]:
    """The person's needs no suggestion with a place addresses (`only_full`: only full ones)."""
    open_ = {d for s in suggestions if not s.full for d in s.needs_met}
    any_ = {d for s in suggestions for d in s.needs_met}
    return tuple(
        UnmetNeed(
            domain=d,
            words=NEED_WORDS.get(d, d),
            descriptions=tuple(n.description for n in facts.needs if n.domain == d),
            only_full=d in any_,
        )
        for d in facts.need_domains
        if d not in open_
    )


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
) -> Match:
    """The suitable services for the person, ranked, and their needs left unmet."""
    candidates = _candidates(session, facts)
    limited = [c.id for c in candidates if c.capacity_per_month is not None]
    places = {
        sid: (cap.per_month, cap.left) for sid, cap in capacities(session, limited, now).items()
    }
    suggestions = rank(
        candidates,
        facts,
        places,
        rules=rules,
        activation_rules=activation_rules,
        register_names=_register_names(),
    )
    return Match(
        facts=facts,
        suggestions=tuple(suggestions),
        unmet=unmet_needs(facts, suggestions),
        considered=len(candidates),
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
    "load_matching_rules",
    "locality_of_lsoa",
    "match",
    "person_facts",
    "rank",
]
