"""`hoc model train|evaluate`, `hoc run` with risk and tiers, `hoc tiers`, `hoc risk-assessments`.

One small synthetic population (2,000 people, made once per module) goes through the whole
level 3 journey as a user runs it: a run without a model, training, a run with the model, the
triangle with movers, the FHIR export and the evaluation report against the oracle.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from houseofcare.store.demo import demo_password

HOC = [sys.executable, "-m", "houseofcare.cli"]
AS_OF = "2026-03-31"


def hoc(*args: str, cwd: Path, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `hoc`; a `--user` is signed in with their demo password on standard input."""
    env = {**os.environ, "COLUMNS": "200", "HOC_THREADS": "1"}
    env.pop("HOC_USER", None)
    env.pop("HOC_TOKEN", None)
    if input is None and "--user" in args:
        input = demo_password(args[args.index("--user") + 1]) + "\n"
    return subprocess.run(
        [*HOC, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        input=input if input is not None else "",
    )


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """synth → ingest → run (no model) → model train → run (with model)."""
    root = tmp_path_factory.mktemp("level3")
    export, data = root / "export", root / "data"
    steps: dict[str, subprocess.CompletedProcess[str]] = {}
    steps["synth"] = hoc(
        "synth",
        "--patients",
        "2000",
        "--seed",
        "11",
        "--as-of",
        AS_OF,
        "--out",
        str(export),
        cwd=root,
    )
    steps["ingest"] = hoc("ingest", str(export), "--data-dir", str(data), cwd=root)
    steps["run1"] = hoc("run", "--as-of", AS_OF, "--data-dir", str(data), cwd=root)
    steps["train"] = hoc("model", "train", "--as-of", AS_OF, "--data-dir", str(data), cwd=root)
    steps["run2"] = hoc("run", "--as-of", AS_OF, "--data-dir", str(data), cwd=root)
    # users to run the identifiable commands as (role-checked and audited)
    steps["db"] = hoc("db", "upgrade", "--data-dir", str(data), cwd=root)
    steps["users"] = hoc(
        "db", "seed-demo", "--people", "20", "--plans", "6", "--data-dir", str(data), cwd=root
    )
    for name, result in steps.items():
        assert result.returncode == 0, f"{name}: {result.stderr}"
    return {"root": root, "export": export, "data": data, **steps}


def test_a_run_without_a_model_still_places_everyone_on_the_triangle(journey: dict) -> None:
    out = journey["run1"].stdout
    assert "no risk model trained" in out and "level 0" in out


def test_train_saves_a_versioned_artefact_with_its_metadata(journey: dict) -> None:
    models = journey["data"] / "models"
    # the oldest: another test of this module trains again
    version = min(
        (p for p in models.iterdir() if not p.name.startswith(".")),
        key=lambda p: json.loads((p / "metadata.json").read_text())["trained_at"],
    )
    assert {"model.txt", "calibrator.json", "metadata.json"} <= {p.name for p in version.iterdir()}
    meta = json.loads((version / "metadata.json").read_text())
    assert meta["training_window"]["index_date"] == "2024-03-31"
    assert meta["validation_window"]["index_date"] == "2025-03-31"
    assert meta["training_window"]["label_to_exclusive"] == "2025-03-31"
    assert 0.6 < meta["validation_metrics"]["auroc"] <= 1.0
    assert meta["lightgbm_params"]["deterministic"] is True
    assert meta["lightgbm_params"]["num_threads"] == 1
    assert "emergency_admission_12m" in meta["features"]
    assert "auroc" in journey["train"].stdout


def test_training_again_on_the_same_data_gives_the_same_model(journey: dict) -> None:
    again = hoc(
        "model", "train", "--as-of", AS_OF, "--data-dir", str(journey["data"]), cwd=journey["root"]
    )
    assert again.returncode == 0, again.stderr
    first, second = sorted(
        (p for p in (journey["data"] / "models").iterdir() if not p.name.startswith(".")),
        key=lambda p: json.loads((p / "metadata.json").read_text())["trained_at"],
    )[:2]
    assert (first / "model.txt").read_bytes() == (second / "model.txt").read_bytes()
    assert (first / "calibrator.json").read_text() == (second / "calibrator.json").read_text()
    meta = [json.loads((p / "metadata.json").read_text()) for p in (first, second)]
    assert meta[0]["data_digest"] == meta[1]["data_digest"]
    assert meta[0]["validation_metrics"] == meta[1]["validation_metrics"]


def test_run_with_a_model_scores_everyone_with_factors(journey: dict) -> None:
    assert "triangle (risk model" in journey["run2"].stdout
    con = duckdb.connect(str(journey["data"] / "analytic.duckdb"), read_only=True)
    run_id = con.execute("SELECT run_id FROM run ORDER BY finished_at DESC LIMIT 1").fetchall()
    ((run,),) = run_id
    ((people, scored, explained, bad),) = con.execute(
        "SELECT (SELECT count(*) FROM multimorbidity WHERE run_id = $r), count(*), "
        "count(factor_1), count(*) FILTER (WHERE risk < 0 OR risk > 1 OR percentile > 100) "
        "FROM risk_score WHERE run_id = $r",
        {"r": run},
    ).fetchall()
    assert scored == people > 1500
    assert bad == 0
    assert explained >= people // 10  # the top 10% by risk is explained
    levels = dict(
        con.execute(
            "SELECT level, count(*) FROM tier WHERE run_id = ? GROUP BY level", [run]
        ).fetchall()
    )
    assert set(levels) == {0, 1, 2, 3}
    assert sum(levels.values()) == people
    ((top_reason,),) = con.execute(
        "SELECT reason FROM tier WHERE run_id = ? AND level = 3 ORDER BY patient_id LIMIT 1",
        [run],
    ).fetchall()
    assert "emergency admissions" in top_reason or "predicted admission risk" in top_reason


def test_tiers_prints_controlled_counts_and_movers_new_to_case_management_first(
    journey: dict,
) -> None:
    result = hoc(
        "tiers",
        "--by-practice",
        "--data-dir",
        str(journey["data"]),
        "--csv",
        str(journey["root"] / "movers.csv"),
        "--user",
        "demo.gp",
        cwd=journey["root"],
    )
    assert result.returncode == 0, result.stderr
    assert "3 case management" in result.stdout and "per practice" in result.stdout
    assert "movers since run" in result.stdout
    lines = (journey["root"] / "movers.csv").read_text().splitlines()
    header = lines[0].split(",")
    to_level = [int(line.split(",")[header.index("to_level")]) for line in lines[1:]]
    assert to_level and to_level[0] == 3
    new_to_case_management = to_level.count(3)
    assert all(level == 3 for level in to_level[:new_to_case_management])


def test_risk_assessments_are_fhir_ndjson(journey: dict) -> None:
    out = journey["root"] / "risk.ndjson"
    result = hoc(
        "risk-assessments",
        "--out",
        str(out),
        "--data-dir",
        str(journey["data"]),
        "--user",
        "demo.gp",
        cwd=journey["root"],
    )
    assert result.returncode == 0, result.stderr
    assert "identifiable" in result.stdout
    first = json.loads(out.read_text().splitlines()[0])
    assert first["resourceType"] == "RiskAssessment"
    assert first["subject"]["reference"].startswith("Patient/")
    assert first["basis"][0]["reference"] == first["subject"]["reference"]
    assert 0 <= first["prediction"][0]["probabilityDecimal"] <= 1
    assert first["method"]["coding"][0]["code"]
    assert first["note"]


def test_evaluate_writes_the_report_with_baselines_and_the_oracle(journey: dict) -> None:
    out = journey["root"] / "report"
    result = hoc(
        "model",
        "evaluate",
        "--oracle",
        str(journey["export"]),
        "--out",
        str(out),
        "--data-dir",
        str(journey["data"]),
        cwd=journey["root"],
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "report.json").read_text())
    assert set(report["scores"]) == {"model", "two_admissions_rule", "cambridge_score", "oracle"}
    model = report["scores"]["model"]
    assert set(model["top"]) == {"0.5%", "1%", "3%", "5%"}
    assert set(model["by_group"]) == {
        "sex",
        "age band",
        "IMD quintile (1 = most deprived)",
        "ethnic group",
    }
    assert all(c is None or c % 5 == 0 for c in (report["people"], report["admitted"]))
    assert any("QAdmissions" in f["model"] for f in report["published"])
    html = (out / "report.html").read_text()
    assert "<svg" in html and "Published UK figures" in html


