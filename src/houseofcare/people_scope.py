"""Whom an identifiable analytic list may name: the access decision, as a filter for SQL.

The analytic store knows people by their analytic `patient_id` and their practice's ODS code,
not by the operational store's relationships. `careplan.access` turns a user's grants into a
`PeopleScope` (the practices whose registered people they may see, and the individual people
they may see through their caseload, a consent or being the person); the recall list, the
movers on the triangle and the RiskAssessment export all filter by it, so a command can never
list someone the API would refuse to show the same user.
"""

from __future__ import annotations

from dataclasses import dataclass

from houseofcare.sql_text import sql_literal


@dataclass(frozen=True)
class PeopleScope:
    """People of these practices (ODS codes), or these analytic patient ids."""

    practices: frozenset[str] = frozenset()
    patient_ids: frozenset[str] = frozenset()

    def condition(self, practice_column: str, patient_column: str) -> str:
        """A portable SQL condition (DuckDB and Spark): true for the people in scope."""
        parts = []
        if self.practices:
            codes = ", ".join(sql_literal(code) for code in sorted(self.practices))
            parts.append(f"{practice_column} IN ({codes})")
        if self.patient_ids:
            ids = ", ".join(sql_literal(pid) for pid in sorted(self.patient_ids))
            parts.append(f"{patient_column} IN ({ids})")
        return "(" + " OR ".join(parts) + ")" if parts else "(1 = 0)"

    @property
    def empty(self) -> bool:
        return not (self.practices or self.patient_ids)
