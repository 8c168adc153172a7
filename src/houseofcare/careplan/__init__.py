"""The single holistic care plan (house of care): domain services over the operational store.

The FHIR API (`houseofcare.api`) and the pages (`houseofcare.web`) both call these; neither
holds domain logic of its own.

- `records`: the typed records of a plan, goal and consent; `reading`: read from the store;
- `people`: organisations, people (NHS number checked), users, care teams, caseloads;
- `consent`: consent to share with organisation types;
- `plans`: the plan, its goals, actions and needs, the conversation and reviews, versioned;
- `reconcile`: a whole plan or goal brought to what the client sent, all or nothing;
- `pg_read`, `pg_update`: the CarePlan read and update on PostgreSQL in one or two round trips;
- `preparation`: the Year of Care results summary from the latest analytic run;
- `lists`: due reviews per team and a case manager's caseload;
- `actor`: who acts (one `Actor`, and `SYSTEM`); `access`, `policy`: the one access decision;
- `errors`: what the services refuse, with the reason (`StaleVersion`, `ActivePlanExists` …).
"""

from houseofcare.careplan.actor import SYSTEM, Actor
from houseofcare.careplan.errors import (
    ActivePlanExists,
    CarePlanError,
    Conflict,
    InvalidChange,
    NotFound,
    StaleVersion,
)

__all__ = [
    "SYSTEM",
    "ActivePlanExists",
    "Actor",
    "CarePlanError",
    "Conflict",
    "InvalidChange",
    "NotFound",
    "StaleVersion",
]
