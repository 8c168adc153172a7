"""Why is this person's risk high? The three factors that raised it most, in plain words.

LightGBM's own SHAP values (`predict(..., pred_contrib=True)`, TreeSHAP: Lundberg et al., Nat
Mach Intell 2020) split each person's log-odds into one contribution per feature plus a baseline.
The three largest *positive* contributions are that person's factors; a person whose risk is
at or below the baseline everywhere has fewer than three. The phrases are data
(`phrases.toml`): a template per feature with the person's value filled in, e.g. "2 emergency
admissions in the last 12 months". Choosing the factors is vectorised NumPy; turning them into
words is one SQL query over the factor rows, so nothing loops over people.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from houseofcare.datafiles import read_toml, validation_problems
from houseofcare.engine import Engine, Query
from houseofcare.population.rules import RegisterRule

PHRASES_FILE = Path(__file__).with_name("phrases.toml")
FACTORS = 3
#: The most decimals a phrase may show its value with (`decimals` in phrases.toml).
MAX_DECIMALS = 3
REGISTER_PREFIX = "register_"


class PhraseError(ValueError):
    """The phrases file is malformed or misses a feature; the message names the file and key."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeaturePhrase(_Frozen):
    template: str = Field(min_length=1)
    values: dict[str, str] = Field(default_factory=dict)
    missing: str | None = None
    decimals: int = Field(default=0, ge=0, le=MAX_DECIMALS)


class Phrases(_Frozen):
    register_template: str = Field(pattern=r"\{name\}")
    register_absent: str = Field(pattern=r"\{name\}")
    feature: dict[str, FeaturePhrase]


def load_phrases(path: Path = PHRASES_FILE) -> Phrases:
    raw = read_toml(path, PhraseError, "phrases file not found")
    try:
        phrases = Phrases.model_validate(raw)
    except ValidationError as exc:
        raise PhraseError(f"{path}: {validation_problems(exc)}") from None
    for name, phrase in phrases.feature.items():
        for key in phrase.values:
            try:
                float(key)
            except ValueError:
                raise PhraseError(
                    f"{path}: feature.{name}.values: key {key!r} is not a number"
                ) from None
    return phrases


@cache
def packaged_phrases() -> Phrases:
    return load_phrases()


def _register_name(rule: RegisterRule) -> str:
    return rule.name[:1].lower() + rule.name[1:]


def phrase_tables(
    phrases: Phrases, features: Sequence[str], registers: Sequence[RegisterRule]
) -> dict[str, pa.Table]:
    """The phrases for exactly these features, as parameter tables; a missing one is an error."""
    by_register = {f"{REGISTER_PREFIX}{r.id.lower()}": r for r in registers}
    template: dict[str, list[object]] = {
        "feature": [],
        "template": [],
        "missing": [],
        "decimals": [],
    }
    value: dict[str, list[object]] = {"feature": [], "value": [], "phrase": []}
    missing = []
    for name in features:
        if name in phrases.feature:
            p = phrases.feature[name]
            template["feature"].append(name)
            template["template"].append(p.template)
            template["missing"].append(p.missing)
            template["decimals"].append(p.decimals)
            for key, text in p.values.items():
                value["feature"].append(name)
                value["value"].append(float(key))
                value["phrase"].append(text)
        elif name in by_register:
            register = _register_name(by_register[name])
            template["feature"].append(name)
            template["template"].append(phrases.register_template.replace("{name}", register))
            template["missing"].append(None)
            template["decimals"].append(0)
            value["feature"].append(name)
            value["value"].append(0.0)
            value["phrase"].append(phrases.register_absent.replace("{name}", register))
        else:
            missing.append(name)
    if missing:
        raise PhraseError(f"{PHRASES_FILE}: no phrase for feature(s) {', '.join(missing)}")
    return {
        "risk_phrase": pa.table(
            {
                "feature": pa.array(template["feature"], pa.string()),
                "template": pa.array(template["template"], pa.string()),
                "missing": pa.array(template["missing"], pa.string()),
                "decimals": pa.array(template["decimals"], pa.int32()),
            }
        ),
        "risk_phrase_value": pa.table(
            {
                "feature": pa.array(value["feature"], pa.string()),
                "value": pa.array(value["value"], pa.float64()),
                "phrase": pa.array(value["phrase"], pa.string()),
            }
        ),
    }


def top_factor_rows(
    patient_ids: pa.Array, contributions: np.ndarray, x: np.ndarray, features: Sequence[str]
) -> pa.Table:
    """Long table of each person's up-to-three factors: patient_id, rank, feature, value.

    `contributions` has one column per feature and a last bias column (LightGBM's layout);
    only positive contributions are factors.
    """
    n = contributions.shape[0]
    shap = contributions[:, : len(features)]
    k = min(FACTORS, len(features))
    top = np.argsort(-shap, axis=1, kind="stable")[:, :k]
    rows = np.repeat(np.arange(n), k)
    cols = top.reshape(-1)
    contribution = shap[rows, cols]
    keep = contribution > 0
    values = x[rows, cols].astype(np.float64)
    return pa.table(
        {
            "patient_id": pa.array(patient_ids).take(pa.array(rows[keep])),
            "rank": pa.array(np.tile(np.arange(1, k + 1), n)[keep], pa.int64()),
            "feature": pa.array(np.asarray(features, dtype=object)[cols[keep]], pa.string()),
            "value": pa.array(values[keep], pa.float64(), from_pandas=True),
            "contribution": pa.array(contribution[keep], pa.float64()),
        }
    )


#: The value rounded to its phrase's `decimals`, one branch per number of decimals a phrase
#: may ask for: Spark's round() takes only a constant scale (engine_dialect.toml, round-scale).
_ROUNDED = (
    "CASE t.decimals "
    + " ".join(f"WHEN {n} THEN round(f.value, {n})" for n in range(MAX_DECIMALS + 1))
    + " END"
)

PHRASE_SQL = """
SELECT f.patient_id, f.rank,
       CASE WHEN f.value IS NULL THEN coalesce(t.missing, f.feature || ' not recorded')
            WHEN v.phrase IS NOT NULL THEN v.phrase
            ELSE replace(replace(t.template, '{value}',
                     CASE WHEN t.decimals = 0 THEN CAST(CAST(round(f.value) AS BIGINT) AS VARCHAR)
                          ELSE CAST({rounded} AS VARCHAR) END),
                 '{s}', CASE WHEN {rounded} = 1 THEN '' ELSE 's' END)
       END AS phrase
FROM {factors} f
JOIN risk_phrase t ON t.feature = f.feature
LEFT JOIN risk_phrase_value v ON v.feature = f.feature AND v.value = f.value
""".replace("{rounded}", _ROUNDED)


def factor_phrases(
    engine: Engine,
    factors: str,
    phrases: Phrases,
    features: Sequence[str],
    registers: Sequence[RegisterRule],
) -> Query:
    """patient_id, factor_1, factor_2, factor_3 from the factor rows in table `factors`."""
    for name, table in phrase_tables(phrases, features, registers).items():
        engine.register(name, table)
    pivot = ", ".join(
        f"max(phrase) FILTER (WHERE rank = {i}) AS factor_{i}" for i in range(1, FACTORS + 1)
    )
    phrased = PHRASE_SQL.replace("{factors}", factors)
    sql = f"SELECT patient_id, {pivot} FROM ({phrased}) AS p GROUP BY patient_id"
    return Query(engine, sql)
