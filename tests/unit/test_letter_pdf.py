"""The results letter's PDF names its person exactly, in any European script (hazard H-049),
and says each result in its unit."""

from __future__ import annotations

import datetime as dt
import io

from pypdf import PdfReader

from houseofcare.web.letter import UNICODE_FONT, Letter, LetterMeasure, letter_pdf
from houseofcare.web.person_banner import PersonBanner


def pdf_text(content: bytes) -> str:
    """The text a reader of the PDF sees (fonts are embedded as glyph ids, not plain text)."""
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def _letter(given: str, family: str) -> Letter:
    banner = PersonBanner(
        person_id=7,
        name=f"{family.upper()}, {given}",
        nhs_number="9434765919",
        birth_date=dt.date(1950, 4, 2),
        today=dt.date(2026, 3, 31),
    )
    hba1c = LetterMeasure(
        label="HbA1c (average blood sugar)",
        value="62",
        unit="mmol/mol",
        date=dt.date(2026, 2, 1),
        about="A measure of your average blood sugar over the last 2 to 3 months.",
        meaning="higher than most people with diabetes aim for",
        target="Most people with diabetes aim for 58 mmol/mol or lower.",
    )
    return Letter(
        banner=banner,
        run_as_of=dt.date(2026, 3, 31),
        prepared_on=dt.date(2026, 4, 1),
        sent_on=None,
        measures=(hba1c,),
        care_gaps=(("Foot check", None),),
        talk_about="Walking to the shops – and my knees",
    )


def test_the_pdf_prints_a_name_in_any_european_script_exactly() -> None:
    assert all(path.exists() for path in UNICODE_FONT.values()), "scripts/setup installs it"
    text = pdf_text(letter_pdf(_letter("Łucja", "Wójcik-Ødegård")))
    assert "WÓJCIK-ØDEGÅRD, Łucja" in text
    assert "943 476 5919" in text
    assert "62 mmol/mol" in text
    assert "?" not in text.replace("?\n", "").split("Before we meet")[0]


def test_the_pdf_is_the_same_bytes_for_the_same_letter() -> None:
    """No clock in the file: the same letter makes the same PDF (checkable, cacheable)."""
    letter = _letter("Ada", "Planned")
    assert letter_pdf(letter) == letter_pdf(letter)
