"""Synthetic NHS numbers: valid modulus 11 check digits in the 999 test range.

NHS numbers beginning 999 are reserved for testing and are never issued to a real person, so
synthetic records can never be confused with a real patient's.
"""

from __future__ import annotations

import numpy as np

#: Modulus 11 weights for the first nine digits (10 down to 2).
WEIGHTS = np.arange(10, 1, -1)


def check_digit(first_nine: np.ndarray) -> np.ndarray:
    """Modulus 11 check digit for rows of nine digits; 10 means the number is invalid."""
    total = (first_nine * WEIGHTS).sum(axis=1)
    digit = 11 - total % 11
    return np.where(digit == 11, 0, digit)


def is_valid(number: str) -> bool:
    """True when ``number`` is ten digits whose last digit is the modulus 11 check digit."""
    if len(number) != 10 or not number.isdigit():
        return False
    digits = np.array([[int(c) for c in number[:9]]])
    expected = int(check_digit(digits)[0])
    return expected != 10 and expected == int(number[9])


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


def nhs_numbers(person_index: np.ndarray, seed: int) -> np.ndarray:
    """NHS numbers (strings) for global person indices: unique within a population.

    The 999 range holds about 909,000 valid numbers; person ``i`` gets the ``i``-th of a
    seed-specific permutation of them, so populations up to that size have unique numbers
    whatever the chunking. Larger populations reuse the range (indices wrap), which the
    benchmarks tolerate; `generate_population` refuses nothing on that account.
    """
    table = _permuted(seed)
    tail = table[person_index % table.size]
    return np.char.add("999", np.char.zfill(tail.astype(str), 7))


_CACHE: dict[int, np.ndarray] = {}


def _permuted(seed: int) -> np.ndarray:
    if seed not in _CACHE:
        _CACHE.clear()
        rng = np.random.default_rng([seed, 999])
        _CACHE[seed] = rng.permutation(valid_serials())
    return _CACHE[seed]
