"""The demo's directory: about forty services in the demo network's localities.

`data/demo_directory.json` is an ORUK 3.0 feed (walking groups, Breathe Easy, structured
education, pulmonary and cardiac rehabilitation, money, housing and carers' advice, talking
therapies, a service that is full this month and one temporarily closed …). The demo set-up
imports it like any feed (idempotent: a second run changes nothing) and makes the demo
voluntary group the receiving organisation of the services it runs, so `demo.voluntary`
sees the referrals to them.
"""

from __future__ import annotations

from importlib.resources import files

from sqlalchemy import select
from sqlalchemy.orm import Session

from houseofcare.selfcare.directory import UpsertCounts, link_organisation, upsert_services
from houseofcare.selfcare.oruk import feed_items, record_from_oruk
from houseofcare.selfcare.oruk_schema import schema_problems
from houseofcare.store.models import Organisation, Service


class DemoDirectoryError(RuntimeError):
    """The shipped demo feed does not pass its own schema (a packaging mistake)."""


def demo_feed_text() -> str:
    return files("houseofcare.selfcare").joinpath("data", "demo_directory.json").read_text("utf-8")


def load_demo_directory(session: Session, voluntary_group: Organisation | None) -> UpsertCounts:
    """Import the demo feed in the caller's transaction and link the voluntary group's own
    services to it (by organisation name)."""
    records = []
    for item in feed_items(demo_feed_text()):
        problems = schema_problems(item.document)
        if problems:
            raise DemoDirectoryError(f"demo_directory.json {item.where}: {problems[0]}")
        records.append(record_from_oruk(item.document))
    counts = upsert_services(session, records)
    if voluntary_group is not None:
        own = session.scalars(
            select(Service.oruk_id).where(
                Service.organisation_name == voluntary_group.name,
                Service.organisation_id.is_(None),
            )
        ).all()
        link_organisation(session, own, voluntary_group.id)
    return counts
