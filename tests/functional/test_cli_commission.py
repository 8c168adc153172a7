"""`hoc commission` as a user runs it: a real subprocess over real stores (a small synthetic
population, ingested and run, with the demo users and their care plans), writing the plan in
each format."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pypdfium2 as pdfium
import pytest
from openpyxl import load_workbook

from houseofcare.store.demo import demo_password

HOC = [sys.executable, "-m", "houseofcare.cli"]
AS_OF = "2026-03-31"


def hoc(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `hoc`; a `--user` types their demo password."""
    full_env = {**os.environ, "COLUMNS": "200", "HOC_THREADS": "1"}
    full_env.pop("HOC_USER", None)
    full_env.pop("HOC_TOKEN", None)
    full_env.update(env or {})
    typed = demo_password(args[args.index("--user") + 1]) + "\n" if "--user" in args else ""
    return subprocess.run(
        [*HOC, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        input=typed,
    )


def _store(root: Path, people: int) -> Path:
    """synth → ingest → run → db upgrade → seed-demo, small; the data folder."""
    export, data = root / "export", root / "data"
    for step in (
        ("synth", "--patients", str(people), "--seed", "5", "--as-of", AS_OF, "--out",
         str(export)),
        ("ingest", str(export), "--data-dir", str(data)),
        ("run", "--as-of", AS_OF, "--data-dir", str(data)),
        ("db", "upgrade", "--data-dir", str(data)),
        ("db", "seed-demo", "--people", str(min(people, 20)), "--plans", "3", "--data-dir",
         str(data)),
    ):  # fmt: skip
        done = hoc(*step, cwd=root)
        assert done.returncode == 0, f"{step[0]}: {done.stderr}"
    return data


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _store(tmp_path_factory.mktemp("commission"), 400)


def _commission(data: Path, out: Path, *more: str, **kw: object) -> subprocess.CompletedProcess:
    return hoc(
        "commission", "--out", str(out), "--data-dir", str(data), "--user", "demo.commissioner",
        *more, cwd=out.parent, **kw,
    )  # fmt: skip


def _audit(data: Path) -> list[tuple[str, str, str, dict]]:
    with sqlite3.connect(data / "operational.sqlite") as db:
        rows = db.execute(
            "SELECT username, action, outcome, detail FROM audit_event "
            "WHERE resource_type = 'CommissioningPlan' ORDER BY id"
        ).fetchall()
    return [(u, a, o, json.loads(d) if d else {}) for u, a, o, d in rows]


def _practice(data: Path) -> tuple[str, str]:
    con = duckdb.connect(str(data / "analytic.duckdb"), read_only=True)
    try:
        ((practice_id,),) = con.execute(
            "SELECT practice_id FROM patient GROUP BY practice_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchall()
    finally:
        con.close()
    return str(practice_id), str(practice_id)


def test_the_plan_is_written_in_each_format_and_each_is_audited(data: Path, tmp_path: Path) -> None:
    for suffix in ("html", "pdf", "xlsx", "csv"):
        out = tmp_path / f"plan.{suffix}"
        done = _commission(data, out)
        assert done.returncode == 0, done.stderr
        assert f"written to {out}" in done.stdout.replace("\n", "")
        assert out.stat().st_size > 0
    html = (tmp_path / "plan.html").read_text()
    assert "<svg" in html and 'id="too-small"' not in html
    assert (
        "31 March 2026" in html and "all practices" in html and "rounded to the nearest 5" in html
    )
    assert "<script" not in html and "http://" not in html.split("</head>")[0]
    pdf = pdfium.PdfDocument(str(tmp_path / "plan.pdf"))
    text = " ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    pdf.close()
    assert "Local commissioning plan" in text and "31 March 2026" in text
    book = load_workbook(tmp_path / "plan.xlsx")
    assert book.sheetnames[0] == "About"
    about = [c for row in book["About"].iter_rows(values_only=True) for c in row if c]
    assert any("2026-03-31" in str(c) for c in about)
    rows = list(csv.reader(io.StringIO((tmp_path / "plan.csv").read_text())))
    assert rows[0] == ["area", "run_date", "section", "table", "row", "column", "kind", "value"]
    assert len(rows) > 1 and all(r[0] == "all practices" and r[1] == AS_OF for r in rows[1:])
    counts = [r for r in rows[1:] if r[6] == "count"]
    assert counts and all(r[7] == "*" or int(r[7]) % 5 == 0 for r in counts)  # controlled
    events = [e for e in _audit(data) if e[1] == "export" and e[2] == "success"]
    assert [e[3]["format"] for e in events[-4:]] == ["html", "pdf", "xlsx", "csv"]
    assert all(e[0] == "demo.commissioner" and e[3]["via"] == "cli" for e in events[-4:])


def test_a_practice_or_a_locality_is_an_area(data: Path, tmp_path: Path) -> None:
    practice_id, _ = _practice(data)
    out = tmp_path / "practice.csv"
    done = _commission(data, out, "--area", practice_id)
    assert done.returncode == 0, done.stderr
    assert _audit(data)[-1][3]["area"] == f"practice {practice_id}"
    unknown = _commission(data, tmp_path / "x.csv", "--area", "Nowhere-on-Sea")
    assert unknown.returncode == 2
    assert "no practice or locality 'Nowhere-on-Sea'" in unknown.stderr
    assert "`all`" in unknown.stderr and practice_id in unknown.stderr
    assert not (tmp_path / "x.csv").exists()


def test_a_role_without_the_population_figures_is_refused_and_audited(
    data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "plan.html"
    done = hoc(
        "commission", "--out", str(out), "--data-dir", str(data), "--user", "demo.nurse",
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "refused" in done.stderr and "population.read" in done.stderr
    assert not out.exists()
    user, action, outcome, _ = _audit(data)[-1]
    assert (user, action, outcome) == ("demo.nurse", "export", "denied")
    nobody = hoc("commission", "--out", str(out), "--data-dir", str(data), cwd=tmp_path)
    assert nobody.returncode == 2 and "--user" in nobody.stderr


def test_a_failed_write_leaves_the_last_plan_whole(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan.pdf"
    first = _commission(data, out)
    assert first.returncode == 0, first.stderr
    before = out.read_bytes()
    broken = _commission(data, out, env={"HOC_CHROMIUM": str(tmp_path / "no-chromium")})
    assert broken.returncode == 1
    assert "was not changed" in broken.stderr.replace("\n", "")
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.pdf"]  # no temporary left
    wrong = _commission(data, tmp_path / "plan.docx")
    assert wrong.returncode == 2 and ".html, .pdf, .xlsx, .csv" in wrong.stderr


def test_an_area_too_small_for_any_figure_says_so(tmp_path_factory: pytest.TempPathFactory) -> None:
    root = tmp_path_factory.mktemp("tiny")
    tiny = _store(root, 6)
    out = root / "plan.html"
    done = _commission(tiny, out)
    assert done.returncode == 0, done.stderr
    assert "too few people for any figure to survive" in done.stdout.replace("\n", " ")
    html = out.read_text()
    assert "There are too few people in all practices" in html
    assert "<table" not in html  # no empty tables
    rows = list(csv.reader(io.StringIO(_csv(tiny, root).read_text())))
    assert rows[1][5:7] == ["message", "text"] and "too few people" in rows[1][7]


def _csv(data: Path, root: Path) -> Path:
    out = root / "plan.csv"
    done = _commission(data, out)
    assert done.returncode == 0, done.stderr
    return out
