"""Who a person page is about, as its banner shows them: name, NHS number, born, age.

Every page about one person shows this banner first (template `person_banner.html`), the
patient-banner habit of clinical systems, so a user sees whose record they act on before
they act (hazard H-049, the wrong person's page).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from houseofcare.store.models import Person


def person_name(given: str | None, family: str | None) -> str:
    """FAMILY, Given: as on NHS letters and in the banner, so a name in a list reads the same
    as on the page it opens ("" when neither is recorded)."""
    given = (given or "").strip()
    family = (family or "").strip().upper()
    return f"{family}, {given}" if family and given else family or given


@dataclass(frozen=True)
class PersonBanner:
    person_id: int
    name: str
    nhs_number: str
    birth_date: dt.date | None
    died: dt.date | None = None
    today: dt.date | None = None

    @property
    def nhs_number_spaced(self) -> str:
        """3 3 4, as the NHS number is written and read aloud."""
        n = self.nhs_number
        return f"{n[:3]} {n[3:6]} {n[6:]}" if len(n) == 10 else n

    @property
    def age(self) -> int | None:
        """Whole years at death, or today."""
        if self.birth_date is None:
            return None
        on = self.died or self.today or dt.date.today()
        born = self.birth_date
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

    @classmethod
    def of(cls, person: Person, *, today: dt.date | None = None) -> PersonBanner:
        """The banner of an operational-store person (family name in capitals, as on NHS
        letters; "name not recorded" rather than an empty heading)."""
        return cls(
            person_id=person.id,
            name=person_name(person.given_name, person.family_name) or "Name not recorded",
            nhs_number=person.nhs_number,
            birth_date=person.birth_date,
            today=today,
        )
