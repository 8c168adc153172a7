"""Synthetic NHS numbers: valid modulus 11 check digits in the 999 test range.

NHS numbers beginning 999 are reserved for testing and are never issued to a real person, so
synthetic records can never be confused with a real patient's.
"""

from __future__ import annotations

import numpy as np

from houseofcare.nhs_number import is_valid_nhs_number as is_valid  # noqa: F401 (re-export)

#: Modulus 11 weights for the first nine digits (10 down to 2).
WEIGHTS = np.arange(10, 1, -1)


def check_digit(first_nine: np.ndarray) -> np.ndarray:
    """Modulus 11 check digit for rows of nine digits; 10 means the number is invalid."""
    total = (first_nine * WEIGHTS).sum(axis=1)
    digit = 11 - total % 11
    return np.where(digit == 11, 0, digit)


def valid_serials() -> np.ndarray:
    """Every 6-digit serial ``s`` for which ``999 s`` has a usable check digit (≈ 909,000)."""
    serial = np.arange(1_000_000)
    digits = np.zeros((serial.size, 9), dtype=np.int64)
    digits[:, :3] = 9
    for pos in range(6):
        digits[:, 3 + pos] = serial // 10 ** (5 - pos) % 10
    check = check_digit(digits)
    keep = check != 10
    return serial[keep] * 10 + check[keep]


#: How many valid NHS numbers the 999 test range holds (serials whose check digit is not 10).
TEST_RANGE_CAPACITY = 909_091


def nhs_numbers(person_index: np.ndarray, seed: int) -> np.ndarray:
    """NHS numbers (strings, or None) for global person indices: never two people the same.

    Person ``i`` gets the ``i``-th number of a seed-specific permutation of the 999 test range,
    so numbers are unique whatever the chunking. The range holds ``TEST_RANGE_CAPACITY``
    numbers; people beyond it get no NHS number (None) rather than a repeat or a number outside
    the test range, which could belong to a real person. `check_population_size` stops an
    NDJSON export that large before it starts.
    """
    table = _permuted(seed)
    inside = person_index < table.size
    tail = table[np.where(inside, person_index, 0)]
    numbers = np.char.add("999", np.char.zfill(tail.astype(str), 7)).astype(object)
    numbers[~inside] = None
    return numbers


def check_population_size(patients: int, fmt: str) -> None:
    """Refuse an NDJSON population larger than the test range: every Patient needs a number.

    Parquet populations may be larger (benchmarks at a million people); the people beyond the
    range then have a null NHS number. Raises ``ValueError`` naming the limit.
    """
    if fmt == "ndjson" and patients > TEST_RANGE_CAPACITY:
        raise ValueError(
            f"{patients:,} people is more than the {TEST_RANGE_CAPACITY:,} valid NHS numbers in "
            "the 999 test range, so some Patients would share or lack an NHS number: generate "
            f"at most {TEST_RANGE_CAPACITY:,} people as NDJSON, or use --format parquet (people "
            "beyond the range then have no NHS number)"
        )


_CACHE: dict[int, np.ndarray] = {}


def _permuted(seed: int) -> np.ndarray:
    if seed not in _CACHE:
        _CACHE.clear()
        rng = np.random.default_rng([seed, 999])
        _CACHE[seed] = rng.permutation(valid_serials())
    return _CACHE[seed]
