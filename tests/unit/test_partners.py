"""What a partner is shown of a plan (`careplan/partners.py`): only the actions their
organisation is named in or added, the same in the plan's history, and which roles are
partners (read from the policy, not written here)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from houseofcare.careplan.partners import (
    PARTNER_TYPES,
    named_in,
    partner_actions,
    partner_roles,
    shared_versions,
)
from houseofcare.careplan.policy import packaged_policy
from houseofcare.store.models import OrganisationType, Role

OURS = frozenset({7, 8})
MINE = {"id": 1, "performer_user_id": 7, "created_by_id": 3, "description": "Visit"}
ADDED_BY_US = {"id": 2, "performer_user_id": None, "created_by_id": 8, "description": "Refer"}
THEIRS = {"id": 3, "performer_user_id": 4, "created_by_id": 4, "description": "Inhaler check"}


def test_only_actions_the_organisation_is_named_in_or_added() -> None:
    assert named_in(MINE, OURS) and named_in(ADDED_BY_US, OURS) and not named_in(THEIRS, OURS)
    assert partner_actions([MINE, THEIRS, ADDED_BY_US], OURS) == (MINE, ADDED_BY_US)
    assert partner_actions([MINE, THEIRS], frozenset()) == ()


def _version(version: int, changes: dict) -> SimpleNamespace:
    return SimpleNamespace(
        version=version,
        change="action",
        changed_at=dt.datetime(2026, 12, 1, 9, 0),
        changed_by_id=4,
        changed_by_role="nurse",
        changes=changes,
        snapshot={"title": "Plan", "actions": [MINE, THEIRS]},
    )


def test_the_history_leaves_out_changes_to_other_actions() -> None:
    rows = [
        _version(2, {"action_added": 3}),
        _version(3, {"action_added": 1}),
        _version(4, {"action": {"id": 3, "version": 2, "changes": {"due_date": [None, "x"]}}}),
        _version(5, {"review_date": [None, "2027-01-01"], "action": {"id": 3, "changes": {}}}),
    ]
    shown = shared_versions(rows, [1])
    assert [v.version for v in shown] == [3, 5]
    assert shown[0].changes == {"action_added": 1}
    assert shown[1].changes == {"review_date": [None, "2027-01-01"]}
    assert all(v.snapshot["actions"] == [MINE] for v in shown)
    assert rows[3].changes["action"] == {"id": 3, "changes": {}}  # the rows are not changed


def test_partners_are_the_roles_reading_plans_only_through_consent() -> None:
    assert partner_roles(packaged_policy()) == {Role.social_worker, Role.voluntary_sector}
    assert (
        OrganisationType.local_authority_social_care,
        OrganisationType.voluntary_group,
    ) == PARTNER_TYPES