def test_train_refuses_a_window_the_record_does_not_cover(journey: dict) -> None:
    result = hoc(
        "model",
        "train",
        "--as-of",
        "2028-03-31",
        "--data-dir",
        str(journey["data"]),
        cwd=journey["root"],
    )
    assert result.returncode == 2
    assert "2027-03-31" in result.stderr and "earlier --as-of" in result.stderr


def test_train_refuses_a_training_date_whose_look_back_the_record_does_not_cover(
    journey: dict,
) -> None:
    # the synthetic record holds 5 years, from 2021-03-31: training at 2023-03-31 would look
    # back 36 months to 2020-03-31 and undercount that year's use of care
    result = hoc(
        "model",
        "train",
        "--as-of",
        "2025-03-31",
        "--data-dir",
        str(journey["data"]),
        cwd=journey["root"],
    )
    assert result.returncode == 2
    assert "2020-03-31" in result.stderr and "--history-years" in result.stderr


def test_a_model_trained_on_other_features_stops_the_run_and_writes_nothing(
    journey: dict, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    shutil.copytree(journey["data"], data)
    latest = max(p for p in (data / "models").iterdir() if not p.name.startswith("."))
    stale = data / "models" / "99991231T000000-stale"
    shutil.copytree(latest, stale)
    meta = json.loads((stale / "metadata.json").read_text())
    meta["features"] = meta["features"][:-1]
    (stale / "metadata.json").write_text(json.dumps(meta))
    con = duckdb.connect(str(data / "analytic.duckdb"), read_only=True)
    ((runs_before,),) = con.execute("SELECT count(*) FROM run").fetchall()
    con.close()
    result = hoc("run", "--as-of", AS_OF, "--data-dir", str(data), cwd=tmp_path)
    assert result.returncode == 2
    assert "99991231T000000-stale" in result.stderr and "retrain" in result.stderr
    con = duckdb.connect(str(data / "analytic.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM run").fetchall() == [(runs_before,)]


def _export_audit(data: Path) -> list[tuple[str, str, str, str]]:
    con = sqlite3.connect(data / "operational.sqlite")
    try:
        return con.execute(
            "SELECT coalesce(username, ''), coalesce(role, ''), resource_type, outcome "
            "FROM audit_event WHERE action = 'export' ORDER BY id"
        ).fetchall()
    finally:
        con.close()


def test_identifiable_exports_are_signed_in_policy_checked_and_audited(
    journey: dict, tmp_path: Path
) -> None:
    data = journey["data"]
    before = len(_export_audit(data))
    out = tmp_path / "risk.ndjson"
    args = ("risk-assessments", "--out", str(out), "--data-dir", str(data))
    nobody = hoc(*args, cwd=tmp_path)
    assert nobody.returncode == 2 and "--user" in nobody.stderr
    commissioner = hoc(*args, "--user", "demo.commissioner", cwd=tmp_path)
    assert commissioner.returncode == 2
    assert "role commissioner" in commissioner.stderr
    stranger = hoc(*args, "--user", "no.such.user", cwd=tmp_path, input="whatever\n")
    assert stranger.returncode == 2 and "unknown username or wrong password" in stranger.stderr
    # a name alone is not trusted: the wrong password is refused like an unknown name
    impostor = hoc(*args, "--user", "demo.nurse", cwd=tmp_path, input="guess\n")
    assert impostor.returncode == 2 and "unknown username or wrong password" in impostor.stderr
    no_password = hoc(*args, "--user", "demo.nurse", cwd=tmp_path, input="")
    assert no_password.returncode == 2 and "no password" in no_password.stderr
    assert not out.exists()  # a refusal writes nothing
    counts_only = hoc("tiers", "--data-dir", str(data), cwd=tmp_path)
    assert counts_only.returncode == 0 and "sign in with --user" in counts_only.stdout
    allowed = hoc(*args, "--user", "demo.nurse", cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stderr
    recall = ("recall", "--data-dir", str(data), "--csv", str(tmp_path / "recall.csv"))
    assert hoc(*recall, cwd=tmp_path).returncode == 2
    assert hoc(*recall, "--user", "demo.voluntary", cwd=tmp_path).returncode == 2
    # the policy gives administrators no clinical record, so no recall list either
    admin = hoc(*recall, "--user", "demo.admin", cwd=tmp_path)
    assert admin.returncode == 2 and "role admin may not caregap.read" in admin.stderr
    assert not (tmp_path / "recall.csv").exists()
    assert hoc(*recall, "--user", "demo.gp", cwd=tmp_path).returncode == 0
    assert (tmp_path / "recall.csv").exists()
    assert _export_audit(data)[before:] == [
        ("demo.commissioner", "commissioner", "risk-assessments", "denied"),
        # an unknown name is not stored: it may be a password typed into the wrong box
        ("", "", "risk-assessments", "denied"),
        ("demo.nurse", "", "risk-assessments", "denied"),
        ("demo.nurse", "nurse", "risk-assessments", "success"),
        ("demo.voluntary", "voluntary_sector", "recall", "denied"),
        ("demo.admin", "admin", "recall", "denied"),
        ("demo.gp", "gp", "recall", "success"),
    ]


def test_a_personal_access_token_signs_in_until_revoked(journey: dict, tmp_path: Path) -> None:
    data = journey["data"]
    made = hoc("token", "create", "--user", "demo.gp", "--data-dir", str(data), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    assert len(token) > 30 and "demo.gp" in made.stdout
    wrong = hoc("token", "create", "--user", "demo.gp", "--data-dir", str(data),
                cwd=tmp_path, input="guess\n")  # fmt: skip
    assert wrong.returncode == 2 and "wrong password" in wrong.stderr
    recall = ("recall", "--data-dir", str(data), "--csv", str(tmp_path / "recall.csv"))
    assert hoc(*recall, "--token", token, cwd=tmp_path).returncode == 0
    assert _export_audit(data)[-1] == ("demo.gp", "gp", "recall", "success")
    bogus = hoc(*recall, "--token", "not-a-token", cwd=tmp_path)
    assert bogus.returncode == 2 and "token is unknown" in bogus.stderr
    # a token cannot be used to act as somebody else
    other = hoc(*recall, "--token", token, "--user", "demo.nurse", cwd=tmp_path, input="")
    assert other.returncode == 2
    revoked = hoc("token", "revoke", "--token", token, "--data-dir", str(data), cwd=tmp_path)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert hoc(*recall, "--token", token, cwd=tmp_path).returncode == 2


def _home_practice(data: Path, username: str) -> str:
    con = sqlite3.connect(data / "operational.sqlite")
    try:
        ((code,),) = con.execute(
            "SELECT o.ods_code FROM user_account u JOIN organisation o ON o.id = u.organisation_id "
            "WHERE u.username = ?",
            [username],
        ).fetchall()
    finally:
        con.close()
    return str(code)


def _caseload_patients(data: Path, username: str) -> set[str]:
    con = sqlite3.connect(data / "operational.sqlite")
    try:
        rows = con.execute(
            "SELECT p.patient_id FROM caseload_assignment c JOIN person p ON p.id = c.person_id "
            "JOIN user_account u ON u.id = c.case_manager_id "
            "WHERE u.username = ? AND c.ended_at IS NULL",
            [username],
        ).fetchall()
    finally:
        con.close()
    return {str(r[0]) for r in rows}


def test_a_gp_exports_only_their_own_practice(journey: dict, tmp_path: Path) -> None:
    """H-026: a GP's or nurse's identifiable list stops at their practice (and caseload); a
    case manager's is her caseload, as the access policy says."""
    data = journey["data"]
    home = _home_practice(data, "demo.gp")
    con = duckdb.connect(str(data / "analytic.duckdb"), read_only=True)
    try:
        patients = dict(con.execute("SELECT patient_id, practice_id FROM patient").fetchall())
        other = con.execute(
            "SELECT min(practice_id) FROM patient WHERE practice_id <> ?", [home]
        ).fetchall()[0][0]
    finally:
        con.close()
    assert other is not None  # the journey's population spans several practices

    def exported(user: str, *extra: str) -> tuple[int, set[str]]:
        out = tmp_path / f"{user}-{len(extra)}.ndjson"
        done = hoc("risk-assessments", "--out", str(out), "--data-dir", str(data),
                   "--user", user, *extra, cwd=tmp_path)  # fmt: skip
        if done.returncode != 0:
            assert not out.exists()
            return done.returncode, set()
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        ids = {r["subject"]["reference"].removeprefix("Patient/") for r in lines}
        return 0, {patients[i] for i in ids}

    assert exported("demo.gp") == (0, {home})
    assert exported("demo.nurse", "--practice", home) == (0, {home})
    before = len(_export_audit(data))
    assert exported("demo.gp", "--practice", other)[0] == 2
    assert _export_audit(data)[before:] == [("demo.gp", "gp", "risk-assessments", "denied")]
    # a case manager gets exactly her caseload, wherever they are registered
    caseload = _caseload_patients(data, "demo.matron")
    assert caseload
    out = tmp_path / "matron.ndjson"
    done = hoc("risk-assessments", "--out", str(out), "--data-dir", str(data),
               "--user", "demo.matron", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = {
        json.loads(line)["subject"]["reference"].removeprefix("Patient/")
        for line in out.read_text().splitlines()
    }
    assert listed and listed <= caseload
    recall_csv = tmp_path / "gp-recall.csv"
    recall = hoc("recall", "--data-dir", str(data), "--csv", str(recall_csv),
                 "--user", "demo.gp", cwd=tmp_path)  # fmt: skip
    assert recall.returncode == 0, recall.stderr
    with recall_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and {row["practice_id"] for row in rows} == {home}


def test_guessing_a_password_on_the_command_line_is_throttled(
    journey: dict, tmp_path: Path
) -> None:
    """The command line counts against the API's sign-in throttle: after the free failures a
    guess must wait, and the right password is refused until then (nothing checked)."""
    data = journey["data"]
    recall = ("recall", "--data-dir", str(data), "--user", "demo.social")
    for _ in range(3):
        wrong = hoc(*recall, cwd=tmp_path, input="guess\n")
        assert wrong.returncode == 2 and "wrong password" in wrong.stderr
    os.environ["HOC_API_SIGN_IN_DELAY_SECONDS"] = "600"
    try:
        waited = hoc(*recall, cwd=tmp_path)  # the right password, but too soon
    finally:
        del os.environ["HOC_API_SIGN_IN_DELAY_SECONDS"]
    assert waited.returncode == 2 and "too many failed sign-ins" in waited.stderr
