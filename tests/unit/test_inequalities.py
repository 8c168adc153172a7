"""The inequality statistics against the published worked examples of PHEindicatormethods
2.1.0 (shared/reference/inequalities-methods.md): point values to the package's precision,
simulated limits within the package's own test tolerance (5% relative, 10,000 draws). The
worked examples' inputs are printed to 4 decimal places, so point values agree to about 1e-5,
not to the package's full precision."""

from __future__ import annotations

import pytest

from houseofcare.commissioning.inequalities import (
    Quantile,
    ValueType,
    byar,
    crude_rate,
    dsr,
    esp2013,
    esp_band,
    exact_poisson,
    sii,
    wilson,
)

LE = [  # example A: life expectancy by decile, most deprived first (population, LE, LCL, UCL)
    (7291, 75.9335, 72.7221, 79.1449),
    (7997, 78.3442, 75.2510, 81.4375),
    (6105, 83.8361, 80.8697, 86.8024),
    (7666, 83.6375, 80.1576, 87.1175),
    (5790, 80.4655, 77.1309, 83.8001),
    (6934, 81.1157, 78.0500, 84.1814),
    (5918, 81.6931, 79.0116, 84.3746),
    (5974, 84.1900, 81.4457, 86.9343),
    (7147, 80.5956, 75.8272, 85.3639),
    (7534, 86.2894, 83.2191, 89.3598),
]

RATES = [  # example B: rate per 1,000 by decile (population, rate, LCL, UCL)
    (279012, 5.8922, 5.6150, 6.1831),
    (255993, 4.7345, 4.4759, 5.0080),
    (236961, 3.8276, 3.5869, 4.0844),
    (214315, 3.8681, 3.6141, 4.1400),
    (192812, 3.6772, 3.4167, 3.9574),
    (183546, 3.1436, 2.8977, 3.4103),
    (168593, 3.1259, 2.8705, 3.4039),
    (164822, 2.9426, 2.6924, 3.2159),
    (154836, 2.8288, 2.5763, 3.1060),
    (138165, 2.7648, 2.5014, 3.0558),
]

OBESE = [7287, 6881, 5656, 4868, 4176, 3876, 3617, 3546, 3314, 2960]
CHILDREN = [34353, 32112, 27715, 25372, 23889, 23260, 23180, 24193, 23609, 24488]


def _quantiles(rows: list[tuple[float, float, float, float]]) -> list[Quantile]:
    return [Quantile(p, v, lo, hi) for p, v, lo, hi in rows]


def _proportions() -> list[Quantile]:
    out = []
    for x, n in zip(OBESE, CHILDREN, strict=True):
        lo, hi = wilson(x, n)
        out.append(Quantile(n, round(x / n, 5), lo, hi))
    return out


def close(value: float | None, expected: float, relative: float = 0.05) -> bool:
    return value is not None and abs(value - expected) <= abs(expected) * relative


def test_sii_of_life_expectancy_matches_the_published_figures() -> None:
    found = sii(_quantiles(LE), repetitions=10_000)
    assert found.sii == pytest.approx(6.934616, abs=5e-5)
    assert found.rii == pytest.approx(1.088818, abs=5e-7)
    assert found.intercept == pytest.approx(78.07663, abs=5e-5)
    assert close(found.sii_lower, 3.1276) and close(found.sii_upper, 10.7587)
    assert close(found.rii_lower, 1.03837) and close(found.rii_upper, 1.14130)


def test_sii_of_quintiles_and_the_order_matters() -> None:
    five = sii(_quantiles(LE[:5]), confidence=None)
    assert five.sii == pytest.approx(7.919334, abs=1e-4)
    assert five.rii == pytest.approx(1.103712, abs=5e-6)
    # least deprived first is a different question: the slope changes sign
    assert sii(_quantiles(LE[::-1]), confidence=None).sii < 0


def test_sii_of_a_rate_untransformed_and_log_transformed() -> None:
    plain = sii(_quantiles(RATES), value_type=ValueType.rate, repetitions=10_000)
    assert plain.sii == pytest.approx(-3.275201, abs=5e-5)
    assert plain.rii == pytest.approx(0.406001, abs=5e-5)
    assert close(plain.sii_lower, -3.5868) and close(plain.sii_upper, -2.9653)
    logged = sii(_quantiles(RATES), value_type=ValueType.rate, transform=True, repetitions=10_000)
    assert logged.sii == pytest.approx(-3.155907, abs=5e-5)
    assert logged.rii == pytest.approx(0.441885, abs=5e-5)
    assert logged.intercept == pytest.approx(5.654581, abs=5e-5)
    assert close(logged.sii_lower, -3.4810) and close(logged.sii_upper, -2.8332)
    assert close(logged.rii_lower, 0.40827) and close(logged.rii_upper, 0.47857)


