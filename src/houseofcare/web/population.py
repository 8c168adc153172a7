"""The population page: the run's triangle, risk bands, register prevalence beside England's
QOF and practices compared, each by IMD quintile, for everyone or one practice or locality.

Thin over the services: access is the one decision (`population.read`, an aggregate action a
commissioner may hold: `careplan/policy.toml`), and every figure is read through
`houseofcare.results` (`AnalyticResults.population`), which controls every count
(`commissioning.population`, `commissioning.disclosure`) before it leaves the analytic store:
no person, and no count of 1-7, ever reaches this page. Every view is audited (a `search` of
`Population`, with the run and the filters), and so is every refusal.

A run's results never change, so the figures are kept per process, keyed by the store's
stamp (`web/store_memo.py`): the next view after a new run reads again.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Final

import duckdb

from houseofcare.api.deps import Services
from houseofcare.careplan.policy import Action
from houseofcare.commissioning.population import (
    DISCLOSURE_RULE,
    LEVELS,
    QUINTILES,
    RISK_BANDS,
    PopulationFigures,
    PopulationFilter,
    Practice,
)
from houseofcare.results import AnalyticResults, ResultsUnavailable, Run
from houseofcare.store.database import transaction
from houseofcare.web.page import guard as page_guard
from houseofcare.web.runs import RunStatus, store_stamp
from houseofcare.web.session import PageSession
from houseofcare.web.store_memo import StoreMemo
from houseofcare.web.triangle import TriangleDrawing, triangle_drawing

RESOURCE_TYPE: Final = "Population"

#: Per store stamp: the latest run and the practices (with their localities).
_BASIS: StoreMemo[tuple[Run | None, list[Practice]]] = StoreMemo(kept=4)
#: Per store stamp, run and filter: the controlled figures.
_FIGURES: StoreMemo[PopulationFigures | None] = StoreMemo(kept=64)


@dataclass
class PopulationView:
    """What the population page shows."""

    run: RunStatus
    chosen: PopulationFilter = field(default_factory=PopulationFilter)
    practices: list[Practice] = field(default_factory=list)
    figures: PopulationFigures | None = None
    drawing: TriangleDrawing | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)

    @property
    def localities(self) -> list[str]:
        return sorted({p.locality for p in self.practices if p.locality})

    @property
    def practice_name(self) -> str | None:
        for p in self.practices:
            if p.practice_id == self.chosen.practice_id:
                return p.name
        return None

    @property
    def whose(self) -> str:
        """Whose figures, in words."""
        if self.chosen.practice_id and self.chosen.locality:
            return f"{self.practice_name} in {self.chosen.locality}"
        if self.chosen.practice_id:
            return str(self.practice_name)
        if self.chosen.locality:
            return f"the practices of {self.chosen.locality}"
        return "everyone in the analytic store"

    levels = LEVELS
    quintiles = QUINTILES
    risk_bands = tuple(words for _, words in RISK_BANDS)
    disclosure_rule = DISCLOSURE_RULE


def _choose(
    practices: list[Practice], practice: str | None, locality: str | None
) -> tuple[PopulationFilter, list[tuple[str, str]]]:
    """The filter asked for, checked against the practices and localities there are."""
    errors: list[tuple[str, str]] = []
    practice = practice or None
    locality = locality or None
    if practice is not None and practice not in {p.practice_id for p in practices}:
        errors.append(("practice", "Choose a practice from the list"))
        practice = None
    if locality is not None and locality not in {p.locality for p in practices}:
        errors.append(("locality", "Choose a locality from the list"))
        locality = None
    if practice is not None and locality is not None:
        home = next(p.locality for p in practices if p.practice_id == practice)
        if home != locality:
            errors.append(
                ("practice", f"That practice is not in {locality}: choose one of its practices")
            )
            practice = None
    return PopulationFilter(practice_id=practice, locality=locality), errors


def population_view(
    services: Services, signed_in: PageSession, practice: str | None, locality: str | None
) -> PopulationView:
    """The controlled figures for the filter asked for (refused and audited for a role not
    granted `population.read`: `AccessRefused`)."""
    guard = page_guard(signed_in, services)
    with transaction(guard.factory) as session:
        guard.authorise(
            session,
            Action.population_read,
            None,
            audit_action="search",
            resource_type=RESOURCE_TYPE,
        )
    settings = services.settings
    view = PopulationView(run=RunStatus(missing="No pipeline run yet: run `hoc run`."))
    path = settings.analytic_db_path
    if not path.exists():
        view.run = RunStatus(
            missing="There is no analytic store yet: run `hoc ingest` and `hoc run`."
        )
    else:
        stamp = (store_stamp(path), str(path))
        try:
            with ExitStack() as stack:
                opened: list[AnalyticResults] = []

                def results() -> AnalyticResults:
                    """The store, opened only when an answer is not already kept."""
                    if not opened:
                        opened.append(stack.enter_context(AnalyticResults.open(settings)))
                    return opened[0]

                run, known = _BASIS.get(
                    stamp, lambda: (results().latest_run(), results().practices())
                )
                view.practices = known
                view.chosen, view.errors = _choose(known, practice, locality)
                if run is not None:
                    view.run = RunStatus(
                        run_id=run.run_id, as_of=run.as_of, finished_at=run.finished_at
                    )
                    chosen = view.chosen
                    view.figures = _FIGURES.get(
                        (stamp, run.run_id, chosen.practice_id, chosen.locality),
                        lambda: results().population(run.run_id, chosen, known),
                    )
        except (ResultsUnavailable, duckdb.Error) as exc:
            view.run = RunStatus(
                missing=str(exc)
                if isinstance(exc, ResultsUnavailable)
                else ("The analytic store cannot be read now; try again shortly.")
            )
            view.figures = None
    if view.figures is not None:
        view.drawing = triangle_drawing(view.figures.triangle)
    with transaction(guard.factory) as session:
        guard.audit(
            session,
            action="search",
            resource_type=RESOURCE_TYPE,
            detail={
                "run": view.run.run_id,
                "practice": view.chosen.practice_id,
                "locality": view.chosen.locality,
                "aggregate": True,
            },
        )
    return view
