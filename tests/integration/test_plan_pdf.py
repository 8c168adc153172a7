"""The plan's PDF as a board gets it: printed by the real headless Chromium, then drawn to
PNG (pypdfium2) and looked at: its text is there (area, run date, every table, the page
footer) and so are its charts (the series' colours drawn on the page). One page is kept in
docs/screenshots/ for docs/commissioning-plan-output.md."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
from tests.plan_fixture import fixture_plan, too_small_plan

from houseofcare.commissioning.plan_output import PdfUnavailable, write_plan
from houseofcare.commissioning.plan_output.charts import PALETTE

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshots" / "commissioning-plan-pdf.png"


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])


def _pixels(image: np.ndarray, colour: str) -> int:
    """How many pixels are (nearly) this colour."""
    return int((np.abs(image[:, :, :3].astype(int) - _rgb(colour)).sum(axis=2) < 30).sum())


def _pages(path: Path) -> tuple[list[str], list[np.ndarray]]:
    pdf = pdfium.PdfDocument(str(path))
    try:
        # pdfium marks a hyphen where a line broke as U+FFFE
        texts = [
            pdf[i].get_textpage().get_text_range().replace("\ufffe", "-") for i in range(len(pdf))
        ]
        images = [
            np.asarray(pdf[i].render(scale=1.5).to_pil().convert("RGB")) for i in range(len(pdf))
        ]
    finally:
        pdf.close()
    return texts, images


def test_the_pdf_has_the_plans_text_and_charts(tmp_path: Path) -> None:
    out = write_plan(fixture_plan(), tmp_path / "plan.pdf")
    assert out.read_bytes().startswith(b"%PDF")
    texts, images = _pages(out)
    assert len(texts) >= 2
    whole = " ".join(" ".join(t.split()) for t in texts)
    for words in (
        "Local commissioning plan for long-term conditions: Luton",
        "31 March 2026 (pipeline run run-20260331-1)",
        "Counts of 1 to 7 are shown as *",
        "Needs on care plans, by domain",
        "Case management capacity for level 3",
        "People per level of care, by IMD 2019 quintile",
        "People with a care plan reviewed in the last year",
        "Too few unmet needs were recorded in Luton",
        "£245,000",
        "Unit Costs of Health and Social Care 2024",
    ):
        assert words in whole, words
    for n, text in enumerate(texts, start=1):  # every page says where, when and which page
        flat = " ".join(text.split())
        assert "Luton: figures as of 31 March 2026 (run run-20260331-1)" in flat
        assert f"Page {n} of {len(texts)}" in flat
    # the charts are drawn: the stacked bars' second and third colours appear only in charts,
    # and the first (NHS blue) is on pages after the banner's
    assert sum(_pixels(i, PALETTE[1]) for i in images) > 500
    assert sum(_pixels(i, PALETTE[2]) for i in images) > 100
    assert sum(_pixels(i, PALETTE[0]) for i in images[1:]) > 2000
    richest = max(range(len(images)), key=lambda i: _pixels(images[i], PALETTE[1]))
    pdf = pdfium.PdfDocument(str(out))
    try:
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        pdf[richest].render(scale=1.3).to_pil().save(SCREENSHOT)
    finally:
        pdf.close()


def test_a_too_small_plan_prints_one_plain_message(tmp_path: Path) -> None:
    texts, _ = _pages(write_plan(too_small_plan(), tmp_path / "small.pdf"))
    flat = " ".join(" ".join(t.split()) for t in texts)
    assert len(texts) == 1
    assert "Too few people for a plan" in flat
    assert "There are too few people in The Tiny Surgery" in flat
    assert "Needs on care plans" not in flat  # no empty table


def test_without_chromium_the_pdf_fails_and_the_last_plan_stays(tmp_path: Path) -> None:
    out = tmp_path / "plan.pdf"
    out.write_bytes(b"%PDF the last good plan")
    try:
        write_plan(fixture_plan(), out, chromium=tmp_path / "no-chromium")
    except PdfUnavailable as exc:
        assert "HOC_CHROMIUM" in str(exc)
    else:
        raise AssertionError("a PDF without Chromium")
    assert out.read_bytes() == b"%PDF the last good plan"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.pdf"]
