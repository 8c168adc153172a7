"""The single holistic care plan (house of care): domain services over the operational store.

- `people`: organisations, people (NHS number checked), users, care teams, caseloads;
- `consent`: consent to share with organisation types;
- `plans`: the plan, its goals, actions and needs, the conversation and reviews, versioned;
- `preparation`: the Year of Care results summary from the latest analytic run;
- `lists`: due reviews per team and a case manager's caseload;
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
