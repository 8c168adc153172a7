"""The results letter of Year of Care preparation: what the person reads before the conversation.

Built from the preparation as stored (`careplan/preparation.py`): the summary kept with it is
what was, or will be, sent, so the page, the printed page and the PDF say the same thing
however many pipeline runs come after. Each measure is shown in the one unit it means
(`measures.toml`, read through the unit-aware event layer when the summary was made), with
what the value means in plain English and the person's own target where their plan has one.

The PDF is made here with fpdf2 (pure Python, no network), in DejaVu Sans (Debian's
`fonts-dejavu-core`, installed by `scripts/setup`), which prints names in any European script
as they are recorded: a letter must name its person exactly (hazard H-049). Where that font
is missing, fpdf2's built-in Helvetica covers Latin-1 only, so text is brought into it (dashes
and quotes to their plain forms; anything else is printed as "?", never silently dropped).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from fpdf import FPDF

from houseofcare.careplan.measures import packaged_measures
from houseofcare.web.person_banner import PersonBanner

#: What the letter asks the person to think about before the conversation (Year of Care).
PROMPTS: tuple[str, ...] = (
    "What is most important to you about your health and your life at the moment?",
    "Is there anything in these results you would like to understand better?",
    "Is there anything you would like to change, and what might help you do it?",
    "Is there anything that worries you, or that gets in the way?",
)


@dataclass(frozen=True)
class LetterMeasure:
    label: str
    value: str
    unit: str
    date: dt.date | None
    about: str
    meaning: str
    target: str


@dataclass(frozen=True)
class Letter:
    """One person's results letter as the page and the PDF show it."""

    banner: PersonBanner
    run_as_of: dt.date | None
    prepared_on: dt.date
    sent_on: dt.date | None
    measures: tuple[LetterMeasure, ...]
    care_gaps: tuple[tuple[str, dt.date | None], ...]
    talk_about: str | None


def _date(text: Any) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(str(text)[:10])
    except ValueError:
        return None


def _number(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"


def _target(measure_id: str, label: str, goals: Sequence[Mapping[str, Any]]) -> str:
    """The person's own target on this measure from their plan's goals, in words."""
    names = {measure_id.lower(), label.lower(), label.split(" ")[0].lower()}
    for goal in goals:
        named = (goal.get("target_measure") or "").strip().lower()
        if named and named in names and goal.get("target_value") is not None:
            unit = goal.get("target_unit") or ""
            due = _date(goal.get("target_due"))
            by = f" by {due:%-d %B %Y}" if due else ""
            return f"Your target: {_number(float(goal['target_value']))} {unit}{by}".strip()
    return "No personal target yet: we can agree one together if you want to."


def build_letter(
    banner: PersonBanner,
    summary: Mapping[str, Any],
    *,
    prepared_on: dt.date,
    sent_on: dt.date | None,
    talk_about: str | None,
    goals: Sequence[Mapping[str, Any]] = (),
) -> Letter:
    """The letter of a stored summary (`Preparation.summary`), with the person's targets."""
    units = {m.id: m.unit for m in packaged_measures()}
    measures = tuple(
        LetterMeasure(
            label=m["label"],
            value=_number(float(m["value"])),
            # the unit the summary was made in; the file's unit is the same by construction
            unit=m.get("unit") or units.get(m["measure"], ""),
            date=_date(m.get("date")),
            about=m.get("about", ""),
            meaning=m.get("meaning", ""),
            target=_target(m["measure"], m["label"], goals),
        )
        for m in summary.get("measures", [])
    )
    gaps = tuple((g["name"], _date(g.get("overdue_since"))) for g in summary.get("care_gaps", []))
    return Letter(
        banner=banner,
        run_as_of=_date(summary.get("as_of")),
        prepared_on=prepared_on,
        sent_on=sent_on,
        measures=measures,
        care_gaps=gaps,
        talk_about=talk_about,
    )


_PLAIN = str.maketrans({"–": "-", "—": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "..."})


#: The Unicode font of the PDF (regular and bold), when the system has it.
DEJAVU: Final = Path("/usr/share/fonts/truetype/dejavu")
UNICODE_FONT: Final = {"": DEJAVU / "DejaVuSans.ttf", "B": DEJAVU / "DejaVuSans-Bold.ttf"}


def _use_unicode_font(pdf: FPDF) -> bool:
    """Register DejaVu Sans with the PDF when both faces exist; False: fall back to Helvetica."""
    if not all(path.exists() for path in UNICODE_FONT.values()):
        return False
    for style, path in UNICODE_FONT.items():
        pdf.add_font("DejaVu", style, str(path))
    return True


def _latin1(text: str) -> str:
    """Text Helvetica can print: common punctuation made plain, anything else marked."""
    plain = text.translate(_PLAIN)
    return plain.encode("latin-1", "replace").decode("latin-1")


def letter_pdf(letter: Letter) -> bytes:
    """The letter as an A4 PDF: who it is for first (name, NHS number, born), then each
    measure, the care gaps and the prompts."""
    pdf = FPDF(format="A4")
    pdf.set_title("Your results before your care-planning conversation")
    pdf.set_author("houseofcare")
    pdf.set_creation_date(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))  # no clock in the file
    pdf.set_compression(False)  # plain text streams: a letter is small, and checkable
    pdf.add_page()
    pdf.set_margins(20, 20, 20)
    width = pdf.w - pdf.l_margin - pdf.r_margin
    unicode_font = _use_unicode_font(pdf)
    family = "DejaVu" if unicode_font else "Helvetica"

    def line(text: str, *, size: int = 11, style: str = "", gap: float = 1.5) -> None:
        pdf.set_font(family, style, size)
        shown = text if unicode_font else _latin1(text)
        pdf.multi_cell(width, size * 0.5, shown, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    banner = letter.banner
    born = f"{banner.birth_date:%-d %B %Y}" if banner.birth_date else "not recorded"
    line(banner.name, size=14, style="B", gap=0.5)
    line(f"NHS number: {banner.nhs_number_spaced}    Born: {born}", size=10, gap=4)
    line("Your results before your care-planning conversation", size=16, style="B", gap=2)
    as_of = f"{letter.run_as_of:%-d %B %Y}" if letter.run_as_of else "an unknown date"
    line(
        f"These are your latest results, from our records up to {as_of}. "
        "Please read them before we meet, and think about what you would like to talk about.",
        gap=4,
    )
    if not letter.measures:
        line("We have no recent results to show you.", gap=4)
    for m in letter.measures:
        when = f" on {m.date:%-d %B %Y}" if m.date else ""
        line(m.label, size=12, style="B", gap=0.5)
        line(f"Your result: {m.value} {m.unit}{when}", style="B", gap=0.5)
        line(m.about, size=10, gap=0.5)
        line(f"What it means: {m.meaning}", gap=0.5)
        line(m.target, size=10, gap=3)
    line("Checks and care that are due", size=12, style="B", gap=0.5)
    if letter.care_gaps:
        for name, since in letter.care_gaps:
            due = f" (due since {since:%-d %B %Y})" if since else ""
            line(f"- {name}{due}", gap=0.5)
    else:
        line("Nothing is due at the moment.", gap=0.5)
    pdf.ln(3)
    line("Before we meet, you might like to think about", size=12, style="B", gap=0.5)
    for prompt in PROMPTS:
        line(f"- {prompt}", gap=0.5)
    if letter.talk_about:
        pdf.ln(2)
        line("You told us you would like to talk about", size=12, style="B", gap=0.5)
        line(letter.talk_about)
    return bytes(pdf.output())
