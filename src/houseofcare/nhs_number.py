"""NHS numbers: ten digits whose last is a modulus 11 check digit (NHS Data Dictionary).

One pure validator shared by the synthetic generator, the operational store and the API, so a
number accepted in one place is never refused in another. Spaces, as people often write them
(``943 476 5919``), are allowed on input and removed by `normalise_nhs_number`. Ingest checks
the NHS numbers of FHIR Patients in SQL with `nhs_number_problem_sql`, the same rule (a unit
test holds the two to the same answers).
"""

from __future__ import annotations

#: Weights of the first nine digits (10 down to 2).
WEIGHTS: tuple[int, ...] = (10, 9, 8, 7, 6, 5, 4, 3, 2)


class InvalidNHSNumber(ValueError):
    """A value that is not a valid NHS number; the message says why."""


def nhs_check_digit(first_nine: str) -> int | None:
    """The check digit for nine digits, or None when no valid number starts with them (11-10)."""
    total = sum(int(c) * w for c, w in zip(first_nine, WEIGHTS, strict=True))
    digit = 11 - total % 11
    if digit == 11:
        return 0
    return None if digit == 10 else digit


def is_valid_nhs_number(number: str) -> bool:
    """True when `number` is exactly ten digits and the last is the modulus 11 check digit."""
    if len(number) != 10 or not number.isascii() or not number.isdigit():
        return False
    return nhs_check_digit(number[:9]) == int(number[9])


def normalise_nhs_number(value: str) -> str:
    """`value` without spaces, or `InvalidNHSNumber` naming what is wrong with it.

    A wrong-person care plan starts with a mistyped number, so a number failing its check
    digit is refused outright rather than stored for someone to correct later.
    """
    number = value.replace(" ", "")
    if len(number) != 10 or not number.isascii() or not number.isdigit():
        raise InvalidNHSNumber(f"NHS number {value!r} must be 10 digits")
    if not is_valid_nhs_number(number):
        raise InvalidNHSNumber(
            f"NHS number {value!r} fails the modulus 11 check (a digit is wrong or transposed)"
        )
    return number


def nhs_number_problem_sql(value: str) -> str:
    """DuckDB SQL giving why the text `value` is not a valid NHS number, or NULL if it is.

    The same rule as `is_valid_nhs_number`, written as one sum: with the first nine digits
    weighted 10 down to 2, the number is valid exactly when the weighted sum plus the tenth
    digit is a multiple of 11 (a check digit of 10 can never match, so it is refused too).
    As in FHIR, the value must be the bare ten digits: no spaces.
    """
    digits = " + ".join(
        f"{weight} * (ascii(substr({value}, {i}, 1)) - 48)"
        for i, weight in enumerate((*WEIGHTS, 1), start=1)
    )
    return (
        f"CASE WHEN NOT regexp_full_match({value}, '[0-9]{{10}}') "
        "THEN 'expected an NHS number of 10 digits (without spaces)' "
        f"WHEN ({digits}) % 11 <> 0 "
        "THEN 'which fails the modulus 11 check of an NHS number (a digit is wrong or transposed)' "
        "END"
    )