def test_sii_of_a_proportion_untransformed_and_logit_transformed() -> None:
    plain = sii(_proportions(), value_type=ValueType.proportion, repetitions=10_000)
    assert plain.sii == pytest.approx(-0.1072003, abs=5e-6)
    assert plain.rii == pytest.approx(0.5334015, abs=5e-5)
    assert close(plain.sii_lower, -0.112209) and close(plain.sii_upper, -0.102180)
    logit = sii(_proportions(), value_type=ValueType.proportion, transform=True, repetitions=10_000)
    assert logit.sii == pytest.approx(-0.1096463, abs=5e-6)
    assert logit.rii == pytest.approx(0.5341776, abs=5e-5)
    assert logit.intercept == pytest.approx(0.2353821, abs=5e-6)
    assert close(logit.rii_lower, 0.51853) and close(logit.rii_upper, 0.55017)


def test_sii_limits_are_repeatable_for_a_seed() -> None:
    assert sii(_quantiles(LE), repetitions=2_000, seed=7) == sii(
        _quantiles(LE), repetitions=2_000, seed=7
    )


@pytest.mark.parametrize(
    ("quantiles", "message"),
    [
        (_quantiles(LE[:4]), "5 to 100"),
        ([Quantile(0, 1.0, 0.9, 1.1)] * 5, "population above zero"),
        ([Quantile(10, 1.0)] * 5, "standard error or its 95% limits"),
    ],
)
def test_sii_refuses_what_it_cannot_compute(quantiles: list[Quantile], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sii(quantiles, repetitions=1_000)


SMALL = [12, 4, 3, 2, 3, 4, 8, 2, 2, 3, 4, 5, 6, 8, 5, 6, 5, 5, 4]
BIG = [127, 25, 18, 21, 12, 27, 48, 27, 29, 32, 32, 34, 45, 65, 38, 68, 74, 82, 91]
PEOPLE = [
    636,
    558,
    609,
    543,
    384,
    594,
    669,
    843,
    660,
    576,
    606,
    522,
    426,
    273,
    300,
    288,
    153,
    123,
    207,
]


def _bands(values: list[int]) -> dict[str, int]:
    return {b.band: v for b, v in zip(esp2013(), values, strict=True)}


def test_the_standard_population_is_esp_2013() -> None:
    assert len(esp2013()) == 19
    assert sum(b.weight for b in esp2013()) == 100_000
    assert (esp_band(0), esp_band(49), esp_band(50), esp_band(104)) == (
        "0-4",
        "45-49",
        "50-54",
        "90+",
    )


def test_dsr_matches_the_published_worked_examples() -> None:
    small = dsr(_bands(SMALL), _bands(PEOPLE))
    assert small.value == pytest.approx(1103.212, abs=5e-4)
    assert small.lower == pytest.approx(877.456, abs=5e-3)
    assert small.upper == pytest.approx(1367.088, abs=5e-3)
    wide = dsr(_bands(SMALL), _bands(PEOPLE), confidence=0.998)
    assert wide.lower == pytest.approx(763.642, abs=5e-3)
    assert wide.upper == pytest.approx(1530.033, abs=5e-3)
    big = dsr(_bands(BIG), _bands(PEOPLE))
    assert big.value == pytest.approx(10430.248, abs=5e-3)
    assert big.lower == pytest.approx(9717.709, abs=5e-3)
    assert big.upper == pytest.approx(11178.941, abs=5e-3)


def test_a_dsr_on_fewer_than_ten_events_is_not_reported() -> None:
    tiny = [0] * 19
    tiny[0] = 9
    assert dsr(_bands(tiny), _bands(PEOPLE)).value is None


@pytest.mark.parametrize(
    ("count", "confidence", "lower", "upper"),
    [
        (65, 0.95, 50.163188, 82.849139),
        (1045, 0.95, 982.593202, 1110.331213),
        (1, 0.95, 0.013072, 5.563756),
        (65, 0.998, 42.880261, 94.000291),
        (1045, 0.998, 947.940704, 1148.806161),
        (10, 0.998, 2.916318, 24.193725),
    ],
)
def test_byar_limits(count: int, confidence: float, lower: float, upper: float) -> None:
    found = byar(count, confidence)
    assert found[0] == pytest.approx(lower, abs=5e-6)
    assert found[1] == pytest.approx(upper, abs=5e-6)


@pytest.mark.parametrize(
    ("x", "n", "confidence", "lower", "upper"),
    [
        (65, 100, 0.95, 0.552544, 0.736358),
        (1045, 5000, 0.95, 0.197955, 0.220491),
        (65, 100, 0.998, 0.495495, 0.778354),
        (1045, 5000, 0.998, 0.191794, 0.227316),
    ],
)
def test_wilson_limits(x: int, n: int, confidence: float, lower: float, upper: float) -> None:
    found = wilson(x, n, confidence)
    assert found == pytest.approx((lower, upper), abs=5e-6)


def test_crude_rates_use_exact_poisson_below_ten_events_and_byar_from_ten() -> None:
    # exact Poisson limits of 0 events are 0 and about 3.689 (the rule of three and a bit)
    assert exact_poisson(0) == (0.0, pytest.approx(3.688879, abs=1e-5))
    few = crude_rate(4, 1000, multiplier=1000)
    assert few.value == 4
    assert (few.lower, few.upper) == (
        pytest.approx(exact_poisson(4)[0]),
        pytest.approx(exact_poisson(4)[1]),
    )
    many = crude_rate(65, 1000, multiplier=1000)
    assert (many.lower, many.upper) == (pytest.approx(50.163188), pytest.approx(82.849139))
